"""``noc doctor``: what the probes and the store need on this machine, and how to fix it."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from noc.cli.common import CliContext, print_json
from noc.diagnostics import run_checks


def register(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="check what noc needs on this machine")
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.set_defaults(handler=run_doctor)


def run_doctor(ctx: CliContext, args: argparse.Namespace) -> int:
    findings = asyncio.run(run_checks(ctx.settings))
    if args.json:
        print_json([f.as_dict() for f in findings])
    else:
        width = max(len(f.name) for f in findings)
        for f in findings:
            print(f"{f.mark} {f.name:<{width}}  {f.message}")
            if f.fix:
                print(f"  {'':<{width}}  fix: {f.fix}")
    return 1 if any(f.failed for f in findings) else 0
