"""Faults on the wire, through the scheduler and the real adapters: each faulty check ends at its
own deadline, and nothing else slows.

The peers are real: the lab's SNMP agent and web endpoint, OpenSSH's sshd, nginx. The faults are
the ones a NOC meets: a TCP listener that accepts and never speaks (a hung SSH daemon, a hung web
server), a UDP port that swallows SNMP, a host that answers nothing at all (a namespace host of
the test's own, silenced: no echo reply, no SYN-ACK, no reset), and a path that loses and delays
(the loopback proxy of ``tests/support/faultproxy.py``, since this kernel has no ``tc netem``).

Every target sits on an address of its own, as devices do: the scheduler's per-target slots are
keyed by address, and sharing one would measure the cap rather than the faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import pytest

from noc.polling.adapters import Adapters
from noc.polling.jobs import CheckJob, Credential
from noc.polling.outcome import CheckOutcome, State
from noc.polling.scheduler import Scheduler
from noc.polling.stats import SchedulerStats
from noc.probes.result import ProbeStatus
from tests.polling.peers import Listener, Recorder, job
from tests.probes.sshd_server import TEST_USER, Sshd, SshdWorld
from tests.probes.sshd_server import unavailable as sshd_unavailable
from tests.support import netns
from tests.support.blackhole import TcpBlackhole, UdpBlackhole
from tests.support.faultproxy import Impairment, TcpFaultProxy, UdpFaultProxy
from tests.support.nginx import Nginx, nginx_fixture  # noqa: F401 (a fixture, used by name)
from tests.support.ports import free_port

if TYPE_CHECKING:
    from noc.lab.model import LabDevice

pytestmark = pytest.mark.peers

GRACE = 0.25
"""The scheduler's hard deadline is ``timeout + GRACE``: a probe that ends by itself ends first."""
SLACK = 0.6
"""Allowance for a loaded two-core machine on top of a deadline. Every bound below is a
deadline plus this, never a guess at how fast a healthy peer is."""
LATE_AFTER = 0.2
"""Stricter than the default second: a run waiting behind a fault at all would show."""
COMMUNITY_ENV = "NOC_TEST_FAULTS_COMMUNITY"
COMMUNITY = "faults-lab"

SNMP_CREDENTIAL = Credential(
    name="lab-snmp",
    kind="snmp",
    params=MappingProxyType({"version": "2c"}),
    secret_refs=MappingProxyType({"community": f"env:{COMMUNITY_ENV}"}),
)


def address(n: int) -> str:
    """One loopback address per target, away from the other test modules' 127.31/16."""
    return f"127.34.0.{n}"


# peers -------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def community(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMMUNITY_ENV, COMMUNITY)


@pytest.fixture
async def lab_device(tmp_path: Path) -> AsyncIterator[LabDevice]:
    """A healthy simulated server with an SNMP agent and a web endpoint on 127.34.1.1."""
    pytest.importorskip("noc.probes.snmp", reason="the SNMP probe is not in this build")
    from noc.lab.model import LabDevice
    from noc.lab.runner import LabCredentials, start_lab

    host = "127.34.1.1"
    device = LabDevice(
        name="srv",
        address=host,
        kind="server",
        snmp_port=free_port(host, socket.SOCK_DGRAM),
        http_port=free_port(host),
        epoch=time.time(),
    )
    lab = await start_lab([device], LabCredentials(community=COMMUNITY), tmp_path)
    try:
        yield device
    finally:
        await lab.close()


@dataclass(frozen=True, slots=True)
class SshPeer:
    world: SshdWorld
    sshd: Sshd

    def credential(self, *endpoints: tuple[str, int]) -> Credential:
        """Key login as the test account, trusting sshd's host key at each (proxy) endpoint."""
        algorithm, blob = self.sshd.host_key_line.split()[1:3]
        known = self.world.known_hosts(*(f"[{h}]:{p} {algorithm} {blob}" for h, p in endpoints))
        return Credential(
            name="sshd",
            kind="ssh",
            params=MappingProxyType(
                {
                    "username": TEST_USER,
                    "key_file": str(self.world.client_key),
                    "known_hosts": str(known),
                }
            ),
            secret_refs=MappingProxyType({}),
        )


