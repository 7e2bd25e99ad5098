"""Flap detection, the Nagios/Icinga way: weighted state changes over the last 21 results.

The last 21 states give at most 20 changes. Each change is weighted by its age, the oldest
0.80 and each newer one 0.02 more (up to 1.18), exactly as Icinga 2 computes it
(``lib/icinga/checkable-flapping.cpp``); the percentage is the weighted sum over 20. A check
starts flapping when the percentage rises above the high threshold and stops when it falls to
the low one or under, Icinga's defaults being 30 % and 25 % (``flapping_threshold_high`` and
``flapping_threshold_low``). The gap between the two keeps the flapping flag itself from
flapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

HISTORY = 21
"""States kept per check: 21 results, 20 possible changes."""

FLAP_LOW = 25.0
FLAP_HIGH = 30.0

_SLOTS = HISTORY - 1
_OLDEST_WEIGHT = 0.8
_WEIGHT_STEP = 0.02


def weight(slot: int) -> float:
    """The weight of a change in ``slot`` 0 (oldest) .. 19 (newest)."""
    return _OLDEST_WEIGHT + _WEIGHT_STEP * slot


def flap_percent(history: Sequence[str]) -> float:
    """The weighted state-change percentage of the newest ``HISTORY`` states (oldest first).

    A shorter history fills the newest slots, so a new check is judged on what it has.
    """
    recent = list(history)[-HISTORY:]
    changes = [a != b for a, b in pairwise(recent)]
    first_slot = _SLOTS - len(changes)
    total = sum(weight(first_slot + i) for i, changed in enumerate(changes) if changed)
    return round(100.0 * total / _SLOTS, 6)


def change_percent(history: Sequence[str]) -> float:
    """The same without weights: changes over possible changes, as the Nagios docs first count."""
    recent = list(history)[-HISTORY:]
    return 100.0 * sum(a != b for a, b in pairwise(recent)) / _SLOTS


def is_flapping(was_flapping: bool, percent: float, low: float, high: float) -> bool:
    """Start above ``high``; once flapping, stop only at ``low`` or under."""
    return percent > low if was_flapping else percent > high


def remember(history: Sequence[str], state: str) -> tuple[str, ...]:
    return (*history, state)[-HISTORY:]
