"""Sample ingest against raw sqlite3, and the size of a month of samples under retention.

    PYTHONPATH=. python bench/bench_ingest.py [--rows 500000] [--batch 1000] [--raw-hours 24]

Part 1, ingest: the same rows, in the same batches, one transaction a batch, into two files
made by the same migration: once through ``Store.write_samples`` (the store's batch writer) and
once through plain ``sqlite3.executemany`` on a WAL connection with ``synchronous=NORMAL``, with
the store's statement (``ON CONFLICT (series_id, ts) DO NOTHING`` into the same table). Runs
alternate, median of three, and the ratio of wall-clock rates must reach ``--min-ratio``; rows
per CPU-second are printed beside it, since the machine is shared and wall time is noisy. With
``NOC_TEST_PG_URL`` set, the same rows go to PostgreSQL too (printed only, beside asyncpg).

Part 2, a month: 5,000 devices x 10 metrics every 60 s is 72 million samples a day, which no
bench can insert here in minutes. What runs is the real thing at a smaller width: a few devices
x 10 metrics at full density (every sample of all 30 days through ``write_samples``), with
``maintain()`` at default retention (or ``--raw-hours``) every few simulated hours. Every row
count scales linearly with the number of series, so the file at 5,000 devices is extrapolated
from the measured bytes of each b-tree (``dbstat``) times the width factor, and so is the file
once every window is full (print only). Measured and extrapolated numbers are printed apart.

Exit status 1 if the ratio or the month's bound is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from noc.config import RetentionSettings
from noc.storage.models import Check, Client, Device, Series, Site
from noc.storage.retention import maintain, page_stats
from noc.storage.store import Store

Row = tuple[int, float, float]

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 86400
FULL_DEVICES = 5_000
METRICS = 10
INTERVAL_S = 60
DAYS = 30
MONTH_BOUND_MB = 17_000
"""The bound held for a month of 5,000 devices x 10 metrics every 60 s at the default
retention (48 h raw, 14 days of 5-minute and 400 days of hourly buckets). Measured 16,327 MB
with both sample tables ``WITHOUT ROWID``; an index more on either table would cross it."""
MONTH_TIME_LIMIT_S = 300.0
"""The month stops with an error past this: about 100 s on this machine when it is quiet."""
ROLLUP_TREES = ("sample_rollups",)
SAMPLE_TREES = ("samples", *ROLLUP_TREES)
"""The b-trees that grow with the number of series: both tables are ``WITHOUT ROWID``, so each
is one b-tree on its key, with no index beside it."""
PEER_INSERT = "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)"
PEER_CONFLICT = " ON CONFLICT (series_id, ts) DO NOTHING"


def fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sample(sid: int, start: float, n: int) -> Row:
    """The ``n``-th sample of a series from ``start``, as a poller stamps it.

    Times carry the poller's jitter and values a fraction, as real ones do: SQLite stores an
    integral REAL in 1 to 4 bytes instead of 8, so round numbers would flatter the file size.
    """
    return (sid, start + n * INTERVAL_S + (sid * 7.919) % 10, ((sid * 37 + n * 11) % 1000) / 7)


def make_rows(count: int, series: int) -> list[Row]:
    """``count`` samples as a poller writes them: every series at one time, then the next."""
    return [sample(1 + n % series, T0, n // series) for n in range(count)]


async def migrated(path: Path) -> str:
    """A new SQLite file with the full schema, made by the same migration as production."""
    fresh(path)
    url = f"sqlite+aiosqlite:///{path}"
    store = await Store.open(url)
    await store.close()
    return url


# part 1: ingest -----------------------------------------------------------------------------


def clocks() -> tuple[float, float]:
    """Wall and CPU time (all threads of this process, so aiosqlite's worker counts too)."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


def raw_sqlite(path: Path, rows: Sequence[Row], batch: int) -> tuple[float, float]:
    """The peer: plain sqlite3, the pragmas the store's engine sets, a transaction a batch."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("busy_timeout = 10000", "journal_mode = WAL", "synchronous = NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        started = clocks()
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(PEER_INSERT + PEER_CONFLICT, rows[start : start + batch])
            conn.execute("COMMIT")
        return since(started)
    finally:
        conn.close()


async def store_batches(url: str, rows: Sequence[Row], batch: int) -> tuple[float, float]:
    """What a poller's flusher does with its buffer: one call, a transaction per batch."""
    store = await Store.open(url)
    try:
        started = clocks()
        await store.write_samples(rows, batch=batch)
        return since(started)
    finally:
        await store.close()


async def call_cost(url: str, calls: int = 50) -> float:
    """Seconds a ``write_samples`` call costs beyond its rows: calls of one row each.

    Each call opens a connection (the engine pools none for SQLite), which a flusher that hands
    over a batch per call pays every time.
    """
    store = await Store.open(url)
    try:
        started = time.perf_counter()
        for n in range(calls):
            await store.write_samples([sample(1, T0, n)])
        return (time.perf_counter() - started) / calls
    finally:
        await store.close()


async def bench_sqlite(
    workdir: Path, rows: Sequence[Row], batch: int, runs: int
) -> dict[str, float]:
    path = workdir / "ingest.db"
    seconds: dict[str, list[tuple[float, float]]] = {"raw": [], "store": []}
    for _ in range(runs):
        await migrated(path)
        seconds["raw"].append(raw_sqlite(path, rows, batch))
        url = await migrated(path)
        seconds["store"].append(await store_batches(url, rows, batch))
    rates: dict[str, float] = {}
    for name, times in seconds.items():
        rates[name] = len(rows) / statistics.median(wall for wall, _ in times)
        rates[f"{name}_cpu"] = len(rows) / statistics.median(cpu for _, cpu in times)
    rates["call_s"] = await call_cost(await migrated(path))
    fresh(path)
    return rates


async def scratch_pg(
    url: str, action: Callable[[str], Awaitable[dict[str, float]]]
) -> dict[str, float]:
    """Run ``action`` against a new database on the server of ``url``, dropped afterwards."""
    name = f"noc_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            return await action(make_url(url).set(database=name).render_as_string(False))
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def bench_pg(url: str, rows: Sequence[Row], batch: int, runs: int) -> dict[str, float]:
    import asyncpg  # only when PostgreSQL is asked for

    async def action(db_url: str) -> dict[str, float]:
        store = await Store.open(db_url)
        dsn = make_url(db_url).set(drivername="postgresql").render_as_string(False)
        seconds: dict[str, list[float]] = {"pg_raw": [], "pg_store": []}
        try:
            for _ in range(runs):
                async with store.write() as session:
                    await session.execute(text("TRUNCATE samples"))
                conn = await asyncpg.connect(dsn)
                try:
                    started = time.perf_counter()
                    for start in range(0, len(rows), batch):
                        async with conn.transaction():
                            await conn.executemany(
                                "INSERT INTO samples (series_id, ts, value) VALUES ($1, $2, $3)"
                                + PEER_CONFLICT,
                                rows[start : start + batch],
                            )
                    seconds["pg_raw"].append(time.perf_counter() - started)
                finally:
                    await conn.close()
                async with store.write() as session:
                    await session.execute(text("TRUNCATE samples"))
                started = time.perf_counter()
                await store.write_samples(rows, batch=batch)
                seconds["pg_store"].append(time.perf_counter() - started)
        finally:
            await store.close()
        return {name: len(rows) / statistics.median(times) for name, times in seconds.items()}

    return await scratch_pg(url, action)


# part 2: a month ------------------------------------------------------------------------------


async def make_series(store: Store, devices: int, first_id: int) -> list[int]:
    """``devices`` x ``METRICS`` series, numbered from ``first_id`` through the real path."""
    async with store.write() as session:
        client = Client(code="bench", name="Bench")
        session.add(client)
        await session.flush()
        site = Site(client_id=client.id, code="dc", name="DC")
        session.add(site)
        await session.flush()
        addresses = [f"127.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}" for n in range(devices)]
        hosts = [
            Device(site_id=site.id, name=f"dev{n}", address=address, address_key=address)
            for n, address in enumerate(addresses)
        ]
        session.add_all(hosts)
        await session.flush()
        checks = [Check(device_id=host.id, name="snmp", type="snmp") for host in hosts]
        session.add_all(checks)
        await session.flush()
        keys = [(c.device_id, c.id, f"metric{m}") for c in checks for m in range(METRICS)]
        if first_id > 1:
            session.add(
                Series(id=first_id - 1, device_id=hosts[0].id, check_id=checks[0].id, metric="-")
            )
    ids = await store.series_ids(keys)
    async with store.write() as session:
        await session.execute(delete(Series).where(Series.metric == "-"))
    return sorted(ids.values())


def tree_bytes(path: Path) -> dict[str, int]:
    """Bytes of each b-tree of the file, by SQLite's ``dbstat`` (page size times pages)."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    finally:
        conn.close()


def wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def free_pages_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int(page_size * conn.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        conn.close()


def table_rows(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        raw = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        by_res = dict(
            conn.execute("SELECT resolution, count(*) FROM sample_rollups GROUP BY 1").fetchall()
        )
        return {"raw": raw, "5m": by_res.get(300, 0), "1h": by_res.get(3600, 0)}
    finally:
        conn.close()


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


async def month(
    workdir: Path, devices: int, pass_hours: int, raw_hours: int | None, deadline: float
) -> tuple[float, bool]:
    path = workdir / "month.db"
    url = await migrated(path)
    store = await Store.open(url)
    retention = RetentionSettings() if raw_hours is None else RetentionSettings(raw_hours=raw_hours)
    width = FULL_DEVICES / devices
    spent = {"write_samples": 0.0, "maintain": 0.0}
    passes: list[float] = []
    full_series = FULL_DEVICES * METRICS
    series = await make_series(store, devices, first_id=full_series - devices * METRICS + 1)
    print(
        f"\nmonth: {devices} devices x {METRICS} metrics ({len(series)} series) every "
        f"{INTERVAL_S} s for {DAYS} days, maintain() every {pass_hours} simulated h, "
        f"retention {retention.raw_hours} h / {retention.rollup_5m_days} d / "
        f"{retention.rollup_1h_days} d"
    )
    print(
        f"{'day':>4} {'raw rows':>10} {'5m rows':>9} {'1h rows':>8} {'file MB':>8} "
        f"{'free MB':>8} {'WAL MB':>7}"
    )
    shown = {1, 2, 3, 7, 14, 15, 21, 28, DAYS}
    rollups_at: dict[int, int] = {}
    files_at: dict[int, int] = {}
    try:
        for first_hour in range(0, DAYS * 24, pass_hours):
            if time.monotonic() > deadline:
                raise SystemExit(f"month simulation stopped at hour {first_hour}: too slow here")
            start = T0 + first_hour * 3600
            rows = [
                sample(sid, start, n)
                for n in range(pass_hours * 3600 // INTERVAL_S)
                for sid in series
            ]
            began = time.perf_counter()
            await store.write_samples(rows)
            spent["write_samples"] += time.perf_counter() - began
            now = start + pass_hours * 3600
            report = await maintain(store, now, retention)
            spent["maintain"] += report.seconds
            passes.append(report.seconds)
            day = int((now - T0) // 86400)
            if now % 86400 == T0 % 86400 and day in shown:
                stats = await page_stats(store)
                assert stats is not None
                counts = table_rows(path)
                rollups_at[day] = rollup_bytes(tree_bytes(path))
                files_at[day] = stats.file_bytes
                print(
                    f"{day:>4} {counts['raw']:>10,} {counts['5m']:>9,} {counts['1h']:>8,} "
                    f"{mb(stats.file_bytes):>8} {mb(stats.free_pages * stats.page_size):>8} "
                    f"{mb(wal_bytes(path)):>7}"
                )
    finally:
        await store.close()

    counts = table_rows(path)
    trees = tree_bytes(path)
    file_bytes = path.stat().st_size
    sample_bytes = sum(size for name, size in trees.items() if name in SAMPLE_TREES)
    free_bytes = free_pages_bytes(path)
    other_bytes = file_bytes - sample_bytes - free_bytes
    full = (sample_bytes + free_bytes) * width + other_bytes
    expected = {
        "raw": retention.raw_hours * 3600 // INTERVAL_S,
        "5m": retention.rollup_5m_days * 288,
        "1h": min(retention.rollup_1h_days, DAYS) * 24,
    }
    print("rows per series at the end (measured) against what the windows hold:")
    for name, per_series in expected.items():
        held = counts[name] / len(series)
        print(f"  {name:>3}: {held:>7,.1f} (window: {per_series:,})")
    print("b-trees at the end (measured):")
    rows_in = {"samples": counts["raw"], "rollups": counts["5m"] + counts["1h"]}
    for name in SAMPLE_TREES:
        held = rows_in["rollups" if "rollups" in name else "samples"]
        per_row = trees.get(name, 0) / max(held, 1)
        print(f"  {name:<34} {mb(trees.get(name, 0)):>8} MB {per_row:6.1f} B/row")
    print(f"  {'free pages (reused by the next inserts)':<34} {mb(free_bytes):>8} MB")
    print(f"  {'everything else':<34} {mb(other_bytes):>8} MB")
    if 15 in files_at and DAYS in files_at:
        growth = files_at[DAYS] - files_at[15]
        hourly = rollups_at[DAYS] - rollups_at[15]
        print(
            f"file growth from day 15 to {DAYS} (measured): {mb(growth)} MB, of which the roll-up "
            f"b-trees {mb(hourly)} MB (hourly buckets, still inside their 400-day window)"
        )
    total = len(series) * DAYS * 86400 // INTERVAL_S
    print(
        f"time at this width (measured): write_samples {total:,} rows in "
        f"{spent['write_samples']:.1f} s; {len(passes)} maintain() passes in "
        f"{spent['maintain']:.1f} s (median {statistics.median(passes):.3f} s, "
        f"max {max(passes):.3f} s)"
    )
    print(f"file at this width (measured): {mb(file_bytes)} MB")
    print(
        f"extrapolated x{width:,.0f} to {FULL_DEVICES:,} devices: the sample b-trees and free "
        f"pages scale with the number of series, the rest ({mb(other_bytes)} MB) stays"
    )
    ok = full / 1e6 <= MONTH_BOUND_MB
    print(
        f"month of {FULL_DEVICES:,} devices x {METRICS} metrics/{INTERVAL_S} s: "
        f"{full / 1e6:,.0f} MB (bound: {MONTH_BOUND_MB:,} MB)"
    )
    # Past the month only the hourly buckets still grow, until their window is full too.
    per_raw = trees.get("samples", 0) / max(counts["raw"], 1)
    per_rollup = rollup_bytes(trees) / max(counts["5m"] + counts["1h"], 1)
    windows = {**expected, "1h": retention.rollup_1h_days * 24}
    steady = (
        full_series * (windows["raw"] * per_raw + (windows["5m"] + windows["1h"]) * per_rollup)
        + free_bytes * width
        + other_bytes
    )
    print(
        f"steady state, every window full (day {retention.rollup_1h_days}), extrapolated from "
        f"the bytes a row above: {steady / 1e6:,.0f} MB, of which hourly buckets "
        f"{full_series * windows['1h'] * per_rollup / 1e6:,.0f} MB (print only)"
    )
    fresh(path)
    return full, ok


async def full_width(workdir: Path, minutes: int) -> None:
    """One maintain() pass at the real width, where the month above only extrapolates.

    5,000 devices x 10 metrics, ``minutes`` of samples at full density, then the pass that
    rolls them up: how long it takes, and how far the WAL grows, with 50,000 series.
    """
    path = workdir / "wide.db"
    store = await Store.open(await migrated(path))
    # An idle reader, as a console would be: without it the last connection to close would
    # checkpoint and delete the WAL, hiding how large it grew.
    reader = sqlite3.connect(path)
    reader.execute("SELECT count(*) FROM series").fetchone()
    try:
        series = await make_series(store, FULL_DEVICES, first_id=1)
        rows = [sample(sid, T0, n) for n in range(minutes) for sid in series]
        began = time.perf_counter()
        await store.write_samples(rows)
        wrote = time.perf_counter() - began
        now = T0 + minutes * INTERVAL_S + 600
        first = await maintain(store, now, RetentionSettings())
        # Steady state: five more minutes arrive, and the next pass rolls them up.
        await store.write_samples(
            [sample(sid, T0, n) for n in range(minutes, minutes + 5) for sid in series]
        )
        steady = await maintain(store, now + 300, RetentionSettings())
        wal = wal_bytes(path)
    finally:
        await store.close()
        reader.close()
        fresh(path)
    print(
        f"\nfull width (measured): {len(series):,} series, {len(rows):,} samples in "
        f"{wrote:.1f} s ({len(rows) / wrote:,.0f} rows/s); first maintain() pass "
        f"{first.seconds:.1f} s ({first.buckets:,} roll-up rows); steady-state pass after 5 more "
        f"minutes {steady.seconds:.1f} s ({steady.buckets:,} roll-up rows); WAL {mb(wal)} MB"
    )


def rollup_bytes(trees: dict[str, int]) -> int:
    """Bytes of the roll-up b-trees (5-minute and hourly buckets share them)."""
    return sum(v for k, v in trees.items() if k in ROLLUP_TREES)


# main -----------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    failed = False
    with tempfile.TemporaryDirectory(prefix="noc-bench-ingest-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        if not args.skip_ingest:
            rows = make_rows(args.rows, args.series)
            print(
                f"ingest: {len(rows):,} rows, {args.series:,} series, batches of {args.batch:,}, "
                f"one transaction a batch, median of {args.runs}"
            )
            rates = await bench_sqlite(workdir, rows, args.batch, args.runs)
            print(f"{'writer':<48} {'rows/s':>10} {'x raw':>6} {'rows/CPU-s':>11} {'x raw':>6}")
            labels = {
                "raw": "sqlite3.executemany (WAL, synchronous=NORMAL)",
                "store": "Store.write_samples (one call, all rows)",
            }
            for name, label in labels.items():
                cpu = rates[f"{name}_cpu"]
                print(
                    f"{label:<48} {rates[name]:>10,.0f} {rates[name] / rates['raw']:>6.2f} "
                    f"{cpu:>11,.0f} {cpu / rates['raw_cpu']:>6.2f}"
                )
            per_call = args.batch / (args.batch / rates["store"] + rates["call_s"])
            print(
                f"{'  derived: one call per batch':<48} {per_call:>10,.0f} "
                f"{per_call / rates['raw']:>6.2f}  (measured cost of a call: "
                f"{rates['call_s'] * 1e3:.1f} ms)"
            )
            ratio = rates["store"] / rates["raw"]
            if ratio < args.min_ratio:
                print(f"FAIL: Store.write_samples at {ratio:.2f}x raw, below {args.min_ratio}x")
                failed = True
            pg_url = os.environ.get("NOC_TEST_PG_URL", "")
            if pg_url:
                pg = await bench_pg(pg_url, rows, args.batch, args.runs)
                for name, label in (
                    ("pg_raw", "asyncpg executemany (PostgreSQL, print only)"),
                    ("pg_store", "Store.write_samples (PostgreSQL, print only)"),
                ):
                    print(f"{label:<48} {pg[name]:>10,.0f}")
        if args.full_width:
            await full_width(workdir, args.full_width)
        if not args.skip_month:
            deadline = time.monotonic() + MONTH_TIME_LIMIT_S
            _, ok = await month(workdir, args.devices, args.pass_hours, args.raw_hours, deadline)
            failed = failed or not ok
    return 1 if failed else 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--series", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--min-ratio", type=float, default=0.25)
    parser.add_argument("--devices", type=int, default=5, help="width of the month simulation")
    parser.add_argument("--pass-hours", type=int, default=6, help="simulated hours per pass")
    parser.add_argument(
        "--raw-hours",
        type=int,
        default=None,
        help="raw retention for the month instead of the default (the bound still applies)",
    )
    parser.add_argument(
        "--full-width", type=int, default=0, metavar="MINUTES",
        help="also time one maintain() pass over this many minutes at 50,000 series",
    )
    parser.add_argument("--dir", default=None, help="where the scratch files go")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-month", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.rows <= 5_000_000 or not 0 < args.devices <= 100 or args.runs < 1:
        parser.error("--rows must be in 1..5,000,000, --devices in 1..100, --runs at least 1")
    if not 0 <= args.full_width <= 60:
        parser.error("--full-width takes 0..60 minutes")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
