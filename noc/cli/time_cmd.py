"""``noc time``: timers and quick entries for the acting technician."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from noc.cli import lookup
from noc.cli.common import CliContext, print_json
from noc.psa import (
    add_entry,
    edit_entry,
    ensure_technician,
    parse_quick_entry,
    running_timer,
    start_timer,
    stop_timer,
)
from noc.storage import Store
from noc.storage.models import Ticket, TimeEntry


def register(sub: Any) -> None:
    cmd = sub.add_parser("time", help="time: start/stop a timer, log a quick entry, edit")
    actions = cmd.add_subparsers(dest="time_command", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start a timer on a ticket (stops the running one)")
    start.add_argument("number", type=int, help="ticket number")
    start.add_argument("--work-type")
    start.add_argument("--non-billable", action="store_true")
    start.add_argument("--note", default="")
    actions.add_parser("stop", help="stop your running timer")
    actions.add_parser("status", help="your running timer")
    log = actions.add_parser("log", help='log time: noc time log 42 "25m remote fix, billable"')
    log.add_argument("number", type=int, help="ticket number")
    log.add_argument("entry", help='e.g. "1h30m onsite install, non-billable"')
    edit = actions.add_parser("edit", help="correct an entry")
    edit.add_argument("entry_id", type=int)
    edit.add_argument("--minutes", type=float)
    billing = edit.add_mutually_exclusive_group()
    billing.add_argument("--billable", dest="billable", action="store_true", default=None)
    billing.add_argument("--non-billable", dest="billable", action="store_false")
    edit.add_argument("--work-type")
    edit.add_argument("--note")
    for parser in (start, log, edit, *[actions.choices[n] for n in ("stop", "status")]):
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=run_time)


def entry_json(entry: TimeEntry, ticket_number: int | None = None) -> dict[str, Any]:
    return {
        "id": entry.id,
        "ticket": ticket_number,
        "started_at": entry.started_at,
        "ended_at": entry.ended_at,
        "running": entry.ended_at is None,
        "minutes": entry.minutes,
        "billable": entry.billable,
        "work_type": entry.work_type,
        "note": entry.note,
    }


def describe(entry: TimeEntry | None, number: int | None) -> str:
    if entry is None:
        return "no timer running"
    where = f"#{number}" if number is not None else f"ticket {entry.ticket_id}"
    if entry.ended_at is None:
        minutes = (time.time() - entry.started_at) / 60
        return f"timer running on {where} for {minutes:.0f} min ({entry.work_type})"
    billing = "billable" if entry.billable else "non-billable"
    return f"entry {entry.id}: {entry.minutes:g} min on {where}, {entry.work_type}, {billing}"


async def _number(store: Store, ticket_id: int) -> int | None:
    async with store.read() as session:
        ticket = await session.get(Ticket, ticket_id)
    return ticket.number if ticket else None


async def _act(store: Store, ctx: CliContext, args: argparse.Namespace) -> TimeEntry | None:
    psa = ctx.settings.psa
    tech = await ensure_technician(store, ctx.technician)
    command = args.time_command
    if command == "start":
        switch = await start_timer(
            store,
            tech,
            await lookup.ticket_id(store, args.number),
            billable=not args.non_billable,
            work_type=args.work_type or psa.work_types[0],
            note=args.note,
            increment_min=psa.time_increment_min,
            work_types=psa.work_types,
        )
        return switch.started
    if command == "stop":
        return await stop_timer(store, tech, increment_min=psa.time_increment_min)
    if command == "status":
        return await running_timer(store, tech)
    if command == "log":
        quick = parse_quick_entry(args.entry, work_types=psa.work_types)
        return await add_entry(
            store,
            tech,
            await lookup.ticket_id(store, args.number),
            quick.minutes,
            quick.billable,
            quick.work_type,
            quick.note,
            work_types=psa.work_types,
        )
    changes = {
        key: getattr(args, key)
        for key in ("minutes", "billable", "work_type", "note")
        if getattr(args, key) is not None
    }
    return await edit_entry(
        store, args.entry_id, ctx.technician, work_types=psa.work_types, **changes
    )


def run_time(ctx: CliContext, args: argparse.Namespace) -> int:
    async def run() -> tuple[TimeEntry | None, int | None]:
        store = await ctx.open_store()
        try:
            entry = await _act(store, ctx, args)
            number = await _number(store, entry.ticket_id) if entry else None
            return entry, number
        finally:
            await store.close()

    entry, number = asyncio.run(run())
    if args.json:
        print_json(entry_json(entry, number) if entry else None)
    else:
        print(describe(entry, number))
    return 0
