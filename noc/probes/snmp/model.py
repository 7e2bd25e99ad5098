"""What one poll learnt about a device, as immutable records for the console's device detail.

``ProbeResult.values`` carries the same facts flattened to dotted names for thresholds and
samples; these records keep the structure (an interface's name next to its counters) that a
table of interfaces or filesystems needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from noc.probes.result import ProbeResult
from noc.probes.snmp.mibs import IfStatus, StorageKind


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """SNMPv2-MIB::system; None where the agent does not have the object."""

    descr: str | None = None
    object_id: str | None = None
    name: str | None = None
    contact: str | None = None
    location: str | None = None
    uptime_s: float | None = None


@dataclass(frozen=True, slots=True)
class VendorInfo:
    """Who made it and what it runs, as far as sysObjectID and sysDescr tell; "" if unknown."""

    vendor: str = ""
    os: str = ""
    version: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    index: int
    name: str
    """ifName when the agent has ifXTable, else ifDescr."""
    descr: str = ""
    alias: str = ""
    type: int | None = None
    """IANAifType (6 ethernetCsmacd, 24 softwareLoopback, 53 propVirtual ...)."""
    mac: str = ""
    mtu: int | None = None
    admin_status: IfStatus | None = None
    oper_status: IfStatus | None = None
    speed_bps: int | None = None
    counters_64bit: bool = False
    in_octets: int | None = None
    out_octets: int | None = None
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    in_bps: float | None = None
    """Bits a second since the previous poll; None on the first poll and after a reset."""
    out_bps: float | None = None
    in_errors_ps: float | None = None
    out_errors_ps: float | None = None
    in_discards_ps: float | None = None
    out_discards_ps: float | None = None

    @property
    def in_util_pct(self) -> float | None:
        return _pct(self.in_bps, self.speed_bps)

    @property
    def out_util_pct(self) -> float | None:
        return _pct(self.out_bps, self.speed_bps)

    @property
    def is_down(self) -> bool:
        """Enabled but not up: the state worth an alert (admin-down ports are intentional)."""
        return self.admin_status is IfStatus.UP and self.oper_status not in (
            IfStatus.UP,
            IfStatus.DORMANT,
            None,
        )


def _pct(part: float | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return 100.0 * part / whole


@dataclass(frozen=True, slots=True)
class Storage:
    """One hrStorageTable row, in bytes."""

    index: int
    descr: str
    kind: StorageKind
    allocation_unit: int
    size_bytes: int
    used_bytes: int

    @property
    def free_bytes(self) -> int:
        return max(0, self.size_bytes - self.used_bytes)

    @property
    def used_pct(self) -> float | None:
        if self.size_bytes <= 0:
            return None
        return 100.0 * self.used_bytes / self.size_bytes


@dataclass(frozen=True, slots=True)
class Memory:
    """Physical memory. ``used_bytes`` is total minus available when the agent reports what
    is available (net-snmp 5.8+ on Linux: the kernel's MemAvailable, as ``free`` and psutil
    count it), else used minus buffers and page cache when it reports those, else what the
    agent calls used."""

    total_bytes: int
    used_bytes: int

    @property
    def used_pct(self) -> float | None:
        if self.total_bytes <= 0:
            return None
        return 100.0 * self.used_bytes / self.total_bytes


@dataclass(frozen=True, slots=True)
class SnmpSnapshot:
    system: SystemInfo = field(default_factory=SystemInfo)
    vendor: VendorInfo = field(default_factory=VendorInfo)
    interfaces: tuple[Interface, ...] = ()
    storage: tuple[Storage, ...] = ()
    memory: Memory | None = None
    cpu_loads: tuple[int, ...] = ()
    """hrProcessorLoad of each processor, percent over the last minute, in hrDeviceIndex order."""
    rebooted: bool = False
    """sysUpTime says the agent restarted since the previous poll."""
    missing: tuple[str, ...] = ()

    @property
    def cpu_load_pct(self) -> float | None:
        if not self.cpu_loads:
            return None
        return sum(self.cpu_loads) / len(self.cpu_loads)


@dataclass(frozen=True, slots=True)
class SnmpPoll:
    """A poll's result for the scheduler, and its snapshot (None when the device never answered)."""

    result: ProbeResult
    snapshot: SnmpSnapshot | None = None
    full: bool = True
    """Whether the poll read names and descriptions too, rather than leaning on the agent's
    last discovery (``discovery``)."""
