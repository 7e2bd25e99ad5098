"""The last ``ResultSink``: results into the store in batches, never holding up a probe.

``submit`` only appends to a bounded queue (from any thread: see ``WriterThread``); a
background task flushes it every ``flush_interval`` seconds, or at once when ``max_batch``
results are waiting. A flush is one write transaction for the check states and their events,
then the samples on the store's fast path. When the store is slow, results wait in the queue;
when the queue is full, new results are dropped and counted (``stats.dropped`` must stay 0 in a
healthy poller). A batch the store refuses is kept and retried with a back-off, up to
``max_failures`` times.

State bookkeeping: the writer remembers each check's state and since-when (read from
``check_states`` the first time it sees a check), so it emits a ``check.state`` event only when
a state really changes and never reads the table again on the hot path. One writer owns each
check — pollers split the inventory by zone — so that memory is the truth.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from noc.alerting.evaluator import Evaluator, Observation
from noc.errors import StoreError
from noc.polling.clock import Clock, SystemClock
from noc.polling.outcome import CheckOutcome
from noc.storage import EventRecord, Store
from noc.storage.jsoncol import json_safe
from noc.storage.models import Check, CheckState

log = logging.getLogger(__name__)

STATE_EVENT = "check.state"
OUTPUT_CHARS = 2000
"""Longest ``output`` kept: an error line, never a whole page someone's server returned."""

_STATE_COLUMNS = ("device_id", "state", "since", "last_ts", "attempts", "output", "values")


