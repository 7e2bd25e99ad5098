"""What one probe result means for its check: the check's own verdict and the problems it shows.

This is the pure part of the evaluator: no store, no clock, no other checks. Parent/child
suppression (``dependencies``) and alerting (``alerts``) act on what it returns.

* An answer (``ok``/``partial``) is judged by the thresholds; a metric the check itself set a
  rule for but the target did not report is UNKNOWN, not OK.
* A failure counts only after its retries: the scheduler reports how many attempts a run made,
  and failed attempts add up across runs until they reach ``retries + 1``. Until then the check
  keeps its state (a *soft* failure, as Nagios calls it) and nothing is raised or resolved.
* An error (the check could not run) is UNKNOWN; it raises an alert once it has repeated as
  often as a failure must (``retries + 1`` results in a row).
* Every result appends the verdict to the 21-state history that flap detection reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from noc.alerting import flapping
from noc.alerting.states import RANK, REACHABILITY_TYPES, State, worst
from noc.alerting.thresholds import MetricMemo, RuleSet, numeric, step
from noc.probes.result import ProbeResult, ProbeStatus

DOWN = "down"
"""Condition of a reachability check that failed after its retries."""
FAILED = "failed"
"""Condition of any other check whose target did not answer after its retries."""
UNKNOWN = "unknown"
"""Condition of a check that could not run or could not judge what it got."""
FLAPPING = "flapping"
STALE = "stale"
RESERVED = frozenset({DOWN, FAILED, UNKNOWN, FLAPPING, STALE})
"""Conditions that are not metric names."""

OUTPUT_CHARS = 2000
"""Longest ``output`` kept: an error line, never a whole page someone's server returned."""


@dataclass(frozen=True, slots=True)
class CheckConfig:
    check_id: int
    device_id: int
    device_name: str
    check_name: str
    check_type: str
    interval: float
    retries: int
    rules: RuleSet
    config_error: str = ""
    """Why the check's own settings cannot be applied; the check is UNKNOWN while it lasts."""
    recover_after: int = 1
    flap_enabled: bool = True
    flap_low: float = flapping.FLAP_LOW
    flap_high: float = flapping.FLAP_HIGH
    owned: bool = True
    """Polled by this evaluator's zone: only owned checks can go stale here."""

    @property
    def reachability(self) -> bool:
        return self.check_type in REACHABILITY_TYPES

    @property
    def label(self) -> str:
        return f"{self.device_name}/{self.check_name}"


@dataclass(frozen=True, slots=True)
class CheckMemo:
    """Everything the evaluator remembers about one check between results."""

    state: State = State.UNKNOWN
    """The state shown and stored: the own verdict, or UNREACHABLE behind a DOWN parent."""
    own: State = State.UNKNOWN
    """What the check's own results say, before parent/child suppression."""
    since: float = 0.0
    last_ts: float = 0.0
    last_answer: float = 0.0
    """When the target last answered: dependency checks ask whether a parent answered after a
    child started failing."""
    attempts: int = 0
    """Consecutive failed attempts."""
    errors: int = 0
    """Consecutive results that could not be had at all (the check erred)."""
    fail_since: float | None = None
    failure: bool = False
    """The own verdict is a confirmed failure (DOWN, or CRITICAL for want of an answer)."""
    output: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    flapping: bool = False
    flap_pct: float = 0.0
    metrics: Mapping[str, MetricMemo] = field(default_factory=dict)
    stale: bool = False
    hold_until: float | None = None
    """While set, a failure waits for a parent's verdict before it may raise an alert."""
    seen: bool = False
    """A result (or a stored state) exists: a new check's first soft failure stays UNKNOWN."""


@dataclass(frozen=True, slots=True)
class Condition:
    state: State
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Judgement:
    conditions: Mapping[str, Condition]
    """Problems this result shows, by condition (a metric name or one of ``RESERVED``)."""
    good: frozenset[str]
    """Conditions this result proves fine: they count towards recovering an open alert. A
    condition in neither set is not judged by this result (stale, soft failure, error)."""
    answered: bool
    flap_started: bool = False
    flap_stopped: bool = False


_Step = tuple[dict[str, Any], Mapping[str, Condition], frozenset[str], bool]
"""A result's effect: the memo fields it changes, its conditions, what it proves good, and
whether the target answered."""


def judge(
    config: CheckConfig, memo: CheckMemo, result: ProbeResult, attempts: int, ts: float
) -> tuple[CheckMemo, Judgement]:
    if result.status in (ProbeStatus.OK, ProbeStatus.PARTIAL):
        changes, conditions, good, answered = _answered(config, memo, result, ts)
    elif result.status is ProbeStatus.FAILED:
        changes, conditions, good, answered = _failed(config, memo, result, attempts, ts)
    else:
        changes, conditions, good, answered = _errored(config, memo, result)
    history = flapping.remember(memo.history, changes["own"])
    pct = flapping.flap_percent(history)
    now_flapping = config.flap_enabled and flapping.is_flapping(
        memo.flapping, pct, config.flap_low, config.flap_high
    )
    judgement = Judgement(
        conditions=conditions,
        good=good,
        answered=answered,
        flap_started=now_flapping and not memo.flapping,
        flap_stopped=memo.flapping and not now_flapping,
    )
    memo = replace(
        memo,
        **changes,
        history=history,
        flap_pct=pct,
        flapping=now_flapping,
        last_ts=ts,
        values=result.values,
        stale=False,
        seen=True,
    )
    return memo, judgement


