"""Rates from SNMP counters: deltas between polls, wraps told apart from resets.

A Counter32 wraps at 2**32 (every 34 s at 1 Gb/s, hence the 64-bit ifHC counters). A counter
that goes down either wrapped or was reset (the device rebooted, the interface was re-created).
The wrong guess gives a spike of petabits a second on the graph, so:

- a reboot (sysUpTime went back, or is younger than the time since the last poll) or a changed
  ifCounterDiscontinuityTime forgets every previous value: the next poll starts afresh;
- a 64-bit counter going down is a reset: it cannot wrap in the life of the hardware;
- a 32-bit counter going down wrapped, unless the wrapped delta is more than the interface could
  carry, in which case it is a reset too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

TIMETICKS_WRAP: Final = 2**32
"""sysUpTime is a TimeTicks (1/100 s, 32 bits): it wraps after 497 days."""
SPEED_SLACK: Final = 1.5
"""How far over the interface speed a wrapped delta may go before it counts as a reset."""


def counter_delta(
    previous: int, current: int, bits: int, max_delta: float | None = None
) -> int | None:
    """How much the counter grew; None when it was reset rather than wrapped."""
    if current >= previous:
        return current - previous
    if bits >= 64:
        return None
    delta = current + (1 << bits) - previous
    if max_delta is not None and delta > max_delta:
        return None
    return delta


def rebooted(
    previous_uptime: int, previous_at: float, uptime: int, at: float, tolerance: float = 2.0
) -> bool:
    """Whether the agent restarted between two readings of sysUpTime (centiseconds).

    ``previous_at`` and ``at`` are local monotonic seconds when the readings arrived.
    """
    elapsed = at - previous_at
    if elapsed < 0:
        return False
    slack = tolerance + 0.01 * elapsed  # clock drift and the time an answer takes
    if uptime < previous_uptime:
        expected = previous_uptime + elapsed * 100
        wrapped = expected - TIMETICKS_WRAP
        return not (wrapped >= 0 and abs(wrapped - uptime) <= slack * 100)
    # Went forward, but the agent is younger than the gap between the polls: it restarted and
    # has been up longer than it had been before.
    return uptime / 100 + slack < elapsed


@dataclass(slots=True)
class _Reading:
    value: int
    at: float


@dataclass
class CounterState:
    """What one agent's previous poll left behind."""

    uptime: int | None = None
    uptime_at: float = 0.0
    readings: dict[tuple[object, ...], _Reading] = field(default_factory=dict)
    discontinuity: dict[object, int] = field(default_factory=dict)

    def observe_uptime(self, uptime: int | None, at: float) -> bool:
        """Record sysUpTime; True (and every counter forgotten) when the agent restarted."""
        if uptime is None:
            return False
        restarted = self.uptime is not None and rebooted(self.uptime, self.uptime_at, uptime, at)
        if restarted:
            self.readings.clear()
            self.discontinuity.clear()
        self.uptime, self.uptime_at = uptime, at
        return restarted

    def observe_discontinuity(self, owner: object, stamp: int | None) -> None:
        """ifCounterDiscontinuityTime: when it changes, the owner's counters restarted."""
        if stamp is None:
            return
        before = self.discontinuity.get(owner)
        if before is not None and before != stamp:
            for key in [k for k in self.readings if k[0] == owner]:
                del self.readings[key]
        self.discontinuity[owner] = stamp

    def rate(
        self,
        key: tuple[object, ...],
        value: int | None,
        at: float,
        bits: int,
        max_per_second: float | None = None,
        max_delta: float | None = None,
    ) -> float | None:
        """Per-second increase since the last poll; None on the first poll or after a reset.

        ``key`` starts with the counter's owner (an interface index) so a discontinuity can
        drop its readings; the width is part of the key so 32- and 64-bit readings never mix.
        A wrapped delta above ``max_per_second`` (with some slack) or ``max_delta`` is a reset.
        """
        if value is None:
            return None
        full_key = (*key, bits)
        previous = self.readings.get(full_key)
        self.readings[full_key] = _Reading(value, at)
        if previous is None:
            return None
        elapsed = at - previous.at
        if elapsed <= 0:
            return None
        limits = [max_delta] if max_delta is not None else []
        if max_per_second is not None:
            limits.append(max_per_second * elapsed * SPEED_SLACK)
        delta = counter_delta(previous.value, value, bits, min(limits) if limits else None)
        if delta is None:
            return None
        return delta / elapsed

    def forget_missing(self, owners: set[object]) -> None:
        """Drop readings of owners (interfaces) that no longer exist, so state cannot grow."""
        for key in [k for k in self.readings if k[0] not in owners]:
            del self.readings[key]
        for owner in [o for o in self.discontinuity if o not in owners]:
            del self.discontinuity[owner]
