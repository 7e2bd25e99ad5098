"""Small loopback inventories written and imported the way a user would."""

from __future__ import annotations

import textwrap
from pathlib import Path

from noc.inventory.importer import import_inventory, load_inventory
from noc.storage import Store

HEAD = """
[credentials.web-basic]
kind = "http"
username = "monitor"
password = "env:NOC_TEST_WEB_PASSWORD"

[credentials.ssh-a]
kind = "ssh"
username = "noc"
password = "env:NOC_TEST_SSH_PASSWORD"

[[clients]]
code = "acme"
name = "Acme"

[[sites]]
client = "acme"
code = "hq"
name = "HQ"
"""


def device(name: str, address: str, checks: str, **extra: str) -> str:
    lines = [
        "[[devices]]",
        f'name = "{name}"',
        'client = "acme"',
        'site = "hq"',
        f'address = "{address}"',
        f"checks = {checks}",
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def write_inventory(tmp_path: Path, *devices: str, name: str = "inventory.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(HEAD) + "\n" + "\n".join(devices), encoding="utf-8")
    return path


async def seed(store: Store, tmp_path: Path, *devices: str) -> None:
    await import_inventory(store, load_inventory(write_inventory(tmp_path, *devices)))