@dataclass
class WriterStats:
    batches: int = 0
    outcomes: int = 0
    """Outcomes written (states upserted)."""
    samples: int = 0
    state_changes: int = 0
    dropped: int = 0
    """Outcomes refused because the queue was full: the store is far behind the probes."""
    failures: int = 0
    """Flushes the store refused (each is retried)."""
    lost: int = 0
    """Outcomes given up on after ``max_failures`` refusals, or still queued at close."""
    orphans: int = 0
    """Outcomes of checks removed from the inventory before their result was written."""
    max_queued: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ResultWriter:
    def __init__(
        self,
        store: Store,
        *,
        flush_interval: float = 1.0,
        max_batch: int = 2000,
        max_queue: int = 100_000,
        max_failures: int = 5,
        clock: Clock | None = None,
        evaluate: bool = False,
        zone: str = "",
    ) -> None:
        """With ``evaluate`` the alerting evaluator owns check states, alerts and their events
        (it runs here, on the writer's loop, one transaction a batch); samples stay ours."""
        self.store = store
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_failures = max_failures
        self.clock: Clock = clock or SystemClock()
        self.stats = WriterStats()
        self._queue: deque[CheckOutcome] = deque()
        self._kick = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._series: dict[tuple[int, str], int] = {}
        self._states: dict[int, tuple[str, float]] = {}
        self._failed_in_row = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._evaluate = evaluate
        self._zone = zone
        self._reload = False
        self.evaluator: Evaluator | None = None

    # the sink ----------------------------------------------------------------------------------

    def submit(self, outcome: CheckOutcome) -> None:
        if len(self._queue) >= self.max_queue:
            self.stats.dropped += 1
            return
        self._queue.append(outcome)
        self.stats.max_queued = max(self.stats.max_queued, len(self._queue))
        if len(self._queue) >= self.max_batch:
            self._wake()

    def _wake(self) -> None:
        """Flush now; callable from any thread (``WriterThread`` submits from the probes')."""
        if self._loop is not None and not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._kick.set)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def request_reload(self) -> None:
        """The inventory changed: the evaluator re-reads checks before its next batch."""
        self._reload = True
        self._wake()

    # lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> ResultWriter:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run())

    async def aclose(self, grace: float = 10.0) -> None:
        """Write what is queued (within ``grace`` seconds) and stop; what is left counts as lost."""
        self._closing = True
        self._kick.set()
        if self._task is not None:
            try:
                async with asyncio.timeout(grace):
                    await self._task
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._queue:
            self.stats.lost += len(self._queue)
            self._queue.clear()

    async def _run(self) -> None:
        if self._evaluate and self.evaluator is None:
            self.evaluator = Evaluator(self.store, clock=self.clock.time, zone=self._zone)
            await self.evaluator.start()
        while True:
            await self.clock.wait(self._kick, None if self._closing else self.flush_interval)
            self._kick.clear()
            self._wake_pending = False
            ok = await self.flush()
            if self._closing and (ok or not self._queue):
                return
            if not ok:  # the store refused: back off, the queue holds the results meanwhile
                await self.clock.sleep(min(30.0, self.flush_interval * 2**self._failed_in_row))

    # writing -----------------------------------------------------------------------------------

    async def flush(self) -> bool:
        """Write everything queued now; False if the store refused a batch (it is kept).

        With nothing queued the evaluator still gets an empty batch: a tick, so that checks
        that stopped reporting go stale and held failures move on."""
        async with self._lock:
            if self.evaluator is not None:
                try:
                    if self._reload:
                        self._reload = False
                        await self.evaluator.reload()
                    if not self._queue:
                        await self.evaluator.process([])
                except StoreError as exc:
                    self._refused([], exc)
                    return False
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))
                ]
                try:
                    await self._write(batch)
                except StoreError as exc:
                    self._refused(batch, exc)
                    return False
                self._failed_in_row = 0
        return True

    def _refused(self, batch: list[CheckOutcome], exc: StoreError) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        self._failed_in_row += 1
        if self._failed_in_row >= self.max_failures:
            log.error(
                "giving up on %d results after %d refusals: %s", len(batch), self.max_failures, exc
            )
            self.stats.lost += len(batch)
            self._failed_in_row = 0
            return
        log.warning("store refused %d results (will retry): %s", len(batch), exc)
        self._queue.extendleft(reversed(batch))

    async def _write(self, batch: list[CheckOutcome]) -> None:
        if self.evaluator is not None:
            report = await self.evaluator.process([Observation.of(o) for o in batch])
            self.stats.state_changes += report.state_changes
            self.stats.orphans += report.orphans
            self.stats.outcomes += len(batch) - report.orphans
            self.stats.samples += await self._write_samples(batch)
            self.stats.batches += 1
            return
        async with self.store.write() as session:
            batch = await self._existing(session, batch)
            await self._load_states(session, {o.job.check_id for o in batch})
            rows, events, states = self._state_rows(batch)
            if rows:
                table = (sqlite_insert if self.store.sqlite else pg_insert)(CheckState)
                upsert = table.on_conflict_do_update(
                    index_elements=[CheckState.check_id],
                    set_={column: table.excluded[column] for column in _STATE_COLUMNS},
                )
                await session.execute(upsert, rows)
            await self.store.append_events(session, events)
        self._states.update(states)  # only once committed: a refused batch changes nothing
        self.stats.state_changes += len(events)
        self.stats.outcomes += len(batch)
        self.stats.samples += await self._write_samples(batch)
        self.stats.batches += 1

    async def _existing(
        self, session: AsyncSession, batch: list[CheckOutcome]
    ) -> list[CheckOutcome]:
        """Drop the results of checks deleted meanwhile (a re-import removed them)."""
        ids = {o.job.check_id for o in batch}
        found = set(await session.scalars(select(Check.id).where(Check.id.in_(ids))))
        if len(found) == len(ids):
            return batch
        for check_id in ids - found:
            self._states.pop(check_id, None)
        kept = [o for o in batch if o.job.check_id in found]
        self.stats.orphans += len(batch) - len(kept)
        return kept

    async def _load_states(self, session: AsyncSession, ids: Iterable[int]) -> None:
        unknown = [i for i in ids if i not in self._states]
        if not unknown:
            return
        rows = await session.execute(
            select(CheckState.check_id, CheckState.state, CheckState.since).where(
                CheckState.check_id.in_(unknown)
            )
        )
        for check_id, state, since in rows:
            self._states[check_id] = (state, since)

    def _state_rows(
        self, batch: list[CheckOutcome]
    ) -> tuple[list[dict[str, Any]], list[EventRecord], dict[int, tuple[str, float]]]:
        rows: dict[int, dict[str, Any]] = {}
        events: list[EventRecord] = []
        states: dict[int, tuple[str, float]] = {}
        for o in batch:  # in finishing order: a check run twice in one batch changes twice
            job = o.job
            previous = states.get(job.check_id) or self._states.get(job.check_id)
            state = str(o.state)
            since = o.ts
            if previous is not None and previous[0] == state:
                since = previous[1]
            else:
                events.append(
                    EventRecord(
                        kind=STATE_EVENT,
                        device_id=job.device_id,
                        check_id=job.check_id,
                        ts=o.ts,
                        data={
                            "from": previous[0] if previous else None,
                            "to": state,
                            "device": job.device_name,
                            "check": job.check_name,
                            "output": o.output[:OUTPUT_CHARS],
                        },
                    )
                )
            states[job.check_id] = (state, since)
            rows[job.check_id] = {
                "check_id": job.check_id,
                "device_id": job.device_id,
                "state": state,
                "since": since,
                "last_ts": o.ts,
                "attempts": o.attempts,
                "output": o.output[:OUTPUT_CHARS],
                "values": json_safe(o.result.values),
            }
        return list(rows.values()), events, states

    async def _write_samples(self, batch: list[CheckOutcome]) -> int:
        points: list[tuple[int, int, str, float, float]] = []
        for o in batch:
            for metric, value in o.result.numbers().items():
                if math.isfinite(value):
                    points.append((o.job.device_id, o.job.check_id, metric, o.ts, value))
        if not points:
            return 0
        missing = {(d, c, m) for d, c, m, _, _ in points if (c, m) not in self._series}
        if missing:
            self._series.update(await self.store.series_ids(missing))
        rows = [
            (self._series[(c, m)], ts, value)
            for _, c, m, ts, value in points
            if (c, m) in self._series
        ]
        return await self.store.write_samples(rows)
