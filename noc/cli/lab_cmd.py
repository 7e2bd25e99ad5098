"""``noc lab``: serve simulated devices on loopback until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noc.cli.common import CliContext
from noc.config import data_dir

if TYPE_CHECKING:  # the lab pulls in asyncssh and pysnmp: only `noc lab` should pay for them
    from noc.lab.model import LabDevice
    from noc.lab.runner import LabCredentials


def register(sub: Any) -> None:
    lab = sub.add_parser("lab", help="simulate devices on loopback addresses")
    source = lab.add_mutually_exclusive_group()
    source.add_argument(
        "--devices", type=int, metavar="N", help="generate N devices (127.30.0.1 up)"
    )
    source.add_argument(
        "--inventory", type=Path, metavar="FILE", help="serve an inventory's devices"
    )
    lab.add_argument("--scenarios", type=Path, metavar="FILE", help='[scenarios] name = "..."')
    lab.add_argument(
        "--write-inventory", type=Path, metavar="OUT", help="write the generated inventory"
    )
    lab.add_argument("--healthy", action="store_true", help="generated devices are all healthy")
    lab.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    lab.set_defaults(handler=run_lab)


def lab_credentials() -> LabCredentials:
    """The secrets the lab accepts are the ones the inventory's references resolve to."""
    from noc.lab.runner import LabCredentials

    return LabCredentials(
        community=os.environ.get("NOC_LAB_COMMUNITY", "lab"),
        ssh_password=os.environ.get("NOC_LAB_SSH_PASSWORD", "lab"),
    )


def plan_devices(args: argparse.Namespace, epoch: float) -> list[LabDevice]:
    from noc.inventory.importer import load_inventory
    from noc.lab.plan import from_inventory, generate, read_scenarios

    if args.inventory:
        scenarios = read_scenarios(args.scenarios) if args.scenarios else {}
        return from_inventory(load_inventory(args.inventory), epoch=epoch, scenarios=scenarios)
    return generate(args.devices or 100, epoch=epoch, healthy_only=args.healthy)


def run_lab(ctx: CliContext, args: argparse.Namespace) -> int:
    from noc.lab.plan import inventory_toml
    from noc.lab.runner import run_forever, start_lab

    devices = plan_devices(args, time.time())
    if args.write_inventory:
        args.write_inventory.write_text(inventory_toml(devices), encoding="utf-8")

    async def main() -> None:
        lab = await start_lab(devices, lab_credentials(), data_dir() / "lab")
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(lab.services.items()))
        print(f"lab: {len(devices)} devices ({summary or 'ICMP only'})", flush=True)
        if lab.known_hosts:
            print(f"lab: SSH host keys in {lab.known_hosts}", flush=True)
        await run_forever(lab, args.duration)

    asyncio.run(main())
    return 0
