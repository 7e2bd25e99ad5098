from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from noc.psa import (
    PsaError,
    TicketConflict,
    TicketError,
    TicketNotFound,
    add_entry,
    add_note,
    create_ticket,
    ensure_technician,
    ticket_detail,
    ticket_queue,
    update_ticket,
)
from noc.storage import Store
from noc.storage.models import Alert, AuditLog, Event, Technician, Ticket

from .conftest import Seed


async def _events(store: Store, kind: str) -> list[Event]:
    async with store.read() as session:
        return list(await session.scalars(select(Event).where(Event.kind == kind)))


async def _count(store: Store, model: type[object]) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _ticket(store: Store, seed: Seed, title: str = "VPN down", **kw: object) -> Ticket:
    return await create_ticket(
        store,
        client_id=seed.client_id,
        title=title,
        actor="alice",
        **kw,  # type: ignore[arg-type]
    )


# creation ---------------------------------------------------------------------------------


async def test_create_numbers_tickets_and_journals_them(store: Store, seed: Seed) -> None:
    first = await _ticket(store, seed, "  VPN   down\n", device_id=seed.device_id, priority="p2")
    second = await _ticket(store, seed, "Printer jam")
    assert (first.number, second.number) == (1, 2)
    assert first.title == "VPN down" and first.priority == "P2"
    assert (first.status, first.version, first.responded_at) == ("new", 1, None)
    events = await _events(store, "ticket.created")
    assert [(e.ticket_id, e.actor, e.data["number"]) for e in events] == [
        (first.id, "alice", 1),
        (second.id, "alice", 2),
    ]
    async with store.read() as session:
        audit = list(
            await session.scalars(
                select(AuditLog).where(AuditLog.object_type == "ticket").order_by(AuditLog.id)
            )
        )
    assert [(a.action, a.object_type, a.object_id) for a in audit] == [
        ("ticket.created", "ticket", str(first.id)),
        ("ticket.created", "ticket", str(second.id)),
    ]


async def test_create_links_the_alert_in_the_same_transaction(store: Store, seed: Seed) -> None:
    async with store.write() as session:
        alert = Alert(
            dedup_key="acme-fw/ping",
            device_id=seed.device_id,
            condition="down",
            severity="critical",
            first_seen=1.0,
            last_seen=1.0,
        )
        session.add(alert)
        await session.flush()
        alert_id = alert.id
    ticket = await _ticket(store, seed, alert_id=alert_id, device_id=seed.device_id)
    async with store.read() as session:
        assert (await session.get(Alert, alert_id)).ticket_id == ticket.id  # type: ignore[union-attr]
    with pytest.raises(TicketError, match=f"alert {alert_id} already has ticket {ticket.id}"):
        await _ticket(store, seed, alert_id=alert_id)
    assert await _count(store, Ticket) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_id": 999}, "client 999 does not exist"),
        ({"device_id": 999}, "device 999 does not exist"),
        ({"alert_id": 999}, "alert 999 does not exist"),
        ({"priority": "urgent"}, "priority 'urgent': expected one of P1, P2, P3, P4"),
        ({"title": " \t"}, "ticket title is empty"),
        ({"title": "x" * 301}, "longer than 300"),
    ],
)
async def test_create_refuses_bad_input_and_writes_nothing(
    store: Store, seed: Seed, changes: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"client_id": seed.client_id, "title": "t", "actor": "alice"}
    with pytest.raises(TicketError, match=message):
        await create_ticket(store, **{**args, **changes})  # type: ignore[arg-type]
    assert await _count(store, Ticket) == 0
    assert await _events(store, "ticket.created") == []


async def test_create_refuses_another_clients_device(store: Store, seed: Seed) -> None:
    with pytest.raises(TicketError, match="belongs to another client"):
        await _ticket(store, seed, device_id=seed.other_device_id)


async def test_concurrent_creates_from_two_stores_get_distinct_numbers(
    store: Store, other_store: Store, seed: Seed
) -> None:
    async def create(on: Store, i: int) -> int:
        return (await _ticket(on, seed, f"ticket {i}")).number

    numbers = await asyncio.gather(*(create(store if i % 2 else other_store, i) for i in range(10)))
    assert sorted(numbers) == list(range(1, 11))


# optimistic locking -----------------------------------------------------------------------


async def test_stale_version_is_refused_and_carries_the_current_ticket(
    store: Store, seed: Seed
) -> None:
    ticket = await _ticket(store, seed)
    won = await update_ticket(store, ticket.id, 1, "alice", title="VPN down at HQ")
    assert won.version == 2
    with pytest.raises(TicketConflict) as caught:
        await update_ticket(store, ticket.id, 1, "bob", priority="P1")
    assert caught.value.current.version == 2
    assert caught.value.current.title == "VPN down at HQ"
    assert "you read version 1, it is now 2" in str(caught.value)
    detail = await ticket_detail(store, ticket.id)
    assert (detail.ticket.priority, detail.ticket.version) == ("P3", 2)
    assert len(await _events(store, "ticket.updated")) == 1


