"""``noc`` / ``noc console``: the Textual console (imported only when it is going to run)."""

from __future__ import annotations

import argparse
from typing import Any

from noc.cli.common import CliContext


def register(sub: Any) -> None:
    console = sub.add_parser("console", help="open the console (the default command)")
    add_console_options(console)
    console.set_defaults(handler=run_console_cmd)


def add_console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attach", action="store_true", help="probe nothing; follow the shared store's events"
    )
    parser.add_argument(
        "--wall", action="store_true", help="read-only wall screen rotating through clients"
    )


def run_console_cmd(ctx: CliContext, args: argparse.Namespace) -> int:
    from noc.console import run_console  # Textual loads only for the console

    code: int = run_console(
        ctx.settings,
        technician=ctx.technician,
        wall=getattr(args, "wall", False),
        attach=getattr(args, "attach", False),
    )
    return code


run_default = run_console_cmd
