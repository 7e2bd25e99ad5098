"""The checks behind ``noc doctor``: each says what is wrong and the command that fixes it."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from noc.config import Settings
from noc.errors import StoreError
from noc.secrets import mask_url
from noc.storage import Store, migrate


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    ok: bool
    message: str
    fix: str = ""
    warning: bool = False
    """Not fatal: the feature that needs it degrades, everything else works."""

    @property
    def mark(self) -> str:
        return "ok  " if self.ok else ("warn" if self.warning else "FAIL")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_icmp() -> Finding:
    """Raw sockets need CAP_NET_RAW; datagram ICMP needs the group in ping_group_range."""
    for kind, label in ((socket.SOCK_RAW, "raw socket"), (socket.SOCK_DGRAM, "datagram socket")):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
        except PermissionError:
            continue
        except OSError as exc:
            return Finding("icmp", False, f"cannot open an ICMP socket: {exc.strerror}")
        return Finding("icmp", True, f"ICMP echo via {label}")
    return Finding(
        "icmp",
        False,
        "neither a raw nor a datagram ICMP socket is allowed for this user: ping checks fail",
        fix=(
            f"sudo setcap cap_net_raw+ep {os.path.realpath(sys.executable)}  or  "
            'sudo sysctl -w net.ipv4.ping_group_range="0 2147483647"'
        ),
    )


async def check_database(settings: Settings) -> Finding:
    url = settings.database_url
    try:
        store = await Store.open(
            url, busy_timeout_ms=settings.database.busy_timeout_ms, migrate_=False
        )
    except StoreError as exc:
        return Finding("database", False, str(exc), fix="check the URL with: noc config show")
    try:
        revision = await migrate.current_revision(store.engine)
    finally:
        await store.close()
    head = migrate.head_revision()
    if revision != head:
        return Finding(
            "database",
            True,
            f"{mask_url(url)} at revision {revision or 'none'}; head is {head} "
            "(migrated automatically at start)",
            fix="noc db upgrade",
            warning=True,
        )
    return Finding("database", True, f"{mask_url(url)} (schema {revision})")


def check_known_hosts(settings: Settings) -> Finding:
    path = Path(settings.ssh.known_hosts).expanduser()
    if path.is_file():
        return Finding("known_hosts", True, f"{path} (SSH host keys are checked against it)")
    return Finding(
        "known_hosts",
        False,
        f"{path} does not exist: every SSH check will fail with an unknown host key",
        fix=f"ssh-keyscan -H HOST >> {path}  (after verifying the key out of band)",
        warning=True,
    )


async def run_checks(settings: Settings) -> list[Finding]:
    return [check_icmp(), await check_database(settings), check_known_hosts(settings)]
