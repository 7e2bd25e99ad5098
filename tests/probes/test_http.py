"""The HTTP(S) probe against a real nginx on loopback, and against peers that never answer."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from noc.errors import ConfigError
from noc.probes.http import HttpProber, HttpTarget
from noc.probes.result import ProbeStatus
from tests.support.blackhole import TcpBlackhole
from tests.support.nginx import (
    BIG_PAGE_BYTES,
    KEYWORD,
    Nginx,
    free_port,
    nginx_fixture,  # noqa: F401  (the ``nginx`` fixture)
)
from tests.support.servers import tcp_server

pytestmark = pytest.mark.peers


@pytest.fixture
async def prober() -> AsyncIterator[HttpProber]:
    async with HttpProber() as shared:
        yield shared


async def test_page_with_keyword(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.http_url}/page.html", keyword=KEYWORD))

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["http.status"] == 200
    assert result.values["http.keyword_ok"] == 1
    assert result.values["http.redirects"] == 0
    assert result.values["http.latency_ms"] > 0
    assert result.rtt == pytest.approx(result.values["http.latency_ms"] / 1000)
    assert "tls.days_left" not in result.values
    assert result.numbers()["http.keyword_ok"] == 1.0


async def test_missing_keyword_fails_with_the_values_seen(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.http_url}/index.html", keyword=KEYWORD))

    assert result.status is ProbeStatus.FAILED
    assert result.values["http.status"] == 200
    assert result.values["http.keyword_ok"] == 0
    assert f"keyword {KEYWORD!r} not found" in result.error


async def test_keyword_absent_inverts_the_test(nginx: Nginx, prober: HttpProber) -> None:
    clean = await prober.probe(
        HttpTarget(f"{nginx.http_url}/index.html", keyword=KEYWORD, keyword_absent=True)
    )
    banner = await prober.probe(
        HttpTarget(f"{nginx.http_url}/page.html", keyword=KEYWORD, keyword_absent=True)
    )

    assert clean.status is ProbeStatus.OK
    assert clean.values["http.keyword_ok"] == 1
    assert banner.status is ProbeStatus.FAILED
    assert banner.values["http.keyword_ok"] == 0
    assert "unwanted keyword" in banner.error


async def test_keyword_is_only_searched_in_the_first_max_body_bytes(
    nginx: Nginx, prober: HttpProber
) -> None:
    url = f"{nginx.http_url}/big.html"
    capped = await prober.probe(HttpTarget(url, keyword=KEYWORD, max_body=64 * 1024))
    whole = await prober.probe(HttpTarget(url, keyword=KEYWORD, max_body=BIG_PAGE_BYTES))

    assert capped.values["http.keyword_ok"] == 0
    assert "first 65536 bytes" in capped.error
    assert whole.values["http.keyword_ok"] == 1


async def test_redirects_are_followed_and_counted(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.http_url}/redirect2", keyword=KEYWORD))

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["http.status"] == 200
    assert result.values["http.redirects"] == 2
    assert result.values["http.keyword_ok"] == 1


async def test_a_redirect_not_followed_is_a_good_answer(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.http_url}/redirect2", follow_redirects=False))

    assert result.status is ProbeStatus.OK
    assert result.values["http.status"] == 301
    assert result.values["http.redirects"] == 0


async def test_a_redirect_loop_fails(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.http_url}/loop"))

    assert result.status is ProbeStatus.FAILED
    assert "redirects" in result.error


async def test_server_error_fails_unless_expected(nginx: Nginx, prober: HttpProber) -> None:
    default = await prober.probe(HttpTarget(f"{nginx.http_url}/error"))
    expected = await prober.probe(HttpTarget(f"{nginx.http_url}/error", expect_status=(500,)))
    not_found = await prober.probe(HttpTarget(f"{nginx.http_url}/page.html", expect_status=(404,)))

    assert default.status is ProbeStatus.FAILED
    assert default.values["http.status"] == 500
    assert default.error == "HTTP 500 Internal Server Error (expected 2xx/3xx)"
    assert expected.status is ProbeStatus.OK
    assert not_found.status is ProbeStatus.FAILED
    assert "(expected 404)" in not_found.error


async def test_head_request(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.http_url}/page.html", method="HEAD"))

    assert result.status is ProbeStatus.OK
    assert result.values["http.status"] == 200


async def test_headers_are_sent_and_cookies_never_kept(nginx: Nginx, prober: HttpProber) -> None:
    await prober.probe(HttpTarget(f"{nginx.http_url}/set-cookie"))
    echo = await prober.probe(
        HttpTarget(
            f"{nginx.http_url}/echo",
            keyword="cookie=[] header=[abc]",
            headers=(("X-Noc-Test", "abc"),),
        )
    )

    assert echo.status is ProbeStatus.OK, echo.error


def _expected_days(nginx: Nginx) -> float:
    remaining = nginx.certificate.not_valid_after - dt.datetime.now(dt.UTC)
    return remaining.total_seconds() / 86400


async def test_tls_expiry_with_the_ca_given(nginx: Nginx, prober: HttpProber) -> None:
    target = HttpTarget(
        f"{nginx.https_url}/redirect2",
        keyword=KEYWORD,
        ca_file=str(nginx.certificate.cert_file),
    )
    result = await prober.probe(target)

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["http.redirects"] == 2
    assert result.values["http.keyword_ok"] == 1
    assert 29.99 < result.values["tls.days_left"] <= 30.0
    assert result.values["tls.days_left"] == pytest.approx(_expected_days(nginx), abs=0.001)


async def test_self_signed_certificate_is_a_clear_error(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"{nginx.https_url}/page.html"))

    assert result.status is ProbeStatus.ERROR
    assert result.error.startswith("TLS certificate not trusted: self-signed certificate")
    assert "ca_file" in result.error
    assert "http.status" not in result.values
    assert result.values["tls.days_left"] == pytest.approx(_expected_days(nginx), abs=0.001)


async def test_verification_off_still_reports_expiry(nginx: Nginx, prober: HttpProber) -> None:
    result = await prober.probe(
        HttpTarget(f"{nginx.https_url}/page.html", keyword=KEYWORD, verify_tls=False)
    )

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["http.keyword_ok"] == 1
    assert result.values["tls.days_left"] == pytest.approx(_expected_days(nginx), abs=0.001)


async def test_unreadable_ca_file_is_an_error(
    nginx: Nginx, prober: HttpProber, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    result = await prober.probe(HttpTarget(nginx.https_url, ca_file=str(missing)))

    assert result.status is ProbeStatus.ERROR
    assert result.error == f"ca_file {missing}: No such file or directory"


async def test_plain_http_to_the_tls_port_fails(nginx: Nginx, prober: HttpProber) -> None:
    https_to_plain = await prober.probe(
        HttpTarget(f"https://127.0.0.1:{nginx.http_port}/", verify_tls=False)
    )

    assert https_to_plain.status is ProbeStatus.FAILED
    assert https_to_plain.error.startswith("TLS handshake failed")


async def test_refused_port_fails_at_once(prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget(f"http://127.0.0.1:{free_port()}/", timeout=5))

    assert result.status is ProbeStatus.FAILED
    assert result.error == "cannot connect: Connection refused"
    assert result.duration < 5


async def test_unsupported_url_is_an_error(prober: HttpProber) -> None:
    result = await prober.probe(HttpTarget("ftp://127.0.0.1/file"))

    assert result.status is ProbeStatus.ERROR
    assert result.error.startswith("unusable URL")


async def test_ipv6_loopback(nginx: Nginx, prober: HttpProber) -> None:
    if nginx.http6_port is None:
        pytest.skip("no IPv6 loopback on this host")
    result = await prober.probe(HttpTarget(f"http://[::1]:{nginx.http6_port}/page.html"))

    assert result.status is ProbeStatus.OK, result.error
    assert result.values["http.status"] == 200


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_silent_server_ends_at_the_deadline_and_delays_nothing(
    nginx: Nginx, prober: HttpProber, scheme: str
) -> None:
    async with TcpBlackhole() as hole:
        silent = asyncio.create_task(
            prober.probe(HttpTarget(f"{scheme}://127.0.0.1:{hole.port}/", timeout=1.0))
        )
        await asyncio.sleep(0)  # the silent request is under way first
        healthy = asyncio.create_task(prober.probe(HttpTarget(f"{nginx.http_url}/page.html")))
        done, _ = await asyncio.wait({silent, healthy}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {healthy}
        stuck = await silent

    assert healthy.result().status is ProbeStatus.OK
    assert hole.accepted == 1
    assert stuck.status is ProbeStatus.FAILED
    assert stuck.error == "no complete answer within 1 s"
    assert stuck.duration >= 1.0
    assert stuck.duration < 3.0


async def _drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends headers at once, then one body byte every 50 ms: a server stuck mid-response."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n")
    for _ in range(200):
        writer.write(b".")
        await writer.drain()
        await asyncio.sleep(0.05)


async def test_deadline_covers_the_body_and_keeps_what_was_seen(prober: HttpProber) -> None:
    async with tcp_server(_drip) as port:
        result = await prober.probe(
            HttpTarget(f"http://127.0.0.1:{port}/", keyword="never", timeout=0.5)
        )

    assert result.status is ProbeStatus.FAILED
    assert result.error == "no complete answer within 0.5 s"
    assert result.values["http.status"] == 200
    assert "http.keyword_ok" not in result.values
    assert result.duration < 2.5


class _OneShot:
    """Answers the first request on each connection and drops the connection at the second,
    without a word: a server closing an idle keep-alive connection as a request arrives."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def one_shot() -> AsyncIterator[tuple[_OneShot, str]]:
    peer = _OneShot()
    async with tcp_server(peer.handle) as port:
        yield peer, f"http://127.0.0.1:{port}/"


