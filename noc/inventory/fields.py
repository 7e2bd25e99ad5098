"""Field rules shared by every inventory format: one place decides what a valid value is."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from noc.errors import SecretError
from noc.inventory.spec import CHECK_TYPES, CheckSpec, CredentialSpec, Where
from noc.secrets import SecretRef

_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$"
)
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

# Per check type: the options it understands (besides the common ones) and those it needs.
CHECK_OPTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "icmp": (frozenset({"count", "packet_interval"}), frozenset()),
    "snmp": (frozenset({"credential", "port", "collect", "rediscover"}), frozenset()),
    "ssh": (frozenset({"credential", "port"}), frozenset()),
    "http": (
        frozenset(
            {
                "url",
                "method",
                "expect_status",
                "keyword",
                "keyword_absent",
                "follow_redirects",
                "verify_tls",
                "ca_file",
                "headers",
                "credential",
            }
        ),
        frozenset({"url"}),
    ),
    "tcp": (frozenset({"port", "send", "expect"}), frozenset({"port"})),
    "local": (frozenset(), frozenset()),
}
CHECK_COMMON = frozenset(
    {"type", "name", "interval", "timeout", "retries", "thresholds", "enabled"}
)
ALERTING_OPTIONS = frozenset({"recover_after", "flapping", "flap_low", "flap_high"})
"""Per-check alerting options, kept in the check's params for the evaluator to read."""
THRESHOLD_KEYS = frozenset({"warning", "critical", "for", "clear", "below"})

# Per credential kind: plain options, and the fields that must be secret references.
CREDENTIAL_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "snmp": (
        frozenset({"version", "username", "auth_protocol", "priv_protocol", "port", "context"}),
        frozenset({"community", "auth_key", "priv_key"}),
    ),
    "ssh": (
        frozenset({"username", "key_file", "agent", "port", "known_hosts", "jump"}),
        frozenset({"password", "passphrase"}),
    ),
    "http": (frozenset({"username", "headers"}), frozenset({"password", "token"})),
}
SNMP_VERSIONS = ("1", "2c", "3")


def canonical_address(text: str) -> str:
    """One spelling per address, so two spellings of one host are caught as a duplicate.

    IPv4 octets with leading zeros (``127.000.000.001``, common in spreadsheet exports) are
    read as decimal, IPv6 is compressed, and DNS names are lower-cased without the final dot.
    """
    value = text.strip()
    if not value:
        raise ValueError("is empty")
    candidate = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", candidate):
        octets = [int(part) for part in candidate.split(".")]
        if any(o > 255 for o in octets):
            raise ValueError(f"{value!r} is not an IPv4 address")
        return ".".join(str(o) for o in octets)
    if ":" in candidate:
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv6 address") from None
        mapped = address.ipv4_mapped
        return str(mapped) if mapped else address.compressed
    name = candidate.lower().rstrip(".")
    if len(name) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{value!r} is neither an IP address nor a DNS name")
    if re.fullmatch(r"[\d.]+", name):
        raise ValueError(f"{value!r} is not an IPv4 address")
    return name


def slug(text: str) -> str:
    """A stable code from a display name, for CSV exports that carry names only."""
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")[:64] or "unnamed"


def check_code(value: Any, where: Where, field_name: str) -> str:
    text = require_str(value, where, field_name).strip()
    if not _CODE.match(text):
        raise where.fail(
            field_name, f"{text!r} must be lower-case letters, digits, '-', '_' or '.'"
        )
    return text


def require_str(value: Any, where: Where, field_name: str) -> str:
    if not isinstance(value, str):
        raise where.fail(field_name, f"expected a string, got {_kind(value)}")
    return value


def require_str_list(value: Any, where: Where, field_name: str) -> list[str]:
    if isinstance(value, str):  # CSV cells and the shorthand `tags = "core"`
        return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.fail(field_name, f"expected a list of strings, got {_kind(value)}")
    return [v.strip() for v in value if v.strip()]


