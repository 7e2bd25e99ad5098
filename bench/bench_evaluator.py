"""How fast the evaluator judges a minute of results for 10,000 checks, against writing them raw.

    PYTHONPATH=. python bench/bench_evaluator.py [--checks 10000] [--batch 1000] [--url URL]

The inventory: 100 routers with 99 devices behind each, one ICMP check on every device plus an
SNMP check with CPU thresholds on every second one (so ``--checks`` counts both). One "minute"
feeds every check once, in batches the way the poller's writer hands them over: 96 % healthy,
3 % above a threshold, 1 % of the devices down with a whole branch (a router and its 99
children) among them, so parent/child suppression runs too. Three minutes are replayed, time
moving one minute each.

The peer, measured in the same run on the same store: the bare state write (one upsert of the
check states and one ``check.state`` event insert per batch, what a poller without an evaluator
writes). The ratio says what the evaluator adds on top; the budget line says how many minutes of
results one minute of evaluator time covers. Every loop is bounded by its counts and by
``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from noc.alerting.evaluator import Evaluator, Observation
from noc.probes.result import ProbeResult, ProbeStatus
from noc.storage import EventRecord, Store
from noc.storage.models import Check, CheckState, Client, Device, Site

T0 = 1_700_000_000.0
CPU = {"cpu.used_pct": {"warning": 80.0, "critical": 90.0, "clear": 70.0}}


async def seed(store: Store, checks_wanted: int) -> list[tuple[int, int, str, int]]:
    """(check id, device id, type, router index) for every check."""
    devices = max(2, round(checks_wanted / 1.5))
    per_router = 100
    out: list[tuple[int, int, str, int]] = []
    async with store.write() as session:
        client = Client(code="bench", name="Bench")
        session.add(client)
        await session.flush()
        site = Site(client_id=client.id, code="dc", name="DC")
        session.add(site)
        await session.flush()
        router_id: int | None = None
        for n in range(devices):
            is_router = n % per_router == 0
            address = f"127.{2 + n // 65025}.{n // 255 % 255}.{n % 255 + 1}"
            device = Device(
                site_id=site.id,
                name=f"dev{n}",
                kind="router" if is_router else "server",
                address=address,
                address_key=address,
                parent_id=None if is_router else router_id,
            )
            session.add(device)
            await session.flush()
            if is_router:
                router_id = device.id
            kinds = [("ping", "icmp", {})]
            if n % 2:
                kinds.append(("snmp", "snmp", {"thresholds": CPU}))
            for name, kind, extra in kinds:
                check = Check(
                    device_id=device.id, name=name, type=kind, interval_s=60.0, retries=0, **extra
                )
                session.add(check)
                await session.flush()
                out.append((check.id, device.id, kind, n // per_router))
    return out


def minute(
    checks: list[tuple[int, int, str, int]], ts: float, rng: random.Random
) -> list[Observation]:
    down_branch = rng.randrange(max(1, checks[-1][3] + 1))
    observations = []
    for cid, _device, kind, branch in checks:
        if branch == down_branch or rng.random() < 0.002:
            result = ProbeResult(ProbeStatus.FAILED, {"loss_pct": 100.0}, error="no echo reply")
        elif kind == "snmp":
            cpu = 95.0 if rng.random() < 0.03 else rng.uniform(5, 60)
            result = ProbeResult(ProbeStatus.OK, {"cpu.used_pct": cpu, "sys.descr": "bench"})
        else:
            result = ProbeResult(ProbeStatus.OK, {"rtt_ms": rng.uniform(0.1, 5), "loss_pct": 0.0})
        observations.append(Observation(cid, result, 1, ts + rng.uniform(0, 59)))
    observations.sort(key=lambda o: o.ts)
    return observations


def chunks(items: list[Observation], size: int) -> list[list[Observation]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def raw_write(
    store: Store, batch: list[Observation], devices: dict[int, int]
) -> None:
    """The peer: what a poller writes per batch without any evaluation."""
    rows = [
        {
            "check_id": o.check_id,
            "device_id": devices[o.check_id],
            "state": "OK" if o.result.ok else "CRITICAL",
            "since": o.ts,
            "last_ts": o.ts,
            "attempts": 0,
            "output": o.result.error,
            "values": dict(o.result.values),
        }
        for o in batch
    ]
    table = (sqlite_insert if store.sqlite else pg_insert)(CheckState)
    upsert = table.on_conflict_do_update(
        index_elements=[CheckState.check_id],
        set_={c: table.excluded[c] for c in ("state", "since", "last_ts", "output", "values")},
    )
    events = [
        EventRecord("check.state", devices[o.check_id], o.check_id, ts=o.ts, data={"to": "OK"})
        for o in batch
        if not o.result.ok
    ]
    async with store.write() as session:
        await session.execute(upsert, rows)
        await store.append_events(session, events)


async def run(url: str, checks_wanted: int, batch_size: int, limit: float) -> dict[str, Any]:
    store = await Store.open(url)
    try:
        checks = await seed(store, checks_wanted)
        devices = {cid: dev for cid, dev, _, _ in checks}
        rng = random.Random(7)
        now = [T0]
        evaluator = Evaluator(store, clock=lambda: now[0])
        await evaluator.start()
        deadline = time.monotonic() + limit
        eval_wall = eval_cpu = raw_wall = 0.0
        opened = events = 0
        minutes = 3
        for m in range(minutes):
            obs = minute(checks, T0 + 60 * m, rng)
            for part in chunks(obs, batch_size):
                now[0] = part[-1].ts
                w, c = time.perf_counter(), time.process_time()
                report = await evaluator.process(part)
                eval_wall += time.perf_counter() - w
                eval_cpu += time.process_time() - c
                opened += report.opened
                events += report.events
                w = time.perf_counter()
                await raw_write(store, part, devices)
                raw_wall += time.perf_counter() - w
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: over the {limit:g} s limit, stopped")
        per_minute = eval_wall / minutes
        return {
            "backend": "sqlite" if store.sqlite else "postgresql",
            "checks": len(checks),
            "batch": batch_size,
            "eval_s_per_minute": per_minute,
            "eval_cpu_s_per_minute": eval_cpu / minutes,
            "raw_s_per_minute": raw_wall / minutes,
            "ratio": eval_wall / raw_wall if raw_wall else float("nan"),
            "headroom": 60.0 / per_minute if per_minute else float("inf"),
            "alerts_opened": opened,
            "events": events,
        }
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--url", default="", help="a store URL (default: a temporary SQLite)")
    parser.add_argument("--limit", type=float, default=300.0, help="give up after this long")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        r = asyncio.run(run(url, args.checks, args.batch, args.limit))
    print(
        f"{r['backend']}: {r['checks']} checks, batches of {r['batch']}: "
        f"evaluator {r['eval_s_per_minute']:.2f} s per minute of results "
        f"({r['eval_cpu_s_per_minute']:.2f} s CPU), raw state write {r['raw_s_per_minute']:.2f} s; "
        f"evaluator/raw = {r['ratio']:.1f}x; one evaluator keeps up with "
        f"{r['headroom']:.0f}x this load; {r['alerts_opened']} alerts opened, "
        f"{r['events']} events"
    )


if __name__ == "__main__":
    main()
