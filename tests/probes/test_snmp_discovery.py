"""Polls between discoveries read only what changes, against the lab's SNMP agent on loopback.

The agent records every request it is sent, so the tests see on the wire what a poll asked for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pyasn1.codec.ber import decoder
from pysnmp.proto import api
from pysnmp.proto.api.verdec import decode_message_version

from noc.lab.model import SLOW_DELAY_S, Interface, LabDevice, Scenario
from noc.lab.snmp_agent import AgentProtocol, mib_view
from noc.probes import ProbeStatus
from noc.probes.snmp import Interface as SnmpInterface
from noc.probes.snmp import SnmpPoller, SnmpTarget, open_snmp
from noc.probes.snmp.discovery import MEASURED_COLUMNS
from noc.probes.snmp.mibs import IF_NUMBER, SYS_DESCR, SYS_UPTIME, IfColumn, Oid
from tests.support.ports import free_port

COMMUNITY = "discovery"


@dataclass(frozen=True)
class Request:
    kind: str
    max_repetitions: int
    oids: tuple[Oid, ...]


class RecordingAgent(AgentProtocol):
    """The lab agent, keeping each request it answers; ``swap`` changes the device it is."""

    def __init__(self, device: LabDevice) -> None:
        super().__init__(device, COMMUNITY)
        self.requests: list[Request] = []

    def respond(self, data: bytes, now: float) -> bytes | None:
        mod = api.PROTOCOL_MODULES[int(decode_message_version(data))]
        message, _ = decoder.decode(data, asn1Spec=mod.Message())
        pdu = mod.apiMessage.get_pdu(message)
        bulk = pdu.isSameTypeWith(mod.GetBulkRequestPDU())
        self.requests.append(
            Request(
                type(pdu).__name__,
                int(mod.apiBulkPDU.get_max_repetitions(pdu)) if bulk else 0,
                tuple(tuple(oid) for oid, _ in mod.apiPDU.get_varbinds(pdu)),
            )
        )
        return super().respond(data, now)

    def swap(self, device: LabDevice) -> None:
        self.device = device
        self.view = mib_view(device)
        self.oids = sorted(self.view)

    def asked(self) -> set[Oid]:
        return {oid for request in self.requests for oid in request.oids}


@dataclass
class Agent:
    protocol: RecordingAgent
    target: SnmpTarget


async def start_agent(
    kind: str, address: str, scenario: Scenario = Scenario.HEALTHY
) -> tuple[asyncio.DatagramTransport, Agent]:
    port = free_port()
    device = LabDevice(
        name=f"{kind}-{address}",
        address=address,
        kind=kind,
        scenario=scenario,
        epoch=time.time(),
        snmp_port=port,
    )
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: RecordingAgent(device), local_addr=(address, port)
    )
    target = SnmpTarget(address, port, community=COMMUNITY, timeout=2.0, deadline=10.0)
    return transport, Agent(protocol, target)


def labels(interfaces: tuple[SnmpInterface, ...]) -> list[tuple[object, ...]]:
    return [(i.index, i.name, i.descr, i.type, i.speed_bps, i.mac, i.mtu) for i in interfaces]


@pytest.fixture
async def server() -> AsyncIterator[Agent]:
    transport, agent = await start_agent("server", "127.33.0.1")
    try:
        yield agent
    finally:
        transport.close()


@pytest.fixture
async def switch() -> AsyncIterator[Agent]:
    transport, agent = await start_agent("switch", "127.33.0.2")
    try:
        yield agent
    finally:
        transport.close()


async def test_the_poll_after_discovery_asks_only_what_changes(server: Agent) -> None:
    async with SnmpPoller() as poller:
        first = await poller.poll_detail(server.target)
        assert first.full and first.snapshot is not None
        # ifNumber, read with the system group, sizes the first walk: one GETBULK of 3 rows
        # (2 interfaces, and one more to see each column end) carries every table.
        get, *walks = server.protocol.requests
        assert get.oids[-1] == IF_NUMBER and SYS_DESCR in get.oids
        assert [(w.kind, w.max_repetitions) for w in walks] == [("GetBulkRequestPDU", 3)]
        assert IfColumn.DESCR.value in walks[0].oids
        server.protocol.requests.clear()

        second = await poller.poll_detail(server.target)
    assert not second.full and second.snapshot is not None
    get, *walks = server.protocol.requests
    assert get.kind == "GetRequestPDU" and get.oids == (SYS_UPTIME,)
    # One GETBULK, sized to the 2 rows the tables had (+1 to see each column end), asking
    # for measured columns only: no names, descriptions, types or speeds again.
    assert [(w.kind, w.max_repetitions) for w in walks] == [("GetBulkRequestPDU", 3)]
    asked_columns = set(walks[0].oids)
    assert asked_columns <= MEASURED_COLUMNS
    assert IfColumn.OPER_STATUS.value in asked_columns
    # The lab's interfaces all have 64-bit counters, so the 32-bit pair is not read again.
    assert IfColumn.HC_IN_OCTETS.value in asked_columns
    assert IfColumn.IN_OCTETS.value not in asked_columns

    # What the poll shows is the same device: names and descriptions from discovery,
    # statuses, usage and counters (now with rates) from this poll.
    before, after = first.snapshot, second.snapshot
    assert after.system == dataclasses.replace(before.system, uptime_s=after.system.uptime_s)
    assert after.vendor == before.vendor
    assert labels(after.interfaces) == labels(before.interfaces)
    assert all(i.in_bps is not None for i in after.interfaces)
    assert [(s.index, s.descr, s.kind, s.size_bytes) for s in after.storage] == [
        (s.index, s.descr, s.kind, s.size_bytes) for s in before.storage
    ]
    assert after.cpu_loads and after.missing == before.missing == ()
    assert set(first.result.values) <= set(second.result.values)
    assert second.result.values["sys.descr"] == first.result.values["sys.descr"]


async def test_a_long_table_is_read_in_full_between_discoveries(switch: Agent) -> None:
    async with SnmpPoller() as poller:
        first = await poller.poll_detail(switch.target)
        second = await poller.poll_detail(switch.target)
    assert first.snapshot is not None and second.snapshot is not None
    assert not second.full
    assert len(second.snapshot.interfaces) == len(first.snapshot.interfaces) == 24
    assert [i.name for i in second.snapshot.interfaces] == [
        i.name for i in first.snapshot.interfaces
    ]
    assert second.result.values["if.count"] == 24


async def test_an_added_interface_is_discovered_at_once(server: Agent) -> None:
    async with SnmpPoller() as poller:
        first = await poller.poll_detail(server.target)
        device = server.protocol.device
        extra = Interface(3, "bond0", 1_000_000.0)
        server.protocol.swap(dataclasses.replace(device, interfaces=(*device.interfaces, extra)))
        server.protocol.requests.clear()

        second = await poller.poll_detail(server.target)
        third = await poller.poll_detail(server.target)
    assert first.snapshot is not None and second.snapshot is not None
    assert len(first.snapshot.interfaces) == 2
    # The measuring walk saw a row discovery did not know: the same poll read everything.
    assert second.full
    assert {SYS_DESCR, IfColumn.DESCR.value} <= server.protocol.asked()
    assert [i.name for i in second.snapshot.interfaces][-1] == "bond0"
    assert not third.full


async def test_a_reboot_brings_the_next_poll_back_to_discovery(server: Agent) -> None:
    async with SnmpPoller() as poller:
        await poller.poll_detail(server.target)
        assert not (await poller.poll_detail(server.target)).full
        server.protocol.swap(dataclasses.replace(server.protocol.device, epoch=time.time()))
        rebooted = await poller.poll_detail(server.target)
        after = await poller.poll_detail(server.target)
    assert rebooted.result.values["sys.rebooted"] == 1
    assert after.full


async def test_rediscovery_falls_due(server: Agent) -> None:
    often = dataclasses.replace(server.target, rediscover=0.3)
    never = dataclasses.replace(server.target, rediscover=0)
    async with SnmpPoller() as poller:
        assert (await poller.poll_detail(often)).full
        assert not (await poller.poll_detail(often)).full
        await asyncio.sleep(0.35)
        assert (await poller.poll_detail(often)).full
    async with SnmpPoller() as poller:
        assert all([(await poller.poll_detail(never)).full for _ in range(3)])


async def test_worker_processes_keep_each_agents_discovery(server: Agent) -> None:
    async with open_snmp(2) as prober:
        polls = [await prober.poll_detail(server.target) for _ in range(3)]
    assert [p.full for p in polls] == [True, False, False]


async def test_agents_queue_for_discovery_and_the_discovered_do_not_wait(server: Agent) -> None:
    """One slot for full polls: a slow agent holds it, a second waits, gives up without
    asking its agent (UNKNOWN, not down) and the discovered server's poll passes them by."""
    slow = [await start_agent("server", f"127.33.1.{n}", Scenario.SLOW) for n in (1, 2)]
    try:
        patient = dict(timeout=SLOW_DELAY_S * 2, deadline=SLOW_DELAY_S * 3)
        first, second = (dataclasses.replace(a.target, **patient) for _, a in slow)
        async with SnmpPoller(discovery_slots=1) as poller:
            assert (await poller.poll_detail(server.target)).full
            holding = asyncio.create_task(poller.poll_detail(first))
            await asyncio.sleep(0.1)
            waiting = asyncio.create_task(poller.poll_detail(second))
            t0 = time.monotonic()
            lean = await poller.poll_detail(server.target)
            assert time.monotonic() - t0 < SLOW_DELAY_S
            held, waited = await holding, await waiting
        assert not lean.full and lean.result.status is ProbeStatus.OK
        assert held.full and held.result.status is ProbeStatus.OK, held.result.error
        assert waited.result.status is ProbeStatus.ERROR
        assert "not polled" in waited.result.error
        assert "discovers other agents" in waited.result.error
        assert slow[1][1].protocol.requests == []  # never asked: it is not the agent's fault
    finally:
        for transport, _ in slow:
            transport.close()
