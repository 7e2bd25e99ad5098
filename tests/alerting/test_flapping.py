"""Flap detection against the worked example of the Nagios/Naemon documentation.

"Detection and Handling of State Flapping" (Nagios Core 3 docs, the same text in Naemon's
usersguide/flapping): 21 service states with 7 state changes, at t3, t4, t5, t9, t12, t16 and
t19. Unweighted that is 7 of 20 possible changes, 35 %; newer changes weigh more, so "the
actual calculated percent state change will be slightly less than 35%" (the page then says
"let's say ... 31%", a figure it picks for illustration, not one it computes). With Icinga 2's
weights (0.80 for the oldest slot, +0.02 per slot) the exact value is 33.4 %.
"""

from __future__ import annotations

import pytest

from noc.alerting.flapping import (
    FLAP_HIGH,
    FLAP_LOW,
    HISTORY,
    change_percent,
    flap_percent,
    is_flapping,
    remember,
    weight,
)

# t1 .. t21 with a change exactly at t3, t4, t5, t9, t12, t16 and t19.
NAGIOS_EXAMPLE = [
    "OK", "OK", "WARNING", "CRITICAL", "OK", "OK", "OK", "OK", "CRITICAL", "CRITICAL",
    "CRITICAL", "OK", "OK", "OK", "OK", "UNKNOWN", "UNKNOWN", "UNKNOWN", "OK", "OK", "OK",
]  # fmt: skip


def test_example_has_the_documented_changes() -> None:
    assert len(NAGIOS_EXAMPLE) == HISTORY
    changes = [
        t for t in range(2, HISTORY + 1) if NAGIOS_EXAMPLE[t - 1] != NAGIOS_EXAMPLE[t - 2]
    ]
    assert changes == [3, 4, 5, 9, 12, 16, 19]


def test_documented_unweighted_percentage_is_35() -> None:
    assert change_percent(NAGIOS_EXAMPLE) == pytest.approx(35.0)


def test_weighted_percentage_is_slightly_less_than_35() -> None:
    # Changes at t3..t19 fall in slots 1, 2, 3, 7, 10, 14, 17 (slot = t - 2):
    # (7 * 0.80 + 0.02 * (1+2+3+7+10+14+17)) / 20 = 6.68 / 20 = 33.4 %.
    slots = [1, 2, 3, 7, 10, 14, 17]
    by_hand = 100 * sum(0.8 + 0.02 * s for s in slots) / 20
    assert by_hand == pytest.approx(33.4)
    assert flap_percent(NAGIOS_EXAMPLE) == pytest.approx(33.4)
    assert flap_percent(NAGIOS_EXAMPLE) < change_percent(NAGIOS_EXAMPLE)


def test_example_starts_flapping_with_icinga_defaults() -> None:
    assert (FLAP_LOW, FLAP_HIGH) == (25.0, 30.0)
    assert is_flapping(False, flap_percent(NAGIOS_EXAMPLE), FLAP_LOW, FLAP_HIGH)


def test_weights_run_from_old_to_new() -> None:
    assert weight(0) == pytest.approx(0.8)
    assert weight(19) == pytest.approx(1.18)
    # The same single change counts more when it is recent.
    old = ["OK", "CRITICAL"] + ["CRITICAL"] * 19
    new = ["OK"] * 20 + ["CRITICAL"]
    assert flap_percent(old) == pytest.approx(4.0)
    assert flap_percent(new) == pytest.approx(5.9)


def test_every_result_a_change_is_99_percent_and_none_is_zero() -> None:
    alternating = ["OK", "CRITICAL"] * 10 + ["OK"]
    assert flap_percent(alternating) == pytest.approx(99.0)
    assert flap_percent(["OK"] * 21) == 0.0
    assert flap_percent([]) == 0.0


def test_start_above_high_stop_at_low_or_under() -> None:
    assert not is_flapping(False, 30.0, FLAP_LOW, FLAP_HIGH)  # must exceed the high mark
    assert is_flapping(False, 30.1, FLAP_LOW, FLAP_HIGH)
    assert is_flapping(True, 25.1, FLAP_LOW, FLAP_HIGH)  # in the gap it stays as it was
    assert not is_flapping(False, 27.0, FLAP_LOW, FLAP_HIGH)
    assert not is_flapping(True, 25.0, FLAP_LOW, FLAP_HIGH)


def test_history_keeps_the_last_21() -> None:
    history: tuple[str, ...] = ()
    for i in range(30):
        history = remember(history, str(i))
    assert len(history) == HISTORY
    assert history[0] == "9" and history[-1] == "29"
