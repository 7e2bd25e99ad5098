"""Time entries and the one running timer per technician.

A running timer is just a ``time_entries`` row with ``ended_at`` NULL, committed when it starts:
a console that crashes or is killed loses nothing, and the timer is still running when the
technician comes back (from any console). Starting a timer stops the technician's running one
first, as PSAs do: people switch tickets far more often than they remember to press stop.

The measured interval (``started_at``..``ended_at``) is kept exact; ``minutes`` is what gets
billed, rounded *up* to the increment the MSP bills in (1 minute, 6 minutes...).

Every timer change first locks the technician's row (``SELECT ... FOR UPDATE``; a no-op on
SQLite, whose ``BEGIN IMMEDIATE`` already serialises writers), so two consoles of one technician
cannot both start a timer on PostgreSQL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from noc.psa.errors import TicketNotFound, TimeEntryError
from noc.psa.journal import record
from noc.psa.quickentry import DEFAULT_WORK_TYPES, MAX_MINUTES
from noc.psa.technicians import clean_login
from noc.storage.models import Technician, Ticket, TimeEntry
from noc.storage.store import Store

EDITABLE = frozenset({"minutes", "billable", "work_type", "note", "ticket_id"})
EDITABLE_WHILE_RUNNING = EDITABLE - {"minutes"}
SLACK_S = 1e-3


@dataclass(frozen=True, slots=True)
class TimerSwitch:
    """What ``start_timer`` did: the new timer, and the one it stopped, if any."""

    started: TimeEntry
    stopped: TimeEntry | None


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def rounded_minutes(seconds: float, increment_min: int = 1) -> int:
    """Billable minutes: whole increments, rounded up, so 61 s bills 2 min (or one 6-min unit).

    Epoch floats carry about a microsecond of noise, so a millisecond of slack keeps a timer of
    exactly 6 minutes (360.0000002 s) from billing a second increment.
    """
    if increment_min < 1:
        raise TimeEntryError(f"time increment {increment_min}: must be at least 1 minute")
    if seconds <= 0:
        return 0
    units = math.ceil((seconds - SLACK_S) / (60 * increment_min))
    return max(units, 1) * increment_min


def exact_seconds(entry: TimeEntry) -> float | None:
    """The measured duration, whatever was billed; None while the timer runs."""
    if entry.ended_at is None:
        return None
    return max(entry.ended_at - entry.started_at, 0.0)


def _check_work_type(work_type: str, work_types: Sequence[str]) -> str:
    value = work_type.strip().lower()
    if value not in work_types:
        raise TimeEntryError(f"work type {work_type!r}: expected one of {', '.join(work_types)}")
    return value


def _check_minutes(minutes: float) -> float:
    if not math.isfinite(minutes) or minutes <= 0:
        raise TimeEntryError(f"{minutes:g} minutes: must be more than zero")
    if minutes > MAX_MINUTES:
        raise TimeEntryError(f"{minutes:g} minutes: more than 24 hours in one entry")
    return float(minutes)


async def _lock_technician(session: AsyncSession, technician: Technician) -> None:
    locked = await session.scalar(
        select(Technician.id).where(Technician.id == technician.id).with_for_update()
    )
    if locked is None:
        raise TimeEntryError(f"technician {technician.login!r} does not exist")


async def _ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


async def _running(session: AsyncSession, technician_id: int) -> TimeEntry | None:
    return (
        await session.scalars(
            select(TimeEntry)
            .where(TimeEntry.technician_id == technician_id, TimeEntry.ended_at.is_(None))
            .order_by(TimeEntry.started_at)
            .limit(1)
        )
    ).first()


def _entry_data(entry: TimeEntry, login: str, **extra: Any) -> dict[str, Any]:
    return {
        "entry_id": entry.id,
        "technician": login,
        "minutes": entry.minutes,
        "billable": entry.billable,
        "work_type": entry.work_type,
        **extra,
    }


async def _insert_entry(
    store: Store,
    session: AsyncSession,
    kind: str,
    ticket: Ticket,
    technician: Technician,
    ts: float,
    **columns: Any,
) -> TimeEntry:
    """A new entry on the ticket, and the event that tells every console about it."""
    entry = TimeEntry(ticket_id=ticket.id, technician_id=technician.id, **columns)
    session.add(entry)
    await session.flush()
    await record(
        store,
        session,
        kind=kind,
        actor=technician.login,
        object_type="time_entry",
        object_id=entry.id,
        ticket_id=ticket.id,
        data=_entry_data(entry, technician.login, number=ticket.number),
        now=ts,
    )
    return entry


async def _stop(
    store: Store,
    session: AsyncSession,
    technician: Technician,
    ts: float,
    increment_min: int,
) -> TimeEntry | None:
    entry = await _running(session, technician.id)
    if entry is None:
        return None
    entry.ended_at = max(ts, entry.started_at)  # the console that started it may run ahead
    entry.minutes = rounded_minutes(entry.ended_at - entry.started_at, increment_min)
    await record(
        store,
        session,
        kind="time.stopped",
        actor=technician.login,
        object_type="time_entry",
        object_id=entry.id,
        ticket_id=entry.ticket_id,
        data=_entry_data(entry, technician.login, seconds=entry.ended_at - entry.started_at),
        now=ts,
    )
    return entry


async def start_timer(
    store: Store,
    technician: Technician,
    ticket_id: int,
    *,
    billable: bool = True,
    work_type: str = DEFAULT_WORK_TYPES[0],
    note: str = "",
    increment_min: int = 1,
    work_types: Sequence[str] = DEFAULT_WORK_TYPES,
    now: float | None = None,
) -> TimerSwitch:
    """Start timing ``ticket_id``, stopping (and billing) the technician's running timer first.

    Closed tickets take no new timers: the client has been told the work is finished.
    """
    work_type = _check_work_type(work_type, work_types)
    ts = _now(now)
    async with store.write() as session:
        await _lock_technician(session, technician)
        ticket = await _ticket(session, ticket_id)
        if ticket.status == "closed":
            raise TimeEntryError(f"ticket #{ticket.number} is closed; reopen it to log time")
        stopped = await _stop(store, session, technician, ts, increment_min)
        entry = await _insert_entry(
            store,
            session,
            "time.started",
            ticket,
            technician,
            ts,
            started_at=ts,
            ended_at=None,
            minutes=0.0,
            billable=billable,
            work_type=work_type,
            note=note,
        )
    return TimerSwitch(entry, stopped)


async def stop_timer(
    store: Store, technician: Technician, *, increment_min: int = 1, now: float | None = None
) -> TimeEntry | None:
    """Stop the running timer; None when there was none (stopping twice is not an error)."""
    ts = _now(now)
    async with store.write() as session:
        await _lock_technician(session, technician)
        return await _stop(store, session, technician, ts, increment_min)


async def running_timer(store: Store, technician: Technician) -> TimeEntry | None:
    async with store.read() as session:
        return await _running(session, technician.id)


async def add_entry(
    store: Store,
    technician: Technician,
    ticket_id: int,
    minutes: float,
    billable: bool = True,
    work_type: str = DEFAULT_WORK_TYPES[0],
    note: str = "",
    started_at: float | None = None,
    *,
    work_types: Sequence[str] = DEFAULT_WORK_TYPES,
    now: float | None = None,
) -> TimeEntry:
    """Log time after the fact; the entry ends now unless ``started_at`` says when it began.

    Allowed on closed tickets, unlike timers: logging forgotten time late is routine.
    """
    minutes = _check_minutes(minutes)
    work_type = _check_work_type(work_type, work_types)
    ts = _now(now)
    start = ts - minutes * 60 if started_at is None else started_at
    async with store.write() as session:
        ticket = await _ticket(session, ticket_id)
        entry = await _insert_entry(
            store,
            session,
            "time.added",
            ticket,
            technician,
            ts,
            started_at=start,
            ended_at=start + minutes * 60,
            minutes=minutes,
            billable=billable,
            work_type=work_type,
            note=note,
        )
    return entry


async def _apply_entry_changes(
    session: AsyncSession,
    entry: TimeEntry,
    changes: Mapping[str, Any],
    work_types: Sequence[str],
) -> dict[str, list[Any]]:
    running = entry.ended_at is None
    allowed = EDITABLE_WHILE_RUNNING if running else EDITABLE
    refused = sorted(set(changes) - allowed)
    if refused:
        why = (
            "while the timer runs; stop it first"
            if running and "minutes" in refused
            else (f"(editable: {', '.join(sorted(allowed))})")
        )
        raise TimeEntryError(f"time entry {entry.id}: cannot change {', '.join(refused)} {why}")
    wanted: dict[str, Any] = dict(changes)
    if "minutes" in wanted:
        wanted["minutes"] = _check_minutes(float(wanted["minutes"]))
    if "work_type" in wanted:
        wanted["work_type"] = _check_work_type(str(wanted["work_type"]), work_types)
    if "billable" in wanted:
        wanted["billable"] = bool(wanted["billable"])
    if "note" in wanted:
        wanted["note"] = str(wanted["note"])
    if "ticket_id" in wanted:
        await _ticket(session, int(wanted["ticket_id"]))
    diff: dict[str, list[Any]] = {}
    for name, value in wanted.items():
        old = getattr(entry, name)
        if old != value:
            diff[name] = [old, value]
            setattr(entry, name, value)
    return diff


async def edit_entry(
    store: Store,
    entry_id: int,
    actor: str,
    *,
    work_types: Sequence[str] = DEFAULT_WORK_TYPES,
    now: float | None = None,
    **changes: Any,
) -> TimeEntry:
    """Correct ``minutes``/``billable``/``work_type``/``note``/``ticket_id`` of an entry.

    Editing minutes changes what is billed, never the measured start and end; the audit row
    keeps the old and new values, which is what a billing dispute asks for.
    """
    actor = clean_login(actor)
    ts = _now(now)
    async with store.write() as session:
        entry = await session.get(TimeEntry, entry_id)
        if entry is None:
            raise TimeEntryError(f"time entry {entry_id} does not exist")
        old_ticket = entry.ticket_id
        diff = await _apply_entry_changes(session, entry, changes, work_types)
        if diff:
            await record(
                store,
                session,
                kind="time.edited",
                actor=actor,
                object_type="time_entry",
                object_id=entry.id,
                ticket_id=old_ticket,
                data={"entry_id": entry.id, "changes": diff},
                now=ts,
            )
    return entry
