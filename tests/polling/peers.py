"""Real peers on loopback for the polling tests, and the small helpers that drive them.

``Listener`` is a TCP server that counts what it sees: how many connections it accepted and
how many were open at once (the per-target cap is measured here, at the receiving end).
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from noc.polling.jobs import CheckJob
from noc.polling.outcome import CheckOutcome
from noc.probes.result import ProbeResult, ProbeStatus


class Listener:
    """``mode``: "close" answers nothing and closes, "hang" accepts and never speaks,
    "hold" keeps each connection ``hold`` seconds, "banner" sends a line then closes."""

    def __init__(self, mode: str = "close", *, host: str = "127.0.0.1", hold: float = 0.0) -> None:
        self.mode = mode
        self.host = host
        self.hold = hold
        self.accepted = 0
        self.current = 0
        self.max_current = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Listener:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.current += 1
        self.max_current = max(self.max_current, self.current)
        self._writers.add(writer)
        try:
            if self.mode == "hang":
                await reader.read()  # until the client gives up and closes
            elif self.mode == "hold":
                await asyncio.sleep(self.hold)
            elif self.mode == "banner":
                writer.write(b"hello from the test peer\r\n")
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self.current -= 1
            self._writers.discard(writer)
            writer.transport.abort()

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class ClosedPort:
    """A port bound but not listening: connecting is refused, and nobody else can take it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


class RawTcpAdapter:
    """A deliberately naive TCP client with no deadline of its own: connect, optionally wait
    for the peer to speak. Against a peer that never answers, only the scheduler stops it."""

    check_type = "tcp"

    def __init__(self) -> None:
        self.started: list[tuple[int, float]] = []

    async def probe(self, job: CheckJob) -> ProbeResult:
        self.started.append((job.check_id, time.monotonic()))
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(job.address, job.params["port"])
        except OSError as exc:
            return ProbeResult(ProbeStatus.FAILED, error=f"cannot connect: {exc.strerror}")
        try:
            rtt = time.monotonic() - t0
            if job.params.get("read"):
                await reader.read(100)
            return ProbeResult(ProbeStatus.OK, {"tcp.connect_ms": rtt * 1000}, rtt=rtt)
        finally:
            writer.transport.abort()

    async def aclose(self) -> None:
        return None


def job(
    check_id: int,
    *,
    check_type: str = "tcp",
    address: str = "127.0.0.1",
    params: Mapping[str, Any] | None = None,
    interval: float = 60.0,
    timeout: float = 1.0,
    retries: int = 0,
    device_id: int | None = None,
) -> CheckJob:
    device = device_id if device_id is not None else check_id
    return CheckJob(
        device_id=device,
        device_name=f"dev{device}",
        address=address,
        check_id=check_id,
        check_name=f"{check_type}{check_id}",
        check_type=check_type,
        params=dict(params or {}),
        interval=interval,
        timeout=timeout,
        retries=retries,
    )


class Recorder:
    """A result sink that keeps every outcome and when (loop time) it arrived."""

    def __init__(self) -> None:
        self.outcomes: list[CheckOutcome] = []
        self.arrived: dict[int, float] = {}

    def submit(self, outcome: CheckOutcome) -> None:
        self.outcomes.append(outcome)
        self.arrived.setdefault(outcome.job.check_id, time.monotonic())

    def by_check(self) -> dict[int, CheckOutcome]:
        return {o.job.check_id: o for o in self.outcomes}


async def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll a condition on the loop, failing the test if it is not true within ``limit``."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit} s")
        await asyncio.sleep(0.005)


def ids(outcomes: Sequence[CheckOutcome]) -> list[int]:
    return [o.job.check_id for o in outcomes]


class PeerThread:
    """Loopback peers on an event loop of their own, for tests that call ``asyncio.run``
    themselves (the CLI). Every listener it starts is closed by ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._listeners: list[Listener] = []

    def listen(self, mode: str, host: str = "127.0.0.1", hold: float = 0.0) -> Listener:
        listener = Listener(mode, host=host, hold=hold)
        asyncio.run_coroutine_threadsafe(listener.start(), self.loop).result(5)
        self._listeners.append(listener)
        return listener

    def close(self) -> None:
        for listener in self._listeners:
            asyncio.run_coroutine_threadsafe(listener.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path == "/secret" and self.headers.get("Authorization") != self.server.auth:  # type: ignore[attr-defined]
            self.send_response(401)
            self.end_headers()
            return
        body = b"<h1>Welcome to the test site</h1>" if self.path != "/broken" else b"oops"
        self.send_response(200 if self.path != "/broken" else 500)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class HttpSite:
    """A local web server: ``/`` says Welcome, ``/broken`` is a 500, ``/secret`` wants
    ``auth`` as its Authorization header."""

    def __init__(self, host: str = "127.0.0.1", auth: str = "") -> None:
        self.server = http.server.ThreadingHTTPServer((host, 0), _Page)
        self.server.auth = auth  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
