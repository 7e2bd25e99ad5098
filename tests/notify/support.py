"""Seed data and the notification gate for the notify, automation and CLI tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from noc.notify.gate import Gate, GateLoader, alerting_gate
from noc.storage import Store
from noc.storage.models import Alert, Client, Device, Notification, Site

T0 = 1_800_000_000.0
"""The tests' "now" at which the seeded alerts open (a fixed time: no test reads the clock)."""


@dataclass(frozen=True)
class Seed:
    acme: int
    globex: int
    hq: int
    fw: int
    """acme-fw, at Acme's HQ."""
    sw: int
    """acme-sw, also at Acme's HQ."""
    plant: int
    gsw: int
    """globex-sw, at Globex's plant."""


async def seed_inventory(store: Store) -> Seed:
    async with store.write() as session:
        acme, globex = Client(code="acme", name="Acme"), Client(code="globex", name="Globex")
        session.add_all([acme, globex])
        await session.flush()
        hq = Site(client_id=acme.id, code="hq", name="HQ")
        plant = Site(client_id=globex.id, code="plant", name="Plant")
        session.add_all([hq, plant])
        await session.flush()
        devices = [
            Device(site_id=site.id, name=name, address=address, address_key=address)
            for site, name, address in (
                (hq, "acme-fw", "127.0.0.1"),
                (hq, "acme-sw", "127.0.0.2"),
                (plant, "globex-sw", "127.0.0.3"),
            )
        ]
        session.add_all(devices)
        await session.flush()
        fw, sw, gsw = (d.id for d in devices)
        return Seed(acme.id, globex.id, hq.id, fw, sw, plant.id, gsw)


async def open_alert(
    store: Store,
    device_id: int | None,
    *,
    severity: str = "critical",
    condition: str = "cpu",
    summary: str = "cpu 97% > 90%",
    first_seen: float = T0,
) -> int:
    """An alert as the evaluator writes one (the evaluator itself is another package's)."""
    async with store.write() as session:
        alert = Alert(
            dedup_key=f"{device_id}:-:{condition}",
            device_id=device_id,
            condition=condition,
            severity=severity,
            summary=summary,
            first_seen=first_seen,
            last_seen=first_seen,
            data={},
        )
        session.add(alert)
        await session.flush()
        return alert.id


async def change_alert(store: Store, alert_id: int, **values: object) -> None:
    async with store.write() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        for key, value in values.items():
            setattr(alert, key, value)


async def notifications(store: Store) -> list[Notification]:
    async with store.read() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


GATE: GateLoader = alerting_gate
"""The evaluator's own ``should_notify``, with the maintenance windows read per pass."""


def open_gate_loader() -> GateLoader:
    """A gate that lets everything through: for tests about delivery, not about suppression."""

    async def load(session: AsyncSession, now: float, device_ids: Iterable[int]) -> Gate:
        return lambda alert, at: (True, "")

    return load
