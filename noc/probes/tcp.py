"""TCP port checks: does it accept, how fast, and (optionally) does it say the right thing.

A port that accepts is not proof of a working service (a hung daemon still has a kernel that
completes handshakes), so a target may send a few bytes and expect some back: ``SSH-2.0`` from
sshd, ``220`` from an SMTP server, ``+PONG`` from redis after ``PING``. The whole exchange,
close included, runs under one deadline. IPv4 and IPv6 addresses and names all work; a name with
both families is tried Happy-Eyeballs style.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from noc.errors import ConfigError
from noc.probes._reasons import reason
from noc.probes.result import ProbeResult, ProbeStatus

__all__ = ["TcpTarget", "probe_tcp"]

BANNER_CHARS = 200
"""Longest ``tcp.banner`` kept: the first line of the answer, for a person to read."""


@dataclass(frozen=True, slots=True)
class TcpTarget:
    host: str
    port: int
    send: bytes = b""
    """Written once connected, before reading."""
    expect: bytes = b""
    """Must appear in the first ``max_read`` bytes of the answer; empty: connecting is enough."""
    timeout: float = 5.0
    max_read: int = 4096

    def __post_init__(self) -> None:
        problem = ""
        if not self.host:
            problem = "host is empty"
        elif not 0 < self.port < 65536:
            problem = f"port {self.port} is outside 1-65535"
        elif not self.timeout > 0:
            problem = f"timeout must be above 0, not {self.timeout}"
        elif self.max_read < max(1, len(self.expect)):
            problem = f"max_read {self.max_read} cannot hold the expected {len(self.expect)} bytes"
        if problem:
            raise ConfigError(f"tcp check {self.host}:{self.port}: {problem}")


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 3)


def _first_line(data: bytes) -> str:
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("utf-8", errors="replace")[:BANNER_CHARS]


async def _converse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    target: TcpTarget,
    values: dict[str, Any],
) -> tuple[ProbeStatus, str]:
    t0 = time.monotonic()
    if target.send:
        writer.write(target.send)
        await writer.drain()
    if not target.expect:
        return ProbeStatus.OK, ""
    seen = bytearray()
    found = False
    while not found and len(seen) < target.max_read:
        chunk = await reader.read(target.max_read - len(seen))
        if not chunk:
            break
        start = max(0, len(seen) - len(target.expect) + 1)
        seen += chunk
        found = seen.find(target.expect, start) >= 0
    values["tcp.response_ms"] = _ms(t0)
    values["tcp.banner_ok"] = int(found)
    if seen:
        values["tcp.banner"] = _first_line(bytes(seen))
    if found:
        return ProbeStatus.OK, ""
    how = "closed" if len(seen) < target.max_read else f"sent {target.max_read} bytes"
    return ProbeStatus.FAILED, f"answer lacks {target.expect!r}: the service {how} without it"


async def probe_tcp(target: TcpTarget) -> ProbeResult:
    started, t0 = time.time(), time.monotonic()
    values: dict[str, Any] = {}
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(target.timeout):
            reader, writer = await asyncio.open_connection(
                target.host, target.port, happy_eyeballs_delay=0.25
            )
            values["tcp.connect_ms"] = _ms(t0)
            status, error = await _converse(reader, writer, target, values)
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass  # the verdict is in; a reset on close changes nothing
    except TimeoutError:
        then = "connected, then " if "tcp.connect_ms" in values else ""
        status, error = ProbeStatus.FAILED, f"{then}no answer within {target.timeout:g} s"
    except OSError as exc:
        doing = "connection lost" if "tcp.connect_ms" in values else "cannot connect"
        status, error = ProbeStatus.FAILED, f"{doing}: {reason(exc)}"
    finally:
        if writer is not None:
            writer.transport.abort()  # no-op after a clean close; frees a stuck one at once
    connect_ms = values.get("tcp.connect_ms")
    return ProbeResult(
        status,
        values,
        rtt=connect_ms / 1000 if connect_ms is not None else None,
        error=error,
        started=started,
        duration=time.monotonic() - t0,
    )
