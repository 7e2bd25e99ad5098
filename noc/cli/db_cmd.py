"""``noc db upgrade`` and ``noc db current``: schema migrations on demand."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from noc.cli.common import CliContext
from noc.secrets import mask_url
from noc.storage import migrate


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    actions.add_parser("upgrade", help="apply pending migrations").set_defaults(handler=upgrade)
    actions.add_parser("current", help="print the schema revision").set_defaults(handler=current)


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
