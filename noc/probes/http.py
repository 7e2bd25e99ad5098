"""HTTP(S) checks: status, latency, a keyword in the body, redirects and certificate expiry.

One ``HttpProber`` serves every target through one ``httpx.AsyncClient``: connections to an
origin are reused, connections in use are capped, and no cookie survives a probe. Its transport
(``_http_pools``) keeps one small pool per origin and trust setting, because one httpcore pool
for thousands of targets costs CPU in proportion to its size on every request, and because httpx
binds TLS trust to a pool rather than a request.

Each probe runs under one hard deadline, ``HttpTarget.timeout``, covering the connect, the TLS
handshake, every redirect, the body read and the close: a server that accepts and never answers
costs exactly that long and holds up nothing else.

Values: ``http.status``; ``http.latency_ms``, from the start to the final response's headers,
redirects included; ``http.redirects``; ``http.keyword_ok`` when there is a keyword;
``tls.days_left`` for the first HTTPS hop (also when its certificate is not trusted).

Outcomes: the target answered as expected -> ``OK``; it answered with a status outside
``expect_status`` or failed the keyword test -> ``FAILED`` with the values it did give; no answer
in time, refused, broken TLS -> ``FAILED``; its certificate is not trusted, or the URL or CA file
is unusable -> ``ERROR`` (a setting to fix, not an outage). ``http.keyword_ok`` is 1 or 0 so it
becomes a sample like any other number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, Self

import httpx
from cryptography import x509

from noc import __version__
from noc.errors import ConfigError
from noc.probes._http_pools import PEER_CERT, TRUST, PoolRouter, Trust
from noc.probes._reasons import cause, reason
from noc.probes.result import ProbeResult, ProbeStatus
from noc.secrets import mask_url

__all__ = ["DEFAULT_MAX_BODY", "HttpProber", "HttpTarget", "certificate_days_left"]

DEFAULT_MAX_BODY = 64 * 1024
"""Bytes of body searched for a keyword: enough for a status page, bounded for a huge one."""
MAX_REDIRECTS = 10
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
BACKSTOP_S = 0.5
"""Grace past the deadline before the probe is cancelled outright; see ``_Budget``."""


@dataclass(frozen=True, slots=True)
class HttpTarget:
    url: str
    method: str = "GET"
    expect_status: tuple[int, ...] = ()
    """Status codes that mean up; empty means any 2xx or 3xx."""
    keyword: str = ""
    """Text looked for, case-sensitively, in the first ``max_body`` bytes of the final body."""
    keyword_absent: bool = False
    """Invert the test: the page is good when ``keyword`` is *not* there (an error banner)."""
    follow_redirects: bool = True
    verify_tls: bool = True
    """Off trusts any certificate (self-signed appliances) but still reports its expiry."""
    ca_file: str | None = None
    """A PEM bundle to trust instead of the system store, for a private CA."""
    timeout: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()
    max_body: int = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        problem = ""
        if not self.url:
            problem = "url is empty"
        elif not self.method or not self.method.isalpha():
            problem = f"method {self.method!r} is not an HTTP method"
        elif not self.timeout > 0:
            problem = f"timeout must be above 0, not {self.timeout}"
        elif self.max_body < 1:
            problem = f"max_body must be at least 1 byte, not {self.max_body}"
        elif not all(100 <= code <= 599 for code in self.expect_status):
            problem = f"expect_status {self.expect_status} holds a code outside 100-599"
        if problem:
            raise ConfigError(f"http check {mask_url(self.url)}: {problem}")

    def accepts(self, status: int) -> bool:
        if self.expect_status:
            return status in self.expect_status
        return 200 <= status < 400

    def expectation(self) -> str:
        if self.expect_status:
            return "/".join(str(code) for code in self.expect_status)
        return "2xx/3xx"


class _Budget(Mapping[str, float]):
    """httpx's per-phase timeouts, every one answering "whatever is left of the deadline".

    httpcore looks up its pool, connect, write and read timeouts as each step begins, so this
    makes httpx itself enforce one overall deadline up to the response headers. That matters: a
    timeout raised inside httpcore closes the socket, while a cancellation from outside in the
    middle of a TLS handshake (httpcore 1.0.9) leaks it until the garbage collector runs. The
    outer ``asyncio.timeout`` is a backstop ``BACKSTOP_S`` later for the gaps: the connect and
    the handshake share one lookup, and so do all the reads of one body (the body gets its own
    exact deadline instead).
    """

    _PHASES = ("connect", "read", "write", "pool")

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __getitem__(self, phase: str) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def __iter__(self) -> Iterator[str]:
        return iter(self._PHASES)

    def __len__(self) -> int:
        return len(self._PHASES)


def _trust_of(target: HttpTarget) -> Trust:
    return Trust(target.verify_tls, target.ca_file if target.verify_tls else None)


def certificate_days_left(der: bytes, now: dt.datetime | None = None) -> float:
    """Days until the certificate's ``notAfter``, negative once expired."""
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    remaining = not_after - (now or dt.datetime.now(dt.UTC))
    return round(remaining.total_seconds() / 86400, 4)


