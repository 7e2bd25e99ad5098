"""What a finished run hands on: the probe's result, the state it implies, and the seam.

The scheduler turns each final ``ProbeResult`` into a ``CheckOutcome`` with a first-cut state
taken from the probe status alone. Anything between the scheduler and the store — the alerting
evaluator with its thresholds, flap detection and parent suppression — is a ``ResultSink`` that
receives outcomes, may replace their ``state`` and ``output`` (``dataclasses.replace``), and
hands them to the next sink; the batch writer is the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from noc.alerting.states import REACHABILITY_TYPES, State

__all__ = [
    "REACHABILITY_TYPES",
    "CheckOutcome",
    "ResultSink",
    "State",
    "classify",
    "key_value",
    "summary",
]
from noc.polling.jobs import CheckJob
from noc.probes.result import ProbeResult, ProbeStatus

KEY_METRICS: dict[str, tuple[str, ...]] = {
    "icmp": ("loss_pct", "rtt_ms"),
    "tcp": ("tcp.connect_ms",),
    "http": ("http.status", "http.latency_ms"),
    "snmp": ("sys.uptime_s", "cpu.used_pct"),
    "ssh": ("cpu.used_pct", "load.1"),
    "local": ("cpu.used_pct", "load.1"),
}
"""The value a one-line summary shows for each check type, first one present wins."""


def classify(check_type: str, result: ProbeResult) -> tuple[State, str]:
    """The state a probe status alone implies, and the line a person reads about it."""
    status = result.status
    if status is ProbeStatus.OK:
        return State.OK, summary(check_type, result)
    if status is ProbeStatus.PARTIAL:
        missing = ", ".join(result.missing)
        note = result.error or (f"not reported: {missing}" if missing else "partial answer")
        return State.OK, note
    if status is ProbeStatus.FAILED:
        down = State.DOWN if check_type in REACHABILITY_TYPES else State.CRITICAL
        return down, result.error or "no answer"
    return State.UNKNOWN, result.error or "the check could not run"


def key_value(check_type: str, result: ProbeResult) -> tuple[str, object] | None:
    for metric in KEY_METRICS.get(check_type, ()):
        if metric in result.values:
            return metric, result.values[metric]
    return None


def summary(check_type: str, result: ProbeResult) -> str:
    parts = []
    key = key_value(check_type, result)
    if key is not None:
        parts.append(f"{key[0]}={key[1]}")
    if result.rtt is not None:
        parts.append(f"rtt {result.rtt * 1000:.1f} ms")
    return ", ".join(parts) or "ok"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    job: CheckJob
    result: ProbeResult
    state: State
    output: str
    attempts: int
    """Attempts this run made: 1, or more when failures were retried before giving up."""
    ts: float
    """Wall-clock time of the measurement (the final attempt's start): the samples' time."""
    lag: float
    """Seconds between when the run was due and when its first attempt started."""

    @classmethod
    def of(
        cls, job: CheckJob, result: ProbeResult, *, attempts: int, ts: float, lag: float
    ) -> CheckOutcome:
        state, output = classify(job.check_type, result)
        return cls(job, result, state, output, attempts, ts, lag)


class ResultSink(Protocol):
    """Where finished runs go. ``submit`` must never block or await: it is called on the
    scheduler's loop for every run, and a slow consumer queues (and counts what it drops)."""

    def submit(self, outcome: CheckOutcome) -> None: ...
