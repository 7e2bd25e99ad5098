"""From a stored check to a probe call: one adapter per check type.

An adapter reads a ``CheckJob`` (type, params, credential profile by reference), resolves the
secrets it needs at that moment, builds the probe's own target and calls the probe. It owns the
probe's shared object (one ICMP socket, one HTTP client, one SSH connection pool, one SNMP
engine), created on first use inside the running loop and closed by ``aclose``.

Probe modules are imported only when a check of their type first runs: a poller that pings
loads no SSH or SNMP code, and a build without some probe still polls everything else (checks
of the missing type come back UNKNOWN, saying so).

``job.timeout`` is the budget of one attempt; adapters fit the probe's inner timeouts inside it
so a probe normally reports its own, more precise failure before the scheduler's hard deadline.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from noc.config import Settings
from noc.errors import ConfigError, NocError
from noc.polling.jobs import CheckJob
from noc.probes.result import ProbeResult, ProbeStatus
from noc.secrets import SecretRef

if TYPE_CHECKING:
    from noc.probes.http import HttpProber
    from noc.probes.icmp import IcmpPinger
    from noc.probes.local import LocalProbe
    from noc.probes.snmp import SnmpPoller, SnmpWorkerPool
    from noc.probes.ssh import SshPool

    SnmpProber: TypeAlias = SnmpPoller | SnmpWorkerPool


class ProbeUnavailable(NocError):
    """This build has no probe for a check type (its module is not installed)."""


@runtime_checkable
class Adapter(Protocol):
    check_type: str

    async def probe(self, job: CheckJob) -> ProbeResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BatchAdapter(Adapter, Protocol):
    """A probe that serves many targets in one call (the ICMP sweep): the scheduler hands it
    every job due within ``window`` seconds at once instead of one task per job."""

    window: float

    def batch_budget(self, jobs: Sequence[CheckJob]) -> float:
        """Seconds one ``probe_many`` of these jobs may take at most."""
        ...

    async def probe_many(self, jobs: Sequence[CheckJob]) -> dict[int, ProbeResult]:
        """A result for every job, by check id."""
        ...


def _unavailable(check_type: str, exc: ModuleNotFoundError) -> NocError:
    if exc.name is not None and not exc.name.startswith("noc."):
        return ProbeUnavailable(f"the {check_type} probe needs {exc.name}, which is not installed")
    return ProbeUnavailable(f"the {check_type} probe is not part of this build ({exc.name})")


# Reading params: the importer validated them, but the store is shared and JSON is loose. --------


class Params:
    """Typed access to a job's params; a bad value is a ``ConfigError`` naming the check."""

    def __init__(self, job: CheckJob, source: Mapping[str, Any] | None = None) -> None:
        self.job = job
        self.source = job.params if source is None else source

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"check {self.job.label}: {key}: {message}")

    def number(self, key: str, default: float) -> float:
        value = self.source.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(key, f"expected a positive number, got {value!r}")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.source.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected a whole number, got {value!r}")
        return value

    def port(self, key: str = "port", default: int | None = None) -> int:
        value = self.integer(key, default)
        if not 0 < value < 65536:
            raise self.fail(key, f"{value} is not a port number")
        return value

    def text(self, key: str, default: str = "") -> str:
        value = self.source.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.source.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value


def optional_credential(job: CheckJob, kind: str) -> Params | None:
    """The job's credential profile params, checked to be of ``kind``; None if it has none."""
    cred = job.credential
    if cred is None:
        if job.credential_name:
            raise ConfigError(
                f"check {job.label}: no credential profile named {job.credential_name!r}"
            )
        return None
    if cred.kind != kind:
        raise ConfigError(
            f"check {job.label}: credential {cred.name!r} is a {cred.kind} profile, not {kind}"
        )
    return Params(job, cred.params)


def credential_of(job: CheckJob, kind: str) -> Params:
    cred = optional_credential(job, kind)
    if cred is None:
        raise ConfigError(f"check {job.label}: needs a {kind} credential profile")
    return cred


def secret(job: CheckJob, role: str) -> str | None:
    """Resolve one secret of the job's credential now; None if the profile has no such role."""
    cred = job.credential
    if cred is None or role not in cred.secret_refs:
        return None
    return SecretRef.parse(cred.secret_refs[role]).resolve()


def _as_bytes(text: str) -> bytes:
    return text.encode("utf-8")


# The adapters ------------------------------------------------------------------------------------

MAX_REPLY_WAIT = 2.0
"""An echo reply later than this counts as lost: on any network we monitor it means trouble."""


