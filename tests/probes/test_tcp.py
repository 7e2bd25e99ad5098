"""The TCP probe against nginx, a banner server, silent peers and a silent namespace host."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from noc.errors import ConfigError
from noc.probes.result import ProbeStatus
from noc.probes.tcp import TcpTarget, probe_tcp
from tests.support import netns
from tests.support.blackhole import TcpBlackhole
from tests.support.nginx import Nginx, nginx_fixture  # noqa: F401
from tests.support.ports import free_port
from tests.support.servers import tcp_server

pytestmark = pytest.mark.peers

HEAD = b"HEAD / HTTP/1.0\r\n\r\n"


async def test_open_port(nginx: Nginx) -> None:
    result = await probe_tcp(TcpTarget("127.0.0.1", nginx.http_port))

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["tcp.connect_ms"] > 0
    assert result.rtt == pytest.approx(result.values["tcp.connect_ms"] / 1000)
    assert set(result.values) == {"tcp.connect_ms"}


async def test_ipv6_loopback(nginx: Nginx) -> None:
    if nginx.http6_port is None:
        pytest.skip("no IPv6 loopback on this host")
    result = await probe_tcp(TcpTarget("::1", nginx.http6_port, send=HEAD, expect=b" 200 "))

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["tcp.banner"] == "HTTP/1.1 200 OK"


async def test_send_and_expect(nginx: Nginx) -> None:
    result = await probe_tcp(
        TcpTarget("127.0.0.1", nginx.http_port, send=HEAD, expect=b"HTTP/1.1 200")
    )

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["tcp.banner_ok"] == 1
    assert result.values["tcp.banner"] == "HTTP/1.1 200 OK"
    assert result.values["tcp.response_ms"] > 0


async def test_wrong_answer_fails_and_shows_what_came(nginx: Nginx) -> None:
    result = await probe_tcp(TcpTarget("127.0.0.1", nginx.http_port, send=HEAD, expect=b"SSH-2.0"))

    assert result.status is ProbeStatus.FAILED
    assert result.values["tcp.banner_ok"] == 0
    assert result.values["tcp.banner"] == "HTTP/1.1 200 OK"
    assert result.error == "answer lacks b'SSH-2.0': the service closed without it"


@pytest.fixture
async def greeter() -> AsyncIterator[int]:
    """A service that speaks first, like SMTP or sshd, and then waits for the client."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 noc-test ready\r\n")
        await writer.drain()
        await reader.read()

    async with tcp_server(greet) as port:
        yield port


async def test_banner_without_sending(greeter: int) -> None:
    result = await probe_tcp(TcpTarget("127.0.0.1", greeter, expect=b"220 "))

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["tcp.banner"] == "220 noc-test ready"


async def test_expectation_beyond_max_read_fails(greeter: int) -> None:
    result = await probe_tcp(TcpTarget("127.0.0.1", greeter, expect=b"ready", max_read=8))

    assert result.status is ProbeStatus.FAILED
    assert result.values["tcp.banner"] == "220 noc-"
    assert "sent 8 bytes" in result.error


async def test_refused() -> None:
    result = await probe_tcp(TcpTarget("127.0.0.1", free_port()))

    assert result.status is ProbeStatus.FAILED
    assert result.error == "cannot connect: Connection refused"
    assert result.values == {}


async def test_silent_service_is_open_but_fails_an_expectation() -> None:
    async with TcpBlackhole() as hole:
        open_only = await probe_tcp(TcpTarget("127.0.0.1", hole.port, timeout=2))
        stuck = await probe_tcp(
            TcpTarget("127.0.0.1", hole.port, send=b"PING\r\n", expect=b"+PONG", timeout=0.5)
        )

    assert open_only.status is ProbeStatus.OK
    assert stuck.status is ProbeStatus.FAILED
    assert stuck.error == "connected, then no answer within 0.5 s"
    assert "tcp.connect_ms" in stuck.values
    assert 0.5 <= stuck.duration < 2.5


async def test_silent_host_ends_at_the_deadline() -> None:
    """A namespace host that swallows the SYN: no reset, no answer, only the deadline."""
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    with netns.NetnsHost() as host:
        listener = host.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((host.address, 0))
        listener.listen()
        port = listener.getsockname()[1]
        try:
            up = await probe_tcp(TcpTarget(host.address, port))
            host.silence()
            down = await probe_tcp(TcpTarget(host.address, port, timeout=0.5))
        finally:
            listener.close()

    assert up.status is ProbeStatus.OK, up.error
    assert down.status is ProbeStatus.FAILED
    assert down.error == "no answer within 0.5 s"
    assert down.values == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": 0}, "port 0 is outside 1-65535"),
        ({"timeout": -1}, "timeout must be above 0"),
        ({"expect": b"x" * 10, "max_read": 4}, "cannot hold the expected 10 bytes"),
    ],
)
def test_a_bad_target_is_one_clear_line(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"host": "127.0.0.1", "port": 22, **change}
    with pytest.raises(ConfigError) as caught:
        TcpTarget(**fields)  # type: ignore[arg-type]

    assert str(caught.value).startswith(f"tcp check 127.0.0.1:{fields['port']}: ")
    assert message in str(caught.value)
