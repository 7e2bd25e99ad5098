"""The ``noc`` command: argument parsing and the one place user errors become one line.

Each command group lives in its own module with a ``register(subparsers)`` function; a handler
returns the exit code. A ``NocError`` anywhere below prints as ``noc: error: ...`` with exit code
2 — the same code argparse uses for a bad command line — and never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from noc import __version__
from noc.cli import (
    alerts_cmd,
    config_cmd,
    console_cmd,
    db_cmd,
    demo_cmd,
    doctor_cmd,
    events_cmd,
    inventory_cmd,
    lab_cmd,
    notify_cmd,
    poll_cmd,
    ticket_cmd,
    time_cmd,
)
from noc.cli.common import CliContext
from noc.errors import NocError

GROUPS = (
    console_cmd,
    demo_cmd,
    inventory_cmd,
    lab_cmd,
    poll_cmd,
    ticket_cmd,
    time_cmd,
    alerts_cmd,
    events_cmd,
    notify_cmd,
    config_cmd,
    db_cmd,
    doctor_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="noc",
        description="Monitoring and service desk for an MSP's NOC, in the terminal.",
    )
    parser.add_argument("--version", action="version", version=f"noc {__version__}")
    parser.add_argument("--config", metavar="FILE", help="configuration file (or NOC_CONFIG)")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL, overriding the configuration (or NOC_DATABASE_URL)",
    )
    parser.add_argument(
        "--as", dest="technician", metavar="LOGIN", help="act as this technician (default: OS user)"
    )
    console_cmd.add_console_options(parser)  # `noc --wall`, `noc --attach`
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    parser.set_defaults(handler=console_cmd.run_default)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        ctx = CliContext.from_args(args)
        code: int = args.handler(ctx, args)
    except NocError as exc:
        print(f"noc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code