class IcmpAdapter:
    """Every ICMP check due together goes out in one sweep of one shared pinger."""

    check_type = "icmp"

    def __init__(self, *, window: float = 0.25, pps: float | None = None) -> None:
        self.window = window
        self._pps = pps
        self._pinger: IcmpPinger | None = None

    def options(self, job: CheckJob) -> tuple[int, float, float]:
        """Echo requests, seconds between them, and how long to wait for each reply."""
        params = Params(job)
        count = params.integer("count", 3)
        if not 1 <= count <= 100:
            raise params.fail("count", f"{count} is not from 1 to 100")
        gap = params.number("packet_interval", 0.2)
        reply_wait = min(MAX_REPLY_WAIT, job.timeout - (count - 1) * gap)
        if reply_wait <= 0:
            raise params.fail(
                "timeout", f"{job.timeout:g} s cannot fit {count} requests {gap:g} s apart"
            )
        return count, gap, reply_wait

    def batch_budget(self, jobs: Sequence[CheckJob]) -> float:
        budget = max((job.timeout for job in jobs), default=0.0)
        if self._pps:
            requests = 0
            for job in jobs:
                count = job.params.get("count", 3)
                requests += count if isinstance(count, int) and 0 < count <= 100 else 1
            budget += requests / self._pps
        return budget

    async def _get_pinger(self) -> IcmpPinger:
        if self._pinger is None:
            try:
                from noc.probes.icmp import DEFAULT_PPS, IcmpPinger
            except ModuleNotFoundError as exc:
                raise _unavailable("icmp", exc) from None
            if self._pps is None:
                self._pps = float(DEFAULT_PPS)
            self._pinger = IcmpPinger(pps=self._pps)
        return self._pinger

    async def probe(self, job: CheckJob) -> ProbeResult:
        return (await self.probe_many([job]))[job.check_id]

    async def probe_many(self, jobs: Sequence[CheckJob]) -> dict[int, ProbeResult]:
        results: dict[int, ProbeResult] = {}
        groups: dict[tuple[int, float, float], list[tuple[CheckJob, str]]] = {}
        budget = self.batch_budget(jobs)
        for job, address in zip(jobs, await _ip_addresses(jobs, budget / 2), strict=True):
            if isinstance(address, ProbeResult):
                results[job.check_id] = address
                continue
            try:
                key = self.options(job)
            except NocError as exc:
                results[job.check_id] = ProbeResult(ProbeStatus.ERROR, error=str(exc))
                continue
            groups.setdefault(key, []).append((job, address))

        if not groups:
            return results
        pinger = await self._get_pinger()

        async def sweep(key: tuple[int, float, float], members: list[tuple[CheckJob, str]]) -> None:
            count, gap, reply_wait = key
            answers: Mapping[str, ProbeResult] = await pinger.ping_many(
                [address for _, address in members],
                count=count,
                interval=gap,
                timeout=reply_wait,
            )
            for job, address in members:
                results[job.check_id] = answers[address]

        await asyncio.gather(*(sweep(key, members) for key, members in groups.items()))
        return results

    async def aclose(self) -> None:
        if self._pinger is not None:
            await self._pinger.aclose()
            self._pinger = None


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


async def _ip_addresses(jobs: Sequence[CheckJob], budget: float) -> list[str | ProbeResult]:
    """IP literals as they are; names resolved (a ping needs an address, not a name)."""
    out: list[str | ProbeResult] = [job.address for job in jobs]
    names = [i for i, job in enumerate(jobs) if not _is_ip(job.address)]
    if not names:
        return out
    loop = asyncio.get_running_loop()

    async def resolve(name: str) -> str | ProbeResult:
        try:
            async with asyncio.timeout(max(budget, 0.1)):
                info = await loop.getaddrinfo(name, None, type=socket.SOCK_RAW)
        except TimeoutError:
            return ProbeResult(
                ProbeStatus.FAILED, error=f"cannot resolve {name}: no answer in time"
            )
        except OSError as exc:
            return ProbeResult(
                ProbeStatus.ERROR, error=f"cannot resolve {name}: {exc.strerror or exc}"
            )
        return str(info[0][4][0])

    unique = sorted({jobs[i].address for i in names})
    resolved = dict(zip(unique, await asyncio.gather(*(resolve(n) for n in unique)), strict=True))
    for i in names:
        out[i] = resolved[jobs[i].address]
    return out


class TcpAdapter:
    check_type = "tcp"

    async def probe(self, job: CheckJob) -> ProbeResult:
        try:
            from noc.probes.tcp import TcpTarget, probe_tcp
        except ModuleNotFoundError as exc:
            raise _unavailable("tcp", exc) from None
        params = Params(job)
        target = TcpTarget(
            host=job.address,
            port=params.port(),
            send=_as_bytes(params.text("send")),
            expect=_as_bytes(params.text("expect")),
            timeout=job.timeout,
        )
        result: ProbeResult = await probe_tcp(target)
        return result

    async def aclose(self) -> None:
        return None


