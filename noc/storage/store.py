"""The one async API in front of the database.

Every process (console, poller, CLI) opens a ``Store``; nothing else creates engines or
sessions. Writes go through ``write()`` (``BEGIN IMMEDIATE`` on SQLite, so writers queue instead
of failing), reads through ``read()``. Samples take a faster path: ``write_samples`` sends one
``executemany`` a batch, which is what keeps ingest near raw ``sqlite3``.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    Selectable,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from noc.errors import StoreError
from noc.secrets import mask_url
from noc.storage import migrate
from noc.storage.engine import WRITE_OPTION, create_engine, is_sqlite
from noc.storage.models import Event, Sample, SampleRollup, Series

# Serialises event inserts on PostgreSQL so that ids commit in order and a reader of
# ``id > last_seen`` can never skip one (sequence values may otherwise commit out of order).
EVENTS_LOCK_KEY = 0x6E6F63  # "noc"
EVENTS_CHANNEL = "noc_events"
"""The PostgreSQL NOTIFY channel an event append signals; readers still catch up from the table."""

SAMPLE_BATCH = 5_000
ROLLUP_RESOLUTIONS = (300, 3600)
"""Bucket widths in seconds, finest first: each level is folded from the one before it."""
ID_CHUNK = 1_000
"""Series one statement names: under SQLite's bound-parameter limit, and a short write lock."""
ROLLUP_ROWS = 50_000
"""Roll-up rows one transaction aims to write: at 50,000 series one 5-minute bucket (250,000
raw rows read at one sample a minute)."""
SAMPLE_CONFLICT = " ON CONFLICT (series_id, ts) DO NOTHING"
"""A sample already stored (a flush retried after its commit was lost) is kept as it is."""
SAMPLE_INSERT_SQLITE = (
    "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)" + SAMPLE_CONFLICT
)
SAMPLE_INSERT_PG = (
    "INSERT INTO samples (series_id, ts, value)"
    " SELECT * FROM unnest($1::integer[], $2::float8[], $3::float8[])" + SAMPLE_CONFLICT
)


@dataclass(frozen=True, slots=True)
class EventRecord:
    kind: str
    device_id: int | None = None
    check_id: int | None = None
    alert_id: int | None = None
    ticket_id: int | None = None
    actor: str = ""
    data: dict[str, Any] | None = None
    ts: float | None = None


def describe_db_error(url: str, exc: BaseException) -> str:
    """One line for the user: which database, and what the driver said, without the SQL."""
    detail = getattr(exc, "orig", None) or exc
    message = str(detail).strip().splitlines()[0] if str(detail).strip() else type(detail).__name__
    return f"database {mask_url(url)}: {message}"


