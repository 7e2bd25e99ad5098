"""Samples, roll-ups and retention on a real SQLite file, and on PostgreSQL when
``NOC_TEST_PG_URL`` names a server (in a database of this module's own, dropped after)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from noc.config import RetentionSettings
from noc.errors import StoreError
from noc.storage.models import Check, Client, Device, Sample, SampleRollup, Series, Site
from noc.storage.retention import RetentionWorker, maintain, page_stats
from noc.storage.store import Store

PG_URL = os.environ.get("NOC_TEST_PG_URL", "")
T0 = 1_700_000_000.0 - 1_700_000_000.0 % 86400  # a UTC midnight, so buckets line up with days

Bucket = tuple[float, float, float, int]  # min, max, sum, count


async def _create_database(url: str, name: str) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        store = await Store.open(make_url(url).set(database=name).render_as_string(False))
        await store.close()
    finally:
        await admin.dispose()


async def _drop_database(url: str, name: str) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A migrated database of this module's own on the server of ``NOC_TEST_PG_URL``.

    Created once (a database and its migration take seconds) and dropped at the end; each test
    empties the tables it uses instead.
    """
    if not PG_URL:
        pytest.skip("NOC_TEST_PG_URL is not set: no PostgreSQL server to test against")
    name = f"noc_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(PG_URL, name))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_drop_database(PG_URL, name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'noc.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    try:
        if not opened.sqlite:
            async with opened.write() as session:
                await session.execute(
                    text("TRUNCATE clients, samples, sample_rollups RESTART IDENTITY CASCADE")
                )
        yield opened
    finally:
        await opened.close()


async def make_checks(store: Store, devices: int) -> list[tuple[int, int]]:
    """``devices`` devices with one check each; returns their (device id, check id)."""
    async with store.write() as session:
        client = Client(code="acme", name="Acme")
        session.add(client)
        await session.flush()
        site = Site(client_id=client.id, code="hq", name="HQ")
        session.add(site)
        await session.flush()
        pairs = []
        for n in range(devices):
            address = f"127.0.1.{n + 1}"
            device = Device(site_id=site.id, name=f"dev{n}", address=address, address_key=address)
            session.add(device)
            await session.flush()
            check = Check(device_id=device.id, name="snmp", type="snmp")
            session.add(check)
            await session.flush()
            pairs.append((device.id, check.id))
    return pairs


async def make_series(store: Store, count: int) -> list[int]:
    pairs = await make_checks(store, count)
    ids = await store.series_ids((device, check, "cpu") for device, check in pairs)
    return [ids[(check, "cpu")] for _, check in pairs]


async def count(store: Store, *where: object, table: type = Sample) -> int:
    async with store.read() as session:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(query) or 0)


async def rollups(store: Store, resolution: int) -> dict[tuple[int, int], Bucket]:
    async with store.read() as session:
        rows = await session.execute(
            select(
                SampleRollup.series_id,
                SampleRollup.bucket,
                SampleRollup.min,
                SampleRollup.max,
                SampleRollup.sum,
                SampleRollup.count,
            ).where(SampleRollup.resolution == resolution)
        )
        return {(sid, bucket): (mn, mx, sm, n) for sid, bucket, mn, mx, sm, n in rows}


