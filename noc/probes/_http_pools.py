"""Connection pools for the HTTP probe: one per origin and trust setting, behind one transport.

Why not one httpcore pool for everything: httpcore re-examines every connection of a pool each
time a request starts or ends, so the cost of a request grows with the number of connections the
pool holds. Measured on this 2-core box (bench/bench_http.py), a sweep of 300 nginx origins cost
16 ms of CPU per request through one shared httpx pool and 2.3 ms through a pool per origin; at
500 origins, 50 ms against 2.5 ms.

The router also owns what the per-request API of httpx cannot express:

- TLS trust (system store, a CA file, or none) is bound to a pool's SSL context, so the trust
  choice is part of the pool's key and travels on the request as the ``TRUST`` extension.
- The peer certificate is read as each response arrives, while the connection is surely open
  (httpx closes redirect responses before the caller sees them), into ``PEER_CERT``.
- A semaphore caps active connections across all pools; pools idle past the keep-alive expiry
  are closed by a periodic sweep, so thousands of targets do not keep a socket each between
  polls.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import httpcore  # noqa: F401 (httpx imports it on its first transport: ~0.1 s of blocked loop)
import httpx

TRUST = "noc.trust"
"""Request extension: the ``Trust`` to connect with."""
PEER_CERT = "noc.peer_certificate"
"""Response extension: the server certificate, DER, for an HTTPS response."""


class Trust(NamedTuple):
    verify: bool
    ca_file: str | None

    def context(self) -> ssl.SSLContext:
        """A new SSL context; blocking (reads the CA store), so build it on a thread."""
        if not self.verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.ca_file)


SYSTEM_TRUST = Trust(True, None)


class _Origin(NamedTuple):
    trust: Trust
    scheme: str
    host: str
    port: int


@dataclass(slots=True)
class _Pool:
    transport: httpx.AsyncHTTPTransport
    active: int = 0
    last_used: float = 0.0


class _Tracked(httpx.AsyncByteStream):
    """A response body that gives its connection slot back when closed, exactly once."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class PoolRouter(httpx.AsyncBaseTransport):
    def __init__(self, *, max_connections: int, per_origin: int, keepalive_expiry: float) -> None:
        self._limits = httpx.Limits(
            max_connections=per_origin,
            max_keepalive_connections=per_origin,
            keepalive_expiry=keepalive_expiry,
        )
        self._expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._pools: dict[_Origin, _Pool] = {}
        self._contexts: dict[Trust, ssl.SSLContext] = {}
        self._loading: dict[Trust, asyncio.Future[ssl.SSLContext]] = {}
        self._next_sweep = time.monotonic() + keepalive_expiry

    @property
    def pool_count(self) -> int:
        return len(self._pools)

    async def prepare(self, trust: Trust) -> ssl.SSLContext:
        """The context for ``trust``, built once on a thread: loading a CA store takes ~0.1 s
        of blocking reads. A bad CA file raises ``OSError`` or ``ssl.SSLError``.

        Probes that start together share one load: a fresh poller's first sweep of a thousand
        web checks would otherwise queue a thousand loads on the default executor."""
        context = self._contexts.get(trust)
        if context is not None:
            return context
        loading = self._loading.get(trust)
        if loading is None:
            loading = self._loading[trust] = asyncio.ensure_future(asyncio.to_thread(trust.context))
            loading.add_done_callback(partial(self._loaded, trust))
        return await asyncio.shield(loading)  # one caller's deadline leaves the others' load

    def _loaded(self, trust: Trust, loading: asyncio.Future[ssl.SSLContext]) -> None:
        """Keeps a built context; forgets a failed load, so a fixed CA file is read again."""
        self._loading.pop(trust, None)
        if not loading.cancelled() and loading.exception() is None:
            self._contexts[trust] = loading.result()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._sweep()
        trust = request.extensions.get(TRUST, SYSTEM_TRUST)
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        pool = self._pool(_Origin(trust, url.scheme, url.host, port))
        pool.active += 1  # from here on the sweep leaves this pool alone
        try:
            async with asyncio.timeout(request.extensions.get("timeout", {}).get("pool")):
                await self._slots.acquire()
        except BaseException as exc:
            pool.active -= 1
            pool.last_used = time.monotonic()
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout(
                    "all connection slots stayed busy", request=request
                ) from None
            raise
        release = self._releaser(pool)
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            release()
            raise
        stream = response.extensions.get("network_stream")
        tls = stream.get_extra_info("ssl_object") if stream is not None else None
        if isinstance(tls, ssl.SSLObject | ssl.SSLSocket):
            response.extensions[PEER_CERT] = tls.getpeercert(binary_form=True)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Tracked(response.stream, release)
        return response

    def _pool(self, origin: _Origin) -> _Pool:
        pool = self._pools.get(origin)
        if pool is None:
            context = self._contexts.get(origin.trust) or origin.trust.context()
            transport = httpx.AsyncHTTPTransport(verify=context, limits=self._limits)
            pool = self._pools[origin] = _Pool(transport)
        return pool

    def _releaser(self, pool: _Pool) -> Callable[[], None]:
        def release() -> None:
            pool.active -= 1
            pool.last_used = time.monotonic()
            self._slots.release()

        return release

    async def _sweep(self) -> None:
        """Closes pools nobody used for a whole keep-alive expiry; runs at most that often."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._expiry
        idle = [
            origin
            for origin, pool in self._pools.items()
            if pool.active == 0 and now - pool.last_used > self._expiry
        ]
        for origin in idle:
            await self._pools.pop(origin).transport.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()
