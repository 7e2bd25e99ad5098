"""An ``SnmpTarget`` from the inventory's plain data: a credential profile's ``params``, its
resolved secrets and a check's ``params``, with one clear line for whatever is wrong.

    credential params: version ("1", "2c", "3"), user, auth_protocol, priv_protocol, context,
                       port
    secrets:           community (v1/v2c, from ``secret_ref``), auth and priv (v3, from
                       ``secret_refs``), already resolved
    check params:      port, collect (list of system/interfaces/storage/cpu), deadline,
                       max_repetitions, max_rows, rediscover (seconds between discoveries)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from noc.probes.snmp.errors import SnmpConfigError
from noc.probes.snmp.target import (
    ALL_COLLECT,
    AuthProtocol,
    Collect,
    PrivProtocol,
    SnmpTarget,
    SnmpVersion,
)

E = TypeVar("E", bound=enum.Enum)

_CREDENTIAL_KEYS = frozenset(
    {"version", "user", "auth_protocol", "priv_protocol", "context", "port"}
)
_CHECK_KEYS = frozenset(
    {"port", "collect", "deadline", "max_repetitions", "max_rows", "rediscover"}
)


def _choice(kind: type[E], value: Any, where: str, field: str) -> E:
    text = str(value).strip().lower().replace("-", "")
    for member in kind:
        if text in (str(member.value).lower(), f"v{member.value}".lower()):
            return member
    allowed = ", ".join(str(m.value) for m in kind)
    raise SnmpConfigError(f"{where}: {field}: {value!r} is not one of {allowed}")


def _number(value: Any, kind: type[int] | type[float], where: str, field: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SnmpConfigError(f"{where}: {field}: {value!r} is not a number")
    try:
        return kind(value)
    except ValueError:
        raise SnmpConfigError(f"{where}: {field}: {value!r} is not a number") from None


def _unknown(params: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(params) - known)
    if extra:
        known_list = ", ".join(sorted(known))
        raise SnmpConfigError(f"{where}: unknown setting {extra[0]!r} (known: {known_list})")


def target_from_params(
    address: str,
    credential: Mapping[str, Any],
    secrets: Mapping[str, str],
    check: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
    retries: int | None = None,
    where: str = "snmp",
) -> SnmpTarget:
    """``where`` names the source for messages (``inventory.toml: device core-sw1: check snmp``)."""
    check = check or {}
    _unknown(credential, _CREDENTIAL_KEYS, f"{where}: credential")
    _unknown(check, _CHECK_KEYS, where)
    version = _choice(SnmpVersion, credential.get("version", "2c"), where, "version")
    kw: dict[str, Any] = {"address": address, "version": version}
    port = check.get("port", credential.get("port"))
    if port is not None:
        kw["port"] = _number(port, int, where, "port")
    if version is SnmpVersion.V3:
        kw["user"] = str(credential.get("user", ""))
        kw["context"] = str(credential.get("context", ""))
        kw["auth_protocol"] = _choice(
            AuthProtocol, credential.get("auth_protocol", "none"), where, "auth_protocol"
        )
        kw["priv_protocol"] = _choice(
            PrivProtocol, credential.get("priv_protocol", "none"), where, "priv_protocol"
        )
        kw["auth_key"] = secrets.get("auth", "")
        kw["priv_key"] = secrets.get("priv", "")
    else:
        if "community" not in secrets:
            raise SnmpConfigError(f"{where}: SNMPv{version} needs a community secret")
        kw["community"] = secrets["community"]
    if timeout is not None:
        kw["timeout"] = timeout
    if retries is not None:
        kw["retries"] = retries
    numbers: tuple[tuple[str, type[int] | type[float]], ...] = (
        ("deadline", float),
        ("max_repetitions", int),
        ("max_rows", int),
        ("rediscover", float),
    )
    for field, kind in numbers:
        if field in check:
            kw[field] = _number(check[field], kind, where, field)
    if "collect" in check:
        collect = check["collect"]
        if isinstance(collect, str) or not isinstance(collect, list | tuple):
            raise SnmpConfigError(f'{where}: collect: expected a list such as ["interfaces"]')
        kw["collect"] = frozenset(_choice(Collect, c, where, "collect") for c in collect)
    else:
        kw["collect"] = ALL_COLLECT
    try:
        return SnmpTarget(**kw)
    except SnmpConfigError as exc:  # the target's own checks, re-worded with the source
        raise SnmpConfigError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
