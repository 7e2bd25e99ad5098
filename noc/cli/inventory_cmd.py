"""``noc import FILE``: load clients, sites, devices and credential profiles."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from noc.cli.common import CliContext, print_json
from noc.inventory.importer import ImportReport, import_inventory, load_inventory


def register(sub: Any) -> None:
    cmd = sub.add_parser(
        "import",
        help="import an inventory (TOML or CSV); re-importing updates, never duplicates",
    )
    cmd.add_argument("file", type=Path, help="inventory.toml or a CSV export")
    cmd.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    cmd.add_argument("--json", action="store_true", help="print the changes as JSON")
    cmd.set_defaults(handler=run_import)


def run_import(ctx: CliContext, args: argparse.Namespace) -> int:
    spec = load_inventory(args.file)  # parse before touching the database

    async def run() -> ImportReport:
        store = await ctx.open_store()
        try:
            return await import_inventory(store, spec, dry_run=args.dry_run, actor=ctx.technician)
        finally:
            await store.close()

    report = asyncio.run(run())
    if args.json:
        print_json(
            {
                "source": report.source,
                "applied": report.applied,
                "unchanged": report.unchanged,
                "changes": [
                    {"action": c.action, "kind": c.kind, "name": c.name, "detail": c.detail}
                    for c in report.changes
                ],
            }
        )
        return 0
    for change in report.changes:
        print(change)
    print(report.summary())
    return 0
