"""What every command needs: the effective settings, who is acting, and a store to open."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from noc.config import Settings, load_settings
from noc.storage import Store


def current_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a bare container
        return f"uid{os.getuid()}"


@dataclass
class CliContext:
    settings: Settings
    technician: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        settings = load_settings(args.config)
        if args.db:
            settings.database.url = args.db
        return cls(settings=settings, technician=args.technician or current_login())

    async def open_store(self, *, migrate: bool = True) -> Store:
        return await Store.open(
            self.settings.database_url,
            busy_timeout_ms=self.settings.database.busy_timeout_ms,
            echo=self.settings.database.echo,
            migrate_=migrate,
        )


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


Action = Callable[[Store, CliContext, argparse.Namespace], Awaitable[Any]]


def with_store(action: Action) -> Callable[[CliContext, argparse.Namespace], int]:
    """A handler: open the store, run the action, print its ``text`` or, with --json, the rest."""

    def handle(ctx: CliContext, args: argparse.Namespace) -> int:
        async def run() -> Any:
            store = await ctx.open_store()
            try:
                return await action(store, ctx, args)
            finally:
                await store.close()

        result = asyncio.run(run())
        if getattr(args, "json", False):
            print_json(result["json"] if isinstance(result, dict) and "json" in result else result)
        else:
            print(result["text"] if isinstance(result, dict) and "text" in result else result)
        return 0

    return handle
