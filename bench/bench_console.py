"""The console under a storm: 10,000 devices, 10,000 state changes a second.

Measures at 200x50 with Pilot, the app drawing every frame as for a real terminal (compositor,
escape sequences, write, flush: ``FrameDriver`` only drops the bytes):
- the snapshot load of 10,000 devices from SQLite;
- CPU to apply one second of changes (10,000) and repaint: budget <= 50 ms;
- key-press latency (cursor down) while the storm runs, from the key posted to the first frame
  written after the cursor moved: what the technician sees, budget <= 100 ms. For context, when
  the cursor moved ("handled") and Pilot's round trip (which adds its own wait for idle);
- resident memory with everything loaded: budget <= 300 MB;
- the store side of the same storm: reading 10,000 events and their rows back (tail + fetch);
- the peer: Textual's DataTable of 5,000 rows updated with ``update_cell`` for the same number of
  changes, in the same run and drawn the same way, so the ratio shows what the Line-API grid buys.

Bounded: a fixed number of storm seconds, a fixed number of key presses; everything runs on
loopback-free local files in a temporary directory.

    PYTHONPATH=. python bench/bench_console.py [--devices 10000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402
from textual.driver import Driver  # noqa: E402
from textual.drivers.headless_driver import HeadlessDriver  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from noc.app import NocApp  # noqa: E402
from noc.config import Settings  # noqa: E402
from noc.readmodel import CheckBrief, EventTail, fetch_changes, load_snapshot  # noqa: E402
from noc.screens.dashboard import DashboardScreen  # noqa: E402
from noc.storage.store import EventRecord, Store  # noqa: E402
from tests.console.seed import NOW, open_store, seed_bulk  # noqa: E402

STATES = ("OK", "OK", "OK", "WARNING", "CRITICAL", "DOWN", "UNKNOWN")
SIZE = (200, 50)


class FrameLog:
    """When each frame reached the driver: the flush that ends the app's write of it."""

    def __init__(self) -> None:
        self.frames: list[float] = []
        self.bytes = 0
        self.drawn = asyncio.Event()

    def add(self, size: int) -> None:
        self.frames.append(time.perf_counter())
        self.bytes += size
        self.drawn.set()

    def first_after(self, moment: float) -> float | None:
        first = None
        for frame in reversed(self.frames):  # few frames come after a key: search back
            if frame < moment:
                break
            first = frame
        return first

    async def wait_after(self, moment: float) -> float | None:
        """The first frame at or after ``moment``, waiting (2 s at most) for it to be drawn."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while (first := self.first_after(moment)) is None:
                    self.drawn.clear()
                    await self.drawn.wait()
                return first
        return None


def frame_driver(log: FrameLog) -> type[Driver]:
    """A driver for a terminal that is not there, noting every frame in ``log``.

    Textual's headless driver makes the app skip turning its compositor updates into terminal
    output, so a headless run never pays for the frame a user waits for. This one says it is
    not headless: the app takes its whole display path (``App._display``: render the update to
    escape sequences, write, flush) and the driver drops the bytes, noting the time of each
    flush. Public API only: a driver class on the app and ``run_test(headless=False)``.
    """

    class FrameDriver(HeadlessDriver):
        pending = 0

        @property
        def is_headless(self) -> bool:
            return False

        def write(self, data: str) -> None:
            self.pending += len(data)

        def flush(self) -> None:
            if self.pending:
                log.add(self.pending)
                self.pending = 0

    return FrameDriver


def storm_batch(rng: random.Random, devices: int, n: int, tick: int) -> list[CheckBrief]:
    """``n`` changes to random checks (check id = device id in the bulk seed)."""
    out = []
    for _ in range(n):
        did = rng.randint(1, devices)
        state = rng.choice(STATES)
        out.append(CheckBrief(did, did, "ping", state, NOW + tick, f"tick {tick}"))
    return out


async def bench_snapshot(store: Store) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await load_snapshot(store, now=NOW)
    return time.perf_counter() - wall, time.process_time() - cpu


async def bench_store_path(store: Store, devices: int, n: int) -> tuple[float, float]:
    """Append ``n`` state events, then time the console's side: tail + read back."""
    rng = random.Random(7)
    tail = EventTail(store, await store.last_event_id(), batch=5000, max_batches=n // 5000 + 2)
    async with store.write() as session:
        await store.append_events(
            session,
            [
                EventRecord("check.state", did, did, data={"state": rng.choice(STATES)}, ts=NOW)
                for did in (rng.randint(1, devices) for _ in range(n))
            ],
        )
    snapshot = await load_snapshot(store, now=NOW, history=False)
    wall, cpu = time.perf_counter(), time.process_time()
    events = await tail.poll()
    changes = await fetch_changes(store, events, snapshot.checks)
    assert len(events) == n and changes.checks
    return time.perf_counter() - wall, time.process_time() - cpu


async def bench_app(store: Store, devices: int, seconds: int) -> dict[str, float]:
    settings = Settings()
    app = NocApp(
        store, settings, "bench", clock=lambda: NOW, poll_s=3600.0, flush_s=3600.0, history=False
    )
    log = FrameLog()
    app.driver_class = frame_driver(log)
    rng = random.Random(1)
    out: dict[str, float] = {}
    async with app.run_test(size=SIZE, headless=False) as pilot:
        while not app.loaded:
            await pilot.pause(0.05)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        grid = screen.grid
        assert len(app.model.devices) == devices

        # 1. apply + repaint: one second of changes at a time, timed on the CPU clock
        costs = []
        for tick in range(seconds):
            app.model.queue_checks(storm_batch(rng, devices, 10_000, tick))
            cpu = time.process_time()
            app.flush()
            await pilot.pause()  # the compositor repaints what was refreshed
            costs.append(time.process_time() - cpu)
        out["apply_ms_mean"] = statistics.mean(costs) * 1000
        out["apply_ms_max"] = max(costs) * 1000
        out["lines_rendered"] = grid.renders

        # 2. keys during the storm: changes arrive every 100 ms, flushed every 250 ms
        stop = asyncio.Event()

        async def storm() -> None:
            tick = 1000
            last_flush = time.perf_counter()
            while not stop.is_set():
                app.model.queue_checks(storm_batch(rng, devices, 1000, tick))
                tick += 1
                if time.perf_counter() - last_flush >= 0.25:
                    app.flush()
                    last_flush = time.perf_counter()
                await asyncio.sleep(0.1)

        handled_at: list[float] = []
        app.watch(grid, "cursor", lambda _value: handled_at.append(time.perf_counter()), init=False)

        async def press_keys(count: int) -> tuple[list[float], list[float], list[float]]:
            """(to frame, handled, round trip) seconds per key, all from the key posted: to the
            first frame written after the cursor moved, to the cursor moving, and to Pilot's
            return (it waits for the app to be idle, which a storm delays)."""
            to_frame, handled, round_trip = [], [], []
            for n in range(count):
                handled_at.clear()
                started = time.perf_counter()
                await pilot.press("down" if n % 10 != 9 else "pagedown")
                done = time.perf_counter()
                moved = handled_at[0] if handled_at else done
                frame = await log.wait_after(moved)
                if frame is None:
                    raise RuntimeError("no frame was drawn after the cursor moved")
                to_frame.append(frame - started)
                handled.append(moved - started)
                round_trip.append(done - started)
            return to_frame, handled, round_trip

        idle_frame, idle_handled, idle_trip = await press_keys(20)
        task = asyncio.create_task(storm())
        try:
            frame, handled, trip = await press_keys(40)
        finally:
            stop.set()
            await task

        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return ordered[min(int(len(ordered) * q), len(ordered) - 1)] * 1000

        out["frame_ms_p50"] = pct(frame, 0.5)
        out["frame_ms_p95"] = pct(frame, 0.95)
        out["frame_ms_max"] = pct(frame, 1.0)
        out["key_ms_p50"] = pct(handled, 0.5)
        out["key_ms_p95"] = pct(handled, 0.95)
        out["key_ms_max"] = pct(handled, 1.0)
        out["trip_ms_p50"] = pct(trip, 0.5)
        out["trip_ms_p95"] = pct(trip, 0.95)
        out["idle_frame_ms_p50"] = pct(idle_frame, 0.5)
        out["idle_ms_p50"] = pct(idle_handled, 0.5)
        out["idle_trip_ms_p50"] = pct(idle_trip, 0.5)
        out["frames"] = len(log.frames)
        out["frame_kb"] = log.bytes / max(len(log.frames), 1) / 1024
        out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
    return out


class TablePeer(App[None]):
    """The same job done the usual way: a DataTable, keyed rows, ``update_cell``."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield DataTable(id="table")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("state", key="state")
        table.add_column("name", key="name")
        table.add_column("output", key="output")
        table.add_rows(
            [("OK", f"dev-{i:05d}", "") for i in range(self.rows)],
        )
        self.keys = list(table.rows)


async def bench_peer(rows: int, seconds: int) -> float:
    app = TablePeer(rows)
    app.driver_class = frame_driver(FrameLog())  # drawn like the grid: frames included
    rng = random.Random(2)
    costs = []
    async with app.run_test(size=SIZE, headless=False) as pilot:
        await pilot.pause()
        table = app.query_one(DataTable)
        for tick in range(seconds):
            batch = storm_batch(rng, rows, 10_000, tick)
            cpu = time.process_time()
            with app.batch_update():
                for brief in batch:
                    key = app.keys[brief.device_id - 1]
                    table.update_cell(key, "state", brief.state)
                    table.update_cell(key, "output", brief.output)
            await pilot.pause()
            costs.append(time.process_time() - cpu)
    return statistics.mean(costs) * 1000


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5, help="storm seconds to apply (1-30)")
    parser.add_argument("--peer-rows", type=int, default=5_000)
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1), 30)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp) / "bench.db")
        try:
            await seed_bulk(store, args.devices, clients=40, sites_per_client=5)
            snap_wall, snap_cpu = await bench_snapshot(store)
            app = await bench_app(store, args.devices, seconds)
            tail_wall, tail_cpu = await bench_store_path(store, args.devices, 10_000)
        finally:
            await store.close()
    peer = await bench_peer(args.peer_rows, seconds)

    def verdict(value: float, budget: float) -> str:
        return "ok" if value <= budget else "OVER"

    print(f"devices                      {args.devices}")
    print(
        f"snapshot load                {snap_wall * 1000:8.1f} ms wall "
        f"{snap_cpu * 1000:8.1f} ms cpu"
    )
    print(
        f"apply+repaint per 10k changes {app['apply_ms_mean']:7.1f} ms cpu (max "
        f"{app['apply_ms_max']:.1f})  budget 50  {verdict(app['apply_ms_mean'], 50)}"
    )
    print(f"lines rendered in {seconds} s       {int(app['lines_rendered']):8d}")
    print(
        f"key to frame in storm        p50 {app['frame_ms_p50']:6.1f} ms  p95 "
        f"{app['frame_ms_p95']:6.1f} ms  max {app['frame_ms_max']:6.1f} ms  budget 100  "
        f"{verdict(app['frame_ms_p95'], 100)}   (idle p50 {app['idle_frame_ms_p50']:.1f} ms)"
    )
    print(
        f"  key handled in storm       p50 {app['key_ms_p50']:6.1f} ms  p95 "
        f"{app['key_ms_p95']:6.1f} ms  max {app['key_ms_max']:6.1f} ms   (cursor moved; "
        f"idle p50 {app['idle_ms_p50']:.1f} ms)"
    )
    print(
        f"  pilot round trip in storm  p50 {app['trip_ms_p50']:6.1f} ms  p95 "
        f"{app['trip_ms_p95']:6.1f} ms   (Pilot waits for idle; idle p50 "
        f"{app['idle_trip_ms_p50']:.1f} ms)"
    )
    print(
        f"  frames drawn               {int(app['frames']):8d}    "
        f"{app['frame_kb']:.1f} KB each on average"
    )
    print(
        f"resident memory              {app['rss_mb']:8.1f} MB  budget 300  "
        f"{verdict(app['rss_mb'], 300)}"
    )
    print(
        f"store side per 10k events    {tail_wall * 1000:8.1f} ms wall {tail_cpu * 1000:8.1f} ms "
        "cpu (tail + read back)"
    )
    print(f"peer DataTable {args.peer_rows} rows     {peer:8.1f} ms cpu per 10k update_cell pairs")
    print(f"ratio peer / grid            {peer / max(app['apply_ms_mean'], 1e-6):8.1f}x")
    ok = app["apply_ms_mean"] <= 50 and app["frame_ms_p95"] <= 100 and app["rss_mb"] <= 300
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
