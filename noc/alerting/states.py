"""The states a check (and so a device) can be in, how they rank, and the alert severities.

* OK, WARNING, CRITICAL — the target answered; thresholds judged its values.
* UNKNOWN — the check could not run (bad credentials, bad thresholds), or its data is stale.
* DOWN — a reachability check failed after its retries: the device itself is gone.
* UNREACHABLE — it failed, but a parent on its path is DOWN: a consequence, not a cause.

The ranks match the console's (``UNREACHABLE`` sorts below the states that need hands, so the
cause sorts above its consequences).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class State(enum.StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    UNKNOWN = "UNKNOWN"
    DOWN = "DOWN"
    UNREACHABLE = "UNREACHABLE"


RANK: dict[State, int] = {
    State.OK: 1,
    State.UNREACHABLE: 2,
    State.UNKNOWN: 3,
    State.WARNING: 4,
    State.CRITICAL: 5,
    State.DOWN: 6,
}

SEVERITY: dict[State, str] = {
    State.WARNING: "warning",
    State.CRITICAL: "critical",
    State.UNKNOWN: "unknown",
    State.DOWN: "down",
}
"""The ``Alert.severity`` a problem state raises (the console's severity vocabulary)."""

REACHABILITY_TYPES = frozenset({"icmp"})
"""Check types whose failure means the device is gone (DOWN), not one service (CRITICAL)."""


def worst(states: Iterable[State], default: State = State.OK) -> State:
    result = default
    for state in states:
        if RANK[state] > RANK[result]:
            result = state
    return result


def parse_state(text: str) -> State:
    """A stored state; anything unrecognised reads as UNKNOWN rather than failing a restart."""
    try:
        return State(text.upper())
    except ValueError:
        return State.UNKNOWN


def severity_state(severity: str) -> State:
    for state, name in SEVERITY.items():
        if name == severity:
            return state
    return State.UNKNOWN
