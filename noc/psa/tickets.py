"""Tickets: numbering, status rules, optimistic locking, notes and the work queues.

Several consoles (and the alert automation) write the same tickets, so every change here is one
write transaction that also appends its event and audit row. Two rules keep concurrent writers
honest on both SQLite and PostgreSQL:

* Numbers are ``max + 1`` taken while holding the store's write serialisation: SQLite's
  ``BEGIN IMMEDIATE`` lock, or on PostgreSQL the transaction-level advisory lock that event
  inserts take anyway. Taking that same lock first means numbering adds no lock of its own and so
  no lock-order deadlock with any other writer, and no number is ever handed out twice.
* Edits name the ``version`` they read. The ``UPDATE`` matches on it; zero rows means someone
  else came first and the caller gets ``TicketConflict`` with the current ticket: never a silent
  lost update. Under PostgreSQL's READ COMMITTED the blocked ``UPDATE`` re-checks the version
  after the other writer commits, which is what makes the single statement enough.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from noc.psa.errors import TicketConflict, TicketError, TicketNotFound
from noc.psa.journal import record
from noc.psa.technicians import clean_login
from noc.storage.models import (
    Alert,
    Client,
    Device,
    Site,
    Technician,
    Ticket,
    TicketNote,
    TimeEntry,
)
from noc.storage.store import EVENTS_LOCK_KEY, Store

PRIORITIES = ("P1", "P2", "P3", "P4")
"""P1 is the most urgent; the queue sorts on this text, so the names must sort in that order."""

STATUSES = ("new", "open", "in_progress", "waiting", "resolved", "closed")
ACTIVE_STATUSES = ("new", "open", "in_progress", "waiting")
DONE_STATUSES = ("resolved", "closed")

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"open", "in_progress", "waiting", "resolved", "closed"}),
    "open": frozenset({"in_progress", "waiting", "resolved", "closed"}),
    "in_progress": frozenset({"open", "waiting", "resolved", "closed"}),
    "waiting": frozenset({"open", "in_progress", "resolved", "closed"}),
    "resolved": frozenset({"open", "in_progress", "closed"}),
    "closed": frozenset({"open"}),
}
"""Nothing goes back to ``new`` (it means "nobody has looked yet"); a closed ticket can only be
reopened, so that its time is not booked against a ticket the client was told is finished."""

TITLE_MAX = 300
EDITABLE = frozenset({"status", "assignee", "priority", "title"})

View = Literal["mine", "unassigned", "all"]


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """Everything a ticket screen shows, read in one snapshot."""

    ticket: Ticket
    client: Client
    device: Device | None
    notes: list[TicketNote]
    time_entries: list[TimeEntry]
    logins: dict[int, str] = field(default_factory=dict)
    """Technician id to login, for the assignee and every time entry."""

    @property
    def minutes(self) -> float:
        return sum(entry.minutes for entry in self.time_entries if entry.ended_at is not None)

    @property
    def billable_minutes(self) -> float:
        return sum(
            entry.minutes
            for entry in self.time_entries
            if entry.ended_at is not None and entry.billable
        )


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def clean_title(title: str) -> str:
    """Titles are one line: queues show them in a single row and they end up on invoices."""
    value = " ".join(title.split())
    if not value:
        raise TicketError("ticket title is empty")
    if len(value) > TITLE_MAX:
        raise TicketError(f"ticket title is longer than {TITLE_MAX} characters")
    return value


def clean_priority(priority: str) -> str:
    value = priority.strip().upper()
    if value not in PRIORITIES:
        raise TicketError(f"priority {priority!r}: expected one of {', '.join(PRIORITIES)}")
    return value


def check_transition(current: str, new: str) -> None:
    if new not in STATUSES:
        raise TicketError(f"status {new!r}: expected one of {', '.join(STATUSES)}")
    if new != current and new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise TicketError(f"status cannot go from {current} to {new} (allowed: {allowed})")


async def _serialise_writers(store: Store, session: AsyncSession) -> None:
    """On PostgreSQL, queue behind other event writers; SQLite's BEGIN IMMEDIATE already did."""
    if not store.sqlite:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK_KEY})


async def _check_links(
    session: AsyncSession, client_id: int, device_id: int | None, alert_id: int | None
) -> Alert | None:
    """Refuse dangling or cross-client links with a sentence instead of a constraint error."""
    if await session.get(Client, client_id) is None:
        raise TicketError(f"client {client_id} does not exist")
    if device_id is not None:
        owner = await session.scalar(
            select(Site.client_id)
            .join(Device, Device.site_id == Site.id)
            .where(Device.id == device_id)
        )
        if owner is None:
            raise TicketError(f"device {device_id} does not exist")
        if owner != client_id:
            raise TicketError(f"device {device_id} belongs to another client than {client_id}")
    if alert_id is None:
        return None
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise TicketError(f"alert {alert_id} does not exist")
    if alert.ticket_id is not None:
        raise TicketError(f"alert {alert_id} already has ticket {alert.ticket_id}")
    return alert


