from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from noc.psa import (
    TicketNotFound,
    TimeEntryError,
    add_entry,
    create_ticket,
    edit_entry,
    exact_seconds,
    rounded_minutes,
    running_timer,
    start_timer,
    stop_timer,
    update_ticket,
)
from noc.storage import Store
from noc.storage.models import AuditLog, Event, Ticket, TimeEntry

from .conftest import Seed

REPO = Path(__file__).resolve().parents[2]


async def _ticket(store: Store, seed: Seed, title: str = "Mail is slow") -> Ticket:
    return await create_ticket(store, client_id=seed.client_id, title=title, actor="alice")


async def _kinds(store: Store) -> list[str]:
    """Ticket and time events in order (the seed's technician events are not the subject)."""
    async with store.read() as session:
        kinds = await session.scalars(select(Event.kind).order_by(Event.id))
        return [kind for kind in kinds if not kind.startswith("technician.")]


async def _running_rows(store: Store, technician_id: int) -> list[TimeEntry]:
    async with store.read() as session:
        return list(
            await session.scalars(
                select(TimeEntry).where(
                    TimeEntry.technician_id == technician_id, TimeEntry.ended_at.is_(None)
                )
            )
        )


@pytest.mark.parametrize(
    ("seconds", "increment", "minutes"),
    [
        (0, 1, 0),
        (1, 1, 1),
        (60, 1, 1),
        (60.0000001, 1, 1),
        (60.002, 1, 2),
        (0.0001, 1, 1),
        (61, 1, 2),
        (61, 6, 6),
        (360, 6, 6),
        (361, 6, 12),
        (3600, 15, 60),
        (-5, 1, 0),
    ],
)
def test_rounding_goes_up_to_the_increment(seconds: float, increment: int, minutes: int) -> None:
    assert rounded_minutes(seconds, increment) == minutes


def test_rounding_refuses_a_zero_increment() -> None:
    with pytest.raises(TimeEntryError, match="at least 1 minute"):
        rounded_minutes(60, 0)


async def test_timer_keeps_exact_seconds_and_bills_rounded_minutes(
    store: Store, seed: Seed
) -> None:
    ticket = await _ticket(store, seed)
    switch = await start_timer(store, seed.alice, ticket.id, work_type="Phone", now=1000.0)
    assert switch.stopped is None
    assert switch.started.ended_at is None and switch.started.work_type == "phone"
    running = await running_timer(store, seed.alice)
    assert running is not None and running.id == switch.started.id
    stopped = await stop_timer(store, seed.alice, increment_min=6, now=1000.0 + 7 * 60 + 1)
    assert stopped is not None
    assert (stopped.minutes, exact_seconds(stopped)) == (12, 421.0)
    assert await running_timer(store, seed.alice) is None
    assert await stop_timer(store, seed.alice) is None
    assert await _kinds(store) == ["ticket.created", "time.started", "time.stopped"]


async def test_starting_a_timer_stops_the_running_one(store: Store, seed: Seed) -> None:
    first, second = await _ticket(store, seed, "one"), await _ticket(store, seed, "two")
    await start_timer(store, seed.alice, first.id, now=0.0)
    await start_timer(store, seed.bob, first.id, now=30.0)
    switch = await start_timer(store, seed.alice, second.id, now=150.0)
    assert switch.stopped is not None
    assert (switch.stopped.ticket_id, switch.stopped.ended_at, switch.stopped.minutes) == (
        first.id,
        150.0,
        3,
    )
    assert [e.ticket_id for e in await _running_rows(store, seed.alice.id)] == [second.id]
    assert [e.ticket_id for e in await _running_rows(store, seed.bob.id)] == [first.id]


async def test_two_consoles_starting_at_once_leave_one_timer_running(
    store: Store, other_store: Store, seed: Seed
) -> None:
    tickets = [await _ticket(store, seed, f"t{i}") for i in range(4)]
    await asyncio.gather(
        *(
            start_timer(store if i % 2 else other_store, seed.alice, t.id)
            for i, t in enumerate(tickets)
        )
    )
    assert len(await _running_rows(store, seed.alice.id)) == 1
    async with store.read() as session:
        entries = list(await session.scalars(select(TimeEntry)))
    assert len(entries) == 4
    assert sum(e.ended_at is None for e in entries) == 1


