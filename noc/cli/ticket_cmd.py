"""``noc ticket``: the service desk from a shell — new, list, show, set, note."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from noc.cli import lookup
from noc.cli.common import Action, CliContext, with_store
from noc.psa import (
    PRIORITIES,
    STATUSES,
    add_note,
    create_ticket,
    ensure_technician,
    ticket_detail,
    ticket_queue,
    update_ticket,
)
from noc.storage import Store
from noc.storage.models import Ticket


def register(sub: Any) -> None:
    ticket = sub.add_parser("ticket", help="tickets: new, list, show, set, note")
    actions = ticket.add_subparsers(dest="ticket_command", metavar="ACTION", required=True)

    new = actions.add_parser("new", help="open a ticket")
    new.add_argument("--client", required=True, metavar="CODE")
    new.add_argument("--title", required=True)
    new.add_argument("--description", default="")
    new.add_argument("--priority", default="P3", choices=PRIORITIES)
    new.add_argument("--device", metavar="NAME")
    new.set_defaults(handler=_handler(_new))

    queue = actions.add_parser("list", help="the work queue, most urgent first")
    view = queue.add_mutually_exclusive_group()
    view.add_argument("--mine", dest="view", action="store_const", const="mine")
    view.add_argument("--unassigned", dest="view", action="store_const", const="unassigned")
    queue.add_argument("--client", metavar="CODE")
    queue.add_argument("--status", choices=STATUSES)
    queue.add_argument("--priority", choices=PRIORITIES)
    queue.set_defaults(handler=_handler(_list), view="all")

    show = actions.add_parser("show", help="a ticket with its notes and time")
    show.add_argument("number", type=int)
    show.set_defaults(handler=_handler(_show))

    change = actions.add_parser("set", help="change status, assignee, priority or title")
    change.add_argument("number", type=int)
    change.add_argument(
        "--version", type=int, required=True, help="the version you read (a conflict is refused)"
    )
    change.add_argument("--status", choices=STATUSES)
    change.add_argument("--assign", metavar="LOGIN", help="assignee ('-' to unassign)")
    change.add_argument("--priority", choices=PRIORITIES)
    change.add_argument("--title")
    change.set_defaults(handler=_handler(_set))

    note = actions.add_parser("note", help="add a note (internal unless --public)")
    note.add_argument("number", type=int)
    note.add_argument("text")
    note.add_argument("--public", action="store_true", help="visible to the client")
    note.set_defaults(handler=_handler(_note))

    for parser in (new, queue, show, change, note):
        parser.add_argument("--json", action="store_true", help="print JSON")


def _on_the_desk(action: Action) -> Action:
    """Whoever acts on a ticket is a technician of the desk (created on first use)."""

    async def act(store: Store, ctx: CliContext, args: argparse.Namespace) -> Any:
        await ensure_technician(store, ctx.technician)
        return await action(store, ctx, args)

    return act


def _handler(action: Action) -> Callable[[CliContext, argparse.Namespace], int]:
    return with_store(_on_the_desk(action))


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "status": ticket.status,
        "priority": ticket.priority,
        "client_id": ticket.client_id,
        "device_id": ticket.device_id,
        "assignee_id": ticket.assignee_id,
        "version": ticket.version,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


def _line(ticket: Ticket) -> str:
    age = _age(time.time() - ticket.created_at)
    return f"#{ticket.number:<6} {ticket.priority} {ticket.status:<11} {age:>5}  {ticket.title}"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


async def _new(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ticket = await create_ticket(
        store,
        client_id=await lookup.client_id(store, args.client),
        title=args.title,
        description=args.description,
        priority=args.priority,
        device_id=await lookup.device_id(store, args.device) if args.device else None,
        actor=ctx.technician,
    )
    return {**ticket_json(ticket), "text": f"opened {_line(ticket)}"}


async def _list(store: Store, ctx: CliContext, args: argparse.Namespace) -> Any:
    tech = await ensure_technician(store, ctx.technician) if args.view == "mine" else None
    tickets = await ticket_queue(
        store,
        view=args.view,
        technician=tech,
        client_id=await lookup.client_id(store, args.client) if args.client else None,
        status=args.status,
        priority=args.priority,
    )
    if args.json:
        return [ticket_json(t) for t in tickets]
    return "\n".join(_line(t) for t in tickets) or "no tickets"


async def _show(store: Store, ctx: CliContext, args: argparse.Namespace) -> Any:
    detail = await ticket_detail(store, await lookup.ticket_id(store, args.number))
    t = detail.ticket
    assignee = detail.logins.get(t.assignee_id or -1, "unassigned")
    data = {
        **ticket_json(t),
        "client": detail.client.code,
        "device": detail.device.name if detail.device else None,
        "assignee": assignee,
        "notes": [
            {"author": n.author, "at": n.created_at, "internal": n.internal, "body": n.body}
            for n in detail.notes
        ],
        "time": [
            {
                "id": e.id,
                "technician": detail.logins.get(e.technician_id, ""),
                "minutes": e.minutes,
                "running": e.ended_at is None,
                "billable": e.billable,
                "work_type": e.work_type,
                "note": e.note,
            }
            for e in detail.time_entries
        ],
        "minutes": detail.minutes,
    }
    lines = [
        _line(t),
        f"client {detail.client.code}  device {data['device'] or '-'}  assignee {assignee}"
        f"  version {t.version}  time {detail.minutes:g} min",
    ]
    lines += [
        f"  {'internal' if n['internal'] else 'public  '} {n['author']}: {n['body']}"
        for n in data["notes"]
    ]
    for e in data["time"]:
        spent = "running" if e["running"] else f"{e['minutes']:g}m"
        billing = "" if e["billable"] else " non-billable"
        lines.append(
            f"  time #{e['id']} {e['technician']} {spent} {e['work_type']}{billing} {e['note']}"
        )
    return {**data, "text": "\n".join(lines)}


async def _set(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in ("status", "priority", "title"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.assign is not None:
        changes["assignee"] = None if args.assign == "-" else args.assign
    ticket = await update_ticket(
        store, await lookup.ticket_id(store, args.number), args.version, ctx.technician, **changes
    )
    return {**ticket_json(ticket), "text": f"updated {_line(ticket)} (version {ticket.version})"}


async def _note(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ticket = await lookup.ticket_id(store, args.number)
    note = await add_note(store, ticket, ctx.technician, args.text, internal=not args.public)
    kind = "public" if not note.internal else "internal"
    return {
        "ticket": args.number,
        "id": note.id,
        "internal": note.internal,
        "text": f"added a {kind} note to #{args.number}",
    }
