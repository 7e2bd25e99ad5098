"""Sparklines as text: eight block heights a cell, so they sit inside any line of a table."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(
    values: Sequence[float], width: int, *, low: float | None = None, high: float | None = None
) -> str:
    """The last ``width`` values scaled between ``low`` and ``high`` (their own range when not
    given); padded on the left with spaces so that the newest value is always in the last cell.
    """
    if width <= 0:
        return ""
    recent = [v for v in values[-width:] if v == v]  # drop NaN
    if not recent:
        return " " * width
    lo = min(recent) if low is None else low
    hi = max(recent) if high is None else high
    span = hi - lo
    top = len(BLOCKS) - 1
    if span <= 0:
        cells = BLOCKS[0] * len(recent)
    else:
        cells = "".join(BLOCKS[min(top, max(0, round((v - lo) / span * top)))] for v in recent)
    return cells.rjust(width)