def _answered(config: CheckConfig, memo: CheckMemo, result: ProbeResult, ts: float) -> _Step:
    metrics = dict(memo.metrics)
    conditions: dict[str, Condition] = {}
    good = {DOWN, FAILED}
    unknown: list[str] = [config.config_error] if config.config_error else []
    shown: list[str] = []
    for metric, rule in config.rules.matching(result.values):
        value = numeric(result.values[metric])
        if value is None:
            if metric in config.rules.required:
                unknown.append(f"{metric} is not a number")
            continue
        state = step(rule, metrics.get(metric, MetricMemo()), value, ts)
        metrics[metric] = state
        if state.level is State.OK:
            good.add(metric)
            shown.append(f"{metric}={value:g}")
        else:
            conditions[metric] = Condition(
                state.level,
                f"{metric} {rule.describe(value, state.level)}",
                {"metric": metric},
            )
    unknown += [f"{m} not reported" for m in sorted(config.rules.required - result.values.keys())]
    if unknown:
        conditions[UNKNOWN] = Condition(State.UNKNOWN, "; ".join(unknown))
    else:
        good.add(UNKNOWN)
    if conditions:
        ranked = sorted(conditions.values(), key=lambda c: -RANK[c.state])
        output = "; ".join(c.summary for c in ranked)
    else:
        output = _ok_output(result, shown)
    changes = {
        "own": worst(c.state for c in conditions.values()),
        "last_answer": ts,
        "attempts": 0,
        "errors": 0,
        "fail_since": None,
        "failure": False,
        "output": output[:OUTPUT_CHARS],
        "metrics": metrics,
    }
    return changes, conditions, frozenset(good), True


def _ok_output(result: ProbeResult, shown: list[str]) -> str:
    parts = shown[:3]
    if result.rtt is not None:
        parts.append(f"rtt {result.rtt * 1000:.1f} ms")
    text = "OK" + (": " + ", ".join(parts) if parts else "")
    if result.status is ProbeStatus.PARTIAL:
        missing = ", ".join(result.missing)
        text += f" (partial: {result.error or 'not reported: ' + missing})"
    return text


def _failed(
    config: CheckConfig, memo: CheckMemo, result: ProbeResult, attempts: int, ts: float
) -> _Step:
    total = memo.attempts + max(1, attempts)
    error = result.error or "no answer"
    changes: dict[str, Any] = {
        "attempts": total,
        "errors": 0,
        "fail_since": memo.fail_since if memo.fail_since is not None else ts,
    }
    if not (memo.failure or total >= config.retries + 1):
        output = f"{error} (attempt {total} of {config.retries + 1})"
        changes.update(own=memo.own if memo.seen else State.UNKNOWN, output=output[:OUTPUT_CHARS])
        return changes, {}, frozenset(), False
    output = error[:OUTPUT_CHARS]
    changes.update(own=failure_state(config), failure=True, output=output)
    return changes, failure_conditions(config, output), frozenset(), False


def _errored(config: CheckConfig, memo: CheckMemo, result: ProbeResult) -> _Step:
    """UNKNOWN at once; the alert only once it has happened ``retries + 1`` times in a row, so a
    passing hiccup (a rate limit, a busy agent) is shown but raises nothing."""
    error = result.error or "the check could not run"
    errors = memo.errors + 1
    changes = {
        "own": State.UNKNOWN,
        "attempts": 0,
        "errors": errors,
        "fail_since": None,
        "failure": False,
        "output": error[:OUTPUT_CHARS],
    }
    if errors < config.retries + 1:
        return changes, {}, frozenset(), False
    return changes, {UNKNOWN: Condition(State.UNKNOWN, error)}, frozenset(), False


def failure_state(config: CheckConfig) -> State:
    return State.DOWN if config.reachability else State.CRITICAL


def failure_conditions(config: CheckConfig, output: str) -> dict[str, Condition]:
    """The problem a confirmed failure raises (also when a held failure is released later)."""
    name = DOWN if config.reachability else FAILED
    return {name: Condition(failure_state(config), output or "no answer")}


def go_stale(config: CheckConfig, memo: CheckMemo, now: float, since_seen: float) -> CheckMemo:
    """No result for too long: UNKNOWN, without touching the history or any alert."""
    waited = now - since_seen
    output = f"no result for {waited:.0f} s (expected every {config.interval:g} s)"
    return replace(memo, stale=True, output=output)
