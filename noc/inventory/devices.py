"""Build a ``DeviceSpec`` from one record, whichever format it came in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from noc.inventory.fields import (
    canonical_address,
    check_code,
    parse_bool,
    parse_check,
    require_str,
    require_str_list,
)
from noc.inventory.spec import DEFAULT_SITE, DEVICE_KINDS, CheckSpec, DeviceSpec, Where

DEVICE_FIELDS = frozenset(
    {
        "name",
        "client",
        "site",
        "kind",
        "address",
        "parent",
        "tags",
        "credentials",
        "checks",
        "zone",
        "enabled",
        "description",
    }
)


@dataclass(slots=True)
class Defaults:
    """``[defaults]``: the checks a device gets when it names none, globally and per kind."""

    checks: list[Any] = field(default_factory=lambda: ["icmp"])
    by_kind: dict[str, list[Any]] = field(default_factory=dict)

    def checks_for(self, kind: str) -> list[Any]:
        return self.by_kind.get(kind, self.checks)


def build_device(
    record: Mapping[str, Any],
    where_of: Callable[[str], Where],
    defaults: Defaults,
    *,
    prefix: str = "",
) -> DeviceSpec:
    """Validate one device record; ``where_of(field)`` says where that field was written."""

    def fail_at(name: str, message: str) -> Exception:
        return where_of(name).fail(f"{prefix}{name}", message)

    for key in record:
        if key not in DEVICE_FIELDS:
            raise fail_at(key, "unknown field")
    for key in ("name", "client", "address"):
        if key not in record or record[key] in ("", None):
            raise fail_at(key, "is required")
    name = require_str(record["name"], where_of("name"), f"{prefix}name").strip()
    client = check_code(record["client"], where_of("client"), f"{prefix}client")
    site = check_code(record.get("site") or DEFAULT_SITE, where_of("site"), f"{prefix}site")
    kind = str(record.get("kind") or "server").strip().lower()
    if kind not in DEVICE_KINDS:
        raise fail_at("kind", f"{kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    address = require_str(record["address"], where_of("address"), f"{prefix}address").strip()
    try:
        key = canonical_address(address)
    except ValueError as exc:
        raise fail_at("address", str(exc)) from None
    raw_checks = record.get("checks")
    if raw_checks in (None, ""):
        raw_checks = defaults.checks_for(kind)
    if isinstance(raw_checks, str):
        raw_checks = require_str_list(raw_checks, where_of("checks"), f"{prefix}checks")
    if not isinstance(raw_checks, list):
        raise fail_at("checks", "expected a list of checks")
    checks: list[CheckSpec] = []
    for index, item in enumerate(raw_checks):
        check = parse_check(item, where_of("checks"), f"{prefix}checks[{index}]")
        if any(c.name == check.name for c in checks):
            raise fail_at(
                "checks", f'two checks named {check.name!r}: give one a distinct name = "..."'
            )
        checks.append(check)
    parent = record.get("parent")
    return DeviceSpec(
        name=name,
        client=client,
        site=site,
        kind=kind,
        address=address,
        address_key=key,
        where=where_of("name"),
        parent=require_str(parent, where_of("parent"), f"{prefix}parent").strip() or None
        if parent
        else None,
        tags=require_str_list(record.get("tags", []), where_of("tags"), f"{prefix}tags"),
        credentials=require_str_list(
            record.get("credentials", []), where_of("credentials"), f"{prefix}credentials"
        ),
        checks=checks,
        zone=str(record.get("zone") or ""),
        enabled=parse_bool(record.get("enabled", True), where_of("enabled"), f"{prefix}enabled"),
        description=str(record.get("description") or ""),
        field_lines={k: where_of(k) for k in record},
        label=prefix,
    )
