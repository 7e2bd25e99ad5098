"""One poller cycle over N loopback devices (ICMP + TCP), through the whole pipeline.

Builds N devices on 127.77.0.0/16 — each with an ICMP check and a TCP check against a listener
on its own address, a few of them refusing (every 50th) or accepting and never answering
(every 100th) — imports them into a scratch SQLite store, and runs one cycle of the scheduler
with the batch writer behind it, first runs spread over ``--spread`` seconds. It prints the
cycle time, the scheduler lag (p50/p99/max), late and dropped runs, and what the writer stored
or dropped. For scale, the same addresses are swept by fping in the same run and by the
scheduler's ICMP lane alone, and the ratio printed.

    python bench/bench_cycle.py [--devices 500] [--spread 2] [--hung-timeout 1]

Bounded: at most 5,000 devices and 120 s of wall time; every listener is closed at the end.
With ``--lab`` it is the 10,000-device interval against ``noc lab`` instead: every other
option is then ``bench_lab_cycle.py``'s (``--lab --help`` lists them).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import ipaddress
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from noc.config import PollerSettings, Settings
from noc.inventory.importer import import_inventory, load_inventory
from noc.polling.adapters import Adapters
from noc.polling.jobs import CheckJob, load_jobs
from noc.polling.outcome import CheckOutcome
from noc.polling.scheduler import Scheduler
from noc.polling.writer import ResultWriter
from noc.polling.writer_thread import Writer, start_writer
from noc.probes.icmp import DEFAULT_PPS
from noc.storage import Store

FIRST = ipaddress.IPv4Address("127.77.0.1")
MAX_DEVICES = 5_000
LIMIT_S = 120.0
FPING_TIMEOUT_MS = 500


class Peer:
    """What answers on one device address: a listener that closes at once, one that never
    speaks, or a bound port that refuses."""

    def __init__(self, address: str, kind: str) -> None:
        self.address = address
        self.kind = kind
        self.port = 0
        self.server: asyncio.Server | None = None
        self.sock: socket.socket | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        if self.kind == "refused":
            self.sock = socket.socket()
            self.sock.bind((self.address, 0))
            self.port = self.sock.getsockname()[1]
            return
        self.server = await asyncio.start_server(self._handle, self.address, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open.add(writer)
        try:
            if self.kind == "hung":
                await reader.read()
            else:
                writer.write(b"ok\n")
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self.open.discard(writer)
            writer.transport.abort()

    async def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        for writer in list(self.open):
            writer.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def kind_of(index: int) -> str:
    if index % 100 == 99:
        return "hung"
    if index % 50 == 49:
        return "refused"
    return "open"


def inventory_toml(peers: Sequence[Peer], hung_timeout: float, *, tcp: bool) -> str:
    lines = ['[[clients]]\ncode = "bench"\nname = "Bench"\n']
    for i, peer in enumerate(peers):
        checks = ['{ type = "icmp", count = 1 }']
        if tcp:
            timeout = f", timeout = {hung_timeout}" if peer.kind == "hung" else ""
            checks.append(
                f'{{ type = "tcp", port = {peer.port}, expect = "ok", retries = 0{timeout} }}'
            )
        lines.append(
            f'[[devices]]\nname = "d{i:05d}"\nclient = "bench"\naddress = "{peer.address}"\n'
            f"checks = [{', '.join(checks)}]\n"
        )
    return "\n".join(lines)


def fping_seconds(addresses: Sequence[str]) -> float | None:
    fping = shutil.which("fping")
    if fping is None:
        return None
    started = time.perf_counter()
    subprocess.run(
        [fping, "-i", "0", "-r", "0", "-t", str(FPING_TIMEOUT_MS)],
        input="\n".join(addresses),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return time.perf_counter() - started


class StallMonitor:
    """A 10 ms ticker on the probes' loop: how late it wakes is how long the loop was unable
    to run anything (busy with work, or the process not scheduled). Scheduler lag beyond this
    is the scheduler's own doing."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_at = 0.0
        """When the longest stall began, in seconds from the start of monitoring."""
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        started = time.perf_counter()
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stall = time.perf_counter() - before - 0.01
            if stall > self.worst:
                self.worst, self.worst_at = stall, before - started

    def __enter__(self) -> StallMonitor:
        self._task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


class Sink:
    """Counts and forwards, noting when the last outcome arrived."""

    def __init__(self, writer: Writer | None) -> None:
        self.writer = writer
        self.last = 0.0

    def submit(self, outcome: CheckOutcome) -> None:
        self.last = time.perf_counter()
        if self.writer is not None:
            self.writer.submit(outcome)


def percentiles_ms(scheduler: Scheduler) -> str:
    lag = scheduler.stats.lag_summary()
    return ", ".join(f"{key} {lag[key] * 1000:.1f} ms" for key in ("p50", "p99", "max"))


