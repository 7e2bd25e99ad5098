"""The OIDs noc reads, as tuples of ints so prefix tests are plain slicing.

Only the standard MIBs every agent is supposed to implement: SNMPv2-MIB (system), IF-MIB
(ifTable, ifXTable) and HOST-RESOURCES-MIB (hrStorageTable, hrProcessorTable). No MIB files are
loaded at run time: pysnmp's MIB resolution costs more CPU than the exchange itself. Parsing
and formatting are cached: the same few OIDs are asked of every device.
"""

from __future__ import annotations

import enum
import functools
from typing import Final

Oid = tuple[int, ...]


@functools.lru_cache(maxsize=16384)
def parse_oid(text: str) -> Oid:
    """``"1.3.6.1.2.1.1.1.0"`` (a leading dot allowed) as a tuple; ValueError when malformed."""
    parts = text.strip().lstrip(".").split(".")
    try:
        oid = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a numeric OID") from None
    if len(oid) < 2 or any(n < 0 for n in oid):
        raise ValueError(f"{text!r} is not a numeric OID")
    return oid


@functools.lru_cache(maxsize=16384)
def format_oid(oid: Oid) -> str:
    return ".".join(map(str, oid))


_MIB2: Final = (1, 3, 6, 1, 2, 1)
ENTERPRISES: Final = (1, 3, 6, 1, 4, 1)

# SNMPv2-MIB::system
SYS_DESCR: Final = (*_MIB2, 1, 1, 0)
SYS_OBJECT_ID: Final = (*_MIB2, 1, 2, 0)
SYS_UPTIME: Final = (*_MIB2, 1, 3, 0)
SYS_CONTACT: Final = (*_MIB2, 1, 4, 0)
SYS_NAME: Final = (*_MIB2, 1, 5, 0)
SYS_LOCATION: Final = (*_MIB2, 1, 6, 0)
SYSTEM_SCALARS: Final = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_CONTACT, SYS_NAME, SYS_LOCATION)

IF_NUMBER: Final = (*_MIB2, 2, 1, 0)
"""IF-MIB::ifNumber: how many rows ifTable has, which sizes the first walk's requests."""
_IF_ENTRY: Final = (*_MIB2, 2, 2, 1)
_IFX_ENTRY: Final = (*_MIB2, 31, 1, 1, 1)
_HR_STORAGE_ENTRY: Final = (*_MIB2, 25, 2, 3, 1)
_HR_STORAGE_TYPES: Final = (*_MIB2, 25, 2, 1)


class IfColumn(enum.Enum):
    """The IF-MIB columns a poll walks (ifTable, then ifXTable)."""

    DESCR = (*_IF_ENTRY, 2)
    TYPE = (*_IF_ENTRY, 3)
    MTU = (*_IF_ENTRY, 4)
    SPEED = (*_IF_ENTRY, 5)
    PHYS_ADDRESS = (*_IF_ENTRY, 6)
    ADMIN_STATUS = (*_IF_ENTRY, 7)
    OPER_STATUS = (*_IF_ENTRY, 8)
    IN_OCTETS = (*_IF_ENTRY, 10)
    IN_DISCARDS = (*_IF_ENTRY, 13)
    IN_ERRORS = (*_IF_ENTRY, 14)
    OUT_OCTETS = (*_IF_ENTRY, 16)
    OUT_DISCARDS = (*_IF_ENTRY, 19)
    OUT_ERRORS = (*_IF_ENTRY, 20)
    NAME = (*_IFX_ENTRY, 1)
    HC_IN_OCTETS = (*_IFX_ENTRY, 6)
    HC_OUT_OCTETS = (*_IFX_ENTRY, 10)
    HIGH_SPEED = (*_IFX_ENTRY, 15)
    ALIAS = (*_IFX_ENTRY, 18)
    COUNTER_DISCONTINUITY = (*_IFX_ENTRY, 19)


class StorageColumn(enum.Enum):
    """HOST-RESOURCES-MIB::hrStorageEntry."""

    TYPE = (*_HR_STORAGE_ENTRY, 2)
    DESCR = (*_HR_STORAGE_ENTRY, 3)
    ALLOCATION_UNITS = (*_HR_STORAGE_ENTRY, 4)
    SIZE = (*_HR_STORAGE_ENTRY, 5)
    USED = (*_HR_STORAGE_ENTRY, 6)


HR_PROCESSOR_LOAD: Final = (*_MIB2, 25, 3, 3, 1, 2)


class StorageKind(enum.StrEnum):
    """hrStorageType (HOST-RESOURCES-TYPES::hrStorageTypes.N), by name."""

    OTHER = "other"
    RAM = "ram"
    VIRTUAL_MEMORY = "virtual_memory"
    FIXED_DISK = "fixed_disk"
    REMOVABLE_DISK = "removable_disk"
    FLOPPY_DISK = "floppy_disk"
    COMPACT_DISC = "compact_disc"
    RAM_DISK = "ram_disk"
    FLASH_MEMORY = "flash_memory"
    NETWORK_DISK = "network_disk"

    @classmethod
    def from_oid(cls, oid: Oid | None) -> StorageKind:
        if oid is None or oid[:-1] != _HR_STORAGE_TYPES:
            return cls.OTHER
        return _STORAGE_KINDS.get(oid[-1], cls.OTHER)


_STORAGE_KINDS: Final = {
    1: StorageKind.OTHER,
    2: StorageKind.RAM,
    3: StorageKind.VIRTUAL_MEMORY,
    4: StorageKind.FIXED_DISK,
    5: StorageKind.REMOVABLE_DISK,
    6: StorageKind.FLOPPY_DISK,
    7: StorageKind.COMPACT_DISC,
    8: StorageKind.RAM_DISK,
    9: StorageKind.FLASH_MEMORY,
    10: StorageKind.NETWORK_DISK,
}


class IfStatus(enum.IntEnum):
    """ifAdminStatus / ifOperStatus; the number is what becomes a sample."""

    UP = 1
    DOWN = 2
    TESTING = 3
    UNKNOWN = 4
    DORMANT = 5
    NOT_PRESENT = 6
    LOWER_LAYER_DOWN = 7

    @classmethod
    def parse(cls, value: object) -> IfStatus | None:
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                return None
        return None

    @property
    def label(self) -> str:
        """IF-MIB's own spelling: ``up``, ``lowerLayerDown``."""
        head, *rest = self.name.lower().split("_")
        return head + "".join(word.title() for word in rest)
