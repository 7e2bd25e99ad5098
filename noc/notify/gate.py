"""May a notification about this alert go out now? The alerting package decides; we ask.

The rules (acknowledged, snoozed, in maintenance, held by flapping) belong to the evaluator:
``noc.alerting.alerts.should_notify(alert, now, maintenance) -> (bool, reason)``, with the
windows read once per planning pass by ``noc.alerting.maintenance.load_maintenance``. The
planner only needs the two small types below, so a test (or another policy) can hand in its
own gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from noc.alerting.alerts import should_notify
from noc.alerting.maintenance import load_maintenance
from noc.storage.models import Alert

Gate = Callable[[Alert, float], tuple[bool, str]]
"""(True, "") when a notification about the alert may go out at that time, else (False, why)."""


class GateLoader(Protocol):
    async def __call__(self, session: AsyncSession, now: float, device_ids: Iterable[int]) -> Gate:
        """A gate for one planning pass: whatever it needs is read once, in ``session``."""
        ...


async def alerting_gate(session: AsyncSession, now: float, device_ids: Iterable[int]) -> Gate:
    index = await load_maintenance(session, now, list(device_ids))

    def gate(alert: Alert, at: float) -> tuple[bool, str]:
        return should_notify(alert, at, index)

    return gate
