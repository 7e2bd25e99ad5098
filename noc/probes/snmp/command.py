"""``noc snmp poll`` and ``noc snmp get``: one agent from the command line, as text or JSON.

Device strings reach the terminal only through ``decode.to_text`` (no control characters but
tab and newline), so they cannot drive the terminal; they are never markup either.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Sequence
from typing import Any, TextIO

from noc.probes.result import ProbeStatus
from noc.probes.snmp.errors import SnmpError
from noc.probes.snmp.mibs import IfStatus
from noc.probes.snmp.model import SnmpPoll
from noc.probes.snmp.poller import SnmpPoller
from noc.probes.snmp.target import SnmpTarget

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, IfStatus):
        return value.label
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def poll_report(poll: SnmpPoll) -> dict[str, Any]:
    """A poll as plain JSON-ready data."""
    return {"result": _jsonable(poll.result), "snapshot": _jsonable(poll.snapshot)}


def _print_poll(poll: SnmpPoll, out: TextIO) -> None:
    result, snapshot = poll.result, poll.snapshot
    print(f"status: {result.status.value}", file=out)
    if result.error:
        print(f"error: {result.error}", file=out)
    if snapshot is None:
        return
    system, vendor = snapshot.system, snapshot.vendor
    for label, value in (
        ("name", system.name),
        ("descr", system.descr),
        ("uptime", None if system.uptime_s is None else f"{system.uptime_s:.0f} s"),
        ("vendor", " ".join(v for v in (vendor.vendor, vendor.model) if v)),
        ("os", " ".join(v for v in (vendor.os, vendor.version) if v)),
    ):
        if value:
            print(f"{label}: {value}", file=out)
    for i in snapshot.interfaces:
        state = i.oper_status.label if i.oper_status else "?"
        speed = f"{i.speed_bps / 1e6:g} Mb/s" if i.speed_bps else ""
        print(f"if {i.index:>6} {i.name:<24} {state:<14} {speed}", file=out)
    for s in snapshot.storage:
        pct = f"{s.used_pct:5.1f} %" if s.used_pct is not None else ""
        size = f"{s.size_bytes:>16,} B"
        print(f"storage {s.index:>4} {s.kind.value:<14} {size} {pct} {s.descr}", file=out)
    if snapshot.cpu_load_pct is not None:
        count = len(snapshot.cpu_loads)
        print(f"cpu: {snapshot.cpu_load_pct:.0f} % ({count} processors)", file=out)


async def snmp_poll_command(target: SnmpTarget, *, as_json: bool, out: TextIO) -> int:
    """Poll one agent; exit status 0 OK, 1 PARTIAL, 2 FAILED or ERROR."""
    async with SnmpPoller() as poller:
        poll = await poller.poll_detail(target)
    if as_json:
        json.dump(poll_report(poll), out, indent=2)
        print(file=out)
    else:
        _print_poll(poll, out)
    return {ProbeStatus.OK: EXIT_OK, ProbeStatus.PARTIAL: EXIT_PARTIAL}.get(
        poll.result.status, EXIT_FAILED
    )


async def snmp_get_command(
    target: SnmpTarget, oids: Sequence[str], *, as_json: bool, out: TextIO
) -> int:
    """GET raw OIDs; exit status 0 when every OID had a value, 1 when some had none, 2 on
    failure (the reason on ``out`` as ``error: ...`` or ``{"error": ...}``)."""
    try:
        async with SnmpPoller() as poller:
            values = await poller.get(target, oids)
    except SnmpError as exc:
        if as_json:
            json.dump({"error": str(exc)}, out)
            print(file=out)
        else:
            print(f"error: {exc}", file=out)
        return EXIT_FAILED
    if as_json:
        json.dump(values, out, indent=2)
        print(file=out)
    wanted = list(dict.fromkeys(oid.strip().lstrip(".") for oid in oids))
    if not as_json:
        for oid in wanted:
            print(f"{oid} = {values.get(oid, '(no such object)')}", file=out)
    return EXIT_OK if all(oid in values for oid in wanted) else EXIT_PARTIAL
