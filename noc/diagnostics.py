"""The checks behind ``noc doctor``: each says what is wrong and the command that fixes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from noc.config import Settings
from noc.errors import StoreError
from noc.probes.icmp import icmp_capability
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
        return "warn" if self.warning else ("ok  " if self.ok else "FAIL")

    @property
    def failed(self) -> bool:
        return not self.ok and not self.warning

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_icmp() -> Finding:
    """Raw sockets need CAP_NET_RAW; datagram ICMP needs the group in ping_group_range."""
    capability = icmp_capability()
    return Finding("icmp", capability.ok, capability.message)


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
