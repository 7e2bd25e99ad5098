from __future__ import annotations

import pytest

from noc.errors import NocError
from noc.psa import QuickEntry, QuickEntryError, parse_quick_entry

GOOD = [
    ("25m remote fix, billable", QuickEntry(25, "fix", True, "remote")),
    ("1h30m onsite install, non-billable", QuickEntry(90, "install", False, "onsite")),
    ("1.5h phone call", QuickEntry(90, "call", True, "phone")),
    ("90 min travel nb", QuickEntry(90, "", False, "travel")),
    ("45m", QuickEntry(45, "", True, "remote")),
    ("  45M  ", QuickEntry(45, "", True, "remote")),
    ("1h30 admin", QuickEntry(90, "", True, "admin")),
    ("1h 30min", QuickEntry(90, "", True, "remote")),
    ("30m 1h", QuickEntry(90, "", True, "remote")),
    ("2 hours onsite", QuickEntry(120, "", True, "onsite")),
    ("1:15 phone, nb: call back", QuickEntry(75, "call back", False, "phone")),
    ("0.1h", QuickEntry(6, "", True, "remote")),
    (".5h", QuickEntry(30, "", True, "remote")),
    ("24h", QuickEntry(1440, "", True, "remote")),
    ("1.4m", QuickEntry(1, "", True, "remote")),
    ("25m 2nd floor printer", QuickEntry(25, "2nd floor printer", True, "remote")),
    ("1h 30 users migrated", QuickEntry(60, "30 users migrated", True, "remote")),
    ("30M ONSITE Non Billable swap disk", QuickEntry(30, "swap disk", False, "onsite")),
    ("20m no-charge courtesy check", QuickEntry(20, "courtesy check", False, "remote")),
    ("15m fix billable printer", QuickEntry(15, "fix printer", True, "remote")),
    ("25m, Remote: reset password; billable", QuickEntry(25, "reset password", True, "remote")),
    ("10m fixed remote access", QuickEntry(10, "fixed remote access", True, "remote")),
    ("10m reviewed nbd contract", QuickEntry(10, "reviewed nbd contract", True, "remote")),
]

BAD = [
    ("", "empty; start with a duration such as 25m"),
    ("   ", "empty"),
    ("fix printer", "no duration; start with a duration"),
    ("45", "45 needs a unit (m or h)"),
    ("45 remote fix", "45 needs a unit (m or h)"),
    ("-25m", "the duration must be positive"),
    ("- 1h fix", "the duration must be positive"),
    ("0m", "the duration must be more than zero"),
    ("0h 0m", "the duration must be more than zero"),
    ("0.001m", "less than a minute"),
    ("25h", "'25h' is more than 24 hours in one entry"),
    ("24h 1m", "'24h 1m' is more than 24 hours"),
    ("25x fix", "unknown unit 'x'"),
    ("25mremote", "unknown unit 'mremote'"),
    ("1h 2h", "hours given twice"),
    ("10m 5 min", "minutes given twice"),
    ("25m billable nb", "both billable and non-billable"),
    ("25m.", "no space after the duration '25m'"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t for t, _ in GOOD])
def test_good_entries(text: str, expected: QuickEntry) -> None:
    assert parse_quick_entry(text) == expected


@pytest.mark.parametrize(("text", "message"), BAD, ids=[t or "<empty>" for t, _ in BAD])
def test_bad_entries_say_why_in_one_line(text: str, message: str) -> None:
    with pytest.raises(QuickEntryError) as caught:
        parse_quick_entry(text)
    error = str(caught.value)
    assert message in error
    assert error.startswith(f"time entry {(text.strip() or text)!r}: ")
    assert "\n" not in error
    assert isinstance(caught.value, NocError)


def test_errors_quote_the_entry_without_its_padding() -> None:
    with pytest.raises(QuickEntryError, match=r"^time entry '25h fix': '25h' is more than"):
        parse_quick_entry("  25h fix \n")


def test_work_types_are_configurable() -> None:
    kinds = ("Projekt", "Support")
    assert parse_quick_entry("1h projekt rollout", work_types=kinds) == QuickEntry(
        60, "rollout", True, "Projekt"
    )
    assert parse_quick_entry("1h remote", work_types=kinds) == QuickEntry(
        60, "remote", True, "Projekt"
    )
    assert parse_quick_entry("5m", default_work_type="admin").work_type == "admin"
    with pytest.raises(QuickEntryError, match="no work types are configured"):
        parse_quick_entry("5m", work_types=())