@pytest.fixture(scope="module")
def ssh_peer() -> Iterator[SshPeer]:
    pytest.importorskip("noc.probes.ssh", reason="the SSH probe is not in this build")
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    world = SshdWorld()
    try:
        yield SshPeer(world, world.sshd())
    finally:
        world.close()


@pytest.fixture
def silent_host() -> Iterator[tuple[netns.NetnsHost, int]]:
    """A namespace host with a TCP listener; the test silences it when it wants."""
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    host = netns.NetnsHost()
    try:
        host.__enter__()
    except netns.NetnsError as exc:
        pytest.skip(f"cannot make a namespace host here: {exc}")
    with contextlib.closing(host), host.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((host.address, 0))
        listener.listen()
        yield host, listener.getsockname()[1]


def icmp_or_skip() -> None:
    icmp = pytest.importorskip("noc.probes.icmp", reason="the ICMP probe is not in this build")
    capability = icmp.icmp_capability()
    if not capability.ok:
        pytest.skip(f"no ICMP here: {capability.message}")


# checks ------------------------------------------------------------------------------------------


def snmp_check(check_id: int, host: str, port: int, timeout: float) -> CheckJob:
    base = job(check_id, check_type="snmp", address=host, params={"port": port}, timeout=timeout)
    return replace(base, credential=SNMP_CREDENTIAL, credential_name=SNMP_CREDENTIAL.name)


def ssh_check(
    check_id: int, host: str, port: int, credential: Credential, timeout: float
) -> CheckJob:
    base = job(check_id, check_type="ssh", address=host, params={"port": port}, timeout=timeout)
    return replace(base, credential=credential, credential_name=credential.name)


def http_check(check_id: int, host: str, port: int, path: str, timeout: float) -> CheckJob:
    url = f"http://{host}:{port}{path}"
    return job(check_id, check_type="http", address=host, params={"url": url}, timeout=timeout)


def tcp_check(check_id: int, host: str, port: int, timeout: float) -> CheckJob:
    return job(check_id, address=host, params={"port": port}, timeout=timeout)


def icmp_check(check_id: int, host: str, timeout: float) -> CheckJob:
    params = {"count": 2, "packet_interval": 0.2}
    return job(check_id, check_type="icmp", address=host, params=params, timeout=timeout)


# one timed scheduler cycle -----------------------------------------------------------------------


@dataclass
class Cycle:
    outcomes: dict[int, CheckOutcome]
    elapsed: dict[int, float]
    """Seconds from the start of the cycle to each outcome's arrival at the sink."""
    total: float
    stats: SchedulerStats

    def state(self, check_id: int) -> State:
        return self.outcomes[check_id].state

    def why(self, check_id: int) -> str:
        outcome = self.outcomes[check_id]
        return f"check {check_id}: {outcome.state} after {self.elapsed[check_id]:.2f} s: " + (
            outcome.result.error or outcome.output
        )


async def cycle(*jobs: CheckJob, adapters: Adapters | None = None) -> Cycle:
    """One ``run_once`` of ``jobs`` with the real adapters (fresh ones unless given: no pooled
    connection carries over), all due at once."""
    owned = adapters is None
    adapters = adapters or Adapters()
    recorder = Recorder()
    sched = Scheduler(adapters, recorder, retry_delay=0.05, grace=GRACE, late_after=LATE_AFTER)
    try:
        t0 = time.monotonic()
        async with asyncio.timeout(30):  # a broken deadline fails the test, it does not hang it
            outcomes = await sched.run_once(jobs)
        total = time.monotonic() - t0
    finally:
        if owned:
            await adapters.aclose()
    assert len(outcomes) == len(jobs)
    elapsed = {check_id: at - t0 for check_id, at in recorder.arrived.items()}
    return Cycle({o.job.check_id: o for o in outcomes}, elapsed, total, sched.stats)


async def warm_cycle(check: CheckJob) -> Cycle:
    """A cycle measured after a first one that paid for imports and first-use set-up (the HTTP
    client, key loading): the baseline a slow path is compared with."""
    await cycle(check)
    return await cycle(check)


