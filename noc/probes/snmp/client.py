"""GET and table walks on top of the shared engines, for every SNMP version.

A walk reads many columns in one stream of requests (GETBULK for v2c/v3, GETNEXT for v1): one
round trip brings rows of ifTable, ifXTable, hrStorageTable and hrProcessorTable at once, and a
column leaves the stream when the agent answers past its end. Progress is kept in a ``Walk``, so
a deadline that cuts a walk short still leaves every column that did finish.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from noc.probes.snmp.decode import Raw, to_raw
from noc.probes.snmp.engines import PduKind, Response, SnmpEngines, agent_error_text
from noc.probes.snmp.errors import SnmpAgentError
from noc.probes.snmp.mibs import Oid
from noc.probes.snmp.target import SnmpTarget, SnmpVersion

_TOO_BIG = 1
_NO_SUCH_NAME = 2
MAX_GET_VARBINDS = 40
"""OIDs per GET request; more are split into several requests."""
MAX_WALK_COLUMNS = 32
"""Enough for every column a full poll reads (25) to start in the first request."""
MAX_WALK_VARBINDS = 128
"""Varbinds a GETBULK asks for at most: about 4-6 KB of answer, so a few IP fragments at worst."""


@dataclass
class Walk:
    """The columns of a walk and what has arrived so far."""

    columns: tuple[Oid, ...]
    rows: dict[Oid, dict[Oid, Raw]] = field(default_factory=dict)
    """Column OID -> row index (the OID suffix) -> value."""
    done: set[Oid] = field(default_factory=set)
    at: dict[Oid, float] = field(default_factory=dict)
    """Column OID -> ``time.monotonic()`` of the last answer that carried one of its rows."""
    requests: int = 0

    def __post_init__(self) -> None:
        for column in self.columns:
            self.rows.setdefault(column, {})

    def complete(self, columns: Iterable[Oid]) -> bool:
        return all(column in self.done for column in columns)

    def has_rows(self, columns: Iterable[Oid]) -> bool:
        return any(self.rows.get(column) for column in columns)


class SnmpClient:
    """Reads values from agents; raises ``SnmpError`` subclasses, never pysnmp's own."""

    def __init__(self, engines: SnmpEngines) -> None:
        self._engines = engines

    async def get(self, target: SnmpTarget, oids: Sequence[Oid]) -> dict[Oid, Raw]:
        """Values by OID; an OID the agent does not have is left out."""
        wanted = list(dict.fromkeys(oids))
        values: dict[Oid, Raw] = {}
        for start in range(0, len(wanted), MAX_GET_VARBINDS):
            values.update(await self._get_chunk(target, wanted[start : start + MAX_GET_VARBINDS]))
        return values

    async def _get_chunk(self, target: SnmpTarget, oids: list[Oid]) -> dict[Oid, Raw]:
        pending = list(oids)
        while pending:
            response = await self._engines.request(target, PduKind.GET, pending)
            if not response.error_status:
                return _present(response)
            # SNMPv1 has no noSuchObject: the agent names the first OID it lacks and answers
            # nothing else, so ask again without it.
            if response.error_status == _NO_SUCH_NAME and 0 < response.error_index <= len(pending):
                del pending[response.error_index - 1]
                continue
            raise SnmpAgentError(agent_error_text(target, response, pending))
        return {}

    async def walk(self, target: SnmpTarget, walk: Walk, rows: int | None = None) -> None:
        """``rows``: how many rows the longest column had last time, if known. Asking for one
        more ends every column in the first answer instead of reading past the short ones."""
        last: dict[Oid, Oid] = {column: column for column in walk.columns}
        repetitions = (
            target.max_repetitions if rows is None else min(target.max_repetitions, rows + 1)
        )
        while True:
            active = [c for c in walk.columns if c not in walk.done][:MAX_WALK_COLUMNS]
            if not active:
                return
            request = [last[c] for c in active]
            if target.version is SnmpVersion.V1:
                response = await self._engines.request(target, PduKind.GETNEXT, request)
            else:
                per_column = max(1, min(repetitions, MAX_WALK_VARBINDS // len(active)))
                response = await self._engines.request(target, PduKind.GETBULK, request, per_column)
            walk.requests += 1
            if response.error_status:
                if response.error_status == _NO_SUCH_NAME and 0 < response.error_index <= len(
                    active
                ):
                    walk.done.add(active[response.error_index - 1])  # v1: past the end of MIB
                    continue
                if response.error_status == _TOO_BIG and repetitions > 1:
                    repetitions //= 2
                    continue
                raise SnmpAgentError(agent_error_text(target, response, request))
            _take(walk, active, last, response, target.max_rows, time.monotonic())


def _present(response: Response) -> dict[Oid, Raw]:
    values: dict[Oid, Raw] = {}
    for oid, value in response.varbinds:
        raw = to_raw(value)
        if raw is not None:
            values[oid] = raw
    return values


def _take(
    walk: Walk,
    active: list[Oid],
    last: dict[Oid, Oid],
    response: Response,
    max_rows: int,
    now: float,
) -> None:
    """Spread a GETNEXT/GETBULK answer over its columns (varbind i is column i mod n)."""
    if not response.varbinds:
        walk.done.update(active)  # nothing came back: there is nothing more to ask for
        return
    width = len(active)
    for position, (oid, value) in enumerate(response.varbinds):
        column = active[position % width]
        if column in walk.done:
            continue
        # Past the column, the end of the MIB, or an agent that does not move forward (a loop).
        if Response.is_end(value) or oid[: len(column)] != column or oid <= last[column]:
            walk.done.add(column)
            continue
        last[column] = oid
        walk.at[column] = now
        raw = to_raw(value)
        rows = walk.rows[column]
        if raw is not None:
            rows[oid[len(column) :]] = raw
        if len(rows) >= max_rows:
            walk.done.add(column)
