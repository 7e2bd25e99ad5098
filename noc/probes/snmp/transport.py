"""UDP sockets and pysnmp transport targets, shared by the v1/v2c and v3 stacks.

Each stack sends from its own UDP socket whose receive buffer is raised to 16 MiB: with the
kernel's default (~200 KiB) replies are dropped as soon as a few hundred requests are in flight.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import time
from typing import Any

from pysnmp.error import PySnmpError

from noc.probes.snmp.errors import SnmpError
from noc.probes.snmp.target import SnmpTarget

RECEIVE_BUFFER = 16 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if hasattr(socket, "SO_PRIORITY") else 0)
_RESOLVE_TTL = 300.0


def open_udp_socket(family: socket.AddressFamily) -> socket.socket:
    """An unconnected, non-blocking UDP socket with a receive buffer big enough for bursts.

    ``SO_RCVBUFFORCE`` (root or CAP_NET_ADMIN) goes past ``net.core.rmem_max``; otherwise
    ``SO_RCVBUF`` gets what the kernel allows.
    """
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if _SO_RCVBUFFORCE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@functools.lru_cache(maxsize=65536)
def is_ipv6(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


def is_literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


class TargetCache:
    """pysnmp transport targets, resolved once: IP literals forever, host names for a while."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], tuple[Any, float]] = {}

    async def get(self, kind: str, target: SnmpTarget, v6: type[Any], v4: type[Any]) -> Any:
        key = (kind, target.address, target.port, target.timeout, target.retries)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            return entry[0]
        cls = v6 if is_ipv6(target.address) else v4
        try:
            made = await cls.create(
                (target.address, target.port), timeout=target.timeout, retries=target.retries
            )
        except PySnmpError as exc:
            raise SnmpError(
                f"{target.endpoint}: cannot resolve {target.address!r}: {exc}"
            ) from None
        literal = is_literal(target.address)
        self._entries[key] = (made, float("inf") if literal else now + _RESOLVE_TTL)
        return made


def stop_receiving(transports: list[Any]) -> None:
    """Close the sockets under pysnmp so no more answers arrive while it is torn down."""
    for transport in transports:
        if transport.transport is not None:
            transport.transport.close()
