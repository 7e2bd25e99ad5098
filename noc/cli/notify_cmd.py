"""``noc notifications`` (the log), ``noc notify test CHANNEL`` and ``noc notify run``.

URLs are shown only as the rules file names them (``env:VAR``) or masked; the log never held
them in the first place (a row names its channel, and errors were masked when recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import Any

import httpx
from sqlalchemy import select

from noc.cli.alerts_cmd import stamp
from noc.cli.common import CliContext, print_json, with_store
from noc.errors import NocError
from noc.notify.delivery import Notifier, WebhookSender
from noc.notify.formats import Message
from noc.notify.plain import plain
from noc.notify.rules import RuleSet, load_rules
from noc.storage import Store
from noc.storage.models import Notification

STATUSES = ("pending", "sent", "suppressed", "failed")


def register(sub: Any) -> None:
    log = sub.add_parser("notifications", help="the notification log, newest first")
    log.add_argument("--status", choices=STATUSES)
    log.add_argument("--alert", type=int, metavar="ID")
    log.add_argument("--limit", type=int, default=50)
    log.add_argument("--json", action="store_true", help="print JSON")
    log.set_defaults(handler=with_store(_log))

    notify = sub.add_parser("notify", help="notification channels: test, run")
    verbs = notify.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    test = verbs.add_parser("test", help="send a test message to a channel of the rules file")
    test.add_argument("channel")
    test.add_argument("--json", action="store_true", help="print JSON")
    test.set_defaults(handler=run_test)
    run = verbs.add_parser("run", help="plan and deliver notifications until stopped")
    run.add_argument("--once", action="store_true", help="one pass, then wait for its deliveries")
    run.set_defaults(handler=run_notifier)


def _rules(ctx: CliContext) -> RuleSet:
    if not ctx.settings.notify.rules_file:
        raise NocError("no rules file: set [notify] rules_file (or NOC_NOTIFY_RULES_FILE)")
    return load_rules(ctx.settings.notify.rules_file)


def _shown_rules(ctx: CliContext) -> RuleSet:
    """The rules for showing channel URLs; the log is still shown when they cannot be read."""
    try:
        return load_rules(ctx.settings.notify.rules_file)
    except NocError:
        return RuleSet()


def row_json(row: Notification, rules: RuleSet) -> dict[str, Any]:
    channel = rules.channels.get(row.channel)
    return {
        "id": row.id,
        "created_at": row.created_at,
        "alert_id": row.alert_id,
        "rule": row.rule,
        "channel": row.channel,
        "url": channel.shown_url if channel is not None else None,
        "kind": row.kind,
        "stage": row.payload.get("stage", 0),
        "status": row.status,
        "reason": row.payload.get("suppressed"),
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
        "delivered_at": row.delivered_at,
        "last_error": row.last_error,
        "device": row.payload.get("device"),
        "severity": row.payload.get("severity"),
        "condition": row.payload.get("condition"),
    }


def _line(row: dict[str, Any]) -> str:
    if row["status"] == "sent":
        state = f"sent {stamp(row['delivered_at'])}"
    elif row["status"] == "pending":
        state = f"pending, next try {stamp(row['next_attempt_at'])}"
    elif row["status"] == "suppressed":
        state = f"suppressed: {row['reason']}"
    else:
        state = "failed"
    tries = f" after {row['attempts']} attempt(s)" if row["attempts"] else ""
    error = f" ({row['last_error']})" if row["last_error"] and row["status"] != "sent" else ""
    where = f"{row['channel']}" + (f" {row['url']}" if row["url"] else "")
    return plain(
        f"{row['id']:>6} {stamp(row['created_at'])} alert {row['alert_id']} {row['kind']} "
        f"{row['device'] or '-'} {row['condition'] or ''} -> {where} [{row['rule']}] "
        f"{state}{tries}{error}",
        1000,
    )


async def _log(store: Store, ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    query = select(Notification).order_by(Notification.id.desc()).limit(max(0, args.limit))
    if args.status:
        query = query.where(Notification.status == args.status)
    if args.alert is not None:
        query = query.where(Notification.alert_id == args.alert)
    async with store.read() as session:
        rows = list(await session.scalars(query))
    rules = _shown_rules(ctx)
    data = [row_json(r, rules) for r in rows]
    return {"json": data, "text": "\n".join(_line(r) for r in data) or "no notifications"}


def run_test(ctx: CliContext, args: argparse.Namespace) -> int:
    rules = _rules(ctx)
    channel = rules.channels.get(args.channel)
    if channel is None:
        known = ", ".join(sorted(rules.channels)) or "none"
        raise NocError(f"{rules.source}: no channel {args.channel!r} (channels: {known})")
    message = Message(
        event="notify.test",
        severity="warning",
        condition="test notification",
        summary=f"a test from noc, sent by {ctx.technician}",
        first_seen=time.time(),
    )

    async def send() -> str:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            return await WebhookSender(http).post(channel, message, None)

    detail = asyncio.run(send())  # a DeliveryError is a NocError: one masked line, exit 2
    result = {"channel": channel.name, "kind": channel.kind, "url": channel.shown_url}
    if args.json:
        print_json({**result, "detail": detail})
    else:
        print(f"channel {channel.name} ({channel.shown_url}): {detail}")
    return 0


def run_notifier(ctx: CliContext, args: argparse.Namespace) -> int:
    """The notifier as a process of its own (``noc poll`` can also run it beside the poller)."""
    _rules(ctx)  # a broken rules file stops here, with its line
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s noc notify: %(message)s", stream=sys.stderr
    )

    async def run() -> None:
        store = await ctx.open_store()
        try:
            async with Notifier(store, ctx.settings.notify) as notifier:
                if args.once:
                    await notifier.step()
                    await notifier.drain()
                    counts = notifier.counts
                    print(f"{counts.sent} sent, {counts.failed} failed attempts")
                    return
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError):
                        loop.add_signal_handler(sig, stop.set)
                print("notifier running; Ctrl-C to stop", file=sys.stderr)
                await notifier.run(stop)
        finally:
            await store.close()

    asyncio.run(run())
    return 0
