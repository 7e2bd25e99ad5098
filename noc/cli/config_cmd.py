"""``noc config show``: the effective configuration, secrets masked."""

from __future__ import annotations

import argparse
from typing import Any

from noc.cli.common import CliContext, print_json


def register(sub: Any) -> None:
    config = sub.add_parser("config", help="show the effective configuration")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the effective configuration, secrets masked")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_config)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def show_config(ctx: CliContext, args: argparse.Namespace) -> int:
    data = ctx.settings.as_dict(masked=True)
    if args.json:
        print_json({"source": ctx.settings.source, **data})
        return 0
    print(f"# from: {ctx.settings.source}, then NOC_* environment variables")
    for section, values in data.items():
        print(f"\n[{section}]")
        for key, value in values.items():
            print(f"{key} = {_toml_value(value)}")
    return 0
