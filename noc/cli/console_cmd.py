"""``noc`` / ``noc console``: the Textual console (imported only when it is going to run)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from noc.cli.children import children
from noc.cli.common import CliContext
from noc.config import data_dir


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
    parser.add_argument(
        "--mine",
        action="store_true",
        help="start on my alerts: mine, and the ones nobody has taken (o from the dashboard)",
    )


def run_console_cmd(ctx: CliContext, args: argparse.Namespace) -> int:
    """The console, with its embedded poller unless attached to pollers that run elsewhere.

    The poller is a child process (``noc poll``), never the UI's own loop: protocol work would
    freeze keys and repaints. It stops when the console exits.
    """
    from noc.console import run_console  # Textual loads only for the console

    attach = getattr(args, "attach", False)
    poller = [] if attach else [[sys.executable, "-m", "noc.cli", "poll"]]
    env = {**os.environ, "NOC_DATABASE_URL": ctx.settings.database_url}
    with children(poller, env, data_dir() / "poller.log"):
        code: int = run_console(
            ctx.settings,
            technician=ctx.technician,
            wall=getattr(args, "wall", False),
            attach=attach,
            mine=getattr(args, "mine", False),
        )
    return code


run_default = run_console_cmd