async def test_two_concurrent_updates_of_one_version_exactly_one_wins(
    store: Store, other_store: Store, seed: Seed
) -> None:
    ticket = await _ticket(store, seed)
    results = await asyncio.gather(
        update_ticket(store, ticket.id, 1, "alice", title="from alice", status="open"),
        update_ticket(other_store, ticket.id, 1, "bob", title="from bob", priority="P1"),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Ticket)]
    losers = [r for r in results if isinstance(r, TicketConflict)]
    assert (len(winners), len(losers)) == (1, 1), results
    final = (await ticket_detail(store, ticket.id)).ticket
    assert final.version == 2
    assert final.title == winners[0].title
    # The loser's other field never sneaked in alongside the winner's.
    assert (final.status, final.priority) in {("open", "P3"), ("new", "P1")}
    assert losers[0].current.version == 2
    assert len(await _events(store, "ticket.updated")) == 1


async def _wait_for_lock_waiter(store: Store) -> None:
    """On PostgreSQL, until some backend waits on a row lock: the guarded UPDATE is blocked."""
    if store.sqlite:
        await asyncio.sleep(0.2)  # SQLite queues at BEGIN IMMEDIATE; the outcome is the same
        return
    for _ in range(200):
        async with store.read() as session:
            waiting = await session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
        if waiting:
            return
        await asyncio.sleep(0.025)
    pytest.fail("the update never blocked on the row lock")


async def test_a_writer_that_commits_while_the_update_waits_makes_it_conflict(
    store: Store, other_store: Store, seed: Seed
) -> None:
    """The read saw the expected version; only the guarded UPDATE can notice the other commit."""
    ticket = await _ticket(store, seed)
    async with other_store.write() as session:
        await session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id)
            .values(title="renamed elsewhere", version=Ticket.version + 1)
        )
        pending = asyncio.create_task(update_ticket(store, ticket.id, 1, "alice", priority="P1"))
        await _wait_for_lock_waiter(other_store)
        assert not pending.done()
    with pytest.raises(TicketConflict) as caught:
        await asyncio.wait_for(pending, 15)
    assert caught.value.current.title == "renamed elsewhere"
    final = (await ticket_detail(store, ticket.id)).ticket
    assert (final.priority, final.version) == ("P3", 2)


