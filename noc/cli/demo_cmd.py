"""``noc demo``: the demo inventory, the lab serving it, a poller, and the console.

The lab and the poller run as child processes — protocol work never shares the console's
event loop — and are stopped when the console exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from noc.cli.children import children
from noc.cli.common import CliContext
from noc.cli.console_cmd import run_console_cmd
from noc.config import data_dir
from noc.errors import InventoryError
from noc.inventory.importer import import_inventory, load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INVENTORY = EXAMPLES / "inventory.toml"
SCENARIOS = EXAMPLES / "lab-scenarios.toml"
LAB_SECRETS = {"NOC_LAB_COMMUNITY": "lab", "NOC_LAB_SSH_PASSWORD": "lab"}


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the demo: inventory, simulated devices, poller, console")
    demo.add_argument("--no-console", action="store_true", help="set up only, do not open")
    demo.add_argument("--no-lab", action="store_true", help="do not start the simulated devices")
    demo.set_defaults(handler=run_demo)


def run_demo(ctx: CliContext, args: argparse.Namespace) -> int:
    if not INVENTORY.is_file():
        raise InventoryError(f"{INVENTORY}: the demo inventory is missing from this checkout")
    spec = load_inventory(INVENTORY)

    async def setup() -> str:
        store = await ctx.open_store()
        try:
            report = await import_inventory(store, spec, actor=ctx.technician)
        finally:
            await store.close()
        return report.summary()

    print(asyncio.run(setup()))
    env = {**LAB_SECRETS, **os.environ}
    env.setdefault("NOC_SSH_KNOWN_HOSTS", str(data_dir() / "lab" / "known_hosts"))
    env["NOC_DATABASE_URL"] = ctx.settings.database_url
    os.environ.update({k: env[k] for k in (*LAB_SECRETS, "NOC_SSH_KNOWN_HOSTS")})
    noc = [sys.executable, "-m", "noc.cli"]
    commands = []
    if not args.no_lab:
        commands.append([*noc, "lab", "--inventory", str(INVENTORY), "--scenarios", str(SCENARIOS)])
    if args.no_console:
        return 0
    with children(commands, env, data_dir() / "demo.log"):
        return run_console_cmd(ctx, args)  # which runs the poller beside the console
