"""Runs every check on its own interval, within concurrency limits and hard deadlines.

One dispatcher task sleeps until the earliest due run (a heap of due times per lane, not a
sleeping task per check) and starts what is due: a task per *run in flight*, bounded by the
number of checks since a check never overlaps itself (a run due while the previous one still
goes is dropped and counted). Checks whose adapter batches (ICMP) share a lane of their own:
when the first is due, every one due within the adapter's window goes into the same sweep.

Timing: the first run of each check falls at a random phase within its interval, so a fresh
poller does not fire every check at once; later runs keep that phase (``slot += interval``,
no drift) plus a random delay of up to ``jitter × interval`` each time. A scheduler that falls
a whole interval behind skips the missed runs (counted as dropped) rather than bursting.

Limits: a run first takes a slot of its target (``per_target``, by address), then a global one
(``concurrency``), in that order, so runs queued behind one slow device never hold global slots
they cannot use. Batched sweeps take neither: the pinger paces its own packets.

Failure: every attempt runs under ``asyncio.timeout(job.timeout + grace)``, connect, exchange
and close included, so a device that accepts and never answers costs its own run that long and
nobody else anything. A FAILED attempt is retried after ``retry_delay`` — quickly, not at the
next interval — up to ``job.retries`` times before the failure is final; once a target is
confirmed down, later runs make one attempt until it answers again.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from noc.config import PollerSettings
from noc.errors import NocError
from noc.polling.adapters import Adapter, Adapters, BatchAdapter
from noc.polling.clock import Clock, SystemClock
from noc.polling.jobs import CheckJob
from noc.polling.outcome import CheckOutcome, ResultSink
from noc.polling.stats import SchedulerStats
from noc.probes.result import ProbeResult, ProbeStatus

log = logging.getLogger(__name__)

SINGLE = ""
"""The lane of every check whose adapter runs one job per call."""

_HeapItem = tuple[float, int, int, int]
"""(due, sequence, check id, generation): stale items (removed or rescheduled checks) are
recognised by their generation and skipped when they surface."""


@dataclass(slots=True, eq=False)
class _Entry:
    job: CheckJob
    adapter: Adapter | None
    lane: str
    slot: float
    """The phase-aligned time of the next run; its due time adds this run's jitter."""
    generation: int
    repeat: bool = True
    running: bool = False
    confirmed_down: bool = False
    """The last run failed after its retries: the next one makes a single attempt."""


@dataclass(slots=True, eq=False)
class _TargetSlots:
    sem: asyncio.Semaphore
    users: int = 0


