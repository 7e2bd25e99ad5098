"""What the scheduler holds: one SNMP prober per process, in-process or over workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from noc.probes.result import ProbeResult
from noc.probes.snmp.mibs import Oid
from noc.probes.snmp.model import SnmpPoll
from noc.probes.snmp.poller import SnmpPoller, SnmpValue
from noc.probes.snmp.pool import SnmpWorkerPool
from noc.probes.snmp.target import SnmpTarget


class SnmpProber(Protocol):
    async def poll(self, target: SnmpTarget) -> ProbeResult: ...

    async def poll_detail(self, target: SnmpTarget) -> SnmpPoll: ...

    async def get(self, target: SnmpTarget, oids: Sequence[str | Oid]) -> dict[str, SnmpValue]: ...

    async def forget(self, target: SnmpTarget) -> None: ...


def open_snmp(workers: int = 1) -> SnmpPoller | SnmpWorkerPool:
    """``async with open_snmp(n) as snmp``: in this process when ``workers`` is 1 (or less),
    else over that many worker processes. Both have the ``SnmpProber`` methods."""
    if workers <= 1:
        return SnmpPoller()
    return SnmpWorkerPool(workers)
