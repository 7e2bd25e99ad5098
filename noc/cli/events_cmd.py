"""``noc events``: the event bus, the last ones or (``--follow``) live.

``--json`` prints one JSON object a line (JSON Lines), so that a follower can be piped into
``jq`` or a script and each event is usable the moment it arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from sqlalchemy import select

from noc.cli.alerts_cmd import stamp
from noc.cli.common import CliContext
from noc.notify.plain import plain
from noc.notify.tail import follow, kind_matches
from noc.storage import Store
from noc.storage.models import Event


def register(sub: Any) -> None:
    events = sub.add_parser("events", help="the event bus: the last events, or --follow")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    events.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="K",
        help="only this kind, or a family such as 'alert' (repeatable)",
    )
    events.add_argument("--limit", type=int, default=20, help="how many past events (20)")
    events.add_argument("--json", action="store_true", help="one JSON object a line")
    events.set_defaults(handler=run_events)


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "ts": event.ts,
        "kind": event.kind,
        "device_id": event.device_id,
        "check_id": event.check_id,
        "alert_id": event.alert_id,
        "ticket_id": event.ticket_id,
        "actor": event.actor,
        "data": event.data,
    }


def event_line(event: Event) -> str:
    refs = " ".join(
        f"{name}={value}"
        for name, value in (
            ("device", event.device_id),
            ("alert", event.alert_id),
            ("ticket", event.ticket_id),
        )
        if value is not None
    )
    data = json.dumps(event.data, sort_keys=True, ensure_ascii=False) if event.data else ""
    actor = f" by {plain(event.actor, 32)}" if event.actor else ""
    return plain(f"{event.id} {stamp(event.ts)} {event.kind}{actor} {refs} {data}", 2000)


def _print(event: Event, as_json: bool) -> None:
    line = json.dumps(event_json(event), sort_keys=True) if as_json else event_line(event)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def recent(store: Store, kinds: list[str], limit: int, upto: int) -> list[Event]:
    """The last ``limit`` events of the kinds up to id ``upto``, oldest first."""
    query = select(Event).where(Event.id <= upto).order_by(Event.id.desc())
    if kinds:  # filtered in Python: families are prefixes, and the tail is short
        query = query.limit(max(limit * 20, 1000))
    else:
        query = query.limit(limit)
    async with store.read() as session:
        found = [e for e in await session.scalars(query) if kind_matches(e.kind, kinds)]
    return list(reversed(found[:limit]))


def run_events(ctx: CliContext, args: argparse.Namespace) -> int:
    async def run() -> None:
        store = await ctx.open_store()
        try:
            last = await store.last_event_id()
            for event in await recent(store, args.kind, max(0, args.limit), last):
                _print(event, args.json)
            if args.follow:
                async for event in follow(store, last, kinds=args.kind):
                    _print(event, args.json)
        finally:
            await store.close()

    asyncio.run(run())
    return 0