class HttpProber:
    """The shared HTTP client for every HTTP check a poller runs; use as an async context.

    Cookies are never kept: one client serves every customer's sites, and a session cookie from
    one check must not ride along on another.
    """

    def __init__(
        self,
        *,
        max_connections: int = 200,
        per_origin: int = 8,
        keepalive_expiry: float = 30.0,
    ) -> None:
        """``max_connections`` caps connections in use at once across all targets,
        ``per_origin`` those to one scheme://host:port; idle ones close after
        ``keepalive_expiry`` seconds (raise it above the poll interval to reuse them between
        polls, where servers allow)."""
        self._router = PoolRouter(
            max_connections=max_connections,
            per_origin=per_origin,
            keepalive_expiry=keepalive_expiry,
        )
        self._client = httpx.AsyncClient(
            transport=self._router,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={"User-Agent": f"noc/{__version__}", "Accept-Encoding": "identity"},
            max_redirects=MAX_REDIRECTS,
            trust_env=False,
        )

    @property
    def open_pools(self) -> int:
        """Origins with a pool right now: grows with targets, shrinks as idle pools expire."""
        return self._router.pool_count

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, tb)

    async def probe(self, target: HttpTarget) -> ProbeResult:
        trust = _trust_of(target)
        started, t0 = time.time(), time.monotonic()
        try:  # a first probe loads the CA store (shared, on a thread): within the deadline too
            async with asyncio.timeout(target.timeout):
                await self._router.prepare(trust)
        except TimeoutError:
            error = f"the TLS trust store did not load within {target.timeout:g} s"
            return ProbeResult(ProbeStatus.ERROR, error=error, started=started)
        except (OSError, ssl.SSLError) as exc:
            error = f"ca_file {target.ca_file}: {reason(exc)}"
            return ProbeResult(ProbeStatus.ERROR, error=error, started=started)
        values: dict[str, Any] = {}
        status, error = ProbeStatus.OK, ""
        try:
            async with asyncio.timeout(t0 + target.timeout + BACKSTOP_S - time.monotonic()):
                status, error = await self._exchange(target, trust, values, t0)
        except (TimeoutError, httpx.TimeoutException):
            status, error = ProbeStatus.FAILED, f"no complete answer within {target.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError) as exc:
            status, error = _classify(exc)
        latency = values.get("http.latency_ms")
        return ProbeResult(
            status,
            values,
            rtt=latency / 1000 if latency is not None else None,
            error=error,
            started=started,
            duration=time.monotonic() - t0,
        )

    async def _exchange(
        self, target: HttpTarget, trust: Trust, values: dict[str, Any], t0: float
    ) -> tuple[ProbeStatus, str]:
        """Fills ``values`` as facts arrive, so a deadline mid-way still reports what was seen."""
        try:
            response = await self._send(target, trust, _Budget(t0 + target.timeout))
        except httpx.ConnectError as exc:
            if cause(exc, ssl.SSLCertVerificationError) is not None:
                days = await self._peek_days_left(exc.request.url)
                if days is not None:
                    values["tls.days_left"] = days
            raise
        try:
            values["http.status"] = response.status_code
            values["http.latency_ms"] = round((time.monotonic() - t0) * 1000, 3)
            values["http.redirects"] = len(response.history)
            der = next(_peer_certificates(response), None)
            if der is not None:
                values["tls.days_left"] = certificate_days_left(der)
            # httpcore sizes every body read by the time left when the body began, so a server
            # dripping bytes would outlast the budget; cancelling a body read is safe.
            async with asyncio.timeout(max(0.0, t0 + target.timeout - time.monotonic())):
                found = await _read_body(response, target.keyword, target.max_body)
            if target.keyword:
                values["http.keyword_ok"] = int(found != target.keyword_absent)
        finally:
            await response.aclose()
        if not target.accepts(response.status_code):
            return ProbeStatus.FAILED, (
                f"HTTP {response.status_code} {response.reason_phrase} "
                f"(expected {target.expectation()})"
            )
        if target.keyword and found == target.keyword_absent:
            where = f"in the first {target.max_body} bytes"
            if target.keyword_absent:
                return ProbeStatus.FAILED, f"unwanted keyword {target.keyword!r} found {where}"
            return ProbeStatus.FAILED, f"keyword {target.keyword!r} not found {where}"
        return ProbeStatus.OK, ""

    async def _send(self, target: HttpTarget, trust: Trust, budget: _Budget) -> httpx.Response:
        """Sends the request, and once more if the connection died before any answer.

        A server may close an idle keep-alive connection just as a request goes out on it; the
        request then gets no answer at all though the server is fine. Browsers and urllib3 retry
        idempotent requests then, and so does this, within the same deadline.
        """
        retry = target.method.upper() in _IDEMPOTENT
        while True:
            request = self._client.build_request(
                target.method,
                target.url,
                headers=list(target.headers),
                extensions={TRUST: trust, "timeout": budget},
            )
            try:
                return await self._client.send(
                    request, follow_redirects=target.follow_redirects, stream=True
                )
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if not retry:
                    raise
                retry = False

    async def _peek_days_left(self, url: httpx.URL) -> float | None:
        """Reads an untrusted certificate's expiry anyway: an expired one is the usual reason it
        is untrusted, and the days (negative) are what the alert should say."""
        try:
            context = await self._router.prepare(Trust(False, None))
            _, writer = await asyncio.open_connection(
                url.host, url.port or 443, ssl=context, server_hostname=url.host
            )
        except (OSError, ssl.SSLError):
            return None
        try:
            tls = writer.get_extra_info("ssl_object")
            der = tls.getpeercert(binary_form=True) if tls is not None else None
            return certificate_days_left(der) if der else None
        finally:
            writer.transport.abort()


