"""Peers that take traffic and never answer: what a hung daemon looks like from outside.

A refused port answers at once with a reset; a hung one completes the handshake (the kernel does
that) and then says nothing, which is the case every probe deadline exists for.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Self


class TcpBlackhole:
    """Accepts connections and holds them open in silence until the context exits."""

    def __init__(self, host: str = "127.0.0.1", *, read: bool = False) -> None:
        self.host = host
        self.read = read
        """Drain what clients send (a hung application with a live kernel buffer) instead of
        leaving it unread (the client's writes stall once both socket buffers fill)."""
        self.accepted = 0
        self.received = 0
        self._server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None, "use TcpBlackhole as an async context manager"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._hold, self.host, 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._held):
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await asyncio.sleep(0)  # an aborted transport closes its socket on the next loop turn
        await self._server.wait_closed()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._held.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if self.read:
                while chunk := await reader.read(65536):
                    self.received += len(chunk)
            await self._closed.wait()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._held.discard(writer)
            writer.transport.abort()


class _Swallow(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpBlackhole) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.owner.datagrams += 1


class UdpBlackhole:
    """A bound UDP port that reads and counts every datagram and answers none.

    Unlike a closed port, it sends no ICMP port-unreachable, so the sender learns nothing.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.datagrams = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def port(self) -> int:
        assert self._transport is not None, "use UdpBlackhole as an async context manager"
        return int(self._transport.get_extra_info("sockname")[1])

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def __aenter__(self) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Swallow(self), local_addr=(self.host, 0), family=family
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._transport is not None
        self._transport.close()
