"""Durations as technicians type them (``90``, ``45m``, ``2h30m``, ``1d``): for snoozes,
acknowledgement expiry and maintenance windows, in the console and on the command line alike."""

from __future__ import annotations

import re

from noc.errors import NocError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", re.IGNORECASE)
_UNITS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_DURATION = 366 * 86_400


class DurationError(NocError):
    """A duration that cannot be read; the message shows the forms that can."""


def parse_duration(text: str) -> float:
    """``90`` (minutes), ``45m``, ``2h30m``, ``1d``, ``1w`` -> seconds."""
    compact = text.strip().replace(" ", "")
    if not compact:
        raise DurationError("a duration is needed, such as 30m, 2h or 1d")
    total, pos = 0.0, 0
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2).lower()]
        pos = match.end()
    if pos != len(compact):
        raise DurationError(f"duration {text.strip()!r}: use forms such as 30m, 2h30m or 1d")
    if total <= 0 or total > MAX_DURATION:
        raise DurationError(f"duration {text.strip()!r}: between 1 second and a year")
    return total
