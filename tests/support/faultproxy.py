"""A loopback proxy that loses and delays traffic, because this kernel has no ``tc netem``.

Put it between a probe and a real peer (snmpsim, sshd, nginx) and point the probe at
``proxy.address``::

    async with UdpFaultProxy(("127.0.0.1", agent_port), up=Impairment(loss=0.3), seed=7) as proxy:
        await probe(proxy.host, proxy.port)
    assert proxy.stats.up.dropped > 0

``up`` shapes what the client sends toward the peer, ``down`` what comes back. Every decision
comes from a ``random.Random`` seeded per direction, so a test sees the same drops on every run as
long as it sends the same packets in the same order.

UDP datagrams are dropped outright and may overtake each other when jitter is larger than their
spacing, as on a real path. A TCP stream cannot lose bytes without breaking the protocol above
it, so a "lost" TCP chunk is delivered late instead, after ``retransmit`` seconds: that is what
loss looks like to a TCP application. TCP chunks never overtake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Self, cast

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Impairment:
    loss: float = 0.0
    """Probability in [0, 1] that a datagram (or TCP chunk) is lost."""
    delay: float = 0.0
    """Seconds added to every datagram or chunk."""
    jitter: float = 0.0
    """Up to this many extra seconds, uniformly drawn per datagram or chunk."""
    retransmit: float = 0.2
    """TCP only: the extra wait for a lost chunk, standing in for the sender's retransmission."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss {self.loss} is not a probability")
        if min(self.delay, self.jitter, self.retransmit) < 0:
            raise ValueError("delay, jitter and retransmit must not be negative")


@dataclass(slots=True)
class DirectionStats:
    passed: int = 0
    dropped: int = 0
    bytes: int = 0


@dataclass(slots=True)
class ProxyStats:
    up: DirectionStats = field(default_factory=DirectionStats)
    down: DirectionStats = field(default_factory=DirectionStats)


class _Shaper:
    """The seeded decisions for one direction: drop or not, and how long to hold."""

    def __init__(self, impairment: Impairment, seed: int, direction: str, stats: DirectionStats):
        self.impairment = impairment
        self.stats = stats
        self._rng = random.Random(f"{seed}/{direction}")

    def lost(self) -> bool:
        return self.impairment.loss > 0 and self._rng.random() < self.impairment.loss

    def hold(self) -> float:
        extra = self._rng.uniform(0, self.impairment.jitter) if self.impairment.jitter else 0.0
        return self.impairment.delay + extra


