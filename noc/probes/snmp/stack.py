"""What every pysnmp stack offers ``SnmpEngines``: send one PDU, answer pysnmp's way."""

from __future__ import annotations

import enum
import functools
from typing import Any, Protocol

from pysnmp.proto.rfc1902 import Null, ObjectName

from noc.probes.snmp.mibs import Oid
from noc.probes.snmp.target import SnmpTarget

NULL = Null("")


class PduKind(enum.Enum):
    GET = "get"
    GETNEXT = "getnext"
    GETBULK = "getbulk"


Answer = tuple[Any, Any, Any, Any]
"""pysnmp's (errorIndication, errorStatus, errorIndex, varBinds)."""


class Stack(Protocol):
    async def request(
        self, target: SnmpTarget, kind: PduKind, oids: list[Oid], max_repetitions: int
    ) -> Answer: ...

    def stop_receiving(self) -> None: ...

    def close(self) -> None: ...


@functools.lru_cache(maxsize=8192)
def varbind(oid: Oid) -> tuple[ObjectName, Any]:
    """A request varbind; pyasn1 objects are immutable and costly to build, so they are
    reused (about a third of a millisecond saved per 8-OID request)."""
    return (ObjectName(oid), NULL)