def assert_ends_at_deadline(run: Cycle, check_id: int, timeout: float) -> None:
    """FAILED by the probe's own deadline, not before it, and not much after it."""
    assert run.outcomes[check_id].result.status is ProbeStatus.FAILED, run.why(check_id)
    assert timeout - 0.05 <= run.elapsed[check_id] <= timeout + SLACK, run.why(check_id)


def assert_kept_time(run: Cycle) -> None:
    """No run waited for a slot, none was cut off by the scheduler, none crashed."""
    stats = run.stats
    assert (stats.late, stats.dropped, stats.crashed, stats.deadline_hits) == (0, 0, 0, 0), (
        stats.as_dict()
    )
    assert max(o.lag for o in run.outcomes.values()) < LATE_AFTER


# SNMP over a lossy, slow path --------------------------------------------------------------------


def lossy() -> tuple[Impairment, Impairment]:
    """30% of requests lost, 200 ms added to every round trip (100 ms each way)."""
    return Impairment(loss=0.3, delay=0.1), Impairment(delay=0.1)


async def test_snmp_over_loss_and_delay_answers_or_fails_within_its_deadline(
    lab_device: LabDevice,
) -> None:
    """Several agents behind lossy paths, polled at once through one shared SNMP engine: each
    poll retransmits what was lost and finishes, or gives up at its deadline; none runs over."""
    assert lab_device.snmp_port is not None
    timeout = 2.0
    up, down = lossy()
    upstream = (lab_device.address, lab_device.snmp_port)
    async with contextlib.AsyncExitStack() as stack:
        proxies = [
            await stack.enter_async_context(
                UdpFaultProxy(upstream, up=up, down=down, seed=seed, host=address(10 + seed))
            )
            for seed in range(4)
        ]
        checks = [snmp_check(i, p.host, p.port, timeout) for i, p in enumerate(proxies, 1)]
        run = await cycle(*checks)

    for check_id, outcome in run.outcomes.items():
        # an answer, or a failure with the reason: never a crash, never the scheduler's cut-off
        assert outcome.state in {State.OK, State.CRITICAL}, run.why(check_id)
        assert run.elapsed[check_id] <= timeout + SLACK, run.why(check_id)
        if outcome.result.status is not ProbeStatus.OK:
            assert f"the {timeout:g} s deadline" in outcome.result.error, run.why(check_id)
    # The adapter gives each request half the deadline: a poll that completed after that long
    # lost a request and got its answer by retransmitting.
    retransmitted = [
        check_id
        for check_id, outcome in run.outcomes.items()
        if outcome.result.status is ProbeStatus.OK and run.elapsed[check_id] > timeout / 2
    ]
    assert retransmitted, [run.why(check_id) for check_id in run.outcomes]
    assert_kept_time(run)
    dropped = sum(p.stats.up.dropped for p in proxies)
    passed = sum(p.stats.up.passed for p in proxies)
    assert dropped > 0 and passed > dropped, (passed, dropped)  # the path really was lossy
    assert all(p.stats.down.passed > 0 for p in proxies), "every agent was reached"


# SSH and HTTP over a slow path -----------------------------------------------------------------


async def test_ssh_over_a_slow_path_is_slower_by_the_round_trips_and_ends_at_its_deadline(
    ssh_peer: SshPeer,
) -> None:
    """SSH needs several round trips (banner, key exchange, login, channel, command): each pays
    the path's delay. Beyond the deadline, the poll ends at it, not when the path would deliver."""
    delay, timeout = 0.05, 3.0
    sshd = ("127.0.0.1", ssh_peer.sshd.port)
    slow = Impairment(delay=delay)
    stalled = Impairment(delay=timeout)  # every byte arrives after the deadline
    async with (
        TcpFaultProxy(sshd, up=slow, down=slow, host=address(20)) as slow_path,
        TcpFaultProxy(sshd, up=stalled, down=stalled, host=address(21)) as stalled_path,
    ):
        credential = ssh_peer.credential(sshd, slow_path.address, stalled_path.address)
        direct = await warm_cycle(ssh_check(1, *sshd, credential, timeout))
        through = await cycle(ssh_check(2, *slow_path.address, credential, timeout))
        beyond = await cycle(ssh_check(3, *stalled_path.address, credential, 1.0))

    assert direct.state(1) is State.OK, direct.why(1)
    assert through.state(2) is State.OK, through.why(2)
    extra = through.elapsed[2] - direct.elapsed[1]
    assert extra >= 5 * 2 * delay, f"only {extra:.3f} s slower through {2 * delay} s round trips"
    assert through.elapsed[2] <= timeout
    assert_ends_at_deadline(beyond, 3, 1.0)
    assert "no result within 1s" in beyond.why(3)
    for run in (direct, through, beyond):
        assert_kept_time(run)