class Scheduler:
    def __init__(
        self,
        adapters: Adapters,
        sink: ResultSink,
        *,
        concurrency: int = 1000,
        per_target: int = 4,
        jitter: float = 0.1,
        retry_delay: float = 1.0,
        late_after: float = 1.0,
        grace: float = 0.5,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or per_target < 1:
            raise ValueError("concurrency and per_target must be at least 1")
        self.adapters = adapters
        self.sink = sink
        self.concurrency = concurrency
        self.per_target = per_target
        self.jitter = max(0.0, jitter)
        self.retry_delay = retry_delay
        self.late_after = late_after
        self.grace = grace
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.stats = SchedulerStats()
        self._global = asyncio.Semaphore(concurrency)
        self._targets: dict[str, _TargetSlots] = {}
        self._entries: dict[int, _Entry] = {}
        self._heaps: dict[str, list[_HeapItem]] = {SINGLE: []}
        self._batchers: dict[str, BatchAdapter] = {}
        """The adapter of each batching lane."""
        self._seq = itertools.count()
        self._generations = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._running = False
        self._collect: Callable[[CheckOutcome], None] | None = None

    @classmethod
    def from_settings(
        cls, settings: PollerSettings, adapters: Adapters, sink: ResultSink, **kwargs: Any
    ) -> Scheduler:
        return cls(
            adapters,
            sink,
            concurrency=settings.concurrency,
            per_target=settings.per_target,
            jitter=settings.jitter,
            **{"retry_delay": settings.retry_delay_s, **kwargs},
        )

    # the job set -------------------------------------------------------------------------------

    @property
    def jobs(self) -> list[CheckJob]:
        return [entry.job for entry in self._entries.values()]

    def set_jobs(self, jobs: Iterable[CheckJob]) -> None:
        """Replace the job set. Unchanged checks keep their phase; a changed interval or type
        starts over at a new random phase; removed checks stop (a run in flight finishes but
        its result is not handed on)."""
        self._load(jobs, repeat=True, spread=None)

    def _load(self, jobs: Iterable[CheckJob], *, repeat: bool, spread: float | None) -> None:
        fresh: dict[int, _Entry] = {}
        added: list[_Entry] = []
        lanes: dict[str, tuple[Adapter | None, str]] = {}
        for job in jobs:
            old = self._entries.get(job.check_id)
            if (
                old is not None
                and old.repeat == repeat
                and old.job.interval == job.interval
                and old.job.check_type == job.check_type
            ):
                old.job = job
                fresh[job.check_id] = old
                continue
            if job.check_type not in lanes:  # may import the probe: before the clock is read
                adapter = self.adapters.get(job.check_type)
                if isinstance(adapter, BatchAdapter):
                    self._batchers[job.check_type] = adapter
                    lanes[job.check_type] = (adapter, job.check_type)
                else:
                    lanes[job.check_type] = (adapter, SINGLE)
            adapter, lane = lanes[job.check_type]
            entry = _Entry(
                job=job,
                adapter=adapter,
                lane=lane,
                slot=0.0,
                generation=next(self._generations),
                repeat=repeat,
            )
            fresh[job.check_id] = entry
            added.append(entry)
        now = self.clock.monotonic()
        for entry in added:
            window = entry.job.interval if spread is None else spread
            entry.slot = now + self.rng.uniform(0.0, window)
            self._push(entry, jitter=repeat)
        self._entries = fresh
        self._wake.set()

    def _push(self, entry: _Entry, *, jitter: bool = True) -> None:
        delay = self.rng.uniform(0.0, self.jitter * entry.job.interval) if jitter else 0.0
        heap = self._heaps.setdefault(entry.lane, [])
        item = (entry.slot + delay, next(self._seq), entry.job.check_id, entry.generation)
        heapq.heappush(heap, item)

    def _advance(self, entry: _Entry, now: float) -> None:
        """Move to the next slot; if even that one has passed, skip (and count) the missed."""
        interval = entry.job.interval
        entry.slot += interval
        if entry.slot <= now:
            missed = int((now - entry.slot) // interval) + 1
            entry.slot += missed * interval
            self.stats.dropped += missed

    def _live(self, item: _HeapItem) -> _Entry | None:
        entry = self._entries.get(item[2])
        return entry if entry is not None and entry.generation == item[3] else None

    # dispatching -------------------------------------------------------------------------------

    def _next_due(self) -> float | None:
        tops = [heap[0][0] for heap in self._heaps.values() if heap]
        return min(tops) if tops else None

    def _dispatch_due(self, now: float) -> None:
        advanced: list[_Entry] = []
        for lane, heap in self._heaps.items():
            if not heap or heap[0][0] > now:
                continue
            if lane == SINGLE:
                while heap and heap[0][0] <= now:
                    item = heapq.heappop(heap)
                    entry = self._live(item)
                    if entry is not None:
                        self._start(entry, item[0], now, advanced)
                continue
            batcher = self._batchers[lane]
            batch: list[tuple[_Entry, float]] = []
            while heap and heap[0][0] <= now + batcher.window:
                item = heapq.heappop(heap)
                entry = self._live(item)
                if entry is not None and self._claim(entry, now, advanced):
                    batch.append((entry, item[0]))
            if batch:
                self._spawn(self._run_batch(batcher, batch))
        for entry in advanced:  # pushed after the loop: a short interval is never re-popped now
            self._push(entry)

    def _claim(self, entry: _Entry, now: float, advanced: list[_Entry]) -> bool:
        """Book the next run of ``entry``; False if this one must be dropped (still running)."""
        if entry.repeat:
            self._advance(entry, now)
            advanced.append(entry)
        if entry.running:
            self.stats.dropped += 1
            return False
        entry.running = True
        return True

    def _start(self, entry: _Entry, due: float, now: float, advanced: list[_Entry]) -> None:
        if self._claim(entry, now, advanced):
            self._spawn(self._run_single(entry, due))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._dispatch_due(self.clock.monotonic())
            wake_at = self._next_due()
            self._wake.clear()
            if wake_at is None:
                await self.clock.wait(self._wake, None)
                continue
            delay = wake_at - self.clock.monotonic()
            if delay > 0:
                await self.clock.wait(self._wake, delay)
            else:
                await asyncio.sleep(0)

    # running -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def _slots(self, key: str) -> AsyncIterator[None]:
        slots = self._targets.get(key)
        if slots is None:
            slots = self._targets[key] = _TargetSlots(asyncio.Semaphore(self.per_target))
        slots.users += 1
        try:
            async with slots.sem, self._global:
                self.stats.in_flight += 1
                try:
                    yield
                finally:
                    self.stats.in_flight -= 1
        finally:
            slots.users -= 1
            if slots.users == 0:
                del self._targets[key]

    def _max_attempts(self, entry: _Entry) -> int:
        return 1 if entry.confirmed_down else entry.job.retries + 1

    def _should_retry(self, entry: _Entry, result: ProbeResult, attempts: int) -> bool:
        return (
            result.status is ProbeStatus.FAILED
            and attempts < self._max_attempts(entry)
            and not self._stopping
        )

    async def _attempt(self, adapter: Adapter | None, job: CheckJob) -> ProbeResult:
        self.stats.attempts += 1
        started = self.clock.time()
        if adapter is None:
            return ProbeResult(
                ProbeStatus.ERROR, error=f"no probe for check type {job.check_type!r}"
            )
        hard = job.timeout + self.grace
        deadline = asyncio.timeout(hard)
        try:
            async with deadline:
                result: ProbeResult = await adapter.probe(job)
            return result
        except TimeoutError:
            if deadline.expired():
                self.stats.deadline_hits += 1
                error = f"no result within {hard:g} s (hard deadline)"
            else:
                error = "timed out"
            return ProbeResult(ProbeStatus.FAILED, error=error, started=started, duration=hard)
        except NocError as exc:
            return ProbeResult(ProbeStatus.ERROR, error=str(exc), started=started)
        except Exception as exc:  # a probe bug must cost one result, never the poller
            self.stats.crashed += 1
            log.exception("check %s: the %s probe raised", job.label, job.check_type)
            return ProbeResult(
                ProbeStatus.ERROR,
                error=f"probe failed unexpectedly: {type(exc).__name__}: {exc}",
                started=started,
            )

    async def _run_single(self, entry: _Entry, due: float) -> None:
        job = entry.job
        attempts = 0
        lag = 0.0
        try:
            while True:
                async with self._slots(job.address):
                    if attempts == 0:
                        lag = self.clock.monotonic() - due
                        self.stats.record_lag(lag, self.late_after)
                    attempts += 1
                    ts = self.clock.time()
                    result = await self._attempt(entry.adapter, job)
                if not self._should_retry(entry, result, attempts):
                    break
                self.stats.retries += 1
                await self.clock.sleep(self.retry_delay)
        finally:
            entry.running = False
        self._finish(entry, result, attempts=attempts, ts=ts, lag=lag)

    async def _attempt_batch(
        self, adapter: BatchAdapter, jobs: Sequence[CheckJob]
    ) -> dict[int, ProbeResult]:
        self.stats.attempts += len(jobs)
        started = self.clock.time()
        hard = adapter.batch_budget(jobs) + self.grace
        deadline = asyncio.timeout(hard)
        try:
            async with deadline:
                return await adapter.probe_many(jobs)
        except TimeoutError:
            self.stats.deadline_hits += len(jobs)
            failed = ProbeResult(
                ProbeStatus.FAILED,
                error=f"no result within {hard:g} s (hard deadline)",
                started=started,
                duration=hard,
            )
            return {job.check_id: failed for job in jobs}
        except NocError as exc:
            error = ProbeResult(ProbeStatus.ERROR, error=str(exc), started=started)
            return {job.check_id: error for job in jobs}
        except Exception as exc:
            self.stats.crashed += len(jobs)
            log.exception("the %s probe raised on a batch of %d", adapter.check_type, len(jobs))
            error = ProbeResult(
                ProbeStatus.ERROR,
                error=f"probe failed unexpectedly: {type(exc).__name__}: {exc}",
                started=started,
            )
            return {job.check_id: error for job in jobs}

    async def _run_batch(self, adapter: BatchAdapter, batch: list[tuple[_Entry, float]]) -> None:
        start = self.clock.monotonic()
        pending: list[tuple[_Entry, float]] = []
        for entry, due in batch:
            lag = max(0.0, start - due)  # pulled forward into the sweep: early, not late
            self.stats.record_lag(lag, self.late_after)
            pending.append((entry, lag))
        attempts = 1
        try:
            while pending:
                ts = self.clock.time()
                results = await self._attempt_batch(adapter, [e.job for e, _ in pending])
                retry: list[tuple[_Entry, float]] = []
                for entry, lag in pending:
                    result = results.get(entry.job.check_id) or ProbeResult(
                        ProbeStatus.ERROR, error="the probe returned no result for this target"
                    )
                    if self._should_retry(entry, result, attempts):
                        retry.append((entry, lag))
                        continue
                    entry.running = False
                    self._finish(entry, result, attempts=attempts, ts=ts, lag=lag)
                pending = retry
                if pending:
                    self.stats.retries += len(pending)
                    attempts += 1
                    await self.clock.sleep(self.retry_delay)
        finally:
            for entry, _ in pending:
                entry.running = False

    def _finish(
        self, entry: _Entry, result: ProbeResult, *, attempts: int, ts: float, lag: float
    ) -> None:
        entry.confirmed_down = result.status is ProbeStatus.FAILED
        self.stats.runs += 1
        if self._entries.get(entry.job.check_id) is not entry:
            return  # removed or rescheduled while it ran: the inventory no longer wants it
        outcome = CheckOutcome.of(entry.job, result, attempts=attempts, ts=ts, lag=lag)
        if self._collect is not None:
            self._collect(outcome)
        try:
            self.sink.submit(outcome)
        except Exception:
            log.exception("result sink %r failed on %s", self.sink, entry.job.label)

    # lifecycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Poll until ``stop()``; then cancel the runs in flight and return."""
        if self._running:
            raise RuntimeError("this scheduler is already running")
        self._running = True
        self._stopping = False
        try:
            await self._dispatch_loop()
        finally:
            await self._cancel_runs()
            self._running = False

    async def _cancel_runs(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run_once(
        self, jobs: Iterable[CheckJob], *, spread: float = 0.0
    ) -> list[CheckOutcome]:
        """Run every job once — first runs spread over ``spread`` seconds — and return the
        outcomes in finishing order (also handed to the sink)."""
        if self._running:
            raise RuntimeError("this scheduler is already running")
        outcomes: list[CheckOutcome] = []
        self._entries = {}
        self._load(jobs, repeat=False, spread=spread)
        expected = len(self._entries)
        if not expected:
            return outcomes
        done = asyncio.Event()

        def collect(outcome: CheckOutcome) -> None:
            outcomes.append(outcome)
            if len(outcomes) >= expected:
                done.set()

        self._collect = collect
        runner = asyncio.create_task(self.run())
        finished = asyncio.create_task(done.wait())
        try:
            await asyncio.wait([runner, finished], return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
            self.stop()
            await runner
            self._collect = None
            self._entries = {}
        return outcomes
