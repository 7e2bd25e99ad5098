"""Threshold rules on their own: levels, durations, hysteresis, low-is-bad metrics, defaults."""

from __future__ import annotations

import pytest

from noc.alerting.states import State
from noc.alerting.thresholds import (
    DEFAULT_THRESHOLDS,
    MetricMemo,
    Rule,
    RuleSet,
    ThresholdError,
    step,
)


def run(rule: Rule, values: list[tuple[float, float]]) -> list[State]:
    memo = MetricMemo()
    levels = []
    for ts, value in values:
        memo = step(rule, memo, value, ts)
        levels.append(memo.level)
    return levels


def test_levels_are_reached_at_the_threshold() -> None:
    rule = Rule(warning=80, critical=90)
    assert run(rule, [(0, 79.9), (1, 80), (2, 90), (3, 89.9)]) == [
        State.OK,
        State.WARNING,
        State.CRITICAL,
        State.WARNING,
    ]


def test_a_worse_level_waits_for_its_duration() -> None:
    rule = Rule(warning=80, critical=90, for_s=300)
    sequence = [(t, 95.0) for t in range(0, 301, 60)]
    assert run(rule, sequence) == [State.OK] * 5 + [State.CRITICAL]


def test_a_dip_restarts_the_duration() -> None:
    rule = Rule(critical=90, for_s=300)
    sequence = [(0, 95.0), (60, 95.0), (120, 50.0), (180, 95.0), (420, 95.0), (480, 95.0)]
    assert run(rule, sequence) == [State.OK] * 5 + [State.CRITICAL]


def test_warning_counts_while_critical_waits() -> None:
    # Above warning (and critical) for 5 minutes in total, above critical only for the last 2.
    rule = Rule(warning=80, critical=90, for_s=300)
    sequence = [(0, 85.0), (60, 85.0), (120, 85.0), (180, 95.0), (240, 95.0), (300, 95.0)]
    assert run(rule, sequence)[-1] is State.WARNING


def test_improvements_count_at_once() -> None:
    rule = Rule(warning=80, critical=90, for_s=300)
    memo = MetricMemo(level=State.CRITICAL, warn_since=0.0, crit_since=0.0)
    assert step(rule, memo, 85.0, 1000.0).level is State.WARNING
    assert step(rule, memo, 10.0, 1000.0).level is State.OK


def test_hysteresis_holds_until_the_clear_level() -> None:
    rule = Rule(warning=80, critical=90, clear=70)
    sequence = [(0, 85.0), (1, 75.0), (2, 70.0), (3, 69.9), (4, 75.0)]
    assert run(rule, sequence) == [
        State.WARNING,
        State.WARNING,  # below warning, not yet below clear
        State.WARNING,  # at the clear level is not past it
        State.OK,
        State.OK,  # from OK, 75 is below warning: no problem
    ]


def test_critical_only_rule_holds_critical_until_clear() -> None:
    rule = Rule(critical=90, clear=80)
    assert run(rule, [(0, 95.0), (1, 85.0), (2, 79.0)]) == [
        State.CRITICAL,
        State.CRITICAL,
        State.OK,
    ]


def test_below_rules_for_low_is_bad() -> None:
    rule = Rule(warning=14, critical=3, clear=20, below=True)
    sequence = [(0, 30.0), (1, 14.0), (2, 2.0), (3, 10.0), (4, 19.0), (5, 21.0)]
    assert run(rule, sequence) == [
        State.OK,
        State.WARNING,
        State.CRITICAL,
        State.WARNING,
        State.WARNING,
        State.OK,
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"warning": 95.0, "critical": 90.0}, "warning 95 is past critical 90"),
        ({"warning": 80.0, "clear": 85.0}, "clear 85 must be at or below 80"),
        ({"warning": 5.0, "critical": 10.0, "below": True}, "warning 5 is past critical 10"),
        ({"for_s": 60.0}, "needs a warning or a critical level"),
        ({"warning": "high"}, "warning: expected a number"),
    ],
)
def test_bad_rules_say_which_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ThresholdError) as caught:
        Rule.from_json(data, "check web1/cpu: thresholds.cpu.used_pct")
    assert str(caught.value).startswith("check web1/cpu: thresholds.cpu.used_pct")
    assert message in str(caught.value)


def test_defaults_per_kind_and_the_checks_own_rule_wins() -> None:
    router = RuleSet.defaults("router")
    server = RuleSet.defaults("server")
    assert router.rule_for("cpu.used_pct") == DEFAULT_THRESHOLDS["router"]["cpu.used_pct"]
    assert server.rule_for("cpu.used_pct") == DEFAULT_THRESHOLDS["*"]["cpu.used_pct"]
    assert RuleSet.defaults("printer").rule_for("cpu.used_pct") == server.rule_for("cpu.used_pct")
    own = RuleSet.build("server", {"cpu.used_pct": {"warning": 50.0}}, "x")
    assert own.rule_for("cpu.used_pct") == Rule(warning=50.0)  # whole rule replaced, no mix
    assert own.required == {"cpu.used_pct"}
    assert server.required == frozenset()


def test_glob_rules_match_each_filesystem() -> None:
    rules = RuleSet.defaults("server")
    values = {"fs./.used_pct": 50, "fs./var.used_pct": 97, "sys.descr": "x"}
    matched = dict(rules.matching(values))
    assert set(matched) == {"fs./.used_pct", "fs./var.used_pct"}
    exact = RuleSet.build("server", {"fs./var.used_pct": {"critical": 99.0}}, "x")
    assert exact.rule_for("fs./var.used_pct") == Rule(critical=99.0)
    assert exact.rule_for("fs./.used_pct") == DEFAULT_THRESHOLDS["*"]["fs.*.used_pct"]
