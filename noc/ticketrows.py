"""What the console's ticket screens draw, read in one go: queue rows and the running timer.

``noc.psa`` returns ORM tickets with ids; a screen wants the client's code and the assignee's
login beside them, so the names are read here in the same read transaction rather than one
query per row. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from noc.psa import find_technician, running_timer, ticket_queue
from noc.psa.tickets import View
from noc.storage.models import Client, Technician, Ticket
from noc.storage.store import Store


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    number: int
    priority: str
    status: str
    created_at: float
    client: str
    assignee: str
    """The assignee's login; empty when nobody has it."""
    title: str


@dataclass(frozen=True, slots=True)
class RunningTimer:
    """The technician's running timer, as the status bar shows it on every screen."""

    entry_id: int
    ticket_id: int
    number: int
    started_at: float


async def ticket_rows(store: Store, view: View, login: str) -> list[TicketRow]:
    """The queue for ``view``; "mine" is empty for a technician who has never been assigned."""
    technician = await find_technician(store, login)
    if view == "mine" and technician is None:
        return []
    tickets = await ticket_queue(store, view=view, technician=technician)
    client_ids = {t.client_id for t in tickets}
    tech_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
    async with store.read() as session:
        clients: dict[int, str] = {
            cid: code
            for cid, code in await session.execute(
                select(Client.id, Client.code).where(Client.id.in_(client_ids))
            )
        }
        logins: dict[int, str] = {
            tid: login
            for tid, login in await session.execute(
                select(Technician.id, Technician.login).where(Technician.id.in_(tech_ids))
            )
        }
    return [
        TicketRow(
            id=t.id,
            number=t.number,
            priority=t.priority,
            status=t.status,
            created_at=t.created_at,
            client=clients.get(t.client_id, "?"),
            assignee=logins.get(t.assignee_id, "") if t.assignee_id is not None else "",
            title=t.title,
        )
        for t in tickets
    ]


async def technician_timer(store: Store, login: str) -> RunningTimer | None:
    technician = await find_technician(store, login)
    if technician is None:
        return None
    entry = await running_timer(store, technician)
    if entry is None:
        return None
    async with store.read() as session:
        number = await session.scalar(select(Ticket.number).where(Ticket.id == entry.ticket_id))
    return RunningTimer(entry.id, entry.ticket_id, int(number or 0), entry.started_at)