async def test_http_over_a_slow_path_is_slower_by_one_round_trip_and_ends_at_its_deadline(
    nginx: Nginx,
) -> None:
    """A request and its response cross the path once each; beyond the deadline the probe ends
    at it, with no answer, though the proxy would still deliver one later."""
    pytest.importorskip("noc.probes.http", reason="the HTTP probe is not in this build")
    delay, timeout = 0.1, 2.0
    origin = ("127.0.0.1", nginx.http_port)
    slow = Impairment(delay=delay)
    stalled = Impairment(delay=timeout)
    async with (
        TcpFaultProxy(origin, up=slow, down=slow, host=address(30)) as slow_path,
        TcpFaultProxy(origin, up=stalled, down=stalled, host=address(31)) as stalled_path,
    ):
        direct = await warm_cycle(http_check(1, *origin, "/page.html", timeout))
        through = await cycle(http_check(2, *slow_path.address, "/page.html", timeout))
        beyond = await cycle(http_check(3, *stalled_path.address, "/page.html", 1.0))

    assert direct.state(1) is State.OK, direct.why(1)
    assert through.state(2) is State.OK, through.why(2)
    # The probe's own latency, connect to headers: one request and its response cross the path
    # once each, so the path adds one round trip; more only from a loaded machine.
    rtt_ms = 2 * delay * 1000
    latency_ms = through.outcomes[2].result.values["http.latency_ms"]
    extra_ms = latency_ms - direct.outcomes[1].result.values["http.latency_ms"]
    assert latency_ms >= rtt_ms, through.why(2)
    assert extra_ms <= rtt_ms + SLACK * 1000, f"{extra_ms:.0f} ms slower"
    assert_ends_at_deadline(beyond, 3, 1.0)
    assert "no complete answer within 1 s" in beyond.why(3)
    for run in (direct, through, beyond):
        assert_kept_time(run)


async def test_the_first_web_checks_of_a_new_poller_end_at_their_deadline() -> None:
    """The first probes of a new HTTP prober share one CA-store load: forty checks of servers
    that accept and never answer all end at their own deadline, none at the scheduler's."""
    pytest.importorskip("noc.probes.http", reason="the HTTP probe is not in this build")
    timeout = 0.5
    async with contextlib.AsyncExitStack() as stack:
        holes = [await stack.enter_async_context(TcpBlackhole(address(100 + i))) for i in range(40)]
        run = await cycle(*(http_check(i, *h.address, "/", timeout) for i, h in enumerate(holes)))
    for check_id in run.outcomes:
        assert_ends_at_deadline(run, check_id, timeout)
        assert "no complete answer within 0.5 s" in run.why(check_id)
    assert_kept_time(run)
    assert run.total <= timeout + SLACK


# a host that answers nothing -----------------------------------------------------------------


async def test_icmp_and_tcp_to_a_silent_host_end_at_their_deadline(
    silent_host: tuple[netns.NetnsHost, int],
) -> None:
    icmp_or_skip()
    host, port = silent_host
    timeout = 1.0
    checks = (icmp_check(1, host.address, timeout), tcp_check(2, host.address, port, timeout))
    answering = await cycle(*checks)
    assert answering.state(1) is State.OK, answering.why(1)
    assert answering.state(2) is State.OK, answering.why(2)

    host.silence()
    silent = await cycle(*checks)
    assert silent.state(1) is State.DOWN, silent.why(1)  # reachability: the host is down
    assert silent.state(2) is State.CRITICAL, silent.why(2)  # a service check fails
    assert_ends_at_deadline(silent, 1, timeout)
    assert_ends_at_deadline(silent, 2, timeout)
    assert "no echo reply: 2 of 2 requests lost" in silent.why(1)
    assert "no answer within 1 s" in silent.why(2)
    assert_kept_time(silent)