def expected_buckets(
    rows: Iterable[tuple[int, float, float]], resolution: int
) -> dict[tuple[int, int], Bucket]:
    """Roll-ups computed the obvious way, in Python, to hold the SQL ones against."""
    values: dict[tuple[int, int], list[float]] = defaultdict(list)
    for sid, ts, value in rows:
        values[(sid, int(ts // resolution * resolution))].append(value)
    return {key: (min(v), max(v), sum(v), len(v)) for key, v in values.items()}


# write_samples and series_ids -------------------------------------------------------------------


async def test_write_samples_round_trip(store: Store) -> None:
    a, b = await make_series(store, 2)
    rows = [(sid, T0 + 60 * i + 0.25, i * 1.5 - 3.0) for i in range(250) for sid in (a, b)]

    assert await store.write_samples(rows, batch=64) == 500
    assert await store.write_samples([]) == 0

    async with store.read() as session:
        stored = (
            await session.execute(
                select(Sample.series_id, Sample.ts, Sample.value).order_by(
                    Sample.ts, Sample.series_id
                )
            )
        ).all()
    assert [tuple(row) for row in stored] == rows


async def test_write_samples_skips_a_sample_already_stored(store: Store) -> None:
    """A flush retried after its commit went through lands once; the first value is kept."""
    a, b = await make_series(store, 2)
    first = [(a, T0, 1.0), (a, T0 + 60, 2.0), (b, T0, 3.0)]
    assert await store.write_samples(first) == 3

    again = [(a, T0, 9.0), (b, T0 + 60, 4.0), (b, T0 + 60, 5.0), (a, T0 + 60, 9.0)]
    assert await store.write_samples(again, batch=2) == 1

    async with store.read() as session:
        stored = (await session.execute(select(Sample.series_id, Sample.ts, Sample.value))).all()
    assert sorted(tuple(row) for row in stored) == sorted([*first, (b, T0 + 60, 4.0)])


async def test_samples_are_stored_in_their_key_alone(store: Store) -> None:
    """(series, time) is the key and the only index of ``samples``; in SQLite both sample
    tables are ``WITHOUT ROWID``, so each is one b-tree where a table and an index would be two.
    """

    def shape(sync: Any) -> dict[str, tuple[list[str], list[str]]]:
        found = inspect(sync)
        return {
            table: (
                found.get_pk_constraint(table)["constrained_columns"],
                [index["name"] for index in found.get_indexes(table)],
            )
            for table in ("samples", "sample_rollups")
        }

    async with store.read() as session:
        conn = await session.connection()
        assert await conn.run_sync(shape) == {
            "samples": (["series_id", "ts"], []),
            "sample_rollups": (["series_id", "resolution", "bucket"], []),
        }
        if store.sqlite:
            tables = await session.execute(
                text("SELECT name, sql FROM sqlite_master WHERE tbl_name LIKE 'sample%'")
            )
            assert {name: sql.split()[-2:] for name, sql in tables} == {
                "samples": ["WITHOUT", "ROWID"],
                "sample_rollups": ["WITHOUT", "ROWID"],
            }


async def test_write_samples_rejects_an_empty_batch(store: Store) -> None:
    with pytest.raises(ValueError, match="batch"):
        await store.write_samples([(1, T0, 1.0)], batch=0)
    assert await count(store) == 0


async def test_series_ids_creates_once_and_is_idempotent(store: Store) -> None:
    (d1, c1), (d2, c2) = await make_checks(store, 2)
    keys = [(d1, c1, "in_octets"), (d1, c1, "out_octets"), (d2, c2, "in_octets")]

    first = await store.series_ids(keys)
    assert set(first) == {(c1, "in_octets"), (c1, "out_octets"), (c2, "in_octets")}
    assert len(set(first.values())) == 3
    assert await count(store, table=Series) == 3

    again = await store.series_ids(reversed(keys))
    assert again == first
    assert await count(store, table=Series) == 3

    more = await store.series_ids([*keys, (d2, c2, "errors")])
    assert {k: v for k, v in more.items() if k in first} == first
    assert (c2, "errors") in more and more[(c2, "errors")] not in first.values()
    assert await count(store, table=Series) == 4
    async with store.read() as session:
        owner = await session.scalar(select(Series.device_id).where(Series.check_id == c2))
    assert owner == d2


# roll-ups -------------------------------------------------------------------------------------


async def test_rollup_over_two_buckets_and_idempotent(store: Store) -> None:
    a, b = await make_series(store, 2)
    # Two 5-minute buckets of series a, with values chosen so min/max/avg differ per bucket,
    # one sample of series b, and one sample just outside the window that must not count.
    rows = [
        (a, T0 + 0, 10.0),
        (a, T0 + 60, 30.0),
        (a, T0 + 299.5, 20.0),
        (a, T0 + 300, -5.0),
        (a, T0 + 540, 7.0),
        (b, T0 + 120, 1.0),
        (a, T0 + 600, 1000.0),
    ]
    await store.write_samples(rows)

    assert await store.rollup(T0, T0 + 600) == 3 + 2  # 5-minute buckets, then hourly ones
    five = await rollups(store, 300)
    assert five == {
        (a, int(T0)): (10.0, 30.0, 60.0, 3),
        (a, int(T0) + 300): (-5.0, 7.0, 2.0, 2),
        (b, int(T0)): (1.0, 1.0, 1.0, 1),
    }
    mn, mx, total, n = five[(a, int(T0))]
    assert (total / n, n) == (20.0, 3)
    hourly = await rollups(store, 3600)
    assert hourly == {(a, int(T0)): (-5.0, 30.0, 62.0, 5), (b, int(T0)): (1.0, 1.0, 1.0, 1)}

    assert await store.rollup(T0, T0 + 600) == 5
    assert await rollups(store, 300) == five
    assert await rollups(store, 3600) == hourly
    assert await count(store, table=SampleRollup) == 5


async def test_rollup_completes_a_bucket_rolled_while_open(store: Store) -> None:
    (a,) = await make_series(store, 1)
    early = [(a, T0 + 60 * i, float(i)) for i in range(3)]
    late = [(a, T0 + 60 * i, float(i)) for i in range(3, 5)]
    await store.write_samples(early)
    await store.rollup(T0, T0 + 200)  # the bucket [T0, T0+300) is still open
    await store.write_samples(late)
    await store.rollup(T0 + 200, T0 + 300)  # widened to the whole bucket, recomputed

    assert await rollups(store, 300) == expected_buckets(early + late, 300)
    assert await rollups(store, 3600) == expected_buckets(early + late, 3600)


async def test_rollup_rejects_an_unknown_resolution(store: Store) -> None:
    with pytest.raises(ValueError, match="900"):
        await store.rollup(T0, T0 + 900, resolutions=(900,))


# retention ------------------------------------------------------------------------------------


async def test_prune_drops_exactly_what_is_older_than_each_window(store: Store) -> None:
    a, b = await make_series(store, 2)
    orphan = max(a, b) + 1000  # samples whose series (and device) were deleted
    now = T0 + 40 * 86400
    raw_cut, cut5, cut1 = now - 2 * 3600, now - 3 * 86400, now - 10 * 86400
    offsets = (-3600.0, -0.5, 0.0, 0.5, 60.0)
    # Inserted newest first, so the row order says nothing about age.
    raw = [(sid, raw_cut + dt, 1.0) for dt in reversed(offsets) for sid in (a, b, orphan)]
    await store.write_samples(raw)
    async with store.write() as session:
        for resolution, cut in ((300, cut5), (3600, cut1)):
            for sid in (a, orphan):
                for k in (-2, -1, 0, 1):
                    session.add(
                        SampleRollup(
                            series_id=sid,
                            resolution=resolution,
                            bucket=int(cut) + k * resolution,
                            min=0.0,
                            max=1.0,
                            sum=1.0,
                            count=1,
                        )
                    )

    deleted = await store.prune(now, raw_hours=2, rollup_5m_days=3, rollup_1h_days=10)

    async with store.read() as session:
        kept_raw = set((await session.execute(select(Sample.series_id, Sample.ts))).all())
        kept_rollups = set(
            (
                await session.execute(
                    select(SampleRollup.series_id, SampleRollup.resolution, SampleRollup.bucket)
                )
            ).all()
        )
    assert kept_raw == {(s, t) for s, t, _ in raw if t >= raw_cut}
    assert kept_rollups == {
        (sid, res, int(cut) + k * res)
        for res, cut in ((300, cut5), (3600, cut1))
        for sid in (a, orphan)
        for k in (0, 1)
    }
    assert deleted == 3 * 2 + 2 * 2 * 2


async def test_prune_of_an_empty_store_is_a_no_op(store: Store) -> None:
    assert await store.prune(T0, raw_hours=1, rollup_5m_days=1, rollup_1h_days=1) == 0


async def test_maintain_over_a_simulated_span_keeps_row_counts_bounded(store: Store) -> None:
    """54 hours of one sample a minute from three series, a pass every simulated 2 hours.

    Windows are shrunk (1 h raw, 1 day of 5-minute, 2 days of hourly buckets) so that all three
    fill and roll over; counts must stay under the windows plus one pass of slack throughout,
    and the roll-ups built pass by pass must equal the ones computed from all samples at once.
    """
    series = await make_series(store, 3)
    retention = RetentionSettings(raw_hours=1, rollup_5m_days=1, rollup_1h_days=2)
    clock = [T0]
    worker = RetentionWorker(store, retention, clock=lambda: clock[0])
    every_row: list[tuple[int, float, float]] = []
    n = len(series)
    for step in range(27):
        rows = [
            (sid, T0 + step * 7200 + minute * 60 + 1.0, float((sid * 7 + minute * 13) % 101))
            for minute in range(120)
            for sid in series
        ]
        await store.write_samples(rows)
        every_row += rows
        clock[0] = T0 + (step + 1) * 7200
        await worker.run_once()
        assert await count(store) == n * 60  # the raw window: the last hour
        assert await count(store, SampleRollup.resolution == 300, table=SampleRollup) <= n * (
            288 + 24
        )
        assert await count(store, SampleRollup.resolution == 3600, table=SampleRollup) <= n * (
            48 + 2
        )

    now = clock[0]
    assert now == T0 + 54 * 3600
    five = await rollups(store, 300)
    hourly = await rollups(store, 3600)
    want5 = {
        key: value
        for key, value in expected_buckets(every_row, 300).items()
        if now - 86400 <= key[1] < now - 300  # the open / in-grace bucket is not rolled yet
    }
    want1 = {
        key: value
        for key, value in expected_buckets(every_row, 3600).items()
        if now - 2 * 86400 <= key[1] < now - 3600
    }
    assert five == want5
    assert hourly == want1
    assert worker.last is not None
    assert worker.last.rolled == {300: int(now) - 600, 3600: int(now) - 7200}

    # Another pass at the same time finds its place from the store and changes nothing.
    report = await maintain(store, now, retention)
    assert report.pruned == 0
    assert report.rolled == worker.last.rolled
    assert await rollups(store, 300) == five
    assert await rollups(store, 3600) == hourly


async def test_maintain_rolls_up_before_pruning_after_a_long_pause(store: Store) -> None:
    """A store nobody maintained for days: every raw hour is rolled before it is dropped."""
    (sid,) = await make_series(store, 1)
    rows = [(sid, T0 + 60 * i, float(i % 50)) for i in range(26 * 60)]
    await store.write_samples(rows)
    retention = RetentionSettings(raw_hours=1, rollup_5m_days=30, rollup_1h_days=30)

    now = T0 + 28 * 3600
    report = await maintain(store, now, retention)

    assert await count(store) == 0
    assert report.pruned == len(rows)
    assert await rollups(store, 300) == expected_buckets(rows, 300)
    assert await rollups(store, 3600) == expected_buckets(rows, 3600)


async def test_retention_worker_runs_until_stopped(store: Store) -> None:
    (sid,) = await make_series(store, 1)
    await store.write_samples([(sid, T0 + 60 * i, 1.0) for i in range(30)])
    worker = RetentionWorker(
        store, RetentionSettings(), interval_s=3600.0, clock=lambda: T0 + 3600 + 120
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if worker.last is not None:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert worker.last is not None and worker.last.buckets == 6 + 1


def wal_bytes(path: Path) -> int:
    return os.path.getsize(f"{path}-wal")


async def test_a_big_transaction_leaves_no_big_wal_behind(tmp_path: Path) -> None:
    """A roll-up pass at full width writes a WAL of hundreds of MB; while any connection stays
    open (a console, another poller) the file would keep that size. The next write cuts it back.
    """
    path = tmp_path / "noc.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    idle = sqlite3.connect(path)  # keeps the WAL file when the store's connections close
    try:
        idle.execute("SELECT count(*) FROM series").fetchone()
        async with store.write() as session:
            await session.execute(text("CREATE TABLE scratch (b BLOB)"))
            await session.execute(text("INSERT INTO scratch VALUES (zeroblob(48 * 1048576))"))
        assert wal_bytes(path) > 48 * 2**20
        (sid,) = await make_series(store, 1)
        await store.write_samples([(sid, T0, 1.0)])
        assert wal_bytes(path) <= 32 * 2**20
    finally:
        idle.close()
        await store.close()


async def test_page_stats_reports_sqlite_pages_only(store: Store) -> None:
    stats = await page_stats(store)
    if not store.sqlite:
        assert stats is None
        return
    assert stats is not None
    assert stats.page_size >= 512 and stats.pages > 0
    assert 0 <= stats.free_pages < stats.pages
    assert stats.used_bytes <= stats.file_bytes


async def test_maintain_on_a_broken_file_is_one_line_store_error(tmp_path: Path) -> None:
    path = tmp_path / "noc.db"
    path.write_bytes(b"this is not a database, " * 512)
    store = Store(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(StoreError) as caught:
            await maintain(store, T0, RetentionSettings())
    finally:
        await store.close()
    message = str(caught.value)
    assert str(path) in message and "not a database" in message
    assert "\n" not in message and "SELECT" not in message
