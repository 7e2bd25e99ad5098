"""From raw scalars and walked columns to a ``SnmpSnapshot``, and from a snapshot to the dotted
metric names thresholds and samples use.

Agents differ in what they have; nothing here assumes a table or a column exists. An area whose
table is absent is named in ``missing`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from noc.probes.snmp.client import Walk
from noc.probes.snmp.counters import CounterState
from noc.probes.snmp.decode import Raw, mac_address, to_int, to_oid, to_text
from noc.probes.snmp.mibs import (
    HR_PROCESSOR_LOAD,
    SYS_CONTACT,
    SYS_DESCR,
    SYS_LOCATION,
    SYS_NAME,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    IfColumn,
    IfStatus,
    Oid,
    StorageColumn,
    StorageKind,
)
from noc.probes.snmp.model import Interface, Memory, SnmpSnapshot, Storage, SystemInfo
from noc.probes.snmp.target import Collect, SnmpVersion

IF_COLUMNS: Final = tuple(c.value for c in IfColumn)
_COUNTER64_COLUMNS: Final = (IfColumn.HC_IN_OCTETS.value, IfColumn.HC_OUT_OCTETS.value)
V1_IF_COLUMNS: Final = tuple(c for c in IF_COLUMNS if c not in _COUNTER64_COLUMNS)
STORAGE_COLUMNS: Final = tuple(c.value for c in StorageColumn)
CPU_COLUMNS: Final = (HR_PROCESSOR_LOAD,)
_IF_ENTRY: Final = IfColumn.DESCR.value[:-1]
_IF_TABLE_COLUMNS: Final = tuple(c.value for c in IfColumn if c.value[:-1] == _IF_ENTRY)

_SPEED_SATURATED: Final = 2**32 - 1
"""ifSpeed's ceiling: a faster interface reports its speed in ifHighSpeed (Mb/s) instead."""
_UNSIGNED_FIX: Final = 2**32
_WRAP_GUARD_32: Final = 2**31
"""Without a speed, a 32-bit counter going down by more than half its range was reset."""

METRIC_STORAGE_KINDS: Final = frozenset(
    {
        StorageKind.RAM,
        StorageKind.VIRTUAL_MEMORY,
        StorageKind.FIXED_DISK,
        StorageKind.NETWORK_DISK,
        StorageKind.FLASH_MEMORY,
    }
)
"""Rows that become metrics; removable media, CD-ROMs and net-snmp's buffer/cache rows do not."""

_NET_SNMP_BUFFERS: Final = "Memory buffers"
_NET_SNMP_CACHED: Final = "Cached memory"
_NET_SNMP_AVAILABLE: Final = "Available memory"


def system_oids(collect: frozenset[Collect]) -> tuple[Oid, ...]:
    """sysUpTime is always read: it proves the agent answers and detects reboots."""
    if Collect.SYSTEM in collect:
        return (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_CONTACT, SYS_NAME, SYS_LOCATION)
    return (SYS_UPTIME,)


def walk_columns(collect: frozenset[Collect], version: SnmpVersion) -> tuple[Oid, ...]:
    """The short tables first: they finish in the first answer and leave room for ifTable.

    SNMPv1 cannot carry Counter64, so v1 agents skip the ifHC columns: asking for them only
    makes the agent search past every 64-bit counter it has.
    """
    columns: list[Oid] = []
    if Collect.CPU in collect:
        columns += CPU_COLUMNS
    if Collect.STORAGE in collect:
        columns += STORAGE_COLUMNS
    if Collect.INTERFACES in collect:
        columns += V1_IF_COLUMNS if version is SnmpVersion.V1 else IF_COLUMNS
    return tuple(columns)


def system_info(scalars: Mapping[Oid, Raw]) -> SystemInfo:
    def text(oid: Oid) -> str | None:
        return to_text(scalars[oid]) if oid in scalars else None

    uptime = to_int(scalars.get(SYS_UPTIME))
    return SystemInfo(
        descr=text(SYS_DESCR),
        object_id=text(SYS_OBJECT_ID),
        name=text(SYS_NAME),
        contact=text(SYS_CONTACT),
        location=text(SYS_LOCATION),
        uptime_s=None if uptime is None else uptime / 100,
    )


def missing_system(info: SystemInfo) -> list[str]:
    fields = {
        "sys.descr": info.descr,
        "sys.object_id": info.object_id,
        "sys.name": info.name,
        "sys.uptime": info.uptime_s,
    }
    return [name for name, value in fields.items() if value is None]


def _row_indices(walk: Walk, columns: Iterable[Oid]) -> list[int]:
    """Rows with a single-number index, in order (every table read here is indexed so)."""
    seen: set[int] = set()
    for column in columns:
        for index in walk.rows.get(column, {}):
            if len(index) == 1:
                seen.add(index[0])
    return sorted(seen)


def _speed(speed: int | None, high_speed: int | None) -> int | None:
    if speed is not None and 0 < speed < _SPEED_SATURATED:
        return speed
    if high_speed is not None and high_speed > 0:
        return high_speed * 1_000_000
    return speed if speed else None


