"""Read the TOML inventory format (see ``examples/inventory.toml``).

Flat arrays — ``[[clients]]``, ``[[sites]]``, ``[[devices]]`` — that reference each other by
code, the same shape as a CSV export, so moving a device is a one-field edit. Credential
profiles are tables under ``[credentials.NAME]``.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from noc.errors import InventoryError
from noc.inventory.devices import Defaults, build_device
from noc.inventory.fields import check_code, parse_check, parse_credential, require_str
from noc.inventory.locate import LineIndex
from noc.inventory.spec import ClientSpec, InventorySpec, SiteSpec, Where

TOP_LEVEL = frozenset({"clients", "sites", "devices", "credentials", "defaults"})
CLIENT_FIELDS = frozenset({"code", "name", "notes"})
SITE_FIELDS = frozenset({"client", "code", "name", "address"})
DEFAULTS_FIELDS = frozenset({"checks", "kind"})


def read_toml(path: Path, text: str) -> InventorySpec:
    source = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(decode_error(source, exc)) from None
    index = LineIndex(text)

    def where(*keys: str | int) -> Where:
        return Where(source, index.line(keys))

    for key in doc:
        if key not in TOP_LEVEL:
            raise where(key).fail(key, f"unknown section (expected {', '.join(sorted(TOP_LEVEL))})")
    spec = InventorySpec(source=source)
    defaults = _read_defaults(doc.get("defaults", {}), where)

    for i, table in enumerate(_array(doc, "clients", where)):
        _only(table, CLIENT_FIELDS, lambda k, i=i: where("clients", i, k), f"clients[{i}].")
        at = where("clients", i)
        code = check_code(table.get("code", ""), where("clients", i, "code"), f"clients[{i}].code")
        spec.clients.append(
            ClientSpec(
                code=code,
                name=require_str(table.get("name", code), at, f"clients[{i}].name"),
                notes=str(table.get("notes", "")),
                where=at,
            )
        )
    for i, table in enumerate(_array(doc, "sites", where)):
        _only(table, SITE_FIELDS, lambda k, i=i: where("sites", i, k), f"sites[{i}].")
        at = where("sites", i)
        code = check_code(table.get("code", ""), where("sites", i, "code"), f"sites[{i}].code")
        spec.sites.append(
            SiteSpec(
                client=check_code(
                    table.get("client", ""), where("sites", i, "client"), f"sites[{i}].client"
                ),
                code=code,
                name=require_str(table.get("name", code), at, f"sites[{i}].name"),
                address=str(table.get("address", "")),
                where=at,
            )
        )
    for i, table in enumerate(_array(doc, "devices", where)):
        spec.devices.append(
            build_device(
                table, functools.partial(where, "devices", i), defaults, prefix=f"devices[{i}]."
            )
        )
    credentials = doc.get("credentials", {})
    if not isinstance(credentials, Mapping):
        raise where("credentials").fail("credentials", "expected tables [credentials.NAME]")
    for name, table in credentials.items():
        check_code(name, where("credentials", name), f"credentials.{name}")
        spec.credentials.append(
            parse_credential(
                name, table, functools.partial(where, "credentials", name), f"credentials.{name}"
            )
        )
    return spec


def decode_error(source: str, exc: tomllib.TOMLDecodeError) -> str:
    # "Expected '=' after a key in a key/value pair (at line 3, column 5)" -> file:3: ...
    message = str(exc)
    if "(at line " in message:
        text, _, pos = message.rpartition(" (at line ")
        line = pos.split(",", 1)[0]
        return f"{source}:{line}: not valid TOML: {text}"
    return f"{source}: not valid TOML: {message}"


def _array(doc: Mapping[str, Any], key: str, where: Any) -> list[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise where(key).fail(key, f"expected [[{key}]] tables")
    return value


def _only(table: Mapping[str, Any], allowed: frozenset[str], where_of: Any, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise where_of(key).fail(f"{prefix}{key}", "unknown field")


def _read_defaults(table: Any, where: Any) -> Defaults:
    if not isinstance(table, Mapping):
        raise where("defaults").fail("defaults", "expected a table")
    _only(table, DEFAULTS_FIELDS, lambda k: where("defaults", k), "defaults.")
    defaults = Defaults()
    if "checks" in table:
        defaults.checks = _checked_list(table["checks"], where("defaults", "checks"), "defaults")
    kinds = table.get("kind", {})
    if not isinstance(kinds, Mapping):
        raise where("defaults", "kind").fail("defaults.kind", "expected [defaults.kind.KIND]")
    for kind, sub in kinds.items():
        at = where("defaults", "kind", kind)
        if not isinstance(sub, Mapping) or set(sub) - {"checks"}:
            raise at.fail(f"defaults.kind.{kind}", "expected a table with checks = [...]")
        defaults.by_kind[kind] = _checked_list(sub.get("checks", []), at, f"defaults.kind.{kind}")
    return defaults


def _checked_list(value: Any, at: Where, field_name: str) -> list[Any]:
    if not isinstance(value, list):
        raise at.fail(f"{field_name}.checks", "expected a list of checks")
    for i, item in enumerate(value):
        parse_check(item, at, f"{field_name}.checks[{i}]")  # fail here, not at each device
    return value