async def create_ticket(
    store: Store,
    *,
    client_id: int,
    title: str,
    actor: str,
    description: str = "",
    priority: str = "P3",
    device_id: int | None = None,
    alert_id: int | None = None,
    now: float | None = None,
) -> Ticket:
    """Open a ticket with the next number; with ``alert_id`` the alert is linked in the same
    transaction, so the automation can never leave an alert pointing at no ticket or two."""
    title = clean_title(title)
    priority = clean_priority(priority)
    actor = clean_login(actor)
    ts = _now(now)
    async with store.write() as session:
        await _serialise_writers(store, session)
        alert = await _check_links(session, client_id, device_id, alert_id)
        number = int(await session.scalar(select(func.coalesce(func.max(Ticket.number), 0))) or 0)
        ticket = Ticket(
            number=number + 1,
            client_id=client_id,
            device_id=device_id,
            title=title,
            description=description,
            priority=priority,
            status="new",
            created_at=ts,
            updated_at=ts,
            version=1,
        )
        session.add(ticket)
        await session.flush()
        if alert is not None:
            alert.ticket_id = ticket.id
        await record(
            store,
            session,
            kind="ticket.created",
            actor=actor,
            object_type="ticket",
            object_id=ticket.id,
            ticket_id=ticket.id,
            data={
                "number": ticket.number,
                "client_id": client_id,
                "device_id": device_id,
                "alert_id": alert_id,
                "priority": priority,
                "title": title,
            },
            now=ts,
        )
    return ticket


