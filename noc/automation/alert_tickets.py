"""Alert to ticket: a new critical alert opens a ticket, its recovery is noted on it.

Configured by ``[[tickets]]`` entries of the rules file (see ``noc.notify.rules``). The work is
planned like a notification — an outbox row on the ``@ticket`` channel, written by the same
level-triggered planner and gated the same way (no ticket for an alert in maintenance) — and
carried out here when the notifier delivers that row. So the outbox is also the record that a
ticket was opened or a recovery noted, and nothing is done twice for one alert; a crash after
the ticket write and before the row is marked may repeat a note, never a ticket (an alert can
be linked to one ticket only).

* an alert of a device that already has an active ticket is linked to that ticket, with a
  note, instead of opening another (one failing switch is one piece of work);
* the recovery is noted on whatever ticket the alert is linked to, also one a technician
  linked by hand; with ``auto_resolve`` the ticket is resolved once none of its alerts is
  still open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from noc.errors import NocError, StoreError
from noc.notify.errors import DeliveryError
from noc.notify.formats import RESOLVED, title
from noc.notify.outbox import Claimed, Placed, load_placed
from noc.notify.plain import plain
from noc.notify.rules import RuleSet, TicketRule
from noc.psa import TicketConflict, add_note, create_ticket, update_ticket
from noc.psa.journal import record
from noc.psa.tickets import ACTIVE_STATUSES
from noc.storage.models import Alert, Device, Site, Ticket
from noc.storage.store import Store

ACTOR = "automation"
LINKED_EVENT = "alert.ticket_linked"
RESOLVE_TRIES = 3


@dataclass(frozen=True, slots=True)
class _Subject:
    placed: Placed
    client_id: int


async def _subject(session: AsyncSession, alert_id: int) -> _Subject:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise DeliveryError(f"alert {alert_id} no longer exists", retry=False)
    placed = await load_placed(session, open_=None, alert_ids=[alert_id])
    client_id = await session.scalar(
        select(Site.client_id)
        .join(Device, Device.site_id == Site.id)
        .where(Device.id == alert.device_id)
    )
    if not placed or client_id is None:
        raise DeliveryError(f"alert {alert_id} has no device of a client", retry=False)
    return _Subject(placed[0], int(client_id))


def _describe(placed: Placed) -> str:
    a = placed.alert
    lines = [
        f"Alert #{a.id}: {plain(a.condition, 100)} is {a.severity}",
        f"Device: {plain(placed.device, 200)}",
        f"Summary: {plain(a.summary, 1000)}" if a.summary else "",
    ]
    return "\n".join(line for line in lines if line)


async def open_for_alert(
    store: Store, alert_id: int, rule: TicketRule, *, now: float | None = None
) -> str:
    """Open a ticket for the alert, or link it to its device's active ticket with a note."""
    ts = time.time() if now is None else now
    async with store.read() as session:
        subject = await _subject(session, alert_id)
        alert = subject.placed.alert
        if alert.ticket_id is not None:
            number = await session.scalar(select(Ticket.number).where(Ticket.id == alert.ticket_id))
            return f"alert {alert_id} is already on ticket #{number}"
        existing = await session.scalar(
            select(Ticket)
            .where(Ticket.device_id == alert.device_id, Ticket.status.in_(ACTIVE_STATUSES))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(1)
        )
    message = subject.placed.message("alert.opened", rule.name, 0)
    if existing is None:
        ticket = await create_ticket(
            store,
            client_id=subject.client_id,
            title=title(message),
            description=_describe(subject.placed),
            priority=rule.priority,
            device_id=alert.device_id,
            actor=ACTOR,
            alert_id=alert_id,
            now=ts,
        )
        return f"opened ticket #{ticket.number}"
    await _link(store, alert, existing, ts)
    await add_note(
        store,
        existing.id,
        ACTOR,
        "Another alert on this device.\n" + _describe(subject.placed),
        now=ts,
    )
    return f"noted on ticket #{existing.number}"


async def _link(store: Store, alert: Alert, ticket: Ticket, ts: float) -> None:
    async with store.write() as session:
        result = await session.execute(
            update(Alert)
            .where(Alert.id == alert.id, Alert.ticket_id.is_(None))
            .values(ticket_id=ticket.id),
            execution_options={"synchronize_session": False},
        )
        if not getattr(result, "rowcount", 0):
            return  # linked meanwhile, by hand or by another worker
        await record(
            store,
            session,
            kind=LINKED_EVENT,
            actor=ACTOR,
            object_type="alert",
            object_id=alert.id,
            ticket_id=ticket.id,
            data={"alert_id": alert.id, "number": ticket.number},
            now=ts,
        )


async def note_recovery(
    store: Store, alert_id: int, rule: TicketRule, *, now: float | None = None
) -> str:
    """Note the recovery on the alert's ticket; resolve it when asked and nothing is open."""
    ts = time.time() if now is None else now
    async with store.read() as session:
        subject = await _subject(session, alert_id)
        alert = subject.placed.alert
        if alert.ticket_id is None:
            return f"alert {alert_id} has no ticket"
        ticket_id = alert.ticket_id
        still_open = int(
            await session.scalar(
                select(func.count())
                .select_from(Alert)
                .where(Alert.ticket_id == ticket_id, Alert.resolved_at.is_(None))
            )
            or 0
        )
    resolved = alert.resolved_at or ts
    lasted = max(0.0, resolved - alert.first_seen)
    body = (
        f"Recovered: alert #{alert.id} ({plain(alert.condition, 100)} on "
        f"{plain(subject.placed.device, 200)}) resolved after {_duration(lasted)}."
    )
    await add_note(store, ticket_id, ACTOR, body, now=ts)
    if not rule.auto_resolve:
        return "noted the recovery"
    if still_open:
        return f"noted the recovery; {still_open} other alert(s) still open on the ticket"
    return await _resolve(store, ticket_id, ts)


async def _resolve(store: Store, ticket_id: int, ts: float) -> str:
    for _ in range(RESOLVE_TRIES):
        async with store.read() as session:
            ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return "noted the recovery; the ticket is gone"
        if ticket.status not in ACTIVE_STATUSES:
            return f"noted the recovery; ticket #{ticket.number} is already {ticket.status}"
        try:
            await update_ticket(store, ticket_id, ticket.version, ACTOR, status="resolved", now=ts)
        except TicketConflict:
            continue  # a technician changed it meanwhile: read it again
        return f"noted the recovery and resolved ticket #{ticket.number}"
    raise DeliveryError(f"ticket {ticket_id} kept changing while being resolved")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


class TicketSender:
    """Carries out ``@ticket`` outbox rows for the notifier."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def send(self, row: Claimed, rules: RuleSet) -> str:
        rule = rules.ticket_rule(row.rule)
        if rule is None:
            raise DeliveryError(f"ticket rule {row.rule!r} is not in the rules file", retry=False)
        if row.alert_id is None:
            raise DeliveryError("the alert of this row was deleted", retry=False)
        try:
            if row.kind == RESOLVED:
                return await note_recovery(self.store, row.alert_id, rule, now=self.clock())
            return await open_for_alert(self.store, row.alert_id, rule, now=self.clock())
        except DeliveryError:
            raise
        except StoreError as exc:
            raise DeliveryError(str(exc)) from None
        except NocError as exc:  # the service desk refused: the same call would be refused again
            raise DeliveryError(str(exc), retry=False) from None
