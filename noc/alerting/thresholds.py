"""Threshold rules: which level a metric is at, with durations and hysteresis.

A rule has a warning and/or a critical level. A level is *reached* when the value is at or
beyond it (``>=``, or ``<=`` for ``below`` metrics such as days left on a certificate). Two
guards keep the NOC from being paged by noise:

* **Duration** (``for_s``): a worse level counts only once it has been reached continuously for
  that long — "CPU above 90 % for 5 minutes". Improvements count at once; recovery has its own
  guard (consecutive good results, see ``alerts``).
* **Hysteresis** (``clear``): once WARNING or CRITICAL, the metric returns to OK only when the
  value is back past the clear level, so a value hovering at the warning line does not flap.

Defaults live in ``DEFAULT_THRESHOLDS`` per device kind; a check's own rule for a metric
replaces the default rule for that metric whole (merging fields would mix a default ``clear``
with a custom ``warning`` and could put the clear level on the wrong side). Metric names may be
globs (``fs.*.used_pct``); an exact name wins over a glob.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from noc.alerting.states import State
from noc.errors import NocError


class ThresholdError(NocError):
    """A check's thresholds that cannot be applied (a level on the wrong side of another)."""


@dataclass(frozen=True, slots=True)
class Rule:
    warning: float | None = None
    critical: float | None = None
    clear: float | None = None
    """Where a WARNING/CRITICAL metric returns to OK; defaults to the lowest level set."""
    for_s: float = 0.0
    below: bool = False
    """Low is bad (free space, days left, battery): levels are reached at or under them."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Rule:
        """A rule from ``Check.thresholds[metric]`` (as ``inventory.fields.parse_thresholds``
        writes it); ``where`` names the field in the error."""
        if not isinstance(data, Mapping):
            raise ThresholdError(f"{where}: expected a table such as {{warning = 80}}")
        values: dict[str, float | None] = {}
        for key in ("warning", "critical", "clear"):
            raw = data.get(key)
            if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
                raise ThresholdError(f"{where}.{key}: expected a number, got {raw!r}")
            values[key] = None if raw is None else float(raw)
        for_s = data.get("for_s", 0.0)
        if isinstance(for_s, bool) or not isinstance(for_s, int | float) or for_s < 0:
            raise ThresholdError(f"{where}.for: expected a duration, got {for_s!r}")
        rule = cls(
            warning=values["warning"],
            critical=values["critical"],
            clear=values["clear"],
            for_s=float(for_s),
            below=bool(data.get("below", False)),
        )
        rule.validate(where)
        return rule

    def validate(self, where: str) -> None:
        if self.warning is None and self.critical is None:
            raise ThresholdError(f"{where}: needs a warning or a critical level")
        sign = -1.0 if self.below else 1.0
        word = "above" if self.below else "below"
        if self.warning is not None and self.critical is not None:
            if sign * self.warning > sign * self.critical:
                raise ThresholdError(
                    f"{where}: warning {self.warning:g} is past critical {self.critical:g}"
                )
        if self.clear is not None and sign * self.clear > sign * self.lowest:
            raise ThresholdError(
                f"{where}: clear {self.clear:g} must be at or {word} {self.lowest:g}"
            )

    @property
    def lowest(self) -> float:
        """The first level the value meets on its way to bad."""
        if self.warning is not None:
            return self.warning
        assert self.critical is not None
        return self.critical

    @property
    def clear_level(self) -> float:
        return self.lowest if self.clear is None else self.clear

    def reached(self, value: float, committed: State) -> State:
        """The level this value is at right now, hysteresis included, durations not."""
        sign = -1.0 if self.below else 1.0
        x = sign * value
        if self.critical is not None and x >= sign * self.critical:
            return State.CRITICAL
        if self.warning is not None and x >= sign * self.warning:
            return State.WARNING
        if committed in (State.WARNING, State.CRITICAL) and x >= sign * self.clear_level:
            # Not yet back past the clear level: the problem holds at its lowest level.
            return State.WARNING if self.warning is not None else State.CRITICAL
        return State.OK

    def describe(self, value: float, level: State) -> str:
        """``97 >= 95 (critical for 5m)``, or ``82 (warning until < 80)`` under hysteresis."""
        name = level.lower()
        limit = self.critical if level is State.CRITICAL else self.warning
        if limit is None:
            limit = self.lowest
        sign = -1.0 if self.below else 1.0
        if sign * value >= sign * limit:
            held = f" for {_duration(self.for_s)}" if self.for_s else ""
            return f"{value:g} {'<=' if self.below else '>='} {limit:g} ({name}{held})"
        back = ">" if self.below else "<"
        return f"{value:g} ({name} until {back} {self.clear_level:g})"


@dataclass(frozen=True, slots=True)
class MetricMemo:
    """What one metric of one check remembers between results."""

    level: State = State.OK
    warn_since: float | None = None
    """Start of the current run of results at or past the warning level (or the clear level
    while the metric is already a problem)."""
    crit_since: float | None = None


def step(rule: Rule, memo: MetricMemo, value: float, ts: float) -> MetricMemo:
    """The metric after one more value: worse levels wait for ``for_s``, better ones do not."""
    now_at = rule.reached(value, memo.level)
    crit_since = (
        (memo.crit_since if memo.crit_since is not None else ts)
        if (now_at is State.CRITICAL)
        else None
    )
    warn_since = (
        (memo.warn_since if memo.warn_since is not None else ts)
        if (now_at is not State.OK)
        else None
    )

    def held(since: float | None) -> bool:
        return since is not None and ts - since >= rule.for_s

    if now_at is State.CRITICAL and held(crit_since):
        level = State.CRITICAL
    elif now_at is not State.OK and held(warn_since) and rule.warning is not None:
        level = State.WARNING
    elif now_at is not State.OK and memo.level is not State.OK:
        # Still a problem but the worse level has not held long enough: stay where we are,
        # unless that is worse than what the value now says (improvements count at once).
        level = memo.level if _rank(memo.level) <= _rank(now_at) else now_at
    else:
        level = State.OK
    return MetricMemo(level=level, warn_since=warn_since, crit_since=crit_since)


def _rank(state: State) -> int:
    return {State.OK: 0, State.WARNING: 1, State.CRITICAL: 2}.get(state, 0)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def numeric(value: Any) -> float | None:
    """A finite number from a probe value (booleans count as 0/1), or None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