class Store:
    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url, busy_timeout_ms=busy_timeout_ms, echo=echo)
        self.sqlite = is_sqlite(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)

    @classmethod
    async def open(
        cls, url: str, *, busy_timeout_ms: int = 10_000, echo: bool = False, migrate_: bool = True
    ) -> Store:
        """Connect and bring the schema to head; every failure is a one-line ``StoreError``."""
        store = cls(url, busy_timeout_ms=busy_timeout_ms, echo=echo)
        try:
            if migrate_:
                await migrate.upgrade(store.engine)
            else:
                async with store.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            await store.close()
            raise StoreError(describe_db_error(url, exc)) from None
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction, committed on success; driver errors become ``StoreError``."""
        try:
            async with self._write_sessions() as session, session.begin():
                yield session
        except (OperationalError, DBAPIError) as exc:
            raise StoreError(describe_db_error(self.url, exc)) from None

    # events ---------------------------------------------------------------------------------

    async def append_events(self, session: AsyncSession, records: Iterable[EventRecord]) -> None:
        """Append to the event bus inside the caller's write transaction."""
        rows = [
            {
                "ts": r.ts if r.ts is not None else time.time(),
                "kind": r.kind,
                "device_id": r.device_id,
                "check_id": r.check_id,
                "alert_id": r.alert_id,
                "ticket_id": r.ticket_id,
                "actor": r.actor,
                "data": r.data or {},
            }
            for r in records
        ]
        if not rows:
            return
        if not self.sqlite:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK_KEY}
            )
        # render_nulls: rows with and without NULLs stay one executemany, not one INSERT a row
        await session.execute(insert(Event).execution_options(render_nulls=True), rows)
        if not self.sqlite:  # wakes listeners (`noc events --follow`, the notifier) at commit
            await session.execute(
                text("SELECT pg_notify(:channel, '')"), {"channel": EVENTS_CHANNEL}
            )

    async def events_after(self, after_id: int, limit: int = 1000) -> list[Event]:
        async with self.read() as session:
            result = await session.scalars(
                select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
            )
            return list(result)

    async def last_event_id(self) -> int:
        async with self.read() as session:
            return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)

    # samples --------------------------------------------------------------------------------

    def _insert(
        self, table: type[Series] | type[SampleRollup]
    ) -> sqlite.Insert | postgresql.Insert:
        """An INSERT with ``ON CONFLICT`` support, in the store's dialect (both spell it alike)."""
        return sqlite.insert(table) if self.sqlite else postgresql.insert(table)

    @asynccontextmanager
    async def _sample_connection(self, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """One connection for a run of short transactions, each opened with ``begin()``.

        Opening a SQLite connection costs as much as inserting a few thousand rows (more when
        it is the last one to close, which checkpoints the WAL), so bulk paths open one and
        commit often on it. Driver errors become ``StoreError`` as in ``write()``.
        """
        try:
            async with (self._write_engine if write else self.engine).connect() as conn:
                yield conn
        except (OperationalError, DBAPIError) as exc:
            raise StoreError(describe_db_error(self.url, exc)) from None

    @staticmethod
    async def _series_present(
        conn: AsyncConnection, column: InstrumentedAttribute[int]
    ) -> list[int]:
        """Every series id that has rows in ``column``'s table, by a skip scan of its key.

        Each step is one index seek (``min(series_id) > previous``), so this costs a seek per
        series rather than a scan of every row; it finds the rows of deleted series too, which
        a join with ``series`` would miss.
        """
        present = select(func.min(column).label("sid")).cte("present", recursive=True)
        following = select(func.min(column)).where(column > present.c.sid).scalar_subquery()
        present = present.union_all(select(following).where(present.c.sid.is_not(None)))
        rows = await conn.execute(select(present.c.sid).where(present.c.sid.is_not(None)))
        return [int(sid) for (sid,) in rows]

    async def series_ids(self, keys: Iterable[tuple[int, int, str]]) -> dict[tuple[int, str], int]:
        """Ids for (device, check, metric), creating the missing series in one transaction.

        ``ON CONFLICT DO NOTHING`` lets two pollers that meet a new metric at the same moment
        both succeed (their transactions overlap on PostgreSQL), and checks are looked up in
        chunks so that a large inventory stays under SQLite's limit on bound parameters.
        """
        wanted = {(check, metric): device for device, check, metric in keys}
        if not wanted:
            return {}
        found: dict[tuple[int, str], int] = {}

        async def look_up(session: AsyncSession, checks: Iterable[int]) -> None:
            for chunk in _chunks(sorted(set(checks)), ID_CHUNK):
                rows = await session.execute(
                    select(Series.id, Series.check_id, Series.metric).where(
                        Series.check_id.in_(chunk)
                    )
                )
                found.update(((check, metric), sid) for sid, check, metric in rows)

        async with self.write() as session:
            await look_up(session, (check for check, _ in wanted))
            missing = [key for key in wanted if key not in found]
            if missing:
                insert_series = self._insert(Series).on_conflict_do_nothing(
                    index_elements=[Series.check_id, Series.metric]
                )
                await session.execute(
                    insert_series,
                    [{"device_id": wanted[k], "check_id": k[0], "metric": k[1]} for k in missing],
                )
                await look_up(session, (check for check, _ in missing))
        return {key: found[key] for key in wanted}

    async def write_samples(
        self, rows: Sequence[tuple[int, float, float]], *, batch: int = SAMPLE_BATCH
    ) -> int:
        """Insert ``(series_id, ts, value)`` rows, one transaction per ``batch`` rows.

        The statement goes to the driver as it is (no ORM, no per-row compilation): SQLite's
        ``executemany``, which keeps ingest near raw ``sqlite3``; on PostgreSQL one statement
        a batch over three arrays (``unnest``), half again as fast as asyncpg's ``executemany``
        here. Short transactions let a console's acknowledgement slip in between the batches of
        a big flush. A row whose (series, time) is already stored is skipped, not an error, so
        a batch written twice lands once. Returns the number of rows inserted.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        if not rows:
            return 0
        statement = SAMPLE_INSERT_SQLITE if self.sqlite else SAMPLE_INSERT_PG
        inserted = 0
        async with self._sample_connection() as conn:
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                async with conn.begin():
                    if self.sqlite:
                        result = await conn.exec_driver_sql(statement, list(chunk))
                    else:
                        columns = tuple(list(column) for column in zip(*chunk, strict=True))
                        result = await conn.exec_driver_sql(statement, columns)
                inserted += max(result.rowcount, 0)
        return inserted

    def _bucket(self, column: InstrumentedAttribute[float], width: int) -> ColumnElement[int]:
        """The start of ``column``'s bucket of ``width`` seconds, as an integer.

        The width is rendered as a literal so that the SELECT and the GROUP BY are the same text
        (PostgreSQL does not match expressions whose parameters differ). SQLite's CAST truncates,
        which is the floor for the non-negative epoch times stored here; PostgreSQL's rounds.
        """
        size = literal_column(str(int(width)), Integer)
        if self.sqlite:
            return cast(column / size, Integer) * size
        return cast(func.floor(column / size), BigInteger) * size

    def _rollup_source(self, resolution: int) -> Selectable:
        """The buckets of ``resolution`` in [:lo, :hi), folded from the next finer level.

        Both tables are keyed by series first, so the rows of a window are found by one
        range seek per series. SQLite does that for ``series_id IN (SELECT id FROM series)``;
        PostgreSQL's planner turns the same query into a scan of the whole table, so there it
        is a ``LATERAL`` subquery per series, which it can only run as index seeks.
        """
        lo, hi = bindparam("lo", type_=BigInteger), bindparam("hi", type_=BigInteger)
        level = ROLLUP_RESOLUTIONS.index(resolution)
        size = literal_column(str(int(resolution)), Integer)
        series_id: InstrumentedAttribute[int]
        folded: list[ColumnElement[Any]]
        if level == 0:
            series_id = Sample.series_id
            bucket = self._bucket(Sample.ts, resolution)
            folded = [
                func.min(Sample.value),
                func.max(Sample.value),
                func.sum(Sample.value),
                func.count(),
            ]
            window = [Sample.ts >= lo, Sample.ts < hi]
        else:
            series_id = SampleRollup.series_id
            bucket = SampleRollup.bucket - SampleRollup.bucket % size
            folded = [
                func.min(SampleRollup.min),
                func.max(SampleRollup.max),
                func.sum(SampleRollup.sum),
                func.sum(SampleRollup.count),
            ]
            window = [
                SampleRollup.resolution == ROLLUP_RESOLUTIONS[level - 1],
                SampleRollup.bucket >= lo,
                SampleRollup.bucket < hi,
            ]
        if self.sqlite:
            return (
                select(series_id, size, bucket, *folded)
                .where(series_id.in_(select(Series.id)), *window)
                .group_by(series_id, bucket)
            )
        names = ["bucket", "min", "max", "sum", "count"]
        labelled = [col.label(name) for col, name in zip([bucket, *folded], names, strict=True)]
        per_series = (
            select(*labelled)
            .where(series_id == Series.id, *window)
            .group_by(bucket)
            .lateral("folded")
        )
        return (
            select(Series.id, size, *(per_series.c[name] for name in names))
            .select_from(Series)
            .join(per_series, true())
        )

    def _rollup_statement(self, resolution: int) -> Executable:
        """Upsert, so that recomputing a bucket replaces it instead of failing or adding to it."""
        columns = ["series_id", "resolution", "bucket", "min", "max", "sum", "count"]
        upsert = self._insert(SampleRollup).from_select(columns, self._rollup_source(resolution))
        return upsert.on_conflict_do_update(
            index_elements=[SampleRollup.series_id, SampleRollup.resolution, SampleRollup.bucket],
            set_={name: upsert.excluded[name] for name in ("min", "max", "sum", "count")},
        )

    async def rollup(
        self,
        start: float,
        end: float,
        *,
        resolutions: Iterable[int] = ROLLUP_RESOLUTIONS,
        per_transaction: int = ROLLUP_ROWS,
    ) -> int:
        """Fold samples in [start, end), widened to whole buckets, into roll-ups.

        5-minute buckets come from raw rows, hourly ones from the 5-minute buckets (twelve rows
        a series instead of sixty, and exact: min of mins, sum of sums, sum of counts). Each
        bucket touched is recomputed whole and upserted, so a second run over the same window
        changes nothing and a bucket rolled while still open is completed by the next run.
        A long window goes in several transactions, finest resolution first, each sized to
        write about ``per_transaction`` roll-up rows whatever the number of series: the first
        covers one bucket, and each next one grows or shrinks by how many rows the last wrote.
        So a catch-up never holds the write lock for long, and a small store is not slowed by
        a transaction a bucket. Returns the number of roll-up rows written.
        """
        unknown = set(resolutions) - set(ROLLUP_RESOLUTIONS)
        if unknown:
            raise ValueError(f"no roll-up resolution {sorted(unknown)}; have {ROLLUP_RESOLUTIONS}")
        written = 0
        async with self._sample_connection() as conn:
            for resolution in sorted(set(resolutions)):
                statement = self._rollup_statement(resolution)
                lo = math.floor(start / resolution) * resolution
                hi = math.ceil(end / resolution) * resolution
                buckets = 1
                while lo < hi:
                    step_hi = min(lo + buckets * resolution, hi)
                    async with conn.begin():
                        result = await conn.execute(statement, {"lo": lo, "hi": step_hi})
                    rows = max(result.rowcount, 0)
                    written += rows
                    lo = step_hi
                    buckets = max(1, min(buckets * 4, buckets * per_transaction // max(rows, 1)))
        return written

    async def prune(
        self, now: float, *, raw_hours: float, rollup_5m_days: float, rollup_1h_days: float
    ) -> int:
        """Drop what retention no longer keeps; the file stays bounded by the three windows.

        Neither table has an index on time alone, so deletes go series by series through the
        (series, time) keys: a seek a series instead of a scan of every row. They run in
        transactions of ``ID_CHUNK`` series so that pollers' writes slip in between and the
        SQLite WAL stays small. Returns the number of rows deleted.
        """
        deleted = 0
        async with self._sample_connection(write=False) as reader:
            raw_ids = await self._series_present(reader, Sample.series_id)
            rollup_ids = await self._series_present(reader, SampleRollup.series_id)
        async with self._sample_connection() as conn:
            for chunk in _chunks(raw_ids, ID_CHUNK):
                async with conn.begin():
                    result = await conn.execute(
                        delete(Sample).where(
                            Sample.series_id.in_(chunk), Sample.ts < now - raw_hours * 3600
                        )
                    )
                    deleted += max(result.rowcount, 0)
            windows = dict(zip(ROLLUP_RESOLUTIONS, (rollup_5m_days, rollup_1h_days), strict=True))
            for chunk in _chunks(rollup_ids, ID_CHUNK):
                async with conn.begin():
                    for resolution, days in windows.items():
                        result = await conn.execute(
                            delete(SampleRollup).where(
                                SampleRollup.series_id.in_(chunk),
                                SampleRollup.resolution == resolution,
                                SampleRollup.bucket < now - days * 86400,
                            )
                        )
                        deleted += max(result.rowcount, 0)
        return deleted


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
