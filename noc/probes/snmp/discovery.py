"""What an agent says about itself that seldom changes, kept so that most polls need not ask.

Half the columns a full poll walks, and most of its bytes, describe rather than measure:
sysDescr, sysObjectID, sysName, sysContact, sysLocation; each interface's name, description,
alias, type, speed, MAC and MTU; each storage row's type, description and allocation unit.
Decoding them costs the poller (and the agent) as much as the counters do, every poll, for
values that change when someone edits a config. So, like Zabbix's low-level discovery and
LibreNMS' discovery pass, a full poll runs now and then — the first poll, every
``SnmpTarget.rediscover`` seconds (with jitter, so agents added together do not rediscover
together), after a reboot, and as soon as the rows the agent has stop matching the rows
remembered — and the polls between read sysUpTime and the changing columns only: status,
counters, usage, load. Columns and tables the agent did not have at discovery are not asked
for again until the next one.

The remembered rows also size each GETBULK: asking for one row more than the table had ends
every column in one answer, where a fixed ``max_repetitions`` over-reads short tables.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from noc.probes.snmp.client import Walk
from noc.probes.snmp.counters import CounterState
from noc.probes.snmp.decode import Raw
from noc.probes.snmp.mibs import (
    HR_PROCESSOR_LOAD,
    SYS_CONTACT,
    SYS_DESCR,
    SYS_LOCATION,
    SYS_NAME,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    IfColumn,
    Oid,
    StorageColumn,
)

MEASURED_COLUMNS: Final = frozenset(
    (
        IfColumn.ADMIN_STATUS.value,
        IfColumn.OPER_STATUS.value,
        IfColumn.IN_OCTETS.value,
        IfColumn.OUT_OCTETS.value,
        IfColumn.HC_IN_OCTETS.value,
        IfColumn.HC_OUT_OCTETS.value,
        IfColumn.IN_ERRORS.value,
        IfColumn.OUT_ERRORS.value,
        IfColumn.IN_DISCARDS.value,
        IfColumn.OUT_DISCARDS.value,
        IfColumn.COUNTER_DISCONTINUITY.value,
        StorageColumn.SIZE.value,
        StorageColumn.USED.value,
        HR_PROCESSOR_LOAD,
    )
)
"""Columns read at every poll; the others are read at discovery and remembered."""

DESCRIPTIVE_SCALARS: Final = (SYS_DESCR, SYS_OBJECT_ID, SYS_CONTACT, SYS_NAME, SYS_LOCATION)
MEASURED_SCALARS: Final = (SYS_UPTIME,)
"""The one system scalar that changes; reading it also proves the agent answers."""

_NARROW_OCTETS: Final = (IfColumn.IN_OCTETS.value, IfColumn.OUT_OCTETS.value)
_WIDE_OCTETS: Final = (IfColumn.HC_IN_OCTETS.value, IfColumn.HC_OUT_OCTETS.value)
_IF_ENTRY: Final = IfColumn.DESCR.value[:-1]
_STORAGE_ENTRY: Final = StorageColumn.DESCR.value[:-1]
_CHECKED_TABLES: Final = (_IF_ENTRY, _STORAGE_ENTRY)
"""Tables whose row set is compared with discovery's (ifXTable's rows are ifTable's)."""

JITTER: Final = 0.2
"""A rediscovery falls due between 80% and 100% of ``rediscover`` after the last one."""


@dataclass
class Discovery:
    """The descriptive half of one full poll."""

    scalars: dict[Oid, Raw]
    rows: dict[Oid, dict[Oid, Raw]]
    """Descriptive column -> row index -> value, and every column found empty -> {}."""
    poll_columns: tuple[Oid, ...]
    """The measured columns worth asking for: those that had rows, and of an interface's two
    octet counters only the 64-bit pair when every interface has it."""
    indices: dict[Oid, frozenset[Oid]]
    """Table entry OID -> the row indices it had."""
    row_count: int
    """The most rows any polled column had: the GETBULK size that ends them all at once."""
    due: float
    """``time.monotonic()`` after which the next poll is a full one again."""

    @classmethod
    def learn(
        cls, scalars: Mapping[Oid, Raw], walk: Walk, rediscover: float, now: float
    ) -> Discovery:
        rows = {c: dict(r) for c, r in walk.rows.items() if c not in MEASURED_COLUMNS}
        empty = [c for c in walk.columns if c in MEASURED_COLUMNS and not walk.rows.get(c)]
        rows.update((c, {}) for c in empty)
        polled = [c for c in walk.columns if c in MEASURED_COLUMNS and walk.rows.get(c)]
        if _all_wide(walk):
            rows.update((c, {}) for c in _NARROW_OCTETS if c in polled)
            polled = [c for c in polled if c not in _NARROW_OCTETS]
        return cls(
            scalars={o: v for o, v in scalars.items() if o in DESCRIPTIVE_SCALARS},
            rows=rows,
            poll_columns=tuple(polled),
            indices=_indices(walk.rows, polled),
            row_count=max((len(walk.rows[c]) for c in polled), default=0),
            due=now + rediscover * (1 - JITTER * random.random()),
        )

    def fill_scalars(self, scalars: dict[Oid, Raw]) -> None:
        for oid, value in self.scalars.items():
            scalars.setdefault(oid, value)

    def fill_walk(self, walk: Walk) -> bool:
        """Complete a measuring poll's finished walk with the rows discovery remembered.

        False when the agent's rows no longer match discovery's (an interface or a volume was
        added or removed): the caller polls in full instead, so nothing is shown half-named.
        """
        if _indices(walk.rows, walk.columns) != self.indices:
            return False
        for column, rows in self.rows.items():
            walk.rows[column] = dict(rows)
            walk.done.add(column)
        return True


@dataclass
class AgentMemory:
    """What one agent's previous polls left behind: counters for rates, and its discovery."""

    counters: CounterState = field(default_factory=CounterState)
    discovery: Discovery | None = None

    def discovery_for(self, rediscover: float, now: float) -> Discovery | None:
        """The discovery a poll may lean on now; None when this poll must be a full one."""
        found = self.discovery
        if found is None or rediscover <= 0 or now >= found.due:
            return None
        return found


def _all_wide(walk: Walk) -> bool:
    """Every interface has both 64-bit octet counters, so the 32-bit pair is never used."""
    narrow = set(walk.rows.get(_NARROW_OCTETS[0], {})) | set(walk.rows.get(_NARROW_OCTETS[1], {}))
    wide = [set(walk.rows.get(c, {})) for c in _WIDE_OCTETS]
    return bool(wide[0]) and narrow <= wide[0] and narrow <= wide[1]


def _indices(
    rows: Mapping[Oid, Mapping[Oid, Raw]], columns: Iterable[Oid]
) -> dict[Oid, frozenset[Oid]]:
    found: dict[Oid, set[Oid]] = {}
    for column in columns:
        entry = column[:-1]
        if entry in _CHECKED_TABLES:
            found.setdefault(entry, set()).update(rows.get(column, {}))
    return {entry: frozenset(indices) for entry, indices in found.items()}
