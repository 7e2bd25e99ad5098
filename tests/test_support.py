"""The fault helpers do what they claim: the proxy really drops and delays, silence is silent."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from tests.support import netns
from tests.support.blackhole import TcpBlackhole, UdpBlackhole
from tests.support.faultproxy import Impairment, TcpFaultProxy, UdpFaultProxy
from tests.support.servers import tcp_server

Address = tuple[str, int]


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.transport.sendto(data, addr)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.append(data)
        self.arrived.set()


@pytest.fixture
async def udp_echo() -> AsyncIterator[Address]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    yield transport.get_extra_info("sockname")[:2]
    transport.close()


@pytest.fixture
async def tcp_echo() -> AsyncIterator[Address]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async with tcp_server(echo) as port:
        yield "127.0.0.1", port


async def _udp_round(proxy: UdpFaultProxy, count: int) -> list[int]:
    """Sends ``count`` numbered datagrams at once; returns the numbers that came back."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Collect, remote_addr=proxy.address)

    async def settled() -> None:
        # Every datagram that passed up either comes back or is counted as dropped down.
        while True:
            up, down = proxy.stats.up, proxy.stats.down
            if up.passed + up.dropped == count and len(client.received) + down.dropped == up.passed:
                return
            await asyncio.sleep(0.01)

    try:
        for number in range(count):
            transport.sendto(b"%d" % number)
        await asyncio.wait_for(settled(), 5)
    finally:
        transport.close()
    return sorted(int(data) for data in client.received)


def _lossy(upstream: Address) -> UdpFaultProxy:
    return UdpFaultProxy(upstream, up=Impairment(loss=0.3), down=Impairment(loss=0.2), seed=11)


async def test_udp_proxy_drops_what_it_counts_and_is_repeatable(udp_echo: Address) -> None:
    async with _lossy(udp_echo) as proxy:
        first = await _udp_round(proxy, 200)
        stats = proxy.stats
    async with _lossy(udp_echo) as again:
        second = await _udp_round(again, 200)

    assert stats.up.passed + stats.up.dropped == 200
    assert len(first) == stats.up.passed - stats.down.dropped
    assert 200 * 0.3 * 0.5 < stats.up.dropped < 200 * 0.3 * 1.5
    assert stats.down.dropped > 0
    assert first == second


async def test_udp_proxy_without_faults_passes_everything(udp_echo: Address) -> None:
    async with UdpFaultProxy(udp_echo) as proxy:
        back = await _udp_round(proxy, 50)

    assert back == list(range(50))


async def test_udp_proxy_delays_each_way(udp_echo: Address) -> None:
    up, down = Impairment(delay=0.15), Impairment(delay=0.1, jitter=0.05)
    async with UdpFaultProxy(udp_echo, up=up, down=down) as proxy:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(_Collect, remote_addr=proxy.address)
        sent = time.monotonic()
        transport.sendto(b"ping")
        await asyncio.wait_for(client.arrived.wait(), 5)
        elapsed = time.monotonic() - sent
        transport.close()

    assert client.received == [b"ping"]
    assert elapsed >= 0.25


async def _tcp_round_trip(address: Address, payload: bytes) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection(*address)
    started = time.monotonic()
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    elapsed = time.monotonic() - started
    writer.close()
    await writer.wait_closed()
    return data, elapsed


async def test_tcp_proxy_delays_each_way(tcp_echo: Address) -> None:
    up, down = Impairment(delay=0.1), Impairment(delay=0.1)
    async with TcpFaultProxy(tcp_echo, up=up, down=down) as proxy:
        data, elapsed = await _tcp_round_trip(proxy.address, b"hello")

    assert data == b"hello"
    assert elapsed >= 0.2


async def test_tcp_loss_arrives_late_but_whole_and_in_order(tcp_echo: Address) -> None:
    payload = bytes(range(256)) * 64
    lossy = Impairment(loss=1.0, retransmit=0.3)
    async with TcpFaultProxy(tcp_echo, up=lossy, seed=3) as proxy:
        data, elapsed = await _tcp_round_trip(proxy.address, payload)

    assert data == payload
    assert elapsed >= 0.3
    assert proxy.stats.up.dropped >= 1
    assert proxy.stats.up.bytes == len(payload)


def test_impairment_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Impairment(loss=1.5)
    with pytest.raises(ValueError):
        Impairment(delay=-1)


async def test_tcp_blackhole_accepts_and_says_nothing() -> None:
    async with TcpBlackhole(read=True) as hole:
        reader, writer = await asyncio.open_connection(*hole.address)
        writer.write(b"anyone there?\r\n")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
        writer.close()

    assert hole.accepted == 1
    assert hole.received == len(b"anyone there?\r\n")


async def test_udp_blackhole_swallows() -> None:
    async with UdpBlackhole() as hole:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(_Collect, remote_addr=hole.address)
        for _ in range(3):
            transport.sendto(b"hello?")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.arrived.wait(), 0.3)
        transport.close()

    assert hole.datagrams == 3
    assert client.received == []


async def test_netns_host_answers_until_silenced() -> None:
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    with netns.NetnsHost() as host:
        assert host.address.startswith("127.200.")
        listener = host.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((host.address, 0))
        listener.listen()
        port = listener.getsockname()[1]
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.address, port), 2)
            assert writer.get_extra_info("sockname")[0] == host.gateway
            writer.close()
            host.silence()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.open_connection(host.address, port), 0.5)
            host.restore()
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.address, port), 2)
            writer.close()
        finally:
            listener.close()
        name = host.name

    assert not (Path("/run/netns") / name).exists()