async def test_timer_refuses_closed_tickets_and_unknown_ones(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    await update_ticket(store, ticket.id, 1, "alice", status="closed")
    with pytest.raises(TimeEntryError, match="is closed; reopen it to log time"):
        await start_timer(store, seed.alice, ticket.id)
    with pytest.raises(TicketNotFound):
        await start_timer(store, seed.alice, 999)
    with pytest.raises(TimeEntryError, match="work type 'gardening'"):
        await start_timer(store, seed.alice, ticket.id, work_type="gardening")
    assert await running_timer(store, seed.alice) is None


KILLED_CONSOLE = textwrap.dedent(
    """
    import asyncio, sys, time
    from noc.psa import ensure_technician, start_timer
    from noc.storage import Store

    async def main() -> None:
        store = await Store.open(sys.argv[1])
        tech = await ensure_technician(store, "alice")
        switch = await start_timer(store, tech, int(sys.argv[2]))
        print(switch.started.id, flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_a_running_timer_survives_a_killed_console(
    store: Store, db_url: str, seed: Seed
) -> None:
    ticket = await _ticket(store, seed)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_CONSOLE,
        db_url,
        str(ticket.id),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == -signal.SIGKILL
    await store.close()
    reopened = await Store.open(db_url)
    try:
        running = await running_timer(reopened, seed.alice)
        assert running is not None
        assert (running.id, running.ticket_id) == (int(line), ticket.id)
        stopped = await stop_timer(reopened, seed.alice)
        assert stopped is not None and stopped.minutes >= 1
    finally:
        await reopened.close()


async def test_manual_entries_end_now_unless_told(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    entry = await add_entry(store, seed.bob, ticket.id, 25, note="remote fix", now=10_000.0)
    assert (entry.started_at, entry.ended_at, entry.minutes) == (8_500.0, 10_000.0, 25.0)
    dated = await add_entry(
        store, seed.bob, ticket.id, 90, False, "travel", "to site", started_at=500.0
    )
    assert (dated.ended_at, dated.billable, dated.work_type) == (5_900.0, False, "travel")
    assert exact_seconds(dated) == 5_400.0
    await update_ticket(store, ticket.id, 1, "alice", status="closed")
    late = await add_entry(store, seed.bob, ticket.id, 5)
    assert late.ticket_id == ticket.id
    assert (await _kinds(store)).count("time.added") == 3


@pytest.mark.parametrize(
    ("minutes", "work_type", "message"),
    [
        (0, "remote", "0 minutes: must be more than zero"),
        (-5, "remote", "-5 minutes: must be more than zero"),
        (float("nan"), "remote", "must be more than zero"),
        (24 * 60 + 1, "remote", "more than 24 hours"),
        (10, "gardening", "work type 'gardening': expected one of remote, onsite"),
    ],
)
async def test_manual_entries_are_checked(
    store: Store, seed: Seed, minutes: float, work_type: str, message: str
) -> None:
    ticket = await _ticket(store, seed)
    with pytest.raises(TimeEntryError, match=message):
        await add_entry(store, seed.bob, ticket.id, minutes, work_type=work_type)


async def test_edits_are_audited_and_leave_the_measured_time(store: Store, seed: Seed) -> None:
    first, second = await _ticket(store, seed, "one"), await _ticket(store, seed, "two")
    entry = await add_entry(store, seed.bob, first.id, 25, now=10_000.0)
    edited = await edit_entry(
        store, entry.id, "alice", minutes=30, billable=False, ticket_id=second.id, note="moved"
    )
    assert (edited.minutes, edited.billable, edited.ticket_id) == (30.0, False, second.id)
    assert (edited.started_at, edited.ended_at) == (8_500.0, 10_000.0)
    async with store.read() as session:
        audit = (
            await session.scalars(select(AuditLog).where(AuditLog.action == "time.edited"))
        ).one()
    assert audit.actor == "alice"
    assert audit.detail["changes"] == {
        "minutes": [25.0, 30.0],
        "billable": [True, False],
        "ticket_id": [first.id, second.id],
        "note": ["", "moved"],
    }
    unchanged = await edit_entry(store, entry.id, "alice", minutes=30)
    assert unchanged.minutes == 30.0
    assert (await _kinds(store)).count("time.edited") == 1


async def test_edits_refuse_what_would_corrupt_an_entry(store: Store, seed: Seed) -> None:
    ticket = await _ticket(store, seed)
    switch = await start_timer(store, seed.alice, ticket.id)
    with pytest.raises(TimeEntryError, match="cannot change minutes while the timer runs"):
        await edit_entry(store, switch.started.id, "alice", minutes=10)
    noted = await edit_entry(store, switch.started.id, "alice", note="on the phone")
    assert noted.note == "on the phone" and noted.ended_at is None
    with pytest.raises(TimeEntryError, match="cannot change started_at"):
        await edit_entry(store, switch.started.id, "alice", started_at=0.0)
    with pytest.raises(TicketNotFound):
        await edit_entry(store, switch.started.id, "alice", ticket_id=999)
    with pytest.raises(TimeEntryError, match="time entry 999 does not exist"):
        await edit_entry(store, 999, "alice", note="x")
