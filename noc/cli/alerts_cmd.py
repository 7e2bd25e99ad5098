"""``noc alerts``, ``noc ack``, ``noc snooze`` and ``noc maintenance``: the alert queue from a
shell, every command with ``--json``.

Acknowledging, snoozing and maintenance windows are the alerting package's actions
(``noc.alerting.actions``); this module only parses, looks names up and prints. Text output
passes every device string through ``plain`` (a terminal must not run what a device sent).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from noc.alerting import Scope
from noc.alerting import actions as alert_actions
from noc.cli import lookup
from noc.cli.common import CliContext, with_store
from noc.errors import InventoryError, NocError
from noc.inventory.fields import parse_duration
from noc.inventory.spec import Where
from noc.notify.outbox import Placed, load_placed
from noc.notify.plain import plain
from noc.notify.rules import SEVERITY_RANK
from noc.storage import Store
from noc.storage.models import Alert, Client, MaintenanceWindow, Site, Ticket


def duration(text: str, option: str) -> float:
    try:
        return parse_duration(text, Where(option, 0), "")
    except InventoryError as exc:
        raise NocError(str(exc)) from None


def stamp(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(max(0, seconds))}s"


def register(sub: Any) -> None:
    listing = sub.add_parser("alerts", help="the alert queue (open alerts unless --all)")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--open", dest="all", action="store_false", help="open alerts (default)")
    which.add_argument("--all", dest="all", action="store_true", help="resolved ones too")
    listing.add_argument("--client", metavar="CODE")
    listing.add_argument("--limit", type=int, default=500)
    listing.set_defaults(handler=with_store(_alerts), all=False)

    ack = sub.add_parser("ack", help="acknowledge an alert: you own it, notifications stop")
    ack.add_argument("alert_id", type=int)
    ack.add_argument("--note", default="")
    ack.add_argument("--expires", metavar="DURATION", help="it comes back after this (2h, 30m)")
    ack.set_defaults(handler=with_store(_ack))

    snooze = sub.add_parser("snooze", help="hide an alert and its notifications for a while")
    snooze.add_argument("alert_id", type=int)
    snooze.add_argument("duration", help="30m, 2h, 1h30m")
    snooze.set_defaults(handler=with_store(_snooze))

    maintenance = sub.add_parser("maintenance", help="maintenance windows: add, list, end")
    verbs = maintenance.add_subparsers(dest="maintenance_command", metavar="ACTION", required=True)
    add = verbs.add_parser("add", help="a window for a device, a site or a client")
    scope = add.add_mutually_exclusive_group(required=True)
    scope.add_argument("--device", metavar="NAME")
    scope.add_argument("--site", metavar="CLIENT/SITE")
    scope.add_argument("--client", metavar="CODE")
    end = add.add_mutually_exclusive_group()
    end.add_argument("--until", metavar="DURATION", help="length from the start (2h)")
    end.add_argument("--until-ok", action="store_true", help="until everything is OK again")
    add.add_argument(
        "--start", metavar="ISO", help="start time (default now), e.g. 2026-05-01T22:00"
    )
    add.add_argument("--reason", required=True)
    add.set_defaults(handler=with_store(_maintenance_add))
    show = verbs.add_parser("list", help="windows not yet ended (all with --all)")
    show.add_argument("--all", action="store_true")
    show.set_defaults(handler=with_store(_maintenance_list))
    close = verbs.add_parser("end", help="end a window now")
    close.add_argument("window_id", type=int)
    close.set_defaults(handler=with_store(_maintenance_end))

    for parser in (listing, ack, snooze, add, show, close):
        parser.add_argument("--json", action="store_true", help="print JSON")


# alerts -------------------------------------------------------------------------------------


def alert_json(placed: Placed, ticket: int | None) -> dict[str, Any]:
    a = placed.alert
    return {
        "id": a.id,
        "severity": a.severity,
        "condition": a.condition,
        "summary": a.summary,
        "device": placed.device,
        "client": placed.client,
        "site": placed.site,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "count": a.count,
        "ack_by": a.ack_by,
        "ack_note": a.ack_note,
        "ack_expires": a.ack_expires,
        "snoozed_until": a.snoozed_until,
        "resolved_at": a.resolved_at,
        "ticket": ticket,
    }


def _flags(a: Alert, now: float) -> str:
    flags = []
    if a.ack_by and (a.ack_expires is None or a.ack_expires > now):
        flags.append(f"ack:{plain(a.ack_by, 20)}")
    if a.snoozed_until is not None and a.snoozed_until > now:
        flags.append(f"snoozed:{stamp(a.snoozed_until)}")
    if a.resolved_at is not None:
        flags.append("resolved")
    return " ".join(flags)


async def _alerts(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    now = time.time()
    async with store.read() as session:
        placed = await load_placed(session, open_=None if args.all else True)
        linked = {p.alert.ticket_id for p in placed if p.alert.ticket_id is not None}
        numbers: dict[int, int] = {}
        if linked:
            query = select(Ticket.id, Ticket.number).where(Ticket.id.in_(linked))
            numbers = {tid: number for tid, number in await session.execute(query)}
    if args.client:
        await lookup.client_id(store, args.client)  # an unknown code is an error, not silence
        placed = [p for p in placed if p.client == args.client]
    placed.sort(
        key=lambda p: (
            p.alert.resolved_at is not None,
            -SEVERITY_RANK.get(p.alert.severity, 0),
            p.alert.first_seen,
        )
    )
    placed = placed[: args.limit]
    rows = [alert_json(p, numbers.get(p.alert.ticket_id or -1)) for p in placed]
    lines = [
        f"{p.alert.id:>6} {p.alert.severity:<8} {plain(p.client or '-', 12):<12} "
        f"{plain(p.device or '-', 24):<24} {plain(p.alert.condition, 20):<20} "
        f"{age(now - p.alert.first_seen):>5} "
        + (f"#{row['ticket']} " if row["ticket"] else "")
        + (f"[{flags}] " if (flags := _flags(p.alert, now)) else "")
        + plain(p.alert.summary, 120)
        for p, row in zip(placed, rows, strict=True)
    ]
    return {"json": rows, "text": "\n".join(lines) or "no alerts"}


async def _ack(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    now = time.time()
    expires = now + duration(args.expires, "--expires") if args.expires else None
    alert = await alert_actions.acknowledge(
        store, args.alert_id, ctx.technician, args.note, expires, now=now
    )
    until = f" until {stamp(expires)}" if expires else ""
    return {
        "json": {"id": alert.id, "ack_by": alert.ack_by, "ack_expires": alert.ack_expires},
        "text": f"alert {alert.id} acknowledged by {plain(ctx.technician, 64)}{until}",
    }


async def _snooze(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    now = time.time()
    until = now + duration(args.duration, "duration")
    alert = await alert_actions.snooze(store, args.alert_id, ctx.technician, until, now=now)
    return {
        "json": {"id": alert.id, "snoozed_until": alert.snoozed_until},
        "text": f"alert {alert.id} snoozed until {stamp(until)}",
    }


# maintenance --------------------------------------------------------------------------------


async def _scope(store: Store, args: argparse.Namespace) -> tuple[Scope, int]:
    if args.device:
        return "device", await lookup.device_id(store, args.device)
    if args.client:
        return "client", await lookup.client_id(store, args.client)
    client, sep, site = args.site.partition("/")
    if not sep or not client or not site:
        raise NocError(f"--site {args.site!r}: expected CLIENT/SITE, e.g. acme/hq")
    async with store.read() as session:
        found = await session.scalar(
            select(Site.id)
            .join(Client, Client.id == Site.client_id)
            .where(Client.code == client, Site.code == site)
        )
    if found is None:
        raise NocError(f"no site {site!r} of client {client!r}")
    return "site", int(found)


def parse_start(text: str | None, now: float) -> float:
    if not text:
        return now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise NocError(f"--start {text!r}: expected an ISO time such as 2026-05-01T22:00") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time typed without a zone is the local time
    return moment.timestamp()


def window_json(window: MaintenanceWindow) -> dict[str, Any]:
    return {
        "id": window.id,
        "scope": window.scope,
        "scope_id": window.scope_id,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "until_ok": window.until_ok,
        "reason": window.reason,
        "created_by": window.created_by,
        "ended_at": window.ended_at,
    }


def _window_line(window: MaintenanceWindow) -> str:
    if window.ended_at is not None:
        until = f"ended {stamp(window.ended_at)}"
    elif window.ends_at is not None:
        until = f"until {stamp(window.ends_at)}"
    else:
        until = "until OK" if window.until_ok else "until ended"
    return (
        f"{window.id:>5} {window.scope} {window.scope_id} from {stamp(window.starts_at)} {until}"
        f" by {plain(window.created_by, 32)}: {plain(window.reason, 200)}"
    )


async def _maintenance_add(
    store: Store, ctx: CliContext, args: argparse.Namespace
) -> dict[str, Any]:
    now = time.time()
    scope, scope_id = await _scope(store, args)
    starts = parse_start(args.start, now)
    ends = starts + duration(args.until, "--until") if args.until else None
    window = await alert_actions.add_maintenance(
        store,
        scope,
        scope_id,
        starts,
        ends,
        bool(args.until_ok),
        args.reason,
        ctx.technician,
        now=now,
    )
    return {"json": window_json(window), "text": f"added {_window_line(window)}"}


async def _maintenance_list(store: Store, ctx: CliContext, args: argparse.Namespace) -> Any:
    windows = await alert_actions.list_maintenance(store, include_ended=args.all)
    return {
        "json": [window_json(w) for w in windows],
        "text": "\n".join(_window_line(w) for w in windows) or "no maintenance windows",
    }


async def _maintenance_end(
    store: Store, ctx: CliContext, args: argparse.Namespace
) -> dict[str, Any]:
    window = await alert_actions.end_maintenance(store, args.window_id, ctx.technician)
    return {"json": window_json(window), "text": f"ended {_window_line(window)}"}