def interfaces(walk: Walk, state: CounterState, now: float) -> tuple[Interface, ...]:
    indices = _row_indices(walk, _IF_TABLE_COLUMNS)
    found = tuple(_IfRow(walk, state, index, now).interface() for index in indices)
    state.forget_missing(set(indices))
    return found


class _IfRow:
    """One ifTable/ifXTable row and the rates its counters give against the previous poll."""

    def __init__(self, walk: Walk, state: CounterState, index: int, now: float) -> None:
        self.walk, self.state, self.index, self.now = walk, state, index, now

    def cell(self, column: IfColumn) -> Raw | None:
        return self.walk.rows.get(column.value, {}).get((self.index,))

    def number(self, column: IfColumn) -> int | None:
        return to_int(self.cell(column))

    def rate(
        self, name: str, column: IfColumn, bits: int, per_second: float | None, cap: float | None
    ) -> tuple[int | None, float | None]:
        value = self.number(column)
        at = self.walk.at.get(column.value, self.now)
        rate = self.state.rate((self.index, name), value, at, bits, per_second, max_delta=cap)
        return value, rate

    def interface(self) -> Interface:
        descr = to_text(self.cell(IfColumn.DESCR))
        speed = _speed(self.number(IfColumn.SPEED), self.number(IfColumn.HIGH_SPEED))
        wide = (
            self.number(IfColumn.HC_IN_OCTETS) is not None
            and self.number(IfColumn.HC_OUT_OCTETS) is not None
        )
        bits = 64 if wide else 32
        in_col = IfColumn.HC_IN_OCTETS if wide else IfColumn.IN_OCTETS
        out_col = IfColumn.HC_OUT_OCTETS if wide else IfColumn.OUT_OCTETS
        self.state.observe_discontinuity(self.index, self.number(IfColumn.COUNTER_DISCONTINUITY))
        per_second = speed / 8 if speed else None
        guard = None if speed else _WRAP_GUARD_32
        in_octets, in_rate = self.rate("in_octets", in_col, bits, per_second, guard)
        out_octets, out_rate = self.rate("out_octets", out_col, bits, per_second, guard)
        in_errors, in_errors_ps = self.rate(
            "in_errors", IfColumn.IN_ERRORS, 32, None, _WRAP_GUARD_32
        )
        out_errors, out_errors_ps = self.rate(
            "out_errors", IfColumn.OUT_ERRORS, 32, None, _WRAP_GUARD_32
        )
        in_discards, in_discards_ps = self.rate(
            "in_discards", IfColumn.IN_DISCARDS, 32, None, _WRAP_GUARD_32
        )
        out_discards, out_discards_ps = self.rate(
            "out_discards", IfColumn.OUT_DISCARDS, 32, None, _WRAP_GUARD_32
        )
        return Interface(
            index=self.index,
            name=to_text(self.cell(IfColumn.NAME)) or descr or f"if{self.index}",
            descr=descr,
            alias=to_text(self.cell(IfColumn.ALIAS)),
            type=self.number(IfColumn.TYPE),
            mac=mac_address(self.cell(IfColumn.PHYS_ADDRESS)),
            mtu=self.number(IfColumn.MTU),
            admin_status=IfStatus.parse(self.cell(IfColumn.ADMIN_STATUS)),
            oper_status=IfStatus.parse(self.cell(IfColumn.OPER_STATUS)),
            speed_bps=speed,
            counters_64bit=wide,
            in_octets=in_octets,
            out_octets=out_octets,
            in_errors=in_errors,
            out_errors=out_errors,
            in_discards=in_discards,
            out_discards=out_discards,
            in_bps=None if in_rate is None else in_rate * 8,
            out_bps=None if out_rate is None else out_rate * 8,
            in_errors_ps=in_errors_ps,
            out_errors_ps=out_errors_ps,
            in_discards_ps=in_discards_ps,
            out_discards_ps=out_discards_ps,
        )


def _unsigned(value: int | None) -> int | None:
    """hrStorageSize/Used are Integer32: agents with big disks overflow them into negatives."""
    if value is None:
        return None
    return value + _UNSIGNED_FIX if value < 0 else value


def storage(walk: Walk) -> tuple[Storage, ...]:
    rows = walk.rows

    def cell(column: StorageColumn, index: int) -> Raw | None:
        return rows.get(column.value, {}).get((index,))

    found: list[Storage] = []
    for index in _row_indices(walk, STORAGE_COLUMNS):
        unit = to_int(cell(StorageColumn.ALLOCATION_UNITS, index))
        size = _unsigned(to_int(cell(StorageColumn.SIZE, index)))
        used = _unsigned(to_int(cell(StorageColumn.USED, index)))
        if unit is None or size is None:
            continue
        found.append(
            Storage(
                index=index,
                descr=to_text(cell(StorageColumn.DESCR, index)),
                kind=StorageKind.from_oid(to_oid(cell(StorageColumn.TYPE, index))),
                allocation_unit=unit,
                size_bytes=size * unit,
                used_bytes=(used or 0) * unit,
            )
        )
    return tuple(found)


