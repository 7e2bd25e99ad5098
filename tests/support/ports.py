"""Free loopback ports for the servers tests start."""

from __future__ import annotations

import contextlib
import socket


def free_ports(count: int, host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> list[int]:
    """Distinct ports free right now (all held at once while choosing, so none repeats)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(family, kind)) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    return free_ports(1, host, kind)[0]