# everything at once ------------------------------------------------------------------------------


async def test_every_fault_beside_healthy_checks_in_one_cycle(
    lab_device: LabDevice,
    ssh_peer: SshPeer,
    nginx: Nginx,
    silent_host: tuple[netns.NetnsHost, int],
) -> None:
    """Every fault in one ``run_once`` beside healthy checks, each fault with a deadline of its
    own: every healthy outcome is in before the first deadline passes, every fault ends at its
    own deadline, and the cycle lasts the longest deadline, not the sum of them.

    Twice, on the same adapters: the second cycle starts with warm pools and whatever the first
    one's failures left in them (SSH logins given up on, an HTTP pool with dead connections)."""
    icmp_or_skip()
    pytest.importorskip("noc.probes.http", reason="the HTTP probe is not in this build")
    assert lab_device.snmp_port is not None and lab_device.http_port is not None
    host, netns_port = silent_host
    host.silence()
    sshd = ("127.0.0.1", ssh_peer.sshd.port)
    origin = ("127.0.0.1", nginx.http_port)
    stalled = Impairment(delay=3.0)  # past every deadline below
    up, down = lossy()
    adapters = Adapters()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(adapters.aclose)
        enter = stack.enter_async_context
        hung_ssh = await enter(TcpBlackhole(address(40), read=True))
        hung_web = await enter(TcpBlackhole(address(41), read=True))
        swallow = await enter(UdpBlackhole(address(42)))
        lossy_snmp = await enter(
            UdpFaultProxy(
                (lab_device.address, lab_device.snmp_port),
                up=up,
                down=down,
                seed=5,
                host=address(43),
            )  # fmt: skip
        )
        slow_ssh = await enter(TcpFaultProxy(sshd, up=stalled, down=stalled, host=address(44)))
        slow_web = await enter(TcpFaultProxy(origin, up=stalled, down=stalled, host=address(45)))
        listener = await Listener("close", host=address(50)).start()
        stack.push_async_callback(listener.close)
        credential = ssh_peer.credential(hung_ssh.address, slow_ssh.address)

        faults = {
            1: ssh_check(1, *hung_ssh.address, credential, 1.0),
            2: http_check(2, *hung_web.address, "/", 1.2),
            3: snmp_check(3, *swallow.address, 1.4),
            4: ssh_check(4, *slow_ssh.address, credential, 1.6),
            5: http_check(5, *slow_web.address, "/page.html", 1.8),
            6: icmp_check(6, host.address, 1.0),
            7: tcp_check(7, host.address, netns_port, 1.2),
        }
        flaky = snmp_check(8, *lossy_snmp.address, 2.0)
        healthy = {
            11: tcp_check(11, listener.host, listener.port, 2.0),
            12: snmp_check(12, lab_device.address, lab_device.snmp_port, 2.0),
            13: http_check(13, lab_device.address, lab_device.http_port, "/", 2.0),
        }
        first_deadline = min(check.timeout for check in faults.values())
        last_deadline = max(check.timeout for check in (*faults.values(), flaky))
        for round_ in (1, 2):
            run = await cycle(*faults.values(), flaky, *healthy.values(), adapters=adapters)

            for check_id in healthy:
                assert run.state(check_id) is State.OK, run.why(check_id)
            last_healthy = max(run.elapsed[i] for i in healthy)
            assert last_healthy < first_deadline, [run.why(i) for i in healthy]
            for check_id, check in faults.items():
                assert run.state(check_id) in {State.DOWN, State.CRITICAL}, run.why(check_id)
                assert_ends_at_deadline(run, check_id, check.timeout)
            assert run.elapsed[flaky.check_id] <= flaky.timeout + SLACK, run.why(flaky.check_id)
            assert_kept_time(run)
            sum_of_deadlines = sum(check.timeout for check in faults.values())
            assert run.total <= last_deadline + SLACK < sum_of_deadlines, f"{run.total:.2f} s"
            assert hung_ssh.accepted == round_ and hung_web.accepted == round_
    assert hung_web.received > 0  # the request went out; nothing ever came back
    assert swallow.datagrams >= 4  # two cycles, and the SNMP probe retransmitted in each
