"""An SNMP v1/v2c agent for simulated devices, built on pysnmp's message codecs.

One UDP socket per lab address (Linux delivers a packet only to a socket bound to its
destination). Each request is answered from the device's MIB view at that instant: the
system group, ifTable/ifXTable, hrStorageTable and hrProcessorLoad — what the SNMP probe reads.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
import time
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from pysnmp.proto.api.verdec import decode_message_version
from pysnmp.proto.rfc1902 import (
    Counter32,
    Counter64,
    Gauge32,
    Integer,
    ObjectIdentifier,
    OctetString,
    TimeTicks,
)

from noc.lab.model import IF_SPEED_BPS, LabDevice

log = logging.getLogger(__name__)

Oid = tuple[int, ...]

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
HR_STORAGE_ENTRY = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1)
HR_PROCESSOR_LOAD = (1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2)
HR_STORAGE_FIXED_DISK = ObjectIdentifier((1, 3, 6, 1, 2, 1, 25, 2, 1, 4))
ALLOCATION_UNIT = 4096


Cell = tuple[str, int]
"""A MIB object the lab knows (a short column name) and its row index."""

CELLS: dict[Oid, str] = {
    (*SYSTEM, 1): "sysDescr",
    (*SYSTEM, 2): "sysObjectID",
    (*SYSTEM, 3): "sysUpTime",
    (*SYSTEM, 4): "sysContact",
    (*SYSTEM, 5): "sysName",
    (*SYSTEM, 6): "sysLocation",
}
IF_COLUMNS = {1: "ifIndex", 2: "ifDescr", 3: "ifType", 5: "ifSpeed", 7: "ifAdminStatus",
              8: "ifOperStatus", 10: "ifInOctets", 13: "ifInDiscards", 14: "ifInErrors",
              16: "ifOutOctets", 19: "ifOutDiscards", 20: "ifOutErrors"}  # fmt: skip
IFX_COLUMNS = {1: "ifName", 6: "ifHCInOctets", 10: "ifHCOutOctets", 15: "ifHighSpeed",
               18: "ifAlias"}  # fmt: skip
STORAGE_COLUMNS = {1: "hrStorageIndex", 2: "hrStorageType", 3: "hrStorageDescr",
                   4: "hrStorageAllocationUnits", 5: "hrStorageSize",
                   6: "hrStorageUsed"}  # fmt: skip


def mib_view(device: LabDevice) -> dict[Oid, Cell]:
    """Every OID the device answers, mapped to the cell whose value ``cell_value`` computes."""
    view: dict[Oid, Cell] = {(*prefix, 0): (name, 0) for prefix, name in CELLS.items()}
    view[IF_NUMBER] = ("ifNumber", 0)
    for iface in device.interfaces:
        for column, name in IF_COLUMNS.items():
            view[(*IF_ENTRY, column, iface.index)] = (name, iface.index)
        for column, name in IFX_COLUMNS.items():
            view[(*IFX_ENTRY, column, iface.index)] = (name, iface.index)
    if device.kind not in ("ups", "router", "switch", "firewall"):
        for vol in device.volumes:
            for column, name in STORAGE_COLUMNS.items():
                view[(*HR_STORAGE_ENTRY, column, vol.index)] = (name, vol.index)
        for cpu in (1, 2):
            view[(*HR_PROCESSOR_LOAD, cpu)] = ("hrProcessorLoad", cpu)
    return view


def cell_value(device: LabDevice, cell: Cell, t: float) -> Any:
    """The typed SNMP value of one cell at time ``t``."""
    name, index = cell
    descr, object_id = device.descr()
    if name.startswith("sys") or name == "ifNumber":
        return {
            "sysDescr": lambda: OctetString(descr),
            "sysObjectID": lambda: ObjectIdentifier(object_id),
            "sysUpTime": lambda: TimeTicks(int(device.uptime_s(t) * 100) % 2**32),
            "sysContact": lambda: OctetString("noc lab"),
            "sysName": lambda: OctetString(device.name),
            "sysLocation": lambda: OctetString("loopback"),
            "ifNumber": lambda: Integer(len(device.interfaces)),
        }[name]()
    if name.startswith("if"):
        iface = device.interfaces[index - 1]
        if name in ("ifInOctets", "ifOutOctets"):
            return Counter32(device.if_octets(iface, t, out=name == "ifOutOctets") % 2**32)
        if name in ("ifHCInOctets", "ifHCOutOctets"):
            return Counter64(device.if_octets(iface, t, out=name == "ifHCOutOctets"))
        if name == "ifInErrors":
            return Counter32(device.if_errors(iface, t) % 2**32)
        if name in ("ifInDiscards", "ifOutDiscards", "ifOutErrors"):
            return Counter32(0)
        if name in ("ifDescr", "ifName"):
            return OctetString(iface.name)
        if name == "ifAlias":
            return OctetString("")
        if name == "ifSpeed":
            return Gauge32(IF_SPEED_BPS)
        if name == "ifHighSpeed":
            return Gauge32(IF_SPEED_BPS // 1_000_000)
        if name == "ifType":
            return Integer(6)  # ethernetCsmacd
        if name == "ifAdminStatus":
            return Integer(1 if iface.admin_up else 2)
        if name == "ifOperStatus":
            return Integer(1 if device.if_oper_up(iface) else 2)
        return Integer(index)
    if name == "hrProcessorLoad":
        return Integer(round(device.cpu_pct(t)))
    vol = device.volumes[index - 1]
    units = vol.size_bytes // ALLOCATION_UNIT
    if name == "hrStorageType":
        return HR_STORAGE_FIXED_DISK
    if name == "hrStorageDescr":
        return OctetString(vol.mount)
    if name == "hrStorageAllocationUnits":
        return Integer(ALLOCATION_UNIT)
    if name == "hrStorageSize":
        return Integer(units)
    if name == "hrStorageUsed":
        return Integer(int(units * device.volume_used_pct(vol, t) / 100))
    return Integer(index)


class AgentProtocol(asyncio.DatagramProtocol):
    """Answers GET, GETNEXT and GETBULK for one device; drops what the scenario says to drop."""

    def __init__(self, device: LabDevice, community: str) -> None:
        self.device = device
        self.community = community.encode()
        self.view = mib_view(device)
        self.oids = sorted(self.view)
        self.rng = random.Random(device.seed)
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.time()
        if not self.device.up(now) or self.device.drops(self.rng):
            return
        try:
            reply = self.respond(data, now)
        except (PyAsn1Error, ValueError, KeyError) as exc:
            log.debug("lab %s: bad SNMP request from %s: %s", self.device.name, addr, exc)
            return
        if reply is None or self.transport is None:
            return
        delay = self.device.delay()
        if delay:
            asyncio.get_running_loop().call_later(delay, self._send, reply, addr)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)
            self.answered += 1

    def _next(self, oid: Oid) -> Oid | None:
        position = bisect.bisect_right(self.oids, oid)
        return self.oids[position] if position < len(self.oids) else None

    def respond(self, data: bytes, now: float) -> bytes | None:
        version = int(decode_message_version(data))
        if version not in api.PROTOCOL_MODULES:
            return None
        mod = api.PROTOCOL_MODULES[version]
        request, _ = decoder.decode(data, asn1Spec=mod.Message())
        if bytes(mod.apiMessage.get_community(request)) != self.community:
            return None  # a wrong community gets silence, as real agents do
        pdu = mod.apiMessage.get_pdu(request)
        response = mod.apiMessage.get_response(request)
        out_pdu = mod.apiMessage.get_pdu(response)
        binds = [(tuple(oid), value) for oid, value in mod.apiPDU.get_varbinds(pdu)]
        end = mod.EndOfMibView("") if version else None
        result: list[tuple[Oid, Any]] = []
        error_index = 0
        if pdu.isSameTypeWith(mod.GetRequestPDU()):
            for n, (oid, _) in enumerate(binds, start=1):
                getter = self.view.get(oid)
                if getter is not None:
                    result.append((oid, cell_value(self.device, getter, now)))
                elif version:
                    result.append((oid, mod.NoSuchInstance("")))
                else:
                    error_index = error_index or n
                    result.append((oid, mod.Null("")))
        elif pdu.isSameTypeWith(mod.GetNextRequestPDU()):
            for n, (oid, _) in enumerate(binds, start=1):
                nxt = self._next(oid)
                if nxt is None:
                    error_index = error_index or n
                    result.append((oid, end if version else mod.Null("")))
                else:
                    result.append((nxt, cell_value(self.device, self.view[nxt], now)))
        elif version and pdu.isSameTypeWith(mod.GetBulkRequestPDU()):
            non_rep = int(mod.apiBulkPDU.get_non_repeaters(pdu))
            max_rep = min(int(mod.apiBulkPDU.get_max_repetitions(pdu)), 100)
            for oid, _ in binds[:non_rep]:
                nxt = self._next(oid)
                result.append(
                    (nxt, cell_value(self.device, self.view[nxt], now)) if nxt else (oid, end)
                )
            cursors = [oid for oid, _ in binds[non_rep:]]
            for _ in range(max_rep if cursors else 0):
                row = []
                for k, oid in enumerate(cursors):
                    nxt = self._next(oid)
                    row.append(
                        (nxt, cell_value(self.device, self.view[nxt], now)) if nxt else (oid, end)
                    )
                    cursors[k] = nxt or oid
                result.extend(row)
                if all(self._next(c) is None for c in cursors):
                    break
        else:
            return None
        if error_index and not version:
            mod.apiPDU.set_error_status(out_pdu, 2)  # noSuchName, SNMPv1's only answer
            mod.apiPDU.set_error_index(out_pdu, error_index)
            mod.apiPDU.set_varbinds(out_pdu, binds)
        else:
            mod.apiPDU.set_varbinds(out_pdu, result)
        return bytes(encoder.encode(response))


async def serve_snmp(device: LabDevice, community: str) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    assert device.snmp_port is not None
    transport, _ = await loop.create_datagram_endpoint(
        lambda: AgentProtocol(device, community), local_addr=(device.address, device.snmp_port)
    )
    return transport
