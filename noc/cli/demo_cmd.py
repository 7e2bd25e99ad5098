"""``noc demo``: the demo inventory in the embedded store, then the console."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from noc.cli.common import CliContext
from noc.cli.console_cmd import run_console_cmd
from noc.errors import InventoryError
from noc.inventory.importer import import_inventory, load_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.toml"


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="load the demo inventory and open the console")
    demo.add_argument("--no-console", action="store_true", help="set up only, do not open")
    demo.set_defaults(handler=run_demo)


def run_demo(ctx: CliContext, args: argparse.Namespace) -> int:
    if not EXAMPLE.is_file():
        raise InventoryError(f"{EXAMPLE}: the demo inventory is missing from this checkout")
    spec = load_inventory(EXAMPLE)

    async def setup() -> str:
        store = await ctx.open_store()
        try:
            report = await import_inventory(store, spec, actor=ctx.technician)
        finally:
            await store.close()
        return report.summary()

    print(asyncio.run(setup()))
    if args.no_console:
        return 0
    return run_console_cmd(ctx, args)
