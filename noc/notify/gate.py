"""May a notification about this alert go out now? The alerting package decides; we ask.

The rules (acknowledged, snoozed, in maintenance, held by flapping) belong to the evaluator, in
``noc.alerting.alerts.should_notify(alert, now, maintenance) -> (bool, reason)`` with the
windows read once by ``noc.alerting.maintenance.load_maintenance``. The planner only needs the
two small protocols below, so a test (or another policy) can hand in its own gate.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from noc.notify.errors import NotifyError
from noc.storage.models import Alert

Gate = Callable[[Alert, float], tuple[bool, str]]
"""(True, "") when a notification about the alert may go out at that time, else (False, why)."""


class GateLoader(Protocol):
    async def __call__(self, session: AsyncSession, now: float, device_ids: Iterable[int]) -> Gate:
        """A gate for one planning pass: whatever it needs is read once, in ``session``."""
        ...


def _alerting() -> tuple[Any, Any]:
    try:
        alerts = importlib.import_module("noc.alerting.alerts")
        maintenance = importlib.import_module("noc.alerting.maintenance")
    except ImportError as exc:
        raise NotifyError(f"the evaluator's notification gate is unavailable: {exc}") from None
    return alerts.should_notify, maintenance.load_maintenance


async def alerting_gate(session: AsyncSession, now: float, device_ids: Iterable[int]) -> Gate:
    should_notify, load_maintenance = _alerting()
    index = await load_maintenance(session, now, list(device_ids))

    def gate(alert: Alert, at: float) -> tuple[bool, str]:
        allowed, reason = should_notify(alert, at, index)
        return bool(allowed), str(reason)

    return gate