class _FaultProxy:
    def __init__(
        self,
        upstream: Address,
        *,
        up: Impairment = Impairment(),
        down: Impairment = Impairment(),
        seed: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.upstream = upstream
        self.host = host
        self.stats = ProxyStats()
        self._up = _Shaper(up, seed, "up", self.stats.up)
        self._down = _Shaper(down, seed, "down", self.stats.down)
        self._port = 0

    @property
    def port(self) -> int:
        assert self._port, "use the proxy as an async context manager"
        return self._port

    @property
    def address(self) -> Address:
        return self.host, self.port

    def _family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


class _Relay(asyncio.DatagramProtocol):
    """One client's upstream socket: what the peer sends to it goes back to that client."""

    def __init__(self, proxy: UdpFaultProxy, client: Address) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport on 3.11.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        proxy = self.proxy
        proxy._forward(proxy._down, data, partial(proxy._send_to_client, self.client))


class _Front(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpFaultProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        client = (str(addr[0]), int(addr[1]))
        self.proxy._from_client(data, client)


class UdpFaultProxy(_FaultProxy):
    """Relays datagrams between clients and ``upstream``, one upstream socket per client."""

    max_clients = 256
    """Beyond this many distinct client addresses new ones are ignored: a runaway test cannot
    open sockets without bound."""

    def __init__(
        self,
        upstream: Address,
        *,
        up: Impairment = Impairment(),
        down: Impairment = Impairment(),
        seed: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(upstream, up=up, down=down, seed=seed, host=host)
        self._front: asyncio.DatagramTransport | None = None
        self._relays: dict[Address, _Relay | asyncio.Future[_Relay]] = {}
        self._pending: set[asyncio.TimerHandle] = set()

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Front(self), local_addr=(self.host, 0), family=self._family()
        )
        self._port = int(self._front.get_extra_info("sockname")[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        for relay in self._relays.values():
            if isinstance(relay, _Relay) and relay.transport is not None:
                relay.transport.close()
            elif isinstance(relay, asyncio.Future):
                relay.cancel()
        self._relays.clear()
        if self._front is not None:
            self._front.close()

    def _from_client(self, data: bytes, client: Address) -> None:
        relay = self._relays.get(client)
        if isinstance(relay, _Relay):
            self._forward(self._up, data, partial(self._send_upstream, relay))
            return
        if relay is None and len(self._relays) >= self.max_clients:
            return
        if relay is None:
            relay = asyncio.ensure_future(self._open_relay(client))
            self._relays[client] = relay
        relay.add_done_callback(
            lambda f: self._forward(self._up, data, partial(self._send_upstream, f))
        )

    async def _open_relay(self, client: Address) -> _Relay:
        loop = asyncio.get_running_loop()
        _, relay = await loop.create_datagram_endpoint(
            lambda: _Relay(self, client), remote_addr=self.upstream
        )
        self._relays[client] = relay
        return relay

    def _send_upstream(self, relay: _Relay | asyncio.Future[_Relay], data: bytes) -> None:
        if isinstance(relay, asyncio.Future):
            if relay.cancelled() or relay.exception() is not None:
                return
            relay = relay.result()
        if relay.transport is not None and not relay.transport.is_closing():
            relay.transport.sendto(data)

    def _send_to_client(self, client: Address, data: bytes) -> None:
        if self._front is not None and not self._front.is_closing():
            self._front.sendto(data, client)

    def _forward(self, shaper: _Shaper, data: bytes, send: Callable[[bytes], None]) -> None:
        if shaper.lost():
            shaper.stats.dropped += 1
            return
        shaper.stats.passed += 1
        shaper.stats.bytes += len(data)
        wait = shaper.hold()
        if wait <= 0:
            send(data)
            return
        loop = asyncio.get_running_loop()

        def deliver() -> None:
            self._pending.discard(handle)
            send(data)

        handle = loop.call_later(wait, deliver)
        self._pending.add(handle)


class TcpFaultProxy(_FaultProxy):
    """Accepts connections and opens one to ``upstream`` for each, shaping both byte streams."""

    def __init__(
        self,
        upstream: Address,
        *,
        up: Impairment = Impairment(),
        down: Impairment = Impairment(),
        seed: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(upstream, up=up, down=down, seed=seed, host=host)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # an aborted transport closes its socket on the next loop turn
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        peer: asyncio.StreamWriter | None = None
        try:
            up_reader, peer = await asyncio.open_connection(*self.upstream)
            async with asyncio.TaskGroup() as group:
                group.create_task(_pump(reader, peer, self._up))
                group.create_task(_pump(up_reader, writer, self._down))
        except (OSError, asyncio.CancelledError, BaseExceptionGroup):
            pass
        finally:
            writer.transport.abort()
            if peer is not None:
                peer.transport.abort()
            self._tasks.discard(task)


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, shaper: _Shaper
) -> None:
    """Copies one direction in order; each chunk leaves no earlier than its own hold time."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    last_due = 0.0
    try:
        while True:
            chunk = await reader.read(65536)
            hold = shaper.hold()
            if chunk and shaper.lost():
                shaper.stats.dropped += 1
                hold += shaper.impairment.retransmit
            elif chunk:
                shaper.stats.passed += 1
            shaper.stats.bytes += len(chunk)
            last_due = max(last_due, loop.time() + hold)
            queue.put_nowait((last_due, chunk))
            if not chunk:
                break
        await sender
    finally:
        sender.cancel()
