"""From stored checks to probe calls: credentials resolved at poll time, clear errors, sweeps.

Each probe is exercised against a real loopback peer when its module is in this tree; the
rules that hold before any probe runs (credentials, missing modules) are tested regardless.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import psutil
import pytest

from noc.polling.adapters import Adapters, IcmpAdapter, SnmpAdapter, snmp_workers
from noc.polling.jobs import CheckJob, Credential
from noc.polling.outcome import State
from noc.polling.scheduler import Scheduler
from tests.polling.peers import HttpSite, Recorder, job
from tests.support.ports import free_port

if TYPE_CHECKING:
    from noc.lab.runner import Lab


def with_credential(base: CheckJob, cred: Credential | None, name: str = "") -> CheckJob:
    from dataclasses import replace

    return replace(base, credential=cred, credential_name=name or (cred.name if cred else ""))


def web_credential() -> Credential:
    return Credential(
        name="web",
        kind="http",
        params=MappingProxyType({"username": "monitor"}),
        secret_refs=MappingProxyType({"password": "env:NOC_TEST_WEB_PASSWORD"}),
    )


async def run(*jobs: CheckJob) -> dict[int, State | str]:
    adapters = Adapters()
    try:
        outcomes = await Scheduler(adapters, Recorder(), retry_delay=0.01).run_once(jobs)
    finally:
        await adapters.aclose()
    return {o.job.check_id: o.state for o in outcomes} | {
        -o.job.check_id: o.output for o in outcomes
    }


async def test_a_missing_or_wrong_credential_is_unknown_with_the_reason() -> None:
    ssh = job(1, check_type="ssh")
    named = with_credential(job(2, check_type="ssh"), None, name="gone")
    wrong = with_credential(job(3, check_type="snmp"), web_credential())
    result = await run(ssh, named, wrong)
    assert result[1] is State.UNKNOWN and "needs a ssh credential profile" in str(result[-1])
    assert result[2] is State.UNKNOWN and "no credential profile named 'gone'" in str(result[-2])
    assert "is a http profile, not snmp" in str(result[-3])


async def test_a_probe_missing_from_the_build_is_unknown_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "noc.probes.tcp", None)  # as if the module were absent
    result = await run(job(1, params={"port": 9}))
    assert result[1] is State.UNKNOWN
    assert "the tcp probe is not part of this build" in str(result[-1])


async def test_bad_params_are_unknown_naming_the_check_and_field() -> None:
    result = await run(job(1, check_type="icmp", params={"count": "many"}))
    assert result[1] is State.UNKNOWN
    assert str(result[-1]).startswith("check dev1/icmp1: count: expected a whole number")


@pytest.fixture
def secret_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpSite]:
    token = base64.b64encode(b"monitor:s3cret-one").decode()
    monkeypatch.setenv("NOC_TEST_WEB_PASSWORD", "s3cret-one")
    server = HttpSite(auth=f"Basic {token}")
    yield server
    server.close()


async def test_http_secrets_are_resolved_at_each_poll(
    secret_site: HttpSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("noc.probes.http", reason="the HTTP probe is not merged yet")
    check = with_credential(
        job(1, check_type="http", params={"url": f"{secret_site.url}/secret"}, timeout=2.0),
        web_credential(),
    )
    assert (await run(check))[1] is State.OK
    monkeypatch.setenv("NOC_TEST_WEB_PASSWORD", "rotated-but-not-on-the-server")
    result = await run(check)
    assert result[1] is State.CRITICAL and "401" in str(result[-1])
    monkeypatch.delenv("NOC_TEST_WEB_PASSWORD")
    result = await run(check)
    assert result[1] is State.UNKNOWN
    assert "NOC_TEST_WEB_PASSWORD is not set" in str(result[-1])


async def test_http_keyword_and_status() -> None:
    pytest.importorskip("noc.probes.http", reason="the HTTP probe is not merged yet")
    site = HttpSite()
    try:
        ok = job(1, check_type="http", params={"url": f"{site.url}/", "keyword": "Welcome"})
        missing = job(2, check_type="http", params={"url": f"{site.url}/", "keyword": "Goodbye"})
        broken = job(3, check_type="http", params={"url": f"{site.url}/broken"})
        teapot = job(
            4, check_type="http", params={"url": f"{site.url}/broken", "expect_status": 500}
        )
        result = await run(ok, missing, broken, teapot)
    finally:
        site.close()
    assert [result[i] for i in (1, 2, 3, 4)] == [
        State.OK,
        State.CRITICAL,
        State.CRITICAL,
        State.OK,
    ]


def icmp_or_skip() -> None:
    icmp = pytest.importorskip("noc.probes.icmp", reason="the ICMP probe is not merged yet")
    capability = icmp.icmp_capability()
    if not capability.ok:
        pytest.skip(f"no ICMP here: {capability.message}")


async def test_icmp_checks_go_out_on_one_socket_and_names_are_resolved() -> None:
    icmp_or_skip()
    adapter = IcmpAdapter()
    jobs = [
        job(i, check_type="icmp", address=f"127.0.9.{i}", params={"count": 2}) for i in range(1, 41)
    ]
    jobs.append(job(99, check_type="icmp", address="localhost", params={"count": 1}))
    try:
        results = await adapter.probe_many(jobs)
        assert adapter._pinger is not None and adapter._pinger.open_sockets <= 2
    finally:
        await adapter.aclose()
    assert len(results) == 41
    assert all(r.ok for r in results.values()), [r.error for r in results.values() if not r.ok]
    assert results[1].values["sent"] == 2 and results[99].values["sent"] == 1


async def test_icmp_timeout_must_fit_the_requests() -> None:
    result = await run(
        job(1, check_type="icmp", params={"count": 10, "packet_interval": 1.0}, timeout=2.0)
    )
    assert result[1] is State.UNKNOWN and "cannot fit 10 requests" in str(result[-1])


async def test_local_reads_this_host() -> None:
    pytest.importorskip("noc.probes.local", reason="the local probe is not merged yet")
    sched = Scheduler(Adapters(), Recorder())
    [outcome] = await sched.run_once([job(1, check_type="local", timeout=5.0)])
    assert outcome.state is State.OK
    assert 0.0 <= outcome.result.values["cpu.used_pct"] <= 100.0


@pytest.fixture
async def ssh_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    pytest.importorskip("noc.probes.ssh", reason="the SSH probe is not merged yet")
    from noc.lab.model import LabDevice, Scenario
    from noc.lab.runner import LabCredentials, start_lab

    port = free_port(host="127.31.1.1")
    devices = [
        LabDevice(name="srv", address="127.31.1.1", ssh_port=port, epoch=time.time()),
        LabDevice(
            name="dead",
            address="127.31.1.2",
            ssh_port=port,
            scenario=Scenario.DOWN,
            epoch=time.time(),
        ),
    ]
    creds = LabCredentials(ssh_user="noc", ssh_password="lab-pw")
    lab = await start_lab(devices, creds, tmp_path)
    try:
        yield lab
    finally:
        await lab.close()


def ssh_job(check_id: int, address: str, port: int, known_hosts: str) -> CheckJob:
    cred = Credential(
        name="lab-ssh",
        kind="ssh",
        params=MappingProxyType({"username": "noc", "known_hosts": known_hosts}),
        secret_refs=MappingProxyType({"password": "env:NOC_TEST_SSH_PASSWORD"}),
    )
    base = job(
        check_id, check_type="ssh", address=address, params={"port": port}, timeout=5.0, retries=1
    )
    return with_credential(base, cred)


async def test_ssh_checks_log_in_with_the_profile_and_report_host_metrics(
    ssh_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ssh_lab.known_hosts is not None
    srv, dead = ssh_lab.devices
    assert srv.ssh_port is not None
    known = str(ssh_lab.known_hosts)
    monkeypatch.setenv("NOC_TEST_SSH_PASSWORD", "lab-pw")
    sched = Scheduler(Adapters(), Recorder(), retry_delay=0.01)
    outcomes = await sched.run_once(
        [
            ssh_job(1, srv.address, srv.ssh_port, known),
            ssh_job(2, dead.address, srv.ssh_port, known),
        ]
    )
    by_id = {o.job.check_id: o for o in outcomes}
    assert by_id[1].state is State.OK, by_id[1].output
    assert 0.0 <= by_id[1].result.values["cpu.used_pct"] <= 100.0
    assert by_id[2].state is State.CRITICAL and by_id[2].attempts == 2  # retried once
    assert "127.31.1.2" in by_id[2].output

    monkeypatch.setenv("NOC_TEST_SSH_PASSWORD", "wrong")
    [denied] = await Scheduler(Adapters(), Recorder()).run_once(
        [ssh_job(1, srv.address, srv.ssh_port, known)]
    )
    assert denied.state is State.UNKNOWN and "login refused" in denied.output
    assert denied.attempts == 1  # a credential to fix, not an outage: never retried


@pytest.fixture
async def snmp_lab(tmp_path: Path) -> AsyncIterator[Lab]:
    pytest.importorskip("noc.probes.snmp", reason="the SNMP probe is not merged yet")
    from noc.lab.model import LabDevice, Scenario
    from noc.lab.runner import LabCredentials, start_lab

    port = free_port("127.31.2.1", socket.SOCK_DGRAM)
    devices = [
        LabDevice(
            name="gw", address="127.31.2.1", kind="router", snmp_port=port, epoch=time.time()
        ),
        LabDevice(
            name="gone",
            address="127.31.2.2",
            kind="router",
            snmp_port=port,
            scenario=Scenario.DOWN,
            epoch=time.time(),
        ),
    ]
    lab = await start_lab(devices, LabCredentials(community="lab-community"), tmp_path)
    try:
        yield lab
    finally:
        await lab.close()


def snmp_job(check_id: int, address: str, port: int) -> CheckJob:
    cred = Credential(
        name="lab-snmp",
        kind="snmp",
        params=MappingProxyType({"version": "2c"}),
        secret_refs=MappingProxyType({"community": "env:NOC_TEST_SNMP_COMMUNITY"}),
    )
    base = job(check_id, check_type="snmp", address=address, params={"port": port}, timeout=2.0)
    return with_credential(base, cred)


async def test_snmp_checks_read_the_agent_with_the_profiles_community(
    snmp_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, gone = snmp_lab.devices
    assert gw.snmp_port is not None
    monkeypatch.setenv("NOC_TEST_SNMP_COMMUNITY", "lab-community")
    adapters = Adapters()
    sched = Scheduler(adapters, Recorder(), retry_delay=0.01)
    try:
        outcomes = await sched.run_once(
            [snmp_job(1, gw.address, gw.snmp_port), snmp_job(2, gone.address, gw.snmp_port)]
        )
    finally:
        await adapters.aclose()
    by_id = {o.job.check_id: o for o in outcomes}
    assert by_id[1].state is State.OK, by_id[1].output
    assert by_id[1].result.values["sys.name"] == "gw"
    assert by_id[2].state is State.CRITICAL
    assert sched.stats.deadline_hits == 0  # the probe kept its own deadline


async def test_checks_starting_together_share_one_pool_of_snmp_workers(
    snmp_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first checks all arrive while the worker processes are still starting: they wait
    for that one pool instead of each starting its own (which never got closed)."""
    gw, _ = snmp_lab.devices
    assert gw.snmp_port is not None
    monkeypatch.setenv("NOC_TEST_SNMP_COMMUNITY", "lab-community")
    adapters = Adapters()
    adapter = SnmpAdapter(workers=2)
    adapters.register(adapter)
    try:
        results = await asyncio.gather(
            *(adapter.probe(snmp_job(n, gw.address, gw.snmp_port)) for n in range(1, 21))
        )
        workers = [
            child
            for child in psutil.Process().children()
            if "noc.probes.snmp.worker" in child.cmdline()
        ]
    finally:
        await adapters.aclose()
    assert len(workers) == 2
    assert [r.values.get("sys.name") for r in results] == ["gw"] * 20, results[0].error


def test_snmp_workers_zero_is_one_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding SNMP is most of a poller's CPU: 0 gives each CPU a process of its own."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert snmp_workers(0) == 4
    assert snmp_workers(1) == 1 and snmp_workers(3) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert snmp_workers(0) == 1
