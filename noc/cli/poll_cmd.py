"""``noc poll``: the headless poller, or one cycle of every check with ``--once``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from noc.cli.common import CliContext, print_json
from noc.notify import Notifier
from noc.notify.plain import plain
from noc.polling.outcome import CheckOutcome, key_value
from noc.polling.service import CycleReport, PollerService, poll_once


def register(sub: Any) -> None:
    cmd = sub.add_parser(
        "poll",
        help="run the poller (a service; stops on Ctrl-C or SIGTERM), or one cycle with --once",
    )
    cmd.add_argument("--once", action="store_true", help="poll every check once and print them")
    cmd.add_argument("--json", action="store_true", help="with --once: print JSON")
    cmd.add_argument(
        "--zone", metavar="ZONE", default=None, help="only devices of this zone (poller.zone)"
    )
    cmd.add_argument(
        "--no-retention",
        action="store_true",
        help="leave roll-ups and pruning to another poller of the same store",
    )
    cmd.set_defaults(handler=run_poll)


def run_poll(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.once:
        report = asyncio.run(_once(ctx, args.zone))
        if args.json:
            print_json(report_json(report))
        else:
            print_table(report)
        return 0
    # noc's own progress at INFO; libraries (asyncssh logs every channel) only when it matters
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s noc poll: %(message)s", stream=sys.stderr
    )
    logging.getLogger("noc").setLevel(logging.INFO)
    asyncio.run(_serve(ctx, args.zone, retention=not args.no_retention))
    return 0


async def _once(ctx: CliContext, zone: str | None) -> CycleReport:
    store = await ctx.open_store()
    try:
        return await poll_once(store, ctx.settings, zone=zone)
    finally:
        await store.close()


async def _serve(ctx: CliContext, zone: str | None, *, retention: bool = True) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store = await ctx.open_store()
    notifier: Notifier | None = None
    side: asyncio.Task[None] | None = None
    try:
        if ctx.settings.notify.rules_file:
            # Its own task, talking to the poller only through the store: a dead webhook
            # endpoint delays its own deliveries and nothing else.
            notifier = Notifier(store, ctx.settings.notify)
            side = asyncio.create_task(notifier.run(stop))
        service = PollerService(store, ctx.settings, zone=zone, retention=retention)
        await service.run(stop)
        logging.getLogger(__name__).info("stopped: %s", service.status_line())
    finally:
        stop.set()
        if side is not None:
            await asyncio.gather(side, return_exceptions=True)
        if notifier is not None:
            await notifier.close()
        await store.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def format_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def _ordered(report: CycleReport) -> list[CheckOutcome]:
    return sorted(report.outcomes, key=lambda o: (o.job.device_name, o.job.check_name))


def outcome_json(o: CheckOutcome) -> dict[str, Any]:
    key = key_value(o.job.check_type, o.result)
    return {
        "device": o.job.device_name,
        "address": o.job.address,
        "check": o.job.check_name,
        "type": o.job.check_type,
        "state": str(o.state),
        "status": str(o.result.status),
        "rtt_ms": round(o.result.rtt * 1000, 3) if o.result.rtt is not None else None,
        "key": key[0] if key else None,
        "value": key[1] if key else None,
        "output": o.output,
        "error": o.result.error,
        "attempts": o.attempts,
        "values": o.result.values,
    }


def report_json(report: CycleReport) -> dict[str, Any]:
    return {
        "results": [outcome_json(o) for o in _ordered(report)],
        "scheduler": report.scheduler.as_dict(),
        "writer": report.writer.as_dict(),
    }


def print_table(report: CycleReport) -> None:
    header = ("DEVICE", "CHECK", "STATE", "RTT", "VALUE", "ERROR")
    rows = []
    for o in _ordered(report):
        key = key_value(o.job.check_type, o.result)
        rtt = format_ms(o.result.rtt) if o.result.rtt is not None else "-"
        rows.append(
            (
                plain(o.job.device_name, 32),
                plain(o.job.check_name, 16),
                str(o.state),
                rtt,
                plain(f"{key[0]}={key[1]}", 32) if key else "-",
                plain(o.result.error, 70) if o.result.error else "",
            )
        )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    s, w = report.scheduler, report.writer
    lag = s.lag_summary()
    states: dict[str, int] = {}
    for o in report.outcomes:
        states[str(o.state)] = states.get(str(o.state), 0) + 1
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    print(
        f"{len(report.outcomes)} checks: {counts or 'none'}; retries {s.retries}, "
        f"deadline hits {s.deadline_hits}, lag max {lag['max'] * 1000:.0f} ms; "
        f"stored {w.outcomes} states, {w.samples} samples, dropped {w.dropped}"
    )
