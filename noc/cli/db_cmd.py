"""``noc db upgrade``, ``noc db current`` and ``noc db maintain``: the store's upkeep on demand.

``maintain`` is the pass the poller runs every few minutes (roll-ups, then retention), for a
store whose pollers all run with retention off, or to see what one pass does.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from noc.cli.common import CliContext, print_json
from noc.secrets import mask_url
from noc.storage import migrate, retention


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema and upkeep")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    actions.add_parser("upgrade", help="apply pending migrations").set_defaults(handler=upgrade)
    actions.add_parser("current", help="print the schema revision").set_defaults(handler=current)
    maintain_ = actions.add_parser(
        "maintain", help="roll up closed buckets and drop what retention no longer keeps"
    )
    maintain_.add_argument("--json", action="store_true", help="print JSON")
    maintain_.set_defaults(handler=maintain)


def upgrade(ctx: CliContext, args: argparse.Namespace) -> int:
    async def run() -> str | None:
        store = await ctx.open_store(migrate=False)
        try:
            await migrate.upgrade(store.engine)
            return await migrate.current_revision(store.engine)
        finally:
            await store.close()

    from noc.errors import StoreError
    from noc.storage.store import describe_db_error

    try:
        revision = asyncio.run(run())
    except StoreError:
        raise
    except Exception as exc:  # a driver error mid-migration: one line, not a traceback
        raise StoreError(describe_db_error(ctx.settings.database_url, exc)) from None
    print(f"{mask_url(ctx.settings.database_url)}: schema at revision {revision}")
    return 0


def current(ctx: CliContext, args: argparse.Namespace) -> int:
    async def run() -> str | None:
        store = await ctx.open_store(migrate=False)
        try:
            return await migrate.current_revision(store.engine)
        finally:
            await store.close()

    revision = asyncio.run(run())
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind (head is {head})"
    print(f"{mask_url(ctx.settings.database_url)}: revision {revision or 'none'}, {state}")
    return 0


def maintain(ctx: CliContext, args: argparse.Namespace) -> int:
    async def run() -> tuple[retention.MaintainReport, retention.PageStats | None]:
        store = await ctx.open_store()
        try:
            report = await retention.maintain(store, time.time(), ctx.settings.retention)
            return report, await retention.page_stats(store)
        finally:
            await store.close()

    report, pages = asyncio.run(run())
    if args.json:
        data = report.as_dict()
        if pages is not None:
            data["file_bytes"] = pages.file_bytes
            data["free_bytes"] = pages.file_bytes - pages.used_bytes
        print_json(data)
        return 0
    print(
        f"{mask_url(ctx.settings.database_url)}: {report.buckets:,} roll-up rows written, "
        f"{report.pruned:,} rows pruned in {report.seconds:.2f} s"
    )
    for resolution, start in sorted(report.rolled.items()):
        stamp = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"  {_width(resolution)} buckets rolled up to the one starting {stamp}")
    if pages is not None:
        free = pages.file_bytes - pages.used_bytes
        print(
            f"  file {pages.file_bytes / 1e6:,.1f} MB, of which {free / 1e6:,.1f} MB free pages "
            "(reused by the next inserts)"
        )
    return 0


def _width(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"