class HttpAdapter:
    check_type = "http"

    def __init__(self) -> None:
        self._prober: HttpProber | None = None
        self._opening = asyncio.Lock()
        """Checks that start while the client opens wait for it rather than open their own."""

    async def _get_prober(self) -> HttpProber:
        if self._prober is None:
            async with self._opening:
                if self._prober is None:
                    try:
                        from noc.probes.http import HttpProber
                    except ModuleNotFoundError as exc:
                        raise _unavailable("http", exc) from None
                    prober = HttpProber()
                    await prober.__aenter__()
                    self._prober = prober
        return self._prober

    def headers(self, job: CheckJob) -> tuple[tuple[str, str], ...]:
        params = Params(job)
        raw = job.params.get("headers", {})
        if not isinstance(raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            raise params.fail("headers", "expected a table of text headers")
        headers = list(raw.items())
        cred = optional_credential(job, "http")
        if cred is not None:
            token = secret(job, "token")
            password = secret(job, "password")
            if token is not None:
                headers.append(("Authorization", f"Bearer {token}"))
            elif password is not None:
                import base64

                user = cred.text("username")
                basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                headers.append(("Authorization", f"Basic {basic}"))
        return tuple(headers)

    async def probe(self, job: CheckJob) -> ProbeResult:
        prober = await self._get_prober()
        from noc.probes.http import HttpTarget

        params = Params(job)
        expect = job.params.get("expect_status", ())
        codes = (expect,) if isinstance(expect, int) else expect
        if not isinstance(codes, list | tuple) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in codes
        ):
            raise params.fail("expect_status", f"expected status codes, got {expect!r}")
        ca_file = params.text("ca_file") or None
        target = HttpTarget(
            url=params.text("url"),
            method=params.text("method", "GET").upper(),
            expect_status=tuple(codes),
            keyword=params.text("keyword"),
            keyword_absent=params.flag("keyword_absent", False),
            follow_redirects=params.flag("follow_redirects", True),
            verify_tls=params.flag("verify_tls", True),
            ca_file=ca_file,
            timeout=job.timeout,
            headers=self.headers(job),
        )
        result: ProbeResult = await prober.probe(target)
        return result

    async def aclose(self) -> None:
        if self._prober is not None:
            await self._prober.__aexit__(None, None, None)
            self._prober = None


class SshAdapter:
    check_type = "ssh"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.ssh
        self._pool: SshPool | None = None

    async def probe(self, job: CheckJob) -> ProbeResult:
        cred = credential_of(job, "ssh")
        try:
            from noc.probes.ssh import SshPool, SshTarget, SshTimeouts
        except ModuleNotFoundError as exc:
            raise _unavailable("ssh", exc) from None
        if cred.source.get("jump"):
            raise cred.fail("jump", "jump hosts are not supported by the poller yet")
        key_file = cred.text("key_file")
        agent = cred.source.get("agent", False)
        if not isinstance(agent, bool | str):
            raise cred.fail("agent", f"expected true, false or a socket path, got {agent!r}")
        budget = job.timeout
        try:
            target = SshTarget(
                host=job.address,
                username=cred.text("username"),
                port=Params(job).port("port", cred.integer("port", 22)),
                password=secret(job, "password"),
                client_keys=(key_file,) if key_file else (),
                passphrase=secret(job, "passphrase"),
                agent=agent,
                known_hosts=cred.text("known_hosts", self._settings.known_hosts),
                timeouts=SshTimeouts(
                    connect=min(self._settings.connect_timeout_s, budget),
                    login=min(self._settings.login_timeout_s, budget),
                    command=budget,
                ),
            )
        except ValueError as exc:
            raise ConfigError(f"check {job.label}: {exc}") from None
        if self._pool is None:
            self._pool = SshPool()
        result: ProbeResult = await self._pool.poll(target)
        return result

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def snmp_workers(setting: int) -> int:
    """``[poller] snmp_workers``: 0 means one per CPU (in this process on a single CPU)."""
    if setting > 0:
        return setting
    cpus = os.cpu_count() or 1
    return cpus if cpus > 1 else 1


