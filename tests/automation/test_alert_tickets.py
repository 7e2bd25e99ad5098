"""Alert to ticket, through the real planner and notifier: a ticket opens once, a second alert
of the same device is a note on it, the recovery is noted, and resolving it is optional."""

from __future__ import annotations

from sqlalchemy import func, select

from noc.config import NotifySettings
from noc.notify.delivery import Notifier
from noc.notify.outbox import plan_due
from noc.notify.rules import RuleSet, parse_rules
from noc.storage import Store
from noc.storage.models import Alert, MaintenanceWindow, Ticket, TicketNote
from tests.notify.support import GATE, T0, Seed, change_alert, notifications, open_alert

RULES = """\
[[tickets]]
name = "acme-critical"
clients = ["acme"]
min_severity = "critical"
priority = "P2"
auto_resolve = {auto}
"""


def rules(auto: bool = False) -> RuleSet:
    return parse_rules(RULES.format(auto=str(auto).lower()), "rules.toml")


async def cycle(store: Store, ruleset: RuleSet, now: float) -> int:
    """One planning pass and the deliveries it makes due; returns how many were carried out."""
    await plan_due(store, ruleset, now, gate=GATE)
    done = 0
    async with Notifier(
        store, NotifySettings(), rules=ruleset, gate=GATE, clock=lambda: now
    ) as notifier:
        while taken := await notifier.deliver_once():
            await notifier.drain()
            done += taken
    return done


async def tickets(store: Store) -> list[Ticket]:
    async with store.read() as session:
        return list(await session.scalars(select(Ticket).order_by(Ticket.id)))


async def notes(store: Store, ticket_id: int) -> list[str]:
    async with store.read() as session:
        return list(
            await session.scalars(
                select(TicketNote.body)
                .where(TicketNote.ticket_id == ticket_id)
                .order_by(TicketNote.id)
            )
        )


async def ticket_of(store: Store, alert_id: int) -> int | None:
    async with store.read() as session:
        return await session.scalar(select(Alert.ticket_id).where(Alert.id == alert_id))


async def test_a_new_critical_alert_opens_one_ticket(store: Store, seed: Seed) -> None:
    alert = await open_alert(store, seed.fw, summary="cpu 99%")
    assert await cycle(store, rules(), T0) == 1
    assert await cycle(store, rules(), T0 + 60) == 0  # re-run: nothing new
    (ticket,) = await tickets(store)
    assert (ticket.priority, ticket.client_id, ticket.device_id, ticket.status) == (
        "P2",
        seed.acme,
        seed.fw,
        "new",
    )
    assert ticket.title == "[CRITICAL] acme-fw: cpu"
    assert "cpu 99%" in ticket.description and f"Alert #{alert}" in ticket.description
    assert await ticket_of(store, alert) == ticket.id
    (row,) = await notifications(store)
    assert (row.channel, row.status, row.attempts) == ("@ticket", "sent", 1)


async def test_same_device_appends_a_note_other_scopes_open_nothing(
    store: Store, seed: Seed
) -> None:
    first = await open_alert(store, seed.fw)
    await cycle(store, rules(), T0)
    second = await open_alert(store, seed.fw, condition="disk", summary="disk 95%")
    await open_alert(store, seed.gsw)  # globex: not in the entry's clients
    await open_alert(store, seed.sw, severity="warning", condition="temp")  # below critical
    await cycle(store, rules(), T0 + 60)
    (ticket,) = await tickets(store)
    assert await ticket_of(store, first) == await ticket_of(store, second) == ticket.id
    (note,) = await notes(store, ticket.id)
    assert "Another alert on this device" in note and "disk 95%" in note
    other_device = await open_alert(store, seed.sw, condition="fan")
    await cycle(store, rules(), T0 + 120)
    assert len(await tickets(store)) == 2
    assert await ticket_of(store, other_device) == (await tickets(store))[1].id


async def test_recovery_is_noted_and_the_ticket_stays_open(store: Store, seed: Seed) -> None:
    alert = await open_alert(store, seed.fw)
    await cycle(store, rules(), T0)
    await change_alert(store, alert, resolved_at=T0 + 25 * 60)
    assert await cycle(store, rules(), T0 + 26 * 60) == 1
    assert await cycle(store, rules(), T0 + 27 * 60) == 0
    (ticket,) = await tickets(store)
    (note,) = await notes(store, ticket.id)
    assert note.startswith(f"Recovered: alert #{alert} (cpu on acme-fw) resolved after 25 min")
    assert ticket.status == "new"


async def test_auto_resolve_waits_for_the_last_alert(store: Store, seed: Seed) -> None:
    first = await open_alert(store, seed.fw)
    second = await open_alert(store, seed.fw, condition="disk")
    await cycle(store, rules(auto=True), T0)
    await change_alert(store, first, resolved_at=T0 + 600)
    await cycle(store, rules(auto=True), T0 + 610)
    (ticket,) = await tickets(store)
    assert ticket.status == "new"
    await change_alert(store, second, resolved_at=T0 + 900)
    await cycle(store, rules(auto=True), T0 + 910)
    (ticket,) = await tickets(store)
    assert (ticket.status, ticket.resolved_at) == ("resolved", T0 + 910)
    bodies = await notes(store, ticket.id)
    assert len(bodies) == 3 and bodies[0].startswith("Another alert on this device")
    assert all(body.startswith("Recovered:") for body in bodies[1:])


async def test_no_ticket_in_maintenance_but_one_if_it_outlasts_it(store: Store, seed: Seed):
    alert = await open_alert(store, seed.fw)
    async with store.write() as session:
        session.add(
            MaintenanceWindow(
                scope="client",
                scope_id=seed.acme,
                starts_at=T0 - 60,
                ends_at=T0 + 3600,
                reason="move",
            )
        )
    await cycle(store, rules(), T0)
    assert await tickets(store) == []
    (row,) = await notifications(store)
    assert row.status == "suppressed" and "maintenance" in row.payload["suppressed"]
    await cycle(store, rules(), T0 + 3601)
    assert len(await tickets(store)) == 1
    assert await ticket_of(store, alert) is not None


async def test_an_alert_already_on_a_ticket_gets_no_other(store: Store, seed: Seed) -> None:
    from noc.psa import create_ticket

    alert = await open_alert(store, seed.fw)
    await create_ticket(
        store,
        client_id=seed.acme,
        title="by hand",
        actor="bob",
        device_id=seed.fw,
        alert_id=alert,
    )
    await cycle(store, rules(), T0)
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
    (row,) = await notifications(store)
    assert row.status == "sent"