def memory(rows: tuple[Storage, ...]) -> Memory | None:
    ram = next((s for s in rows if s.kind is StorageKind.RAM and s.size_bytes > 0), None)
    if ram is None:
        return None
    # net-snmp on Linux counts buffers and page cache as used RAM, and reports beside it the
    # kernel's MemAvailable (5.8 and later) or at least the buffers and the cache.
    other = {s.descr: s for s in rows if s.kind is StorageKind.OTHER}
    available = other.get(_NET_SNMP_AVAILABLE)
    if available is not None and 0 < available.size_bytes <= ram.size_bytes:
        used = ram.size_bytes - available.size_bytes
    else:
        reclaimable = sum(
            other[name].used_bytes
            for name in (_NET_SNMP_BUFFERS, _NET_SNMP_CACHED)
            if name in other
        )
        used = ram.used_bytes - reclaimable
        if used < 0:
            used = ram.used_bytes
    return Memory(total_bytes=ram.size_bytes, used_bytes=used)


def cpu_loads(walk: Walk) -> tuple[int, ...]:
    column = walk.rows.get(HR_PROCESSOR_LOAD, {})
    loads = (to_int(column.get((index,))) for index in _row_indices(walk, CPU_COLUMNS))
    return tuple(load for load in loads if load is not None)


def _put(values: dict[str, Any], name: str, value: Any) -> None:
    if value is not None and value != "":
        values[name] = value


def flatten(snapshot: SnmpSnapshot) -> dict[str, Any]:
    """The snapshot as ``ProbeResult.values``: numbers for samples and a few labels."""
    values: dict[str, Any] = {}
    system = snapshot.system
    _put(values, "sys.descr", system.descr)
    _put(values, "sys.object_id", system.object_id)
    _put(values, "sys.name", system.name)
    _put(values, "sys.contact", system.contact)
    _put(values, "sys.location", system.location)
    _put(values, "sys.uptime_s", system.uptime_s)
    if system.uptime_s is not None:
        values["sys.rebooted"] = int(snapshot.rebooted)
    vendor = snapshot.vendor
    _put(values, "sys.vendor", vendor.vendor)
    _put(values, "sys.os", vendor.os)
    _put(values, "sys.os_version", vendor.version)
    _put(values, "sys.model", vendor.model)
    if "interfaces" not in snapshot.missing:
        _interface_values(values, snapshot.interfaces)
    if "storage" not in snapshot.missing:
        _storage_values(values, snapshot)
    if "cpu" not in snapshot.missing:
        values["cpu.count"] = len(snapshot.cpu_loads)
        _put(values, "cpu.load_pct", snapshot.cpu_load_pct)
        for position, load in enumerate(snapshot.cpu_loads):
            values[f"cpu.{position}.load_pct"] = load
    return values


def _interface_values(values: dict[str, Any], found: tuple[Interface, ...]) -> None:
    values["if.count"] = len(found)
    values["if.up"] = sum(1 for i in found if i.oper_status is IfStatus.UP)
    values["if.down"] = sum(1 for i in found if i.is_down)
    for i in found:
        prefix = f"if.{i.index}."
        _put(values, prefix + "name", i.name)
        _put(values, prefix + "oper_status", _code(i.oper_status))
        _put(values, prefix + "admin_status", _code(i.admin_status))
        _put(values, prefix + "speed_bps", i.speed_bps)
        _put(values, prefix + "in_bps", i.in_bps)
        _put(values, prefix + "out_bps", i.out_bps)
        _put(values, prefix + "in_util_pct", i.in_util_pct)
        _put(values, prefix + "out_util_pct", i.out_util_pct)
        _put(values, prefix + "in_errors_ps", i.in_errors_ps)
        _put(values, prefix + "out_errors_ps", i.out_errors_ps)
        _put(values, prefix + "in_discards_ps", i.in_discards_ps)
        _put(values, prefix + "out_discards_ps", i.out_discards_ps)


def _code(status: IfStatus | None) -> int | None:
    return None if status is None else int(status)


def _storage_values(values: dict[str, Any], snapshot: SnmpSnapshot) -> None:
    shown = [s for s in snapshot.storage if s.kind in METRIC_STORAGE_KINDS]
    values["storage.count"] = len(shown)
    for s in shown:
        prefix = f"storage.{s.index}."
        _put(values, prefix + "name", s.descr)
        values[prefix + "size_bytes"] = s.size_bytes
        values[prefix + "used_bytes"] = s.used_bytes
        _put(values, prefix + "used_pct", s.used_pct)
    if snapshot.memory is not None:
        values["mem.total_bytes"] = snapshot.memory.total_bytes
        values["mem.used_bytes"] = snapshot.memory.used_bytes
        _put(values, "mem.used_pct", snapshot.memory.used_pct)
