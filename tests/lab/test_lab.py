"""The lab's simulated devices, checked with independent clients: net-snmp, httpx, asyncssh."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import httpx
import pytest

from noc.lab.model import FLAP_PERIOD_S, LabDevice, Scenario
from noc.lab.plan import generate, inventory_toml, loopback_addresses
from noc.lab.runner import Lab, LabCredentials, start_lab
from noc.lab.ssh_server import collector_output
from tests.support.ports import free_port

SNMPGET = shutil.which("snmpget")
CREDS = LabCredentials(community="lab-test", ssh_user="noc", ssh_password="pw")


def device(
    name: str, address: str, scenario: Scenario = Scenario.HEALTHY, **kw: object
) -> LabDevice:
    return LabDevice(name=name, address=address, scenario=scenario, epoch=time.time(), **kw)  # type: ignore[arg-type]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    snmp, ssh, http = free_port(), free_port(), free_port()
    devices = [
        device("sw1", "127.31.0.1", kind="switch", snmp_port=snmp, http_port=http),
        device("srv1", "127.31.0.2", kind="server", snmp_port=snmp, ssh_port=ssh),
        device("dead", "127.31.0.3", Scenario.DOWN, snmp_port=snmp, http_port=http),
    ]
    started = await start_lab(devices, CREDS, tmp_path)
    try:
        yield started
    finally:
        await started.close()


async def snmp(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


@pytest.mark.skipif(SNMPGET is None, reason="net-snmp tools (snmpget) are not installed")
async def test_snmp_agent_answers_net_snmp(lab: Lab) -> None:
    sw, srv, dead = lab.devices
    target = f"{sw.address}:{sw.snmp_port}"
    code, out = await snmp(
        "snmpget", "-v2c", "-c", "lab-test", "-On", target, "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.2.1.0"
    )
    assert code == 0, out
    assert '.1.3.6.1.2.1.1.5.0 = STRING: "sw1"' in out
    assert ".1.3.6.1.2.1.2.1.0 = INTEGER: 24" in out
    code, out = await snmp(
        "snmpbulkwalk", "-v2c", "-c", "lab-test", "-On", target, "1.3.6.1.2.1.2.2.1.8"
    )
    statuses = [line.rsplit(" ", 1)[-1] for line in out.splitlines()]
    assert statuses == ["1"] * 23 + ["2"]  # the last port is admin-down
    code, out = await snmp(
        "snmpwalk",
        "-v1",
        "-c",
        "lab-test",
        "-On",
        f"{srv.address}:{srv.snmp_port}",
        "1.3.6.1.2.1.25.2.3.1.3",
    )
    assert out.count("STRING") == 2 and '"/var"' in out
    # A wrong community and a down device both get silence, as a real agent gives.
    code, out = await snmp(
        "snmpget", "-v2c", "-c", "wrong", "-t", "0.3", "-r", "0", target, "1.3.6.1.2.1.1.5.0"
    )
    assert "Timeout" in out
    code, out = await snmp(
        "snmpget",
        "-v2c",
        "-c",
        "lab-test",
        "-t",
        "0.3",
        "-r",
        "0",
        f"{dead.address}:{dead.snmp_port}",
        "1.3.6.1.2.1.1.5.0",
    )
    assert "Timeout" in out


async def test_http_endpoint_and_down_device(lab: Lab) -> None:
    sw, _, dead = lab.devices
    async with httpx.AsyncClient(timeout=2) as client:
        page = await client.get(f"http://{sw.address}:{sw.http_port}/")
        assert page.status_code == 200 and "Welcome to sw1" in page.text
        moved = await client.get(f"http://{sw.address}:{sw.http_port}/old")
        assert moved.status_code == 301 and moved.headers["location"] == "/"
        with pytest.raises(httpx.HTTPError):
            await client.get(f"http://{dead.address}:{dead.http_port}/")


async def test_ssh_host_answers_the_collector(lab: Lab) -> None:
    srv = lab.devices[1]
    assert lab.known_hosts is not None
    async with asyncssh.connect(
        srv.address,
        srv.ssh_port,
        username="noc",
        password="pw",
        known_hosts=str(lab.known_hosts),
        connect_timeout=5,
    ) as conn:
        marker = "@@noc-0123abcd"
        result = await conn.run(f's() {{ echo "{marker} $1"; }}\ns os; uname -s', timeout=5)
        assert result.exit_status == 0
        assert f"{marker} os\nLinux\n" in str(result.stdout)
        assert f"{marker} end" in str(result.stdout)
        other = await conn.run("reboot", timeout=5)
        assert other.exit_status == 127
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            srv.address,
            srv.ssh_port,
            username="noc",
            password="nope",
            known_hosts=str(lab.known_hosts),
            connect_timeout=5,
        )


def test_scenarios_are_functions_of_time() -> None:
    flap = LabDevice("f", "127.31.1.1", scenario=Scenario.FLAPPING, epoch=1000.0)
    assert (
        flap.up(1000.0)
        and not flap.up(1000.0 + FLAP_PERIOD_S)
        and flap.up(1000 + 2 * FLAP_PERIOD_S)
    )
    reboot = LabDevice("r", "127.31.1.2", scenario=Scenario.REBOOT, epoch=0.0)
    assert reboot.uptime_s(599.0) > reboot.uptime_s(601.0)  # the uptime goes back: a reboot
    disk = LabDevice("d", "127.31.1.3", scenario=Scenario.DISK_FILLING, epoch=0.0)
    root = disk.volumes[0]
    assert disk.volume_used_pct(root, 0) == 80.0 and disk.volume_used_pct(root, 600) == 90.0
    pegged = LabDevice("c", "127.31.1.4", scenario=Scenario.CPU_PEGGED, epoch=0.0)
    assert all(pegged.cpu_pct(t) >= 95 for t in range(0, 600, 7))
    text = collector_output(pegged, "@@noc-abcd", 100.0)
    assert text.startswith("@@noc-abcd os\nLinux\n") and text.endswith("@@noc-abcd end\n")


def test_generated_lab_is_loopback_and_imports(tmp_path: Path) -> None:
    import ipaddress

    from noc.inventory.importer import load_inventory

    devices = generate(600, epoch=0.0)
    assert all(ipaddress.ip_address(d.address).is_loopback for d in devices)
    assert len({d.address for d in devices}) == 600
    assert not any(d.address.endswith((".0", ".255")) for d in devices)
    assert sum(1 for d in devices if d.snmp_port) == 120
    path = tmp_path / "lab.toml"
    path.write_text(inventory_toml(devices))
    spec = load_inventory(path)
    assert len(spec.devices) == 600 and len(spec.sites) == 3
    assert next(loopback_addresses()) == "127.30.0.1"


async def test_ssh_probe_reads_the_lab_host(lab: Lab) -> None:
    """The lab's collector output is what the real SSH probe parses, end to end."""
    from noc.probes import ProbeStatus
    from noc.probes.ssh import SshPool, SshTarget

    srv = lab.devices[1]
    assert lab.known_hosts is not None and srv.ssh_port is not None
    target = SshTarget(
        host=srv.address,
        port=srv.ssh_port,
        username="noc",
        password="pw",
        known_hosts=str(lab.known_hosts),
    )
    async with SshPool() as pool:
        result = await pool.poll(target, deadline=10)
    assert result.status is ProbeStatus.OK, result.error
    t = time.time()
    assert result.values["fs./.size_bytes"] == srv.volumes[0].size_bytes
    assert abs(result.values["cpu.used_pct"] - srv.cpu_pct(t)) < 5
    assert result.values["mem.total_bytes"] == 16 * 1024**3
    assert abs(result.values["uptime_s"] - srv.uptime_s(t)) < 5