async def test_update_without_changes_writes_nothing(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    same = await update_ticket(store, ticket.id, 1, "alice", title="VPN down", priority="P3")
    assert same.version == 1
    assert await _events(store, "ticket.updated") == []


async def test_update_refuses_unknown_fields_and_tickets(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    with pytest.raises(TicketError, match="cannot change number"):
        await update_ticket(store, ticket.id, 1, "alice", number=7)
    with pytest.raises(TicketNotFound, match="ticket 999 does not exist"):
        await update_ticket(store, 999, 1, "alice", status="open")


# status rules -----------------------------------------------------------------------------


async def test_status_moves_set_the_sla_clocks(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed, now=1000.0)
    t = await update_ticket(store, ticket.id, 1, "alice", status="in_progress", now=1060.0)
    assert (t.responded_at, t.resolved_at, t.updated_at) == (1060.0, None, 1060.0)
    with pytest.raises(TicketError, match="cannot go from in_progress to new"):
        await update_ticket(store, t.id, t.version, "alice", status="new")
    t = await update_ticket(store, t.id, t.version, "alice", status="resolved", now=1200.0)
    assert (t.responded_at, t.resolved_at) == (1060.0, 1200.0)
    t = await update_ticket(store, t.id, t.version, "alice", status="closed", now=1300.0)
    assert t.resolved_at == 1200.0  # closing a resolved ticket keeps when it was resolved
    with pytest.raises(TicketError, match=r"from closed to in_progress \(allowed: open\)"):
        await update_ticket(store, t.id, t.version, "alice", status="in_progress")
    t = await update_ticket(store, t.id, t.version, "alice", status="open", now=1400.0)
    assert (t.status, t.resolved_at, t.responded_at) == ("open", None, 1060.0)
    with pytest.raises(TicketError, match="status 'done'"):
        await update_ticket(store, t.id, t.version, "alice", status="done")


async def test_closing_an_unresolved_ticket_stamps_resolution(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    t = await update_ticket(store, ticket.id, 1, "alice", status="closed", now=5000.0)
    assert (t.resolved_at, t.responded_at) == (5000.0, 5000.0)


async def test_only_a_public_note_is_a_first_response(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    await add_note(store, ticket.id, "alice", "checked the logs", now=2000.0)
    assert (await ticket_detail(store, ticket.id)).ticket.responded_at is None
    await add_note(store, ticket.id, "bob", "We are on it.", internal=False, now=2100.0)
    await add_note(store, ticket.id, "bob", "Still on it.", internal=False, now=2200.0)
    detail = await ticket_detail(store, ticket.id)
    assert detail.ticket.responded_at == 2100.0
    assert detail.ticket.version == 1  # notes never make someone else's edit conflict
    assert [(n.author, n.internal) for n in detail.notes] == [
        ("alice", True),
        ("bob", False),
        ("bob", False),
    ]
    assert len(await _events(store, "ticket.note")) == 3
    with pytest.raises(TicketError, match="note is empty"):
        await add_note(store, ticket.id, "bob", "  ")


async def test_assignment_by_login(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    with pytest.raises(TicketError, match="technician 'carol' does not exist"):
        await update_ticket(store, ticket.id, 1, "alice", assignee="carol")
    t = await update_ticket(store, ticket.id, 1, "alice", assignee="bob")
    assert t.assignee_id == seed.bob.id
    t = await update_ticket(store, ticket.id, 2, "alice", assignee=None)
    assert t.assignee_id is None
    changes = [e.data["changes"] for e in await _events(store, "ticket.updated")]
    assert changes == [{"assignee": [None, seed.bob.id]}, {"assignee": [seed.bob.id, None]}]


# technicians ------------------------------------------------------------------------------


async def test_ensure_technician_is_idempotent_across_stores(
    store: Store, other_store: Store
) -> None:
    created = await asyncio.gather(
        ensure_technician(store, "carol"), ensure_technician(other_store, "carol", "Carol C")
    )
    assert created[0].id == created[1].id
    again = await ensure_technician(store, " carol ", "Someone Else")
    assert (again.id, again.name) == (created[0].id, "Carol C")
    assert await _count(store, Technician) == 1
    assert [e.actor for e in await _events(store, "technician.created")] == ["carol"]
    with pytest.raises(PsaError, match="only printable characters, no spaces"):
        await ensure_technician(store, "carol c")


# queries ----------------------------------------------------------------------------------


async def test_queue_views_sort_by_priority_then_age(store: Store, seed: Seed) -> None:
    async def make(title: str, priority: str, at: float, client: int | None = None) -> Ticket:
        return await create_ticket(
            store,
            client_id=client or seed.client_id,
            title=title,
            priority=priority,
            actor="alice",
            now=at,
        )

    old_p3 = await make("old P3", "P3", 100.0)
    new_p1 = await make("new P1", "P1", 300.0)
    old_p1 = await make("old P1", "P1", 200.0)
    other = await make("globex P2", "P2", 50.0, seed.other_client_id)
    done = await make("done P1", "P1", 10.0)
    await update_ticket(store, done.id, 1, "alice", status="resolved")
    await update_ticket(store, new_p1.id, 1, "alice", assignee="alice")
    await update_ticket(store, old_p3.id, 1, "alice", assignee="bob")

    async def titles(**kw: object) -> list[str]:
        return [t.title for t in await ticket_queue(store, **kw)]  # type: ignore[arg-type]

    assert await titles(view="all") == ["old P1", "new P1", "globex P2", "old P3"]
    assert await titles(view="mine", technician=seed.alice) == ["new P1"]
    assert await titles(view="unassigned") == ["old P1", "globex P2"]
    assert await titles(view="all", client_id=seed.other_client_id) == [other.title]
    assert await titles(view="all", priority="p1") == ["old P1", "new P1"]
    assert await titles(view="all", status="resolved") == ["done P1"]
    assert await titles(view="all", status=["new", "resolved"]) == [
        "done P1",
        "old P1",
        "new P1",
        "globex P2",
        "old P3",
    ]
    assert old_p1.number == 3
    with pytest.raises(TicketError, match="needs a technician"):
        await ticket_queue(store, view="mine", technician=None)


async def test_detail_gathers_notes_time_and_logins(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed, device_id=seed.device_id)
    await update_ticket(store, ticket.id, 1, "alice", assignee="alice")
    await add_note(store, ticket.id, "alice", "rebooted")
    await add_entry(store, seed.bob, ticket.id, 25, note="remote fix")
    await add_entry(store, seed.alice, ticket.id, 10, billable=False)
    detail = await ticket_detail(store, ticket.id)
    assert detail.client.code == "acme"
    assert detail.device is not None and detail.device.name == "acme-fw"
    assert [n.body for n in detail.notes] == ["rebooted"]
    assert len(detail.time_entries) == 2
    assert (detail.minutes, detail.billable_minutes) == (35, 25)
    assert detail.logins == {seed.alice.id: "alice", seed.bob.id: "bob"}
    with pytest.raises(TicketNotFound):
        await ticket_detail(store, 999)


def test_the_service_desk_never_imports_textual() -> None:
    probe = "import sys, noc.psa; print('textual' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
