"""A poller as a whole: jobs from the store, the scheduler, the sinks, reloads and shutdown.

``PollerService`` is what ``noc poll`` runs headless and what the console will run on its own
thread: it loads the jobs of its zone, starts the writer and the scheduler, reloads the jobs
when an inventory import lands, and on stop cancels the runs in flight, writes what is queued
and closes every probe. ``poll_once`` is one cycle of every check, for ``noc poll --once``.

The alerting evaluator plugs in through ``sink_factory``: it receives the writer and returns
the sink the scheduler should feed (itself, forwarding to the writer). The writer runs on a
thread of its own (``WriterThread``), so database work never stalls the probes' loop.

The service also keeps the store bounded: a ``RetentionWorker`` rolls up and prunes samples
every few minutes beside the scheduler. One process a store is enough (a second only repeats
the work), so every poller but one is started with ``retention=False``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from noc.config import Settings
from noc.errors import StoreError
from noc.polling.adapters import Adapters
from noc.polling.clock import Clock, SystemClock
from noc.polling.jobs import CheckJob, InventoryWatch, load_jobs
from noc.polling.outcome import CheckOutcome, ResultSink
from noc.polling.scheduler import Scheduler
from noc.polling.stats import SchedulerStats
from noc.polling.writer import WriterStats
from noc.polling.writer_thread import Writer, start_writer
from noc.storage import Store
from noc.storage.retention import RetentionWorker

log = logging.getLogger(__name__)

SinkFactory = Callable[[ResultSink], ResultSink]

RETENTION_STOP_S = 10.0
"""Seconds a stopping service waits for a retention pass in flight before cancelling it: a
cancelled pass loses nothing (its open transaction rolls back and the next pass redoes it),
but most passes end within a second or two, so shutdown rarely needs to cut one short."""

"""Seconds before a failed attempt is tried again: long enough for a dropped packet to be
just bad luck, short enough that a dead target is declared within seconds."""


@dataclass
class CycleReport:
    outcomes: list[CheckOutcome]
    scheduler: SchedulerStats
    writer: WriterStats
    jobs: list[CheckJob] = field(default_factory=list)


async def poll_once(
    store: Store,
    settings: Settings,
    *,
    zone: str | None = None,
    adapters: Adapters | None = None,
    sink_factory: SinkFactory | None = None,
    spread: float = 0.0,
    retry_delay: float | None = None,
    evaluate: bool = True,
) -> CycleReport:
    """Run every check of the zone once, store the results, and report them."""
    jobs = await load_jobs(store, settings.poller, zone)
    adapters = adapters or Adapters(settings)
    writer = await start_writer(
        store,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        evaluate=evaluate,
        zone=zone or "",
    )
    sink: ResultSink = sink_factory(writer) if sink_factory else writer
    scheduler = Scheduler.from_settings(
        settings.poller, adapters, sink, retry_delay=_retry_delay(settings, retry_delay)
    )
    try:
        outcomes = await scheduler.run_once(jobs, spread=spread)
    finally:
        await adapters.aclose()
        await writer.aclose()
    return CycleReport(outcomes, scheduler.stats, writer.stats, jobs)


class PollerService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        zone: str | None = None,
        adapters: Adapters | None = None,
        sink_factory: SinkFactory | None = None,
        reload_every: float = 5.0,
        report_every: float = 60.0,
        retry_delay: float | None = None,
        flush_interval: float = 1.0,
        clock: Clock | None = None,
        evaluate: bool = True,
        retention: bool = True,
    ) -> None:
        self.store = store
        self.evaluate = evaluate
        self.settings = settings
        self.zone = zone
        self.adapters = adapters or Adapters(settings)
        self.clock: Clock = clock or SystemClock()
        self.sink_factory = sink_factory
        self.retry_delay = retry_delay
        self.flush_interval = flush_interval
        self.reload_every = reload_every
        self.report_every = report_every
        self.reloads = 0
        self.writer: Writer | None = None
        self.scheduler = Scheduler.from_settings(
            settings.poller,
            self.adapters,
            self,
            retry_delay=_retry_delay(settings, retry_delay),
            clock=self.clock,
        )
        self._sink: ResultSink | None = None
        self._watch = InventoryWatch(store)
        self.retention: RetentionWorker | None = (
            RetentionWorker(store, settings.retention, clock=self.clock.time) if retention else None
        )

    def submit(self, outcome: CheckOutcome) -> None:
        """The scheduler's sink: the evaluator chain if any, then the writer."""
        if self._sink is not None:
            self._sink.submit(outcome)

    async def reload(self) -> int:
        jobs = await load_jobs(self.store, self.settings.poller, self.zone)
        self.scheduler.set_jobs(jobs)
        return len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; every exit path closes the probes and flushes."""
        await self._watch.start()
        self.writer = await start_writer(
            self.store,
            busy_timeout_ms=self.settings.database.busy_timeout_ms,
            flush_interval=self.flush_interval,
            evaluate=self.evaluate,
            zone=self.zone or "",
        )
        self._sink = self.sink_factory(self.writer) if self.sink_factory else self.writer
        try:
            count = await self.reload()
        except BaseException:
            await self.writer.aclose()
            raise
        log.info("polling %d checks%s", count, f" of zone {self.zone}" if self.zone else "")
        runner = asyncio.create_task(self.scheduler.run())
        halt = asyncio.Event()
        upkeep = asyncio.create_task(_upkeep(self.retention, halt)) if self.retention else None
        last_report = self.clock.monotonic()
        try:
            while not stop.is_set() and not runner.done():
                await self.clock.wait(stop, self.reload_every)
                if stop.is_set():
                    break
                await self._maybe_reload()
                if self.clock.monotonic() - last_report >= self.report_every:
                    last_report = self.clock.monotonic()
                    log.info("%s", self.status_line())
        finally:
            self.scheduler.stop()
            halt.set()
            await asyncio.gather(runner, _stopped(upkeep), return_exceptions=True)
            await self.adapters.aclose()
            await self.writer.aclose()
            self._sink = None
        crashed = runner.exception() if not runner.cancelled() else None
        if crashed is not None:
            raise crashed

    async def _maybe_reload(self) -> None:
        try:
            if await self._watch.changed():
                count = await self.reload()
                if self.writer is not None:
                    self.writer.request_reload()
                self.reloads += 1
                log.info("inventory changed: now polling %d checks", count)
        except StoreError as exc:  # the store blinked: keep polling what we have
            log.warning("cannot check the inventory for changes: %s", exc)

    def status_line(self) -> str:
        s = self.scheduler.stats
        lag = s.lag_summary()
        line = (
            f"runs {s.runs} retries {s.retries} late {s.late} dropped {s.dropped} "
            f"deadline-hits {s.deadline_hits} lag p50 {lag['p50'] * 1000:.0f} ms "
            f"p99 {lag['p99'] * 1000:.0f} ms"
        )
        if self.writer is not None:
            w = self.writer.stats
            line += (
                f"; written {w.outcomes} samples {w.samples} queued {self.writer.queued} "
                f"dropped {w.dropped} lost {w.lost}"
            )
        return line


async def _upkeep(worker: RetentionWorker, halt: asyncio.Event) -> None:
    """The retention worker, whose failure is logged when it happens and never stops polling
    (the worker itself rides out an unreachable store; this is for anything else)."""
    try:
        await worker.run(halt)
    except Exception:
        log.exception("retention stopped; samples are no longer rolled up or pruned")


async def _stopped(task: asyncio.Task[None] | None) -> None:
    """Wait for a halted retention worker, cancelling a pass that outlasts ``RETENTION_STOP_S``."""
    if task is None:
        return
    try:
        await asyncio.wait_for(task, RETENTION_STOP_S)
    except TimeoutError:
        log.warning("retention pass cut short by shutdown; the next one redoes it")


def _retry_delay(settings: Settings, explicit: float | None) -> float:
    return settings.poller.retry_delay_s if explicit is None else explicit