async def _load(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


def _conflict(session: AsyncSession, ticket: Ticket, expected_version: int) -> TicketConflict:
    """Detach the ticket first: the rollback that follows would otherwise expire it."""
    session.expunge(ticket)
    return TicketConflict(ticket, expected_version)


async def _assignee_id(session: AsyncSession, login: str | None) -> int | None:
    if login is None or not login.strip():
        return None
    found = await session.scalar(select(Technician.id).where(Technician.login == login.strip()))
    if found is None:
        raise TicketError(f"technician {login.strip()!r} does not exist")
    return int(found)


async def _planned_changes(
    session: AsyncSession, ticket: Ticket, changes: Mapping[str, Any], ts: float
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Column values to write and the ``{field: [old, new]}`` record, from validated changes.

    Side effects of a status move live here so that every caller gets the same SLA clocks:
    leaving ``new`` is the first response, entering ``resolved`` (or ``closed`` without having
    been resolved) stops the resolution clock, and reopening restarts it.
    """
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        editable = ", ".join(sorted(EDITABLE))
        raise TicketError(f"cannot change {', '.join(unknown)} (editable: {editable})")
    values: dict[str, Any] = {}
    diff: dict[str, list[Any]] = {}
    if "title" in changes:
        title = clean_title(str(changes["title"]))
        if title != ticket.title:
            values["title"], diff["title"] = title, [ticket.title, title]
    if "priority" in changes:
        priority = clean_priority(str(changes["priority"]))
        if priority != ticket.priority:
            values["priority"], diff["priority"] = priority, [ticket.priority, priority]
    if "assignee" in changes:
        assignee_id = await _assignee_id(session, changes["assignee"])
        if assignee_id != ticket.assignee_id:
            values["assignee_id"] = assignee_id
            diff["assignee"] = [ticket.assignee_id, assignee_id]
    if "status" in changes:
        status = str(changes["status"])
        check_transition(ticket.status, status)
        if status != ticket.status:
            values["status"], diff["status"] = status, [ticket.status, status]
            values.update(_status_clocks(ticket, status, ts))
    return values, diff


def _status_clocks(ticket: Ticket, status: str, ts: float) -> dict[str, Any]:
    clocks: dict[str, Any] = {}
    if ticket.status == "new":
        clocks["responded_at"] = func.coalesce(Ticket.responded_at, ts)
    if status == "resolved" or (status == "closed" and ticket.resolved_at is None):
        clocks["resolved_at"] = ts
    elif status in ACTIVE_STATUSES:
        clocks["resolved_at"] = None
    return clocks


async def update_ticket(
    store: Store,
    ticket_id: int,
    expected_version: int,
    actor: str,
    *,
    now: float | None = None,
    **changes: Any,
) -> Ticket:
    """Apply ``status``/``assignee`` (a login or None)/``priority``/``title`` changes.

    Raises ``TicketConflict`` when the ticket is no longer at ``expected_version``, whether that
    is seen on read or only when the guarded ``UPDATE`` matches nothing. A call that changes
    nothing writes nothing and returns the ticket as it is.
    """
    actor = clean_login(actor)
    ts = _now(now)
    async with store.write() as session:
        ticket = await _load(session, ticket_id)
        if ticket.version != expected_version:
            raise _conflict(session, ticket, expected_version)
        values, diff = await _planned_changes(session, ticket, changes, ts)
        if not values:
            return ticket
        result = cast(
            CursorResult[Any],
            await session.execute(
                update(Ticket)
                .where(Ticket.id == ticket_id, Ticket.version == expected_version)
                .values(**values, updated_at=ts, version=Ticket.version + 1),
                execution_options={"synchronize_session": False},
            ),
        )
        ticket = await _load(session, ticket_id)
        if result.rowcount != 1:
            raise _conflict(session, ticket, expected_version)
        await record(
            store,
            session,
            kind="ticket.updated",
            actor=actor,
            object_type="ticket",
            object_id=ticket.id,
            ticket_id=ticket.id,
            data={"number": ticket.number, "version": ticket.version, "changes": diff},
            now=ts,
        )
    return ticket


async def add_note(
    store: Store,
    ticket_id: int,
    author: str,
    body: str,
    internal: bool = True,
    *,
    now: float | None = None,
) -> TicketNote:
    """Notes never bump the version: two technicians writing notes at once must not conflict.

    A note the client sees (``internal=False``) is the first response if none happened yet.
    """
    author = clean_login(author)
    if not body.strip():
        raise TicketError("note is empty")
    ts = _now(now)
    async with store.write() as session:
        ticket = await _load(session, ticket_id)
        note = TicketNote(
            ticket_id=ticket_id, author=author, created_at=ts, body=body, internal=internal
        )
        session.add(note)
        touched: dict[str, Any] = {"updated_at": ts}
        if not internal:
            touched["responded_at"] = func.coalesce(Ticket.responded_at, ts)
        await session.execute(
            update(Ticket).where(Ticket.id == ticket_id).values(**touched),
            execution_options={"synchronize_session": False},
        )
        await session.flush()
        await record(
            store,
            session,
            kind="ticket.note",
            actor=author,
            object_type="ticket_note",
            object_id=note.id,
            ticket_id=ticket_id,
            data={"number": ticket.number, "note_id": note.id, "internal": internal},
            now=ts,
        )
    return note


async def ticket_queue(
    store: Store,
    *,
    view: View = "all",
    technician: Technician | None = None,
    client_id: int | None = None,
    status: str | Iterable[str] | None = None,
    priority: str | None = None,
    limit: int = 500,
) -> list[Ticket]:
    """The work queue: most urgent first, then oldest first, so the top row is what to do next.

    ``status=None`` means the active statuses: a queue is for work still to do.
    """
    query = select(Ticket)
    if view == "mine":
        if technician is None:
            raise TicketError("the 'mine' view needs a technician")
        query = query.where(Ticket.assignee_id == technician.id)
    elif view == "unassigned":
        query = query.where(Ticket.assignee_id.is_(None))
    elif view != "all":
        raise TicketError(f"view {view!r}: expected mine, unassigned or all")
    statuses = (
        ACTIVE_STATUSES
        if status is None
        else ((status,) if isinstance(status, str) else tuple(status))
    )
    for value in statuses:
        if value not in STATUSES:
            raise TicketError(f"status {value!r}: expected one of {', '.join(STATUSES)}")
    query = query.where(Ticket.status.in_(statuses))
    if client_id is not None:
        query = query.where(Ticket.client_id == client_id)
    if priority is not None:
        query = query.where(Ticket.priority == clean_priority(priority))
    query = query.order_by(Ticket.priority, Ticket.created_at, Ticket.id).limit(limit)
    async with store.read() as session:
        return list(await session.scalars(query))


async def ticket_detail(store: Store, ticket_id: int) -> TicketDetail:
    async with store.read() as session:
        ticket = await _load(session, ticket_id)
        client = await session.get(Client, ticket.client_id)
        if client is None:  # the foreign key cascades, so only a broken database gets here
            raise TicketError(f"ticket #{ticket.number}: client {ticket.client_id} is missing")
        device = None if ticket.device_id is None else await session.get(Device, ticket.device_id)
        notes = list(
            await session.scalars(
                select(TicketNote)
                .where(TicketNote.ticket_id == ticket_id)
                .order_by(TicketNote.created_at, TicketNote.id)
            )
        )
        entries = list(
            await session.scalars(
                select(TimeEntry)
                .where(TimeEntry.ticket_id == ticket_id)
                .order_by(TimeEntry.started_at, TimeEntry.id)
            )
        )
        ids = {entry.technician_id for entry in entries}
        if ticket.assignee_id is not None:
            ids.add(ticket.assignee_id)
        logins = {
            tid: login
            for tid, login in await session.execute(
                select(Technician.id, Technician.login).where(Technician.id.in_(ids))
            )
        }
    return TicketDetail(ticket, client, device, notes, entries, logins)