_SERVER: dict[str, Rule] = {
    "cpu.used_pct": Rule(warning=85, critical=95, clear=80, for_s=300),
    "mem.used_pct": Rule(warning=90, critical=97, clear=85, for_s=300),
    "swap.used_pct": Rule(warning=50, critical=80, clear=40, for_s=600),
    "fs.*.used_pct": Rule(warning=85, critical=95, clear=83),
    "loss_pct": Rule(warning=20, critical=60, clear=5, for_s=120),
    "tls.days_left": Rule(warning=14, critical=3, below=True),
}
_NETWORK: dict[str, Rule] = {
    "cpu.used_pct": Rule(warning=80, critical=90, clear=75, for_s=300),
    "mem.used_pct": Rule(warning=85, critical=95, clear=80, for_s=300),
    "loss_pct": Rule(warning=10, critical=50, clear=2, for_s=120),
}

DEFAULT_THRESHOLDS: Mapping[str, Mapping[str, Rule]] = {
    "*": _SERVER,
    "router": _NETWORK,
    "firewall": _NETWORK,
    "switch": _NETWORK,
    "access-point": {**_NETWORK, "loss_pct": Rule(warning=20, critical=60, clear=5, for_s=300)},
    "workstation": {
        **_SERVER,
        "cpu.used_pct": Rule(warning=95, critical=99, clear=90, for_s=900),
        "loss_pct": Rule(warning=30, critical=80, clear=10, for_s=300),
    },
    "website": {
        "http.latency_ms": Rule(warning=2000, critical=5000, clear=1500, for_s=180),
        "tls.days_left": Rule(warning=14, critical=3, below=True),
    },
}
"""Per device kind (``*`` for kinds not listed): rules that apply when the metric is reported
and the check sets no rule of its own for it."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    exact: Mapping[str, Rule]
    patterns: tuple[tuple[str, Rule], ...]
    required: frozenset[str]
    """Exact metrics the check itself set a rule for: not reported means UNKNOWN, not OK."""

    @classmethod
    def build(cls, kind: str, own: Mapping[str, Any], where: str) -> RuleSet:
        """The defaults for ``kind`` overlaid with the check's own thresholds."""
        merged: dict[str, Rule] = dict(DEFAULT_THRESHOLDS.get(kind, DEFAULT_THRESHOLDS["*"]))
        required: set[str] = set()
        for metric, data in own.items():
            merged[str(metric)] = Rule.from_json(data, f"{where}.{metric}")
            if not _is_glob(str(metric)):
                required.add(str(metric))
        exact = {m: r for m, r in merged.items() if not _is_glob(m)}
        patterns = tuple((m, r) for m, r in merged.items() if _is_glob(m))
        return cls(exact=exact, patterns=patterns, required=frozenset(required))

    @classmethod
    def defaults(cls, kind: str) -> RuleSet:
        return cls.build(kind, {}, "")

    def rule_for(self, metric: str) -> Rule | None:
        rule = self.exact.get(metric)
        if rule is None:
            rule = next((r for p, r in self.patterns if fnmatch.fnmatchcase(metric, p)), None)
        return rule

    def matching(self, values: Mapping[str, Any]) -> Iterator[tuple[str, Rule]]:
        """Each reported metric that has a rule, with its rule."""
        for metric in values:
            rule = self.rule_for(metric)
            if rule is not None:
                yield metric, rule


def _is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")