async def test_a_dead_reused_connection_is_retried_once(
    prober: HttpProber, one_shot: tuple[_OneShot, str]
) -> None:
    peer, url = one_shot
    first = await prober.probe(HttpTarget(url))
    second = await prober.probe(HttpTarget(url))

    assert first.status is ProbeStatus.OK, first.error
    assert second.status is ProbeStatus.OK, second.error
    assert peer.connections == 2


async def test_a_post_is_never_sent_twice(
    prober: HttpProber, one_shot: tuple[_OneShot, str]
) -> None:
    peer, url = one_shot
    await prober.probe(HttpTarget(url, method="POST"))
    second = await prober.probe(HttpTarget(url, method="POST"))

    assert second.status is ProbeStatus.FAILED
    assert second.error.startswith("not a valid HTTP answer")
    assert peer.connections == 1


async def test_idle_origin_pools_are_closed(nginx: Nginx) -> None:
    async with HttpProber(keepalive_expiry=0.2) as prober:
        await prober.probe(HttpTarget(f"{nginx.http_url}/page.html"))
        ca = str(nginx.certificate.cert_file)
        await prober.probe(HttpTarget(f"{nginx.https_url}/page.html", ca_file=ca))
        assert prober.open_pools == 2
        await asyncio.sleep(0.3)
        await prober.probe(HttpTarget(f"{nginx.http_url}/page.html"))

        assert prober.open_pools == 1


async def test_connections_in_use_are_capped(nginx: Nginx) -> None:
    async with HttpProber(max_connections=1) as prober, TcpBlackhole() as hole:
        silent = asyncio.create_task(
            prober.probe(HttpTarget(f"http://127.0.0.1:{hole.port}/", timeout=1.0))
        )
        await asyncio.sleep(0.1)
        starved = await prober.probe(HttpTarget(f"{nginx.http_url}/page.html", timeout=0.3))
        await silent
        after = await prober.probe(HttpTarget(f"{nginx.http_url}/page.html"))

    assert starved.status is ProbeStatus.FAILED
    assert starved.error == "no complete answer within 0.3 s"
    assert after.status is ProbeStatus.OK


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeout": 0}, "timeout must be above 0"),
        ({"method": "GET /x"}, "is not an HTTP method"),
        ({"max_body": 0}, "max_body must be at least 1 byte"),
        ({"expect_status": (200, 9000)}, "outside 100-599"),
    ],
)
def test_a_bad_target_is_one_clear_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        HttpTarget("https://user:secret@127.0.0.1/", **change)  # type: ignore[arg-type]

    text = str(caught.value)
    assert text.startswith("http check https://user:****@127.0.0.1/: ")
    assert message in text
    assert "secret" not in text
