"""How a state is shown: a symbol and a short label as well as a colour, so that it reads the
same on a monochrome terminal, under ``NO_COLOR`` and to a colour-blind technician."""

from __future__ import annotations

from typing import NamedTuple


class StateLook(NamedTuple):
    symbol: str
    label: str
    component: str
    """The component class suffix whose style colours it (``health-grid--down`` ...)."""


LOOKS: dict[str, StateLook] = {
    "DOWN": StateLook("▼", "DOWN", "down"),
    "CRITICAL": StateLook("✖", "CRIT", "critical"),
    "WARNING": StateLook("▲", "WARN", "warning"),
    "UNKNOWN": StateLook("?", "UNKN", "unknown"),
    "UNREACHABLE": StateLook("~", "UNRE", "unreachable"),
    "OK": StateLook("✓", "OK", "ok"),
    "PENDING": StateLook("·", "PEND", "pending"),
}
UNKNOWN_LOOK = LOOKS["UNKNOWN"]

SEVERITY_LOOKS: dict[str, StateLook] = {
    "disaster": LOOKS["DOWN"],
    "down": LOOKS["DOWN"],
    "critical": LOOKS["CRITICAL"],
    "high": LOOKS["CRITICAL"],
    "major": LOOKS["CRITICAL"],
    "warning": LOOKS["WARNING"],
    "average": LOOKS["WARNING"],
    "minor": LOOKS["WARNING"],
    "unknown": LOOKS["UNKNOWN"],
    "unreachable": LOOKS["UNREACHABLE"],
    "info": LOOKS["OK"],
    "information": LOOKS["OK"],
    "ok": LOOKS["OK"],
}

STATE_CSS = """
    &> .{name}--down {{ background: $error; color: $text; text-style: bold; }}
    &> .{name}--critical {{ background: $error 70%; color: $text; text-style: bold; }}
    &> .{name}--warning {{ background: $warning 70%; color: $text; }}
    &> .{name}--unknown {{ background: $secondary 60%; color: $text; }}
    &> .{name}--unreachable {{ background: $primary 40%; color: $text; }}
    &> .{name}--ok {{ color: $success; }}
    &> .{name}--pending {{ color: $text-muted; }}
"""
"""Default state colours for a widget named ``name`` (its component classes)."""


def look(state: str) -> StateLook:
    return LOOKS.get(state.upper(), UNKNOWN_LOOK)


def severity_look(severity: str) -> StateLook:
    return SEVERITY_LOOKS.get(severity.lower(), UNKNOWN_LOOK)


def state_components(name: str) -> set[str]:
    return {f"{name}--{look.component}" for look in LOOKS.values()}
