"""Roll-ups and retention: what keeps the store bounded however long the pollers run.

Raw samples are kept ``raw_hours``, 5-minute buckets ``rollup_5m_days`` and hourly buckets
``rollup_1h_days`` (``RetentionSettings``). One ``maintain()`` pass rolls up the buckets that
closed since the last pass, then prunes what fell out of each window, in that order, so a raw
row is never dropped before its bucket exists.

The pass is incremental without a table of its own: the newest bucket of each resolution *is*
the mark (found with one index seek per series), and it is rolled again on the next pass, which
completes a bucket that was rolled while still open. So any process may run a pass, a restart
loses nothing, and two passes at once only do some work twice.

SQLite never gives freed pages back to the file system without ``VACUUM``; it reuses them. The
pages a prune frees hold the next inserts, so once the windows are full the file stops growing
except for the hourly buckets that are still within their longer window (measured by
``bench/bench_ingest.py``). A ``VACUUM`` would shrink the file for a few minutes, rewrite all of
it, and block every writer meanwhile; it is not worth it for a file that refills at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from noc.config import RetentionSettings
from noc.errors import StoreError
from noc.storage.models import Sample, SampleRollup, Series
from noc.storage.store import ROLLUP_RESOLUTIONS, Store, describe_db_error

log = logging.getLogger(__name__)

GRACE_S = 120.0
"""A bucket is rolled up once it closed this long ago: results of slow probes and the poller's
flush interval land a little after the time they are stamped with."""

INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True)
class MaintainReport:
    buckets: int
    """Roll-up rows written (inserted or recomputed)."""
    pruned: int
    """Rows deleted from ``samples`` and ``sample_rollups`` together."""
    rolled: dict[int, int]
    """The start of the newest bucket rolled up, per resolution, after this pass."""
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "pruned": self.pruned,
            "rolled": {str(resolution): start for resolution, start in self.rolled.items()},
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class PageStats:
    """Where the bytes of a SQLite file are: pages in use and free pages waiting for reuse."""

    page_size: int
    pages: int
    free_pages: int

    @property
    def file_bytes(self) -> int:
        return self.page_size * self.pages

    @property
    def used_bytes(self) -> int:
        return self.page_size * (self.pages - self.free_pages)


@dataclass(frozen=True, slots=True)
class Span:
    """Oldest and newest time held at one level (raw rows, or the buckets of a resolution)."""

    oldest: float
    newest: float


@asynccontextmanager
async def _reading(store: Store) -> AsyncIterator[AsyncSession]:
    """A read session whose driver errors become ``StoreError``, as the store's writes do."""
    try:
        async with store.read() as session:
            yield session
    except (OperationalError, DBAPIError) as exc:
        raise StoreError(describe_db_error(store.url, exc)) from None


async def spans(store: Store) -> dict[int, Span]:
    """The span of raw rows (key 0) and of each roll-up resolution, in one read.

    Each bound is one index seek per series (``min``/``max`` of the (series, time) key under
    one series), never a scan: neither table has an index on time alone.
    """
    levels: list[tuple[InstrumentedAttribute[float] | InstrumentedAttribute[int], list[Any]]]
    levels = [(Sample.ts, [Sample.series_id == Series.id])]
    levels += [
        (
            SampleRollup.bucket,
            [SampleRollup.series_id == Series.id, SampleRollup.resolution == resolution],
        )
        for resolution in ROLLUP_RESOLUTIONS
    ]
    bounds: list[ColumnElement[Any]] = []
    for column, correlated in levels:
        bounds.append(func.min(select(func.min(column)).where(*correlated).scalar_subquery()))
        bounds.append(func.max(select(func.max(column)).where(*correlated).scalar_subquery()))
    async with _reading(store) as session:
        row = (await session.execute(select(*bounds).select_from(Series))).one()
    found: dict[int, Span] = {}
    for key, index in zip((0, *ROLLUP_RESOLUTIONS), range(0, len(row), 2), strict=True):
        if row[index] is not None:
            found[key] = Span(float(row[index]), float(row[index + 1]))
    return found


async def _roll(
    store: Store,
    resolution: int,
    source: Span | None,
    mark: int | None,
    now: float,
    grace_s: float,
) -> tuple[int, int | None]:
    """Roll up the closed buckets of one resolution from its mark (the newest bucket rolled,
    which is rolled again) to the newest source row; returns buckets written and the new mark."""
    if source is None:
        return 0, mark
    first = math.floor(source.oldest / resolution) * resolution
    start = first if mark is None else max(mark, first)
    closed = math.floor((now - grace_s) / resolution) * resolution
    end = min(closed, (math.floor(source.newest / resolution) + 1) * resolution)
    if end <= start:
        return 0, mark
    written = await store.rollup(start, end, resolutions=(resolution,))
    return written, end - resolution


async def maintain(
    store: Store,
    now: float,
    retention: RetentionSettings,
    *,
    grace_s: float = GRACE_S,
) -> MaintainReport:
    """One pass: roll up what closed since the last pass, then prune by the three windows.

    Safe to repeat and to interrupt: roll-ups are upserts of whole buckets, and a pass that
    fails before pruning leaves every raw row in place for the next one.
    """
    started = time.perf_counter()
    found = await spans(store)
    buckets = 0
    rolled: dict[int, int] = {}
    source = found.get(0)
    for resolution in ROLLUP_RESOLUTIONS:
        held = found.get(resolution)
        mark = None if held is None else int(held.newest)
        written, mark = await _roll(store, resolution, source, mark, now, grace_s)
        buckets += written
        if mark is not None:
            rolled[resolution] = mark
        # The next level is folded from this one, which now reaches from whichever is older
        # (what it held before, or what was just rolled into it) up to its mark.
        oldest = [span.oldest for span in (source, held) if span is not None]
        source = Span(min(oldest), float(mark)) if mark is not None and oldest else None
    pruned = await store.prune(
        now,
        raw_hours=retention.raw_hours,
        rollup_5m_days=retention.rollup_5m_days,
        rollup_1h_days=retention.rollup_1h_days,
    )
    return MaintainReport(
        buckets=buckets,
        pruned=pruned,
        rolled=rolled,
        seconds=time.perf_counter() - started,
    )


async def page_stats(store: Store) -> PageStats | None:
    """Page counts of a SQLite store (``None`` elsewhere): how much a prune left for reuse."""
    if not store.sqlite:
        return None
    values: dict[str, int] = {}
    async with _reading(store) as session:
        for name in ("page_size", "page_count", "freelist_count"):
            values[name] = int(await session.scalar(text(f"PRAGMA {name}")) or 0)
    return PageStats(
        page_size=values["page_size"],
        pages=values["page_count"],
        free_pages=values["freelist_count"],
    )


class RetentionWorker:
    """Runs ``maintain()`` every ``interval_s`` until stopped; a pass never overlaps the next.

    A failing pass (a locked or unreachable database) is logged and retried at the next
    interval: nothing it skipped is lost, only delayed. ``last`` is the latest pass's report.
    """

    def __init__(
        self,
        store: Store,
        retention: RetentionSettings,
        *,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.retention = retention
        self.interval_s = interval_s
        self.clock = clock
        self.last: MaintainReport | None = None

    async def run_once(self) -> MaintainReport:
        self.last = await maintain(self.store, self.clock(), self.retention)
        return self.last

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await self.run_once()
            except StoreError as exc:
                log.warning("retention pass failed: %s", exc)
            else:
                log.debug(
                    "retention: %d buckets, %d rows pruned in %.2f s",
                    report.buckets,
                    report.pruned,
                    report.seconds,
                )
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