async def icmp_lane(jobs: list[CheckJob], settings: PollerSettings, runs: int) -> list[float]:
    """Seconds for the scheduler's ICMP lane to sweep every address once, ``runs`` times on
    one warm pinger (the first run also opens the socket)."""
    adapters = Adapters()
    scheduler = Scheduler.from_settings(settings, adapters, Sink(None))
    icmp = [j for j in jobs if j.check_type == "icmp"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await scheduler.run_once(icmp)
        times.append(time.perf_counter() - started)
    await adapters.aclose()
    return times


async def main(args: argparse.Namespace) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = args.devices
    peers = [Peer(str(FIRST + i), kind_of(i)) for i in range(n)]
    for peer in peers:
        await peer.start()
    tmp = Path(tempfile.mkdtemp(prefix="noc-bench-"))
    store = await Store.open(f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    try:
        inventory = tmp / "bench.toml"
        tcp = importlib.util.find_spec("noc.probes.tcp") is not None
        if not tcp:
            print("the TCP probe is not in this build: ICMP checks only")
        text = inventory_toml(peers, args.hung_timeout, tcp=tcp)
        inventory.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        await import_inventory(store, load_inventory(inventory))
        print(f"imported {n} devices in {time.perf_counter() - t0:.1f} s")
        settings = Settings()
        jobs = await load_jobs(store, settings.poller)

        addresses = [p.address for p in peers]
        lanes, fpings = [], []
        for _ in range(3):  # alternating, so both see the same machine load
            lanes.append(min(await icmp_lane(jobs, settings.poller, 2)))
            fping = fping_seconds(addresses)
            if fping is not None:
                fpings.append(fping)
        lane = statistics.median(lanes)
        if fpings:
            peer = statistics.median(fpings)
            print(
                f"ICMP sweep of {n} addresses (median of 3, warm): scheduler lane {lane:.3f} s, "
                f"fping -i 0 {peer:.3f} s (ratio {lane / peer:.2f}; the pinger paces itself at "
                f"{DEFAULT_PPS:,.0f} packets/s, a floor of {n / DEFAULT_PPS:.3f} s here)"
            )
        else:
            print(f"ICMP sweep of {n} addresses: scheduler lane {lane:.3f} s (fping not installed)")

        adapters = Adapters(settings)
        writer: Writer
        if args.writer == "thread":
            writer = await start_writer(store)
        else:
            writer = ResultWriter(store)
            writer.start()
        sink = Sink(writer)
        scheduler = Scheduler.from_settings(settings.poller, adapters, sink)
        started, cpu_started = time.perf_counter(), time.process_time()
        with StallMonitor() as stalls:
            outcomes = await scheduler.run_once(jobs, spread=args.spread)
        cycle = sink.last - started
        cpu = time.process_time() - cpu_started
        await adapters.aclose()
        flush_started = time.perf_counter()
        await writer.aclose()
        flushed = time.perf_counter() - flush_started

        s, w = scheduler.stats, writer.stats
        states: dict[str, int] = {}
        for o in outcomes:
            states[str(o.state)] = states.get(str(o.state), 0) + 1
        kinds = {k: sum(1 for p in peers if p.kind == k) for k in ("open", "refused", "hung")}
        print(
            f"cycle: {len(jobs)} checks ({n} icmp"
            + (
                f", tcp {kinds['open']} open, {kinds['refused']} refused, "
                f"{kinds['hung']} hung at {args.hung_timeout:g} s"
                if tcp
                else ""
            )
            + f") spread over {args.spread:g} s, writer on {args.writer}"
        )
        print(
            f"  cycle time {cycle:.2f} s; process CPU {cpu:.2f} s "
            f"({cpu / len(jobs) * 1000:.2f} ms a check); states {dict(sorted(states.items()))}"
        )
        print(
            f"  scheduler lag {percentiles_ms(scheduler)}; longest event-loop stall "
            f"{stalls.worst * 1000:.1f} ms (load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs)"
        )
        print(
            f"  late {s.late}, dropped {s.dropped}, deadline hits {s.deadline_hits}, "
            f"retries {s.retries}, crashed {s.crashed}"
        )
        print(
            f"  writer: {w.outcomes} states, {w.samples} samples in {w.batches} batches, "
            f"dropped {w.dropped}, lost {w.lost}, final flush {flushed * 1000:.0f} ms"
        )
        return 0 if s.dropped == 0 and w.dropped == 0 and w.lost == 0 else 1
    finally:
        await store.close()
        for peer in peers:
            await peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--spread", type=float, default=2.0, help="seconds to spread runs over")
    parser.add_argument("--hung-timeout", type=float, default=1.0)
    parser.add_argument(
        "--writer",
        choices=("thread", "loop"),
        default="thread",
        help="the writer on its own thread (as noc poll runs it) or on the probes' loop",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.devices <= MAX_DEVICES:
        parser.error(f"--devices must be from 1 to {MAX_DEVICES}")
    return args


async def bounded(args: argparse.Namespace) -> int:
    async with asyncio.timeout(LIMIT_S):
        return await main(args)


if __name__ == "__main__":
    if "--lab" in sys.argv[1:]:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from bench.bench_lab_cycle import run_bench

        sys.exit(run_bench([arg for arg in sys.argv[1:] if arg != "--lab"]))
    sys.exit(asyncio.run(bounded(parse(sys.argv[1:]))))