def parse_duration(value: Any, where: Where, field_name: str) -> float:
    """Seconds from a number or a ``"1h30m"`` / ``"90s"`` / ``"5m"`` string."""
    if isinstance(value, bool):
        raise where.fail(field_name, 'expected a duration such as 60, "30s" or "5m"')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)) and any(m.groups()):
        hours, minutes, secs = (float(g) if g else 0.0 for g in m.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise where.fail(field_name, f'{value!r} is not a duration such as 60, "30s" or "5m"')
    if seconds <= 0:
        raise where.fail(field_name, "must be greater than zero")
    return seconds


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def parse_check(item: Any, where: Where, field_name: str) -> CheckSpec:
    """A check from ``"icmp"`` or ``{type = "http", url = "...", interval = "30s"}``."""
    if isinstance(item, str):
        item = {"type": item}
    if not isinstance(item, Mapping):
        raise where.fail(field_name, f"expected a check type or a table, got {_kind(item)}")
    check_type = item.get("type")
    if check_type not in CHECK_TYPES:
        raise where.fail(
            f"{field_name}.type", f"{check_type!r} is not one of {', '.join(CHECK_TYPES)}"
        )
    allowed, required = CHECK_OPTIONS[check_type]
    for key in item:
        if key not in allowed and key not in CHECK_COMMON and key not in ALERTING_OPTIONS:
            raise where.fail(f"{field_name}.{key}", f"unknown option for a {check_type} check")
    for key in sorted(required - set(item)):
        raise where.fail(f"{field_name}.{key}", f"a {check_type} check needs {key}")
    params = {k: v for k, v in item.items() if k in allowed or k in ALERTING_OPTIONS}
    if "port" in params and (not isinstance(params["port"], int) or not 0 < params["port"] < 65536):
        raise where.fail(f"{field_name}.port", f"{params['port']!r} is not a port number")
    if "rediscover" in params:  # 0: read names and descriptions at every poll
        rediscover = params["rediscover"]
        params["rediscover"] = (
            0.0
            if rediscover == 0 and not isinstance(rediscover, bool)
            else parse_duration(rediscover, where, f"{field_name}.rediscover")
        )
    if check_type == "http":
        url = require_str(params["url"], where, f"{field_name}.url")
        if not url.startswith(("http://", "https://")):
            raise where.fail(f"{field_name}.url", f"{url!r} must start with http:// or https://")
    name = item.get("name", check_type)
    return CheckSpec(
        name=check_code(name, where, f"{field_name}.name"),
        type=check_type,
        params=params,
        where=where,
        interval_s=parse_duration(item["interval"], where, f"{field_name}.interval")
        if "interval" in item
        else None,
        timeout_s=parse_duration(item["timeout"], where, f"{field_name}.timeout")
        if "timeout" in item
        else None,
        retries=_parse_retries(item.get("retries"), where, f"{field_name}.retries"),
        thresholds=parse_thresholds(item.get("thresholds", {}), where, f"{field_name}.thresholds"),
        enabled=_parse_bool(item.get("enabled", True), where, f"{field_name}.enabled"),
    )


def _parse_retries(value: Any, where: Where, field_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise where.fail(field_name, f"{value!r} is not a retry count from 0 to 20")
    return value


def _parse_bool(value: Any, where: Where, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "1", "no", "false", "0"):
        return value.strip().lower() in ("yes", "true", "1")
    raise where.fail(field_name, f"expected true or false, got {value!r}")


parse_bool = _parse_bool


def parse_thresholds(value: Any, where: Where, field_name: str) -> dict[str, Any]:
    """``{"cpu.used_pct" = {warning = 80, critical = 90, for = "5m", clear = 75}}``."""
    if not isinstance(value, Mapping):
        raise where.fail(field_name, f"expected a table of metric thresholds, got {_kind(value)}")
    out: dict[str, Any] = {}
    for metric, rule in value.items():
        here = f"{field_name}.{metric}"
        if not isinstance(rule, Mapping):
            raise where.fail(here, "expected a table such as {warning = 80, critical = 90}")
        for key in rule:
            if key not in THRESHOLD_KEYS:
                raise where.fail(f"{here}.{key}", "unknown threshold option")
        parsed: dict[str, Any] = {}
        for key in ("warning", "critical", "clear"):
            if key in rule:
                if isinstance(rule[key], bool) or not isinstance(rule[key], int | float):
                    raise where.fail(f"{here}.{key}", f"expected a number, got {rule[key]!r}")
                parsed[key] = float(rule[key])
        if "for" in rule:
            parsed["for_s"] = parse_duration(rule["for"], where, f"{here}.for")
        if "below" in rule:
            parsed["below"] = _parse_bool(rule["below"], where, f"{here}.below")
        out[str(metric)] = parsed
    return out


def parse_credential(
    name: str, table: Any, where_of: Callable[[str], Where], field_name: str
) -> CredentialSpec:
    """A credential profile; every secret field must be a reference, never the secret itself."""
    where = where_of("")
    if not isinstance(table, Mapping):
        raise where.fail(field_name, f"expected a table, got {_kind(table)}")
    kind = table.get("kind")
    if kind not in CREDENTIAL_FIELDS:
        raise where.fail(
            f"{field_name}.kind", f"{kind!r} is not one of {', '.join(CREDENTIAL_FIELDS)}"
        )
    plain, secret = CREDENTIAL_FIELDS[kind]
    params: dict[str, Any] = {}
    refs: dict[str, str] = {}
    for key, value in table.items():
        here = f"{field_name}.{key}"
        where = where_of(key)
        if key == "kind":
            continue
        if key in secret:
            text = require_str(value, where, here)
            try:
                refs[key] = str(SecretRef.parse(text))
            except SecretError:
                raise where.fail(
                    here,
                    "must be a reference (env:VAR, file:/path or keyring:service/user), "
                    "never the secret itself",
                ) from None
        elif key in plain:
            params[key] = value
        else:
            raise where.fail(here, f"unknown field for a {kind} credential")
    where = where_of("")
    if kind == "snmp":
        version = str(params.get("version", "2c"))
        if version not in SNMP_VERSIONS:
            raise where.fail(f"{field_name}.version", f"{version!r} is not one of 1, 2c, 3")
        params["version"] = version
        if version == "3" and "username" not in params:
            raise where.fail(f"{field_name}.username", "an SNMPv3 credential needs a username")
        if version != "3" and "community" not in refs:
            raise where.fail(f"{field_name}.community", f"SNMP v{version} needs a community")
    return CredentialSpec(name=name, kind=kind, params=params, secret_refs=refs, where=where)
