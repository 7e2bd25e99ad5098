"""The inventory as read from a file, before it touches the store.

Each spec remembers where it came from (``Where``), so that a problem found later — a duplicate
address, a parent that does not exist — still names the file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from noc.errors import InventoryError

CHECK_TYPES = ("icmp", "snmp", "ssh", "http", "tcp", "local")
DEVICE_KINDS = (
    "router",
    "firewall",
    "switch",
    "access-point",
    "server",
    "workstation",
    "printer",
    "ups",
    "pdu",
    "sensor",
    "nas",
    "hypervisor",
    "phone",
    "website",
    "other",
)
DEFAULT_SITE = "main"


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int

    def fail(self, field_name: str, message: str) -> InventoryError:
        line = f":{self.line}" if self.line else ""
        where = f"{self.file}{line}"
        return InventoryError(
            f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}"
        )


@dataclass(slots=True)
class ClientSpec:
    code: str
    name: str
    where: Where
    notes: str = ""


@dataclass(slots=True)
class SiteSpec:
    client: str
    code: str
    name: str
    where: Where
    address: str = ""


@dataclass(slots=True)
class CheckSpec:
    name: str
    type: str
    params: dict[str, Any]
    where: Where
    interval_s: float | None = None
    timeout_s: float | None = None
    retries: int | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(slots=True)
class DeviceSpec:
    name: str
    client: str
    site: str
    kind: str
    address: str
    address_key: str
    where: Where
    parent: str | None = None
    tags: list[str] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)
    zone: str = ""
    enabled: bool = True
    description: str = ""
    field_lines: dict[str, Where] = field(default_factory=dict)
    """Where each field was written, for errors found after parsing."""

    label: str = ""
    """How errors name the record's fields: ``devices[3].`` in TOML, nothing in a CSV row."""

    def fail(self, field_name: str, message: str) -> InventoryError:
        where = self.field_lines.get(field_name, self.where)
        return where.fail(f"{self.label}{field_name}", message)


@dataclass(slots=True)
class CredentialSpec:
    name: str
    kind: str
    params: dict[str, Any]
    secret_refs: dict[str, str]
    where: Where


@dataclass(slots=True)
class InventorySpec:
    source: str
    clients: list[ClientSpec] = field(default_factory=list)
    sites: list[SiteSpec] = field(default_factory=list)
    devices: list[DeviceSpec] = field(default_factory=list)
    credentials: list[CredentialSpec] = field(default_factory=list)
