"""Read a CSV inventory: one device a row, as an MSP exports configurations from its PSA.

Column names are matched loosely (``Company``, ``Customer`` or ``Client``; ``IP Address`` or
``Address`` ...), clients and sites are created from their names, and the ``checks`` cell is a
compact list: ``icmp; snmp; tcp:22; http:https://127.0.0.1:8443/``.
"""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path
from typing import Any

from noc.errors import InventoryError
from noc.inventory.devices import Defaults, build_device
from noc.inventory.fields import slug
from noc.inventory.spec import DEFAULT_SITE, ClientSpec, InventorySpec, SiteSpec, Where

COLUMN_ALIASES = {
    "client": ("client", "company", "customer", "company name", "account"),
    "site": ("site", "location", "site name"),
    "name": ("name", "device", "device name", "configuration name", "hostname", "host"),
    "kind": ("kind", "type", "device type", "configuration type"),
    "address": ("address", "ip", "ip address", "ipaddress", "management ip", "fqdn"),
    "parent": ("parent", "parent device", "depends on", "upstream"),
    "tags": ("tags", "tag", "labels"),
    "checks": ("checks", "monitors"),
    "credentials": ("credentials", "credential", "credential profile"),
    "zone": ("zone", "poller"),
    "description": ("description", "notes"),
    "enabled": ("enabled", "active", "monitored"),
}
KIND_SYNONYMS = {
    "managed switch": "switch",
    "network switch": "switch",
    "wireless access point": "access-point",
    "access point": "access-point",
    "wap": "access-point",
    "ap": "access-point",
    "desktop": "workstation",
    "laptop": "workstation",
    "pc": "workstation",
    "vm host": "hypervisor",
    "storage": "nas",
    "web site": "website",
    "url": "website",
}


def _column_map(header: list[str], source: str) -> dict[int, str]:
    lookup = {
        alias: canonical for canonical, aliases in COLUMN_ALIASES.items() for alias in aliases
    }
    columns: dict[int, str] = {}
    for position, raw in enumerate(header):
        name = " ".join(raw.strip().lower().replace("_", " ").split())
        if not name:
            continue
        canonical = lookup.get(name)
        if canonical is None:
            known = ", ".join(COLUMN_ALIASES)
            raise InventoryError(f"{source}:1: {raw.strip()}: unknown column (known: {known})")
        if canonical in columns.values():
            raise InventoryError(f"{source}:1: {raw.strip()}: column {canonical!r} appears twice")
        columns[position] = canonical
    for required in ("client", "name", "address"):
        if required not in columns.values():
            raise InventoryError(f"{source}:1: {required}: missing column")
    return columns


def _checks_cell(cell: str) -> list[Any]:
    checks: list[Any] = []
    for part in (p.strip() for p in cell.replace(",", ";").split(";")):
        if not part:
            continue
        check_type, sep, arg = part.partition(":")
        check_type = check_type.strip().lower()
        if not sep:
            checks.append(check_type)
        elif check_type == "tcp" and arg.strip().isdigit():
            checks.append({"type": "tcp", "name": f"tcp-{arg.strip()}", "port": int(arg)})
        elif check_type == "http":
            checks.append({"type": "http", "url": arg.strip()})
        else:
            checks.append({"type": check_type, "name": slug(part)})
    return checks


def _same_place(at: Where, _field: str) -> Where:
    return at  # a CSV row is one line: every field of it is "there"


def read_csv(path: Path, text: str) -> InventorySpec:
    source = str(path)
    # Excel writes a BOM; a semicolon-separated export is common in Europe.
    text = text.removeprefix("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text.split("\n", 1)[0], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise InventoryError(f"{source}: the file is empty") from None
    columns = _column_map(header, source)
    spec = InventorySpec(source=source)
    clients: dict[str, ClientSpec] = {}
    sites: dict[tuple[str, str], SiteSpec] = {}
    defaults = Defaults()
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise InventoryError(
                    f"{source}:{line}: has {len(row)} cells but the header has {len(header)}"
                )
            record: dict[str, Any] = {
                columns[i]: cell.strip()
                for i, cell in enumerate(row)
                if i in columns and cell.strip()
            }
            at = Where(source, line)
            client_name = record.get("client", "")
            site_name = record.get("site", "")
            if client_name:
                record["client"] = slug(client_name)
                clients.setdefault(record["client"], ClientSpec(record["client"], client_name, at))
            if site_name or client_name:
                record["site"] = slug(site_name) if site_name else DEFAULT_SITE
                sites.setdefault(
                    (record["client"], record["site"]),
                    SiteSpec(record["client"], record["site"], site_name or "Main", at),
                )
            if "kind" in record:
                kind = record["kind"].lower()
                record["kind"] = KIND_SYNONYMS.get(kind, kind.replace(" ", "-"))
            if "checks" in record:
                record["checks"] = _checks_cell(record["checks"])
            spec.devices.append(build_device(record, functools.partial(_same_place, at), defaults))
    except csv.Error as exc:
        raise InventoryError(f"{source}:{reader.line_num}: not valid CSV: {exc}") from None
    spec.clients = list(clients.values())
    spec.sites = list(sites.values())
    return spec
