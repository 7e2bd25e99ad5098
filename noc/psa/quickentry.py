"""The one-line time entry a technician types: ``25m remote fix, billable``.

Pure parsing, no store: the console and the CLI both use it, and a table of inputs tests it.

Grammar, loosely: a duration first (``25m``, ``1h30m``, ``1h30``, ``1.5h``, ``90 min``,
``1:30``), then free text. In the text, a leading work type word (``remote``, ``onsite``...)
sets the work type, and the words ``billable`` / ``non-billable`` (``nb``, ``no charge``...)
anywhere set billing; both are removed from the note. Billable is the default, because
forgetting to mark time billable loses money while the reverse is caught at invoice review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from noc.psa.errors import QuickEntryError

DEFAULT_WORK_TYPES: tuple[str, ...] = ("remote", "onsite", "phone", "travel", "admin")
MAX_MINUTES = 24 * 60
"""No single entry spans more than a day; a larger figure is a typo (``250h`` for ``2.5h``)."""

HINT = "start with a duration such as 25m, 1h30m or 1.5h"

_UNITS = {
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 60),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 1),
}
_CLOCK = re.compile(r"(\d+):([0-5]\d)(?![\d:])")
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(\s*)([a-z]+)?", re.IGNORECASE)
_NEGATIVE = re.compile(r"-\s*[\d.]")
_SEPARATORS = " \t,;:-"
_NON_BILLABLE = re.compile(
    r"(?<![\w-])(?:non[- ]?billable|unbillable|nb|no[- ]?charge|n/c)(?![\w-])", re.IGNORECASE
)
_BILLABLE = re.compile(r"(?<![\w-])billable(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class QuickEntry:
    minutes: int
    note: str
    billable: bool = True
    work_type: str = DEFAULT_WORK_TYPES[0]


def _fail(text: str, why: str) -> QuickEntryError:
    return QuickEntryError(f"time entry {text!r}: {why}")


def _duration(text: str) -> tuple[float, int]:
    """Minutes (unrounded) and where the text after the duration starts."""
    clock = _CLOCK.match(text)
    if clock:
        return int(clock[1]) * 60 + int(clock[2]), clock.end()
    total, pos = 0.0, 0
    seen: set[int] = set()
    while True:
        start = len(text) - len(text[pos:].lstrip())
        part = _PART.match(text, start)
        if part is None:
            break
        number, gap, unit = part[1], part[2], (part[3] or "").lower()
        end = part.end()
        if unit not in _UNITS and seen == {60} and start == pos:
            unit, end = "m", part.end(1)  # 1h30: minutes right after hours need no unit
        if unit not in _UNITS:
            if seen:
                break  # "25m 2nd floor": the number belongs to the note
            if unit and not gap:
                raise _fail(text, f"unknown unit {unit!r}; {HINT}")
            raise _fail(text, f"{number} needs a unit (m or h)")
        scale = _UNITS[unit]
        if scale in seen:
            raise _fail(text, f"{'hours' if scale == 60 else 'minutes'} given twice")
        seen.add(scale)
        total += float(number) * scale
        pos = end
    if not seen:
        if _NEGATIVE.match(text):
            raise _fail(text, "the duration must be positive")
        raise _fail(text, f"no duration; {HINT}")
    return total, pos


def _minutes(text: str, duration: str, total: float) -> int:
    if total <= 0:
        raise _fail(text, "the duration must be more than zero")
    if total > MAX_MINUTES:
        raise _fail(text, f"{duration!r} is more than 24 hours in one entry")
    minutes = int(total + 0.5)
    if minutes == 0:
        raise _fail(text, "the duration is less than a minute")
    return minutes


def _billable(text: str, rest: str) -> tuple[bool, str]:
    rest, non_billable = _NON_BILLABLE.subn(" ", rest)
    rest, billable = _BILLABLE.subn(" ", rest)
    if non_billable and billable:
        raise _fail(text, "it says both billable and non-billable")
    return not non_billable, rest


def _tidy(note: str) -> str:
    """Drop the separators that removed flags leave behind (``fix, billable`` -> ``fix``)."""
    note = re.sub(r"\s*([,;])(?:\s*[,;])+", r"\1", note)
    return " ".join(note.split()).strip(_SEPARATORS)


def parse_quick_entry(
    text: str,
    *,
    work_types: Sequence[str] = DEFAULT_WORK_TYPES,
    default_work_type: str | None = None,
) -> QuickEntry:
    """Read one typed time entry; bad input raises ``QuickEntryError`` with one line saying why."""
    if not work_types:
        raise QuickEntryError("no work types are configured")
    entry = text.strip()
    if not entry:
        raise _fail(text, f"empty; {HINT}")
    total, end = _duration(entry)
    rest = entry[end:]
    if rest and rest[0] not in _SEPARATORS:
        raise _fail(entry, f"no space after the duration {entry[:end]!r}")
    minutes = _minutes(entry, entry[:end].strip(), total)
    billable, rest = _billable(entry, rest)
    note = _tidy(rest)
    work_type = default_work_type or work_types[0]
    first, _, remainder = note.partition(" ")
    known = {kind.lower(): kind for kind in work_types}
    if first.rstrip(",;:").lower() in known:
        work_type = known[first.rstrip(",;:").lower()]
        note = _tidy(remainder)
    return QuickEntry(minutes=minutes, note=note, billable=billable, work_type=work_type)