class SnmpAdapter:
    """SNMP through one shared prober: in this process, or over ``workers`` processes when
    one core cannot keep up with pysnmp's per-request CPU cost."""

    check_type = "snmp"

    def __init__(self, *, workers: int = 1) -> None:
        self._workers = workers
        self._prober: SnmpProber | None = None
        self._opening = asyncio.Lock()
        """Checks that start while the worker processes start wait for them: each opening a
        pool of its own left hundreds of processes behind at 2,000 agents a minute."""

    async def _get_prober(self) -> SnmpProber:
        if self._prober is None:
            async with self._opening:
                if self._prober is None:
                    try:
                        from noc.probes.snmp import open_snmp
                    except ModuleNotFoundError as exc:
                        raise _unavailable("snmp", exc) from None
                    prober: SnmpProber = open_snmp(self._workers)
                    await prober.__aenter__()
                    self._prober = prober
        return self._prober

    async def probe(self, job: CheckJob) -> ProbeResult:
        cred = credential_of(job, "snmp")
        prober = await self._get_prober()
        from noc.probes.snmp import AuthProtocol, Collect, PrivProtocol, SnmpTarget, SnmpVersion
        from noc.probes.snmp.target import REDISCOVER_S

        params = Params(job)
        collect = job.params.get("collect")
        try:
            parts = frozenset(Collect(str(c)) for c in collect) if collect else frozenset(Collect)
            target = SnmpTarget(
                address=job.address,
                port=params.port("port", cred.integer("port", 161)),
                version=SnmpVersion(str(cred.source.get("version", "2c"))),
                community=secret(job, "community") or "",
                user=cred.text("username"),
                auth_protocol=AuthProtocol(cred.text("auth_protocol", "none").lower()),
                auth_key=secret(job, "auth_key") or "",
                priv_protocol=PrivProtocol(cred.text("priv_protocol", "none").lower()),
                priv_key=secret(job, "priv_key") or "",
                context=cred.text("context"),
                timeout=min(2.0, job.timeout / 2),
                retries=1,
                deadline=job.timeout,
                collect=parts,
                rediscover=params.number("rediscover", REDISCOVER_S),
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"check {job.label}: {exc}") from None
        result: ProbeResult = await prober.poll(target)
        return result

    async def aclose(self) -> None:
        if self._prober is not None:
            prober, self._prober = self._prober, None
            await prober.__aexit__(None, None, None)


class LocalAdapter:
    """The poller's own host; one reader per timeout keeps CPU use measured between polls."""

    check_type = "local"

    def __init__(self) -> None:
        self._probes: dict[float, LocalProbe] = {}

    async def probe(self, job: CheckJob) -> ProbeResult:
        try:
            from noc.probes.local import LocalProbe
        except ModuleNotFoundError as exc:
            raise _unavailable("local", exc) from None
        probe = self._probes.get(job.timeout)
        if probe is None:
            probe = self._probes[job.timeout] = LocalProbe(timeout=job.timeout)
        result: ProbeResult = await probe.probe()
        return result

    async def aclose(self) -> None:
        self._probes.clear()


AdapterFactory = Callable[[Settings], Adapter]

DEFAULT_FACTORIES: dict[str, AdapterFactory] = {
    "icmp": lambda _settings: IcmpAdapter(),
    "tcp": lambda _settings: TcpAdapter(),
    "http": lambda _settings: HttpAdapter(),
    "ssh": SshAdapter,
    "snmp": lambda settings: SnmpAdapter(workers=snmp_workers(settings.poller.snmp_workers)),
    "local": lambda _settings: LocalAdapter(),
}


PROBE_MODULES = {
    "icmp": "noc.probes.icmp",
    "tcp": "noc.probes.tcp",
    "http": "noc.probes.http",
    "ssh": "noc.probes.ssh",
    "snmp": "noc.probes.snmp",
    "local": "noc.probes.local",
}


def preload(check_type: str) -> None:
    """Import a probe's module now, when the scheduler loads its jobs, rather than in the
    middle of the first poll: a first import of httpx or pysnmp blocks the event loop for a
    good part of a second, which every run due meanwhile would see as lag. A missing module
    is reported by the first poll of that type instead."""
    module = PROBE_MODULES.get(check_type)
    if module is None:
        return
    try:
        importlib.import_module(module)
    except ImportError:
        pass


class Adapters:
    """The adapters of one poller, by check type; created on first use, closed together.

    ``register`` replaces one (the lab's simulated probes, a test's own peer).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        factories: Mapping[str, AdapterFactory] | None = None,
    ) -> None:
        self._settings = settings or Settings()
        self._factories = dict(DEFAULT_FACTORIES if factories is None else factories)
        self._made: dict[str, Adapter] = {}

    def register(self, adapter: Adapter) -> None:
        preload(adapter.check_type)
        self._made[adapter.check_type] = adapter

    def get(self, check_type: str) -> Adapter | None:
        adapter = self._made.get(check_type)
        if adapter is None and check_type in self._factories:
            preload(check_type)
            adapter = self._made[check_type] = self._factories[check_type](self._settings)
        return adapter

    async def aclose(self) -> None:
        made, self._made = self._made, {}
        for adapter in made.values():
            try:
                await adapter.aclose()
            except (OSError, NocError):
                pass  # closing is best effort; the process is ending or reloading
