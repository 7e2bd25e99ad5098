"""How well the scheduler keeps time: counters and the lag of recent runs.

Lag is how late a run's first attempt started after its due time — waiting for a concurrency
slot included. It is the number that says a poller is overloaded long before results go stale.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

LAG_WINDOW = 100_000
"""Runs whose lag is kept for percentiles: enough for one 10,000-device cycle several times."""


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class SchedulerStats:
    runs: int = 0
    """Runs finished (an outcome was handed on), whatever their result."""
    attempts: int = 0
    retries: int = 0
    """Attempts beyond the first of a run: failures re-tried before declaring a target down."""
    deadline_hits: int = 0
    """Attempts the scheduler's hard deadline cut off (the probe did not stop by itself)."""
    late: int = 0
    """Runs that started more than ``late_after`` seconds after they were due."""
    dropped: int = 0
    """Runs not made: due while the previous run of the same check was still going, or
    skipped because the scheduler fell more than a whole interval behind."""
    crashed: int = 0
    """Attempts that raised an unexpected exception (a bug, reported as UNKNOWN)."""
    in_flight: int = 0
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_WINDOW))

    def record_lag(self, lag: float, late_after: float) -> None:
        lag = max(0.0, lag)
        self.lags.append(lag)
        if lag > late_after:
            self.late += 1

    def lag_summary(self) -> dict[str, float]:
        ordered = sorted(self.lags)
        return {
            "p50": percentile(ordered, 50),
            "p99": percentile(ordered, 99),
            "max": ordered[-1] if ordered else 0.0,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "attempts": self.attempts,
            "retries": self.retries,
            "deadline_hits": self.deadline_hits,
            "late": self.late,
            "dropped": self.dropped,
            "crashed": self.crashed,
            "in_flight": self.in_flight,
            "lag_s": self.lag_summary(),
        }
