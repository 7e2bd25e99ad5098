"""What every probe returns: plain, immutable data that knows nothing of the store or the UI."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class ProbeStatus(enum.StrEnum):
    OK = "ok"
    """The target answered; ``values`` holds what it said (thresholds judge it later)."""
    PARTIAL = "partial"
    """The target answered but lacked something asked for; ``missing`` says what."""
    FAILED = "failed"
    """The target did not answer in time or refused: it may be down."""
    ERROR = "error"
    """The check itself could not run (bad credentials, unknown host key, bad config)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: ProbeStatus
    values: dict[str, Any] = field(default_factory=dict)
    """Normalised metrics: numbers under dotted names (``cpu.load``, ``fs./var.used_pct``) and a
    few strings (``sys.descr``)."""
    rtt: float | None = None
    """Seconds for the probe's main exchange, when it has one."""
    error: str = ""
    """One line for a person: why the probe failed or what is missing."""
    missing: tuple[str, ...] = ()
    started: float = 0.0
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in (ProbeStatus.OK, ProbeStatus.PARTIAL)

    def numbers(self) -> dict[str, float]:
        """The numeric values only: what becomes samples."""
        return {
            k: float(v)
            for k, v in self.values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