def _peer_certificates(response: httpx.Response) -> Iterator[bytes]:
    """The certificates seen along the redirect chain, the one of the URL asked for first."""
    for hop in (*response.history, response):
        der = hop.extensions.get(PEER_CERT)
        if der:
            yield der


async def _read_body(response: httpx.Response, keyword: str, limit: int) -> bool:
    """Reads the body up to ``limit`` bytes and says whether ``keyword`` is in them.

    A body read to its end leaves the connection reusable; one abandoned half-way makes httpcore
    drop it, and the next probe to that origin pays a new TCP and TLS handshake. So a body up to
    ``limit`` is always read whole, keyword or not.
    """
    needle = b""
    if keyword:
        try:
            needle = keyword.encode(response.charset_encoding or "utf-8")
        except (LookupError, UnicodeEncodeError):
            needle = keyword.encode()
    seen = bytearray()
    found = False
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if needle and not found and len(seen) < limit:
            start = max(0, len(seen) - len(needle) + 1)
            seen += chunk[: limit - len(seen)]
            found = seen.find(needle, start) >= 0
        if total > limit:
            break
    return found


def _classify(exc: BaseException) -> tuple[ProbeStatus, str]:
    untrusted = cause(exc, ssl.SSLCertVerificationError)
    if untrusted is not None:
        return ProbeStatus.ERROR, (
            f"TLS certificate not trusted: {untrusted.verify_message} "
            "(give ca_file, or verify_tls = false to only watch its expiry)"
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return ProbeStatus.FAILED, f"more than {MAX_REDIRECTS} redirects"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProbeStatus.ERROR, f"unusable URL: {reason(exc)}"
    handshake = cause(exc, ssl.SSLError)
    if handshake is not None:
        return ProbeStatus.FAILED, f"TLS handshake failed: {handshake.reason or handshake}"
    if isinstance(exc, httpx.ConnectError):
        return ProbeStatus.FAILED, f"cannot connect: {reason(exc)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return ProbeStatus.FAILED, f"not a valid HTTP answer: {reason(exc)}"
    return ProbeStatus.FAILED, reason(exc)
