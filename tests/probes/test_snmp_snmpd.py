"""The SNMP probe against net-snmp's snmpd on loopback, reporting this very machine: what it
says must agree with psutil, every protocol version and security level must work, bad keys
must say so, and a silent port must cost no more than its deadline.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import psutil
import pytest

from noc.probes import ProbeResult, ProbeStatus
from noc.probes.snmp import (
    AuthProtocol,
    Collect,
    IfStatus,
    Interface,
    PrivProtocol,
    SnmpPoller,
    SnmpSnapshot,
    SnmpTarget,
    SnmpVersion,
    SnmpWorkerPool,
    StorageKind,
)
from noc.probes.snmp.command import snmp_get_command, snmp_poll_command
from tests.probes.snmp_agents import V3User, black_hole, snmpd, snmpd_binary

pytestmark = pytest.mark.peers

if snmpd_binary() is None:
    pytest.skip("snmpd (net-snmp) is not installed", allow_module_level=True)

AUTH_KEY = "auth-key-123"
PRIV_KEY = "priv-key-456"
USERS = (
    V3User("noauth"),
    V3User("authonly", "SHA", AUTH_KEY),
    V3User("authpriv", "SHA", AUTH_KEY, "AES", PRIV_KEY),
    V3User("legacy", "MD5", AUTH_KEY, "DES", PRIV_KEY),
    V3User("strong", "SHA-256", AUTH_KEY, "AES-256", PRIV_KEY),
)
# net-snmp fills hrProcessorLoad only once it has a minute of history, so a freshly started
# agent has no CPU load yet: these tests read the rest.
NO_CPU = frozenset({Collect.SYSTEM, Collect.INTERFACES, Collect.STORAGE})
NET_SNMP_IF_CACHE_S = 3.5
"""snmpd re-reads interface counters at most every 3 s (measured on 5.9.3)."""


@pytest.fixture(scope="module")
def agent_port() -> Iterator[int]:
    try:
        with snmpd(users=USERS) as agent:
            yield agent.port
    except RuntimeError as exc:
        pytest.skip(f"snmpd did not start: {exc}")


def v2c(port: int, **kw: object) -> SnmpTarget:
    params: dict[str, object] = {
        "address": "127.0.0.1",
        "timeout": 2.0,
        "retries": 1,
        "deadline": 20.0,
        "collect": NO_CPU,
    }
    params.update(kw)
    return SnmpTarget(port=port, **params)  # type: ignore[arg-type]


def v3(port: int, user: str, **kw: object) -> SnmpTarget:
    return v2c(port, version=SnmpVersion.V3, user=user, **kw)


TARGETS = {
    "v1": lambda port: v2c(port, version=SnmpVersion.V1),
    "v2c": lambda port: v2c(port),
    "v3-noAuthNoPriv": lambda port: v3(port, "noauth"),
    "v3-authNoPriv-sha": lambda port: v3(
        port, "authonly", auth_protocol=AuthProtocol.SHA, auth_key=AUTH_KEY
    ),
    "v3-authPriv-sha-aes": lambda port: v3(
        port,
        "authpriv",
        auth_protocol=AuthProtocol.SHA,
        auth_key=AUTH_KEY,
        priv_protocol=PrivProtocol.AES,
        priv_key=PRIV_KEY,
    ),
    "v3-authPriv-md5-des": lambda port: v3(
        port,
        "legacy",
        auth_protocol=AuthProtocol.MD5,
        auth_key=AUTH_KEY,
        priv_protocol=PrivProtocol.DES,
        priv_key=PRIV_KEY,
    ),
    "v3-authPriv-sha256-aes256": lambda port: v3(
        port,
        "strong",
        auth_protocol=AuthProtocol.SHA256,
        auth_key=AUTH_KEY,
        priv_protocol=PrivProtocol.AES256,
        priv_key=PRIV_KEY,
    ),
}


@pytest.mark.parametrize("kind", list(TARGETS))
async def test_every_version_and_security_level(agent_port: int, kind: str) -> None:
    target = TARGETS[kind](agent_port)
    kernel_before = psutil.net_if_stats()
    async with SnmpPoller() as poller:
        poll = await poller.poll_detail(target)
    kernel_after = psutil.net_if_stats()
    result, snapshot = poll.result, poll.snapshot
    assert result.status is ProbeStatus.OK, result.error
    assert snapshot is not None
    assert result.values["sys.name"] == os.uname().nodename
    assert result.values["sys.descr"].startswith(
        f"Linux {os.uname().nodename} {os.uname().release}"
    )
    assert result.values["sys.os"] == "Linux"

    # ifTable lists what the kernel has, with the kernel's up/down state. Other tests on this
    # machine create and delete interfaces, so only those that stayed put are compared.
    stable = {
        name: stats.isup
        for name, stats in kernel_before.items()
        if name in kernel_after and kernel_after[name].isup == stats.isup
    }
    by_name = {i.name: i for i in snapshot.interfaces}
    assert {"lo"} <= set(stable) <= set(by_name)
    for name, isup in stable.items():
        assert (by_name[name].admin_status is IfStatus.UP) is isup, name
    assert result.values["if.count"] == len(snapshot.interfaces)
    lo = by_name["lo"]
    assert lo.oper_status is IfStatus.UP and lo.in_octets and lo.in_octets > 0
    assert lo.counters_64bit is (target.version is not SnmpVersion.V1)


async def test_storage_and_memory_agree_with_psutil(agent_port: int) -> None:
    async with SnmpPoller() as poller:
        poll = await poller.poll_detail(v2c(agent_port))
    snapshot = poll.snapshot
    assert snapshot is not None, poll.result.error
    values = poll.result.values

    memory = psutil.virtual_memory()
    assert values["mem.total_bytes"] == memory.total
    # Both are total minus the kernel's MemAvailable, read a moment apart.
    assert abs(values["mem.used_bytes"] - memory.used) < 0.03 * memory.total

    mounts = {p.mountpoint for p in psutil.disk_partitions(all=True)}
    disks = [s for s in snapshot.storage if s.kind is StorageKind.FIXED_DISK and s.descr in mounts]
    assert any(s.descr == "/" for s in disks)
    for disk in disks:
        usage = psutil.disk_usage(disk.descr)
        assert disk.size_bytes == pytest.approx(usage.total, rel=0.001), disk.descr
        assert abs(disk.used_bytes - usage.used) <= max(0.01 * usage.total, 16 * 2**20), disk.descr
        prefix = f"storage.{disk.index}."
        assert values[prefix + "name"] == disk.descr
        assert values[prefix + "size_bytes"] == disk.size_bytes
        if usage.total:
            assert values[prefix + "used_pct"] == pytest.approx(
                100 * usage.used / usage.total, abs=1.0
            )


async def test_get_reads_raw_oids_over_v3(agent_port: int) -> None:
    target = TARGETS["v3-authPriv-sha-aes"](agent_port)
    async with SnmpPoller() as poller:
        got = await poller.get(
            target, ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.9.9.9.0"]
        )
    assert got["1.3.6.1.2.1.1.5.0"] == os.uname().nodename
    assert isinstance(got["1.3.6.1.2.1.1.3.0"], int)
    assert "1.3.6.1.9.9.9.0" not in got


@pytest.mark.parametrize(
    ("user", "changes", "words"),
    [
        ("authpriv", {"auth_key": "not-the-key"}, "wrong auth key"),
        ("authonly", {"auth_key": "not-the-key", "priv_protocol": PrivProtocol.NONE}, "wrong auth"),
        ("authpriv", {"priv_key": "not-the-key"}, "wrong priv key"),
        ("authpriv", {"priv_protocol": PrivProtocol.DES}, "wrong priv key"),
        ("nobody", {}, "does not know this user"),
    ],
)
async def test_bad_v3_credentials_are_errors(
    agent_port: int, user: str, changes: dict[str, object], words: str
) -> None:
    params: dict[str, object] = {
        "auth_protocol": AuthProtocol.SHA,
        "auth_key": AUTH_KEY,
        "priv_protocol": PrivProtocol.AES,
        "priv_key": PRIV_KEY,
        "timeout": 1.0,
        "retries": 0,
        "deadline": 8.0,
    }
    params.update(changes)
    async with SnmpPoller() as poller:
        result = await poller.poll(v3(agent_port, user, **params))
    assert result.status is ProbeStatus.ERROR
    assert words in result.error
    assert repr(user) in result.error and f"127.0.0.1:{agent_port}" in result.error
    assert "\n" not in result.error
    assert result.duration < 8.0


async def test_silent_port_ends_at_its_deadline_without_delaying_others(agent_port: int) -> None:
    """pysnmp's own retries would wait 6 s; the deadline stops the poll at 1.5 s, and a live
    agent polled at the same time answers as if nothing else were going on."""
    with black_hole() as silent_port:
        silent = v2c(silent_port, timeout=1.0, retries=5, deadline=1.5)
        silent_v3 = v3(
            silent_port,
            "authpriv",
            auth_protocol=AuthProtocol.SHA,
            auth_key=AUTH_KEY,
            priv_protocol=PrivProtocol.AES,
            priv_key=PRIV_KEY,
            timeout=1.0,
            retries=5,
            deadline=1.5,
        )
        live = v2c(agent_port)
        async with SnmpPoller() as poller:
            finished: dict[str, float] = {}
            start = time.monotonic()

            async def timed(name: str, target: SnmpTarget) -> ProbeResult:
                result = await poller.poll(target)
                finished[name] = time.monotonic() - start
                return result

            dead, dead_v3, alive = await asyncio.gather(
                timed("silent", silent), timed("silent_v3", silent_v3), timed("live", live)
            )
    assert alive.status is ProbeStatus.OK, alive.error
    for result, name in ((dead, "silent"), (dead_v3, "silent_v3")):
        assert result.status is ProbeStatus.FAILED
        assert "1.5 s deadline" in result.error
        assert 1.4 <= finished[name] < 1.5 + 1.0
    assert finished["live"] < finished["silent"]


def _loopback(snapshot: SnmpSnapshot) -> Interface:
    return next(i for i in snapshot.interfaces if i.name == "lo")


def _send_over_loopback(total: int) -> None:
    """``total`` bytes through lo, read back by our own socket."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.setblocking(False)
        chunk = b"x" * 8192
        for _ in range(total // len(chunk)):
            tx.sendto(chunk, rx.getsockname())
            try:
                while rx.recv(65536):
                    pass
            except BlockingIOError:
                pass


async def test_interface_rates_from_real_traffic(agent_port: int) -> None:
    sent = 4 * 2**20
    async with SnmpPoller() as poller:
        first = await poller.poll_detail(v2c(agent_port))
        before = time.monotonic()
        _send_over_loopback(sent)
        await asyncio.sleep(NET_SNMP_IF_CACHE_S)
        second = await poller.poll_detail(v2c(agent_port))
        elapsed = time.monotonic() - before
    assert first.snapshot is not None and second.snapshot is not None
    lo_1, lo_2 = _loopback(first.snapshot), _loopback(second.snapshot)
    assert lo_1.in_bps is None  # nothing to compare the first reading with
    assert lo_2.in_octets - lo_1.in_octets >= sent
    assert lo_2.in_bps is not None and lo_2.in_bps >= sent * 8 / (elapsed + 1.0)
    assert second.result.values[f"if.{lo_2.index}.in_bps"] == lo_2.in_bps
    assert second.result.values["sys.rebooted"] == 0


async def test_restart_is_a_reboot_and_gives_no_rate() -> None:
    """sysUpTime going back means a restart: flagged, and no rate across it (the counters of a
    rebooted device start again from zero and would make a spike)."""
    async with SnmpPoller() as poller:
        with snmpd() as agent:
            port = agent.port
            await asyncio.sleep(3.0)  # let its sysUpTime reach a few seconds
            one = await poller.poll_detail(v2c(port))
        with snmpd(ports=[port]):
            two = await poller.poll_detail(v2c(port))
            three = await poller.poll_detail(v2c(port))
    assert one.result.values["sys.uptime_s"] >= 3.0
    assert one.result.values["sys.rebooted"] == 0
    assert two.result.values["sys.uptime_s"] < one.result.values["sys.uptime_s"]
    assert two.result.values["sys.rebooted"] == 1
    assert two.snapshot is not None and _loopback(two.snapshot).in_bps is None
    assert three.result.values["sys.rebooted"] == 0
    assert three.snapshot is not None and _loopback(three.snapshot).in_bps is not None


async def test_worker_pool_polls_like_the_poller(agent_port: int) -> None:
    """Same results over worker processes; an agent's counters stay with one worker, so the
    second poll has rates."""
    targets = [TARGETS["v2c"](agent_port), TARGETS["v3-authPriv-sha-aes"](agent_port)]
    async with SnmpWorkerPool(2) as pool:
        assert len(pool.pids) == 2
        first = await asyncio.gather(*(pool.poll_detail(t) for t in targets))
        await asyncio.sleep(NET_SNMP_IF_CACHE_S)
        second = await asyncio.gather(*(pool.poll_detail(t) for t in targets))
        got = await pool.get(targets[1], ["1.3.6.1.2.1.1.5.0"])
    for poll in (*first, *second):
        assert poll.result.status is ProbeStatus.OK, poll.result.error
        assert poll.result.values["sys.name"] == os.uname().nodename
    for poll in second:
        assert poll.snapshot is not None and _loopback(poll.snapshot).in_bps is not None
    assert got == {"1.3.6.1.2.1.1.5.0": os.uname().nodename}


async def test_worker_pool_replaces_a_dead_worker(agent_port: int) -> None:
    target = v2c(agent_port)
    async with SnmpWorkerPool(1) as pool:
        assert (await pool.poll(target)).status is ProbeStatus.OK
        (pid,) = pool.pids
        os.kill(pid, signal.SIGKILL)
        lost = await pool.poll(target)  # sent before the death is noticed, or after
        again = await pool.poll(target)
        assert pool.pids and pool.pids != [pid]
    assert lost.status in (ProbeStatus.OK, ProbeStatus.ERROR)
    if lost.status is ProbeStatus.ERROR:
        assert "worker" in lost.error
    assert again.status is ProbeStatus.OK, again.error


async def test_ipv6_and_host_names() -> None:
    """An IPv6 literal goes over the v6 socket; a host name is resolved (and cached)."""
    with snmpd(addresses=("127.0.0.1", "::1")) as agent:
        async with SnmpPoller() as poller:
            over_v6, by_name = await asyncio.gather(
                poller.poll(v2c(agent.port, address="::1")),
                poller.poll(v2c(agent.port, address="localhost")),
            )
    for result in (over_v6, by_name):
        assert result.status is ProbeStatus.OK, result.error
        assert result.values["sys.name"] == os.uname().nodename


async def test_poll_and_get_commands(agent_port: int) -> None:
    """What ``noc snmp poll --json`` and ``noc snmp get`` print for a live agent."""
    out = io.StringIO()
    status = await snmp_poll_command(v2c(agent_port), as_json=True, out=out)
    report = json.loads(out.getvalue())
    assert status == 0, report["result"]["error"]
    assert report["result"]["status"] == "ok"
    assert report["snapshot"]["system"]["name"] == os.uname().nodename
    lo = next(i for i in report["snapshot"]["interfaces"] if i["name"] == "lo")
    assert lo["oper_status"] == "up"

    out = io.StringIO()
    status = await snmp_get_command(
        v2c(agent_port), ["1.3.6.1.2.1.1.5.0", ".1.3.6.1.9.9.9.0"], as_json=False, out=out
    )
    assert status == 1  # one OID has no value
    assert out.getvalue().splitlines() == [
        f"1.3.6.1.2.1.1.5.0 = {os.uname().nodename}",
        "1.3.6.1.9.9.9.0 = (no such object)",
    ]

    with black_hole() as silent_port:
        out = io.StringIO()
        status = await snmp_get_command(
            v2c(silent_port, timeout=0.3, retries=0), ["1.3.6.1.2.1.1.5.0"], as_json=True, out=out
        )
    assert status == 2 and "no SNMP answer" in json.loads(out.getvalue())["error"]
