"""Polling: the scheduler that runs the probes and the writer that stores what they found.

    jobs (store) -> Scheduler -> ResultSink(s) -> ResultWriter -> store

``CheckJob`` is a check as the scheduler sees it; ``CheckOutcome`` is one finished run;
``ResultSink`` is the seam where the alerting evaluator sits between scheduler and writer.
"""

from noc.polling.adapters import Adapter, Adapters, BatchAdapter, ProbeUnavailable
from noc.polling.clock import Clock, ManualClock, SystemClock
from noc.polling.jobs import CheckJob, Credential, InventoryWatch, load_jobs
from noc.polling.outcome import CheckOutcome, ResultSink, State, classify
from noc.polling.scheduler import Scheduler
from noc.polling.service import CycleReport, PollerService, poll_once
from noc.polling.stats import SchedulerStats
from noc.polling.writer import ResultWriter, WriterStats
from noc.polling.writer_thread import Writer, WriterThread, start_writer

__all__ = [
    "Adapter",
    "Adapters",
    "BatchAdapter",
    "CheckJob",
    "CheckOutcome",
    "Clock",
    "Credential",
    "CycleReport",
    "InventoryWatch",
    "ManualClock",
    "PollerService",
    "ProbeUnavailable",
    "ResultSink",
    "ResultWriter",
    "Scheduler",
    "SchedulerStats",
    "State",
    "SystemClock",
    "Writer",
    "WriterStats",
    "WriterThread",
    "classify",
    "load_jobs",
    "poll_once",
    "start_writer",
]
