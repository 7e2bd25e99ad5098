"""The one async API in front of the database.

Every process (console, poller, CLI) opens a ``Store``; nothing else creates engines or
sessions. Writes go through ``write()`` (``BEGIN IMMEDIATE`` on SQLite, so writers queue instead
of failing), reads through ``read()``. Samples take a faster path: ``write_samples`` sends one
``executemany`` a batch, which is what keeps ingest near raw ``sqlite3``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from noc.errors import StoreError
from noc.secrets import mask_url
from noc.storage import migrate
from noc.storage.engine import WRITE_OPTION, create_engine, is_sqlite
from noc.storage.models import Event, Sample, SampleRollup, Series

# Serialises event inserts on PostgreSQL so that ids commit in order and a reader of
# ``id > last_seen`` can never skip one (sequence values may otherwise commit out of order).
EVENTS_LOCK_KEY = 0x6E6F63  # "noc"

SAMPLE_BATCH = 5_000
ROLLUP_RESOLUTIONS = (300, 3600)


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

    async def series_ids(self, keys: Iterable[tuple[int, int, str]]) -> dict[tuple[int, str], int]:
        """Ids for (device, check, metric), creating the missing series in one transaction."""
        wanted = {(check, metric): device for device, check, metric in keys}
        found: dict[tuple[int, str], int] = {}
        if not wanted:
            return found
        check_ids = {check for check, _ in wanted}
        async with self.write() as session:
            rows = await session.execute(
                select(Series.id, Series.check_id, Series.metric).where(
                    Series.check_id.in_(check_ids)
                )
            )
            for sid, check, metric in rows:
                found[(check, metric)] = sid
            missing = [key for key in wanted if key not in found]
            if missing:
                await session.execute(
                    insert(Series),
                    [{"device_id": wanted[k], "check_id": k[0], "metric": k[1]} for k in missing],
                )
                rows = await session.execute(
                    select(Series.id, Series.check_id, Series.metric).where(
                        Series.check_id.in_({k[0] for k in missing})
                    )
                )
                for sid, check, metric in rows:
                    found[(check, metric)] = sid
        return found

    async def write_samples(self, rows: Sequence[tuple[int, float, float]]) -> int:
        """Insert ``(series_id, ts, value)`` rows in batches; returns how many were written."""
        if not rows:
            return 0
        try:
            async with self._write_engine.connect() as conn, conn.begin():
                for start in range(0, len(rows), SAMPLE_BATCH):
                    chunk = rows[start : start + SAMPLE_BATCH]
                    if self.sqlite:
                        await conn.exec_driver_sql(
                            "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)",
                            list(chunk),
                        )
                    else:
                        await conn.execute(
                            insert(Sample),
                            [{"series_id": s, "ts": t, "value": v} for s, t, v in chunk],
                        )
        except (OperationalError, DBAPIError) as exc:
            raise StoreError(describe_db_error(self.url, exc)) from None
        return len(rows)

    async def rollup(self, start: float, end: float) -> int:
        """Fold raw samples in [start, end) into the 5-minute and hourly buckets.

        Buckets are recomputed from raw rows whole, so calling it again over the same window
        replaces rather than double-counts; callers pass bucket-aligned windows.
        """
        written = 0
        async with self.write() as session:
            for resolution in ROLLUP_RESOLUTIONS:
                lo = int(start // resolution * resolution)
                hi = int(-(-end // resolution) * resolution)
                await session.execute(
                    delete(SampleRollup).where(
                        SampleRollup.resolution == resolution,
                        SampleRollup.bucket >= lo,
                        SampleRollup.bucket < hi,
                    )
                )
                bucket = (func.floor(Sample.ts / resolution) * resolution).label("bucket")
                query = (
                    select(
                        Sample.series_id,
                        bucket,
                        func.min(Sample.value),
                        func.max(Sample.value),
                        func.sum(Sample.value),
                        func.count(),
                    )
                    .where(Sample.ts >= lo, Sample.ts < hi)
                    .group_by(Sample.series_id, bucket)
                )
                rows = (await session.execute(query)).all()
                if rows:
                    await session.execute(
                        insert(SampleRollup),
                        [
                            {
                                "series_id": sid,
                                "resolution": resolution,
                                "bucket": int(b),
                                "min": mn,
                                "max": mx,
                                "sum": sm,
                                "count": n,
                            }
                            for sid, b, mn, mx, sm, n in rows
                        ],
                    )
                written += len(rows)
        return written

    async def prune(
        self, now: float, *, raw_hours: float, rollup_5m_days: float, rollup_1h_days: float
    ) -> None:
        """Drop what retention no longer keeps; the file stays bounded by the three windows."""
        async with self.write() as session:
            await session.execute(delete(Sample).where(Sample.ts < now - raw_hours * 3600))
            for resolution, days in ((300, rollup_5m_days), (3600, rollup_1h_days)):
                await session.execute(
                    delete(SampleRollup).where(
                        SampleRollup.resolution == resolution,
                        SampleRollup.bucket < now - days * 86400,
                    )
                )
