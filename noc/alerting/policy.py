"""The evaluator's tunables, with the defaults a NOC can start from.

Per-check settings (``Check.params``: ``recover_after``, ``flapping``, ``flap_low``,
``flap_high``; ``Check.interval_s`` and ``Check.retries``) override these for one check.
"""

from __future__ import annotations

from dataclasses import dataclass

from noc.alerting.flapping import FLAP_HIGH, FLAP_LOW


@dataclass(frozen=True, slots=True)
class Policy:
    recover_after: int = 1
    """Consecutive good results that resolve an alert."""
    stale_after: float = 3.0
    """Intervals without a result after which a check is UNKNOWN (stale)."""
    dependency_wait: float = 2.0
    """Parent intervals a child's failure waits for its parent's verdict before alerting."""
    dependency_max_wait: float = 300.0
    """Seconds that wait lasts at most, however rarely the parent is polled."""
    flapping: bool = True
    flap_low: float = FLAP_LOW
    flap_high: float = FLAP_HIGH
    interval: float = 60.0
    """A check's interval when it sets none (the poller's default)."""
    retries: int = 2
    """A check's retries when it sets none (the poller's default)."""
    sweep_every: float = 1.0
    """Seconds between looks for stale checks."""
    children_listed: int = 1000
    """Devices listed under a root's alert at most (``children_count`` has them all)."""
    stale_listed: int = 200
