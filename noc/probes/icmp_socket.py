"""Opening ICMP sockets, and saying plainly why one cannot be opened.

Linux (where noc's pollers run; the option numbers below are Linux's) offers two ways to ping:
a raw socket (needs CAP_NET_RAW, sees every ICMP packet reaching the host) and an unprivileged
datagram socket (needs the process's group inside ``net.ipv4.ping_group_range``; the kernel
stamps the socket's port as the ident and delivers only the replies that carry it). The raw
socket is preferred when both work: it is what fping uses, and it needs no sysctl.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from noc.errors import NocError
from noc.probes.icmp_packet import ECHO_REPLY_V4, ECHO_REPLY_V6, EchoCodec

IcmpMethod = Literal["raw", "dgram"]
METHODS: Final[tuple[IcmpMethod, ...]] = ("raw", "dgram")

_SOL_RAW: Final = 255
_ICMP_FILTER: Final = 1
_ICMP6_FILTER: Final = 1
_SO_RCVBUFFORCE: Final = 33
SO_TIMESTAMPNS: Final = 35
"""Kernel receive timestamps (struct timespec, CLOCK_REALTIME) as ancillary data: an RTT then
excludes the time a reply waits in the socket while the event loop is busy elsewhere."""
_BUFFER_BYTES: Final = 4 << 20
"""Loopback and LAN replies arrive while we are still sending; a sweep of thousands needs room."""
_PING_GROUP_RANGE: Final = Path("/proc/sys/net/ipv4/ping_group_range")


class IcmpUnavailableError(NocError):
    """No ICMP socket of the wanted kind can be opened; the message says why and how to fix."""


@dataclass(frozen=True, slots=True)
class IcmpCapability:
    """How this process can ping, for ``noc doctor``."""

    method: IcmpMethod | None
    message: str
    """One line: what works, or why nothing does and how to fix it."""

    @property
    def ok(self) -> bool:
        return self.method is not None


@dataclass(slots=True)
class IcmpSocket:
    """An open, non-blocking ICMP socket and the codec that speaks on it."""

    sock: socket.socket
    codec: EchoCodec
    method: IcmpMethod


def _protocol(family: socket.AddressFamily) -> int:
    return socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP


def _only_echo_replies(sock: socket.socket, family: socket.AddressFamily) -> None:
    """Tell the kernel to drop every ICMP type but echo reply before it reaches a raw socket.

    Without it a raw socket also receives our own requests (on loopback), unreachables and
    everyone's router chatter: twice the wake-ups for nothing. Both filters are block-lists.
    """
    if family == socket.AF_INET6:
        blocked = [0xFFFFFFFF] * 8
        blocked[ECHO_REPLY_V6 >> 5] &= ~(1 << (ECHO_REPLY_V6 & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))
    else:
        blocked_v4 = ~(1 << ECHO_REPLY_V4) & 0xFFFFFFFF
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", blocked_v4))


def _enlarge_buffers(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _BUFFER_BYTES)
    except OSError:  # not CAP_NET_ADMIN: the kernel caps this one at net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER_BYTES)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER_BYTES)


def open_icmp_socket(
    family: socket.AddressFamily,
    method: IcmpMethod,
    *,
    ident: int,
    token: bytes,
    payload_size: int,
) -> IcmpSocket:
    """A ready socket; raises ``OSError`` (``PermissionError`` when not allowed)."""
    kind = socket.SOCK_RAW if method == "raw" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind, _protocol(family))
    try:
        sock.setblocking(False)
        _enlarge_buffers(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:  # the reader falls back to the time it reads the reply
            pass
        if method == "raw":
            _only_echo_replies(sock, family)
        else:
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            ident = sock.getsockname()[1]  # the kernel stamps every request with its port
        codec = EchoCodec(
            family,
            ident,
            token,
            payload_size,
            ip_header=method == "raw" and family == socket.AF_INET,
            fill_checksum=method == "raw" and family == socket.AF_INET,
        )
    except BaseException:
        sock.close()
        raise
    return IcmpSocket(sock, codec, method)


def _group_range() -> str:
    try:
        return " ".join(_PING_GROUP_RANGE.read_text().split())
    except OSError:
        return "unknown"


def _fix_hint() -> str:
    python = os.path.realpath(sys.executable)
    return (
        f"fix: `sudo setcap cap_net_raw+ep {python}` "
        '(raw) or `sudo sysctl -w net.ipv4.ping_group_range="0 2147483647"` (datagram)'
    )


def _family_name(family: socket.AddressFamily) -> str:
    return "ICMPv6" if family == socket.AF_INET6 else "ICMP"


def open_best_socket(
    family: socket.AddressFamily,
    method: IcmpMethod | None,
    *,
    ident: int,
    token: bytes,
    payload_size: int,
) -> IcmpSocket:
    """The first socket that opens of ``method`` (or raw, then datagram when None).

    Raises ``IcmpUnavailableError`` naming every attempt's failure and the fix.
    """
    errors: dict[IcmpMethod, OSError] = {}
    for each in (method,) if method else METHODS:
        try:
            return open_icmp_socket(
                family, each, ident=ident, token=token, payload_size=payload_size
            )
        except OSError as exc:
            errors[each] = exc
    if all(isinstance(exc, PermissionError) for exc in errors.values()):
        denied = []
        if "raw" in errors:
            denied.append("no CAP_NET_RAW")
        if "dgram" in errors:
            denied.append(
                f"gid {os.getgid()} is outside net.ipv4.ping_group_range ({_group_range()})"
            )
        why = " and ".join(denied)
    else:
        why = "; ".join(f"{each} socket: {exc.strerror or exc}" for each, exc in errors.items())
    raise IcmpUnavailableError(f"{_family_name(family)} unavailable: {why}; {_fix_hint()}")


def icmp_capability() -> IcmpCapability:
    """Which ICMP socket this process may open for IPv4, and how to fix it if none."""
    try:
        opened = open_best_socket(
            socket.AF_INET, None, ident=0, token=secrets.token_bytes(8), payload_size=56
        )
    except IcmpUnavailableError as exc:
        return IcmpCapability(None, str(exc))
    opened.sock.close()
    if opened.method == "raw":
        return IcmpCapability("raw", "ICMP: raw sockets (CAP_NET_RAW)")
    return IcmpCapability(
        "dgram",
        f"ICMP: unprivileged datagram sockets (gid {os.getgid()} is inside "
        f"net.ipv4.ping_group_range {_group_range()}); raw sockets would need CAP_NET_RAW",
    )
