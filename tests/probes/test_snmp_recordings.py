"""The SNMP probe against walks recorded from real devices, served by snmpsim on loopback.

Every expected value below was read from the ``.snmprec`` files by hand (``grep`` and a hex
decoder), not from the probe's output.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from noc.probes import ProbeStatus
from noc.probes.snmp import (
    IfStatus,
    Interface,
    SnmpPoller,
    SnmpSnapshot,
    SnmpTarget,
    SnmpVersion,
    StorageKind,
)
from tests.probes.snmp_agents import RECORDINGS, answers, snmpsim, snmpsim_binary

pytestmark = pytest.mark.peers

if not RECORDINGS.is_dir():
    pytest.skip(f"the SNMP recordings are not at {RECORDINGS}", allow_module_level=True)
if snmpsim_binary() is None:
    pytest.skip("snmpsim-command-responder is not installed", allow_module_level=True)

KIB = 1024


@dataclass(frozen=True)
class If:
    name: str
    oper: IfStatus
    admin: IfStatus = IfStatus.UP
    speed_bps: int | None = None
    mac: str | None = None
    counters_64bit: bool | None = None


@dataclass(frozen=True)
class Fs:
    descr: str
    kind: StorageKind
    unit: int
    size_units: int
    used_units: int


@dataclass(frozen=True)
class Device:
    community: str
    descr: str | None
    name: str | None
    uptime_s: float | None
    object_id: str
    vendor: str = ""
    os: str = ""
    os_version: str = ""
    model: str = ""
    if_count: int | None = None
    if_up: int | None = None
    if_down: int | None = None
    interfaces: dict[int, If] = field(default_factory=dict)
    storage: dict[int, Fs] = field(default_factory=dict)
    storage_metric_count: int | None = None
    mem_total: int | None = None
    mem_used: int | None = None
    cpu: tuple[int, ...] | None = None
    missing: tuple[str, ...] = ()


DEVICES = [
    Device(
        community="linux-full-walk",
        descr="Linux cray 2.6.21.5-smp #2 SMP Tue Jun 19 14:58:11 CDT 2007 i686",
        name="tt",
        uptime_s=2334251.20,
        object_id="1.3.6.1.4.1.8072.3.2.10",
        os="Linux",
        os_version="2.6.21.5-smp",
        if_count=2,
        if_up=2,
        if_down=0,
        interfaces={
            1: If("lo", IfStatus.UP, speed_bps=10_000_000, mac="", counters_64bit=True),
            2: If(
                "eth0",
                IfStatus.UP,
                speed_bps=100_000_000,
                mac="00:12:79:62:f9:40",
                counters_64bit=True,
            ),
        },
        storage={
            1: Fs("Physical memory", StorageKind.RAM, 1024, 1021976, 958176),
            3: Fs("Virtual memory", StorageKind.VIRTUAL_MEMORY, 1024, 2009964, 985608),
            6: Fs("Memory buffers", StorageKind.OTHER, 1024, 1021976, 23900),
            7: Fs("Cached memory", StorageKind.OTHER, 1024, 207040, 207040),
            10: Fs("Swap space", StorageKind.VIRTUAL_MEMORY, 1024, 987988, 27432),
            31: Fs("/", StorageKind.FIXED_DISK, 4096, 2164327, 1667935),
            32: Fs("/usr/local", StorageKind.FIXED_DISK, 4096, 16822765, 13299705),
            33: Fs("/export", StorageKind.FIXED_DISK, 4096, 96144541, 90601816),
        },
        storage_metric_count=6,
        mem_total=1021976 * KIB,
        mem_used=(958176 - 23900 - 207040) * KIB,  # net-snmp: buffers and cache are not "used"
        cpu=(13, 9),
    ),
    Device(
        community="winxp-full-walk",
        descr="Hardware: x86 Family 6 Model 9 Stepping 5 AT/AT COMPATIBLE - Software: "
        "Windows 2000 Version 5.1 (Build 2600 Uniprocessor Free)",
        name="CRAY",
        uptime_s=827.95,
        object_id="1.3.6.1.4.1.311.1.1.3.1.1",
        vendor="Microsoft",
        os="Windows",
        os_version="5.1.2600",
        if_count=3,
        if_up=2,
        if_down=1,
        interfaces={
            # ifDescr is recorded as hex, NUL-terminated; no ifXTable, so 32-bit counters.
            1: If(
                "MS TCP Loopback interface",
                IfStatus.UP,
                speed_bps=10_000_000,
                mac="",
                counters_64bit=False,
            ),
            65539: If(
                "Intel(R) PRO/Wireless 2200BG Network Connection",
                IfStatus.UP,
                speed_bps=54_000_000,
                mac="00:0e:35:d3:3d:53",
                counters_64bit=False,
            ),
            65540: If(
                "Bluetooth Device (Personal Area Network)",
                IfStatus.DOWN,
                speed_bps=1_000_000,
                mac="00:15:83:07:d4:19",
            ),
        },
        storage={
            1: Fs(
                "C:\\ Label:  Serial Number 1848504c",
                StorageKind.FIXED_DISK,
                16384,
                1952447,
                1884128,
            ),
            2: Fs("D:\\", StorageKind.COMPACT_DISC, 0, 0, 0),
            3: Fs(
                "Z:\\ Label:  Serial Number ba85e1bf",
                StorageKind.FIXED_DISK,
                4096,
                21304198,
                20191655,
            ),
            4: Fs("Virtual Memory", StorageKind.VIRTUAL_MEMORY, 65536, 20377, 7962),
            5: Fs("Physical Memory", StorageKind.RAM, 65536, 15852, 9686),
        },
        storage_metric_count=4,
        mem_total=15852 * 65536,
        mem_used=9686 * 65536,
        cpu=(0,),
    ),
    Device(
        community="cisco-catalyst-3560",
        descr="Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), Version 12.2(55)SE3, "
        "RELEASE SOFTWARE (fc1)\nTechnical Support: http://www.cisco.com/techsupport\n"
        "Copyright (c) 1986-2011 by Cisco Systems, Inc.\n"
        "Compiled Thu 05-May-11 16:14 by prod_rel_team",
        name="DUMSYS-04",
        uptime_s=4924464.81,
        object_id="1.3.6.1.4.1.9.1.617",
        vendor="Cisco",
        os="IOS",
        os_version="12.2(55)SE3",
        model="C3560",
        if_count=57,
        if_up=7,  # Vl2, Vl3, Gi0/49-52, Nu0
        if_down=49,  # Vl999 and Gi0/1-48: enabled but down; Vl1 is shut
        interfaces={
            1: If("Vl1", IfStatus.DOWN, admin=IfStatus.DOWN, speed_bps=1_000_000_000),
            999: If("Vl999", IfStatus.DOWN, speed_bps=1_000_000_000),
            10101: If("Gi0/1", IfStatus.DOWN, speed_bps=10_000_000),
            10149: If("Gi0/49", IfStatus.UP, speed_bps=1_000_000_000, counters_64bit=True),
            # Null0: ifSpeed saturated at 2^32-1, so ifHighSpeed (10000 Mb/s); no HC counters.
            10501: If("Nu0", IfStatus.UP, speed_bps=10_000_000_000, counters_64bit=False),
        },
        missing=("storage", "cpu"),
    ),
    Device(
        community="apc-ap7902b",
        descr="APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.7.2 PN:apc_hw05_aos_672.bin "
        "AF1:v6.7.2 AN1:apc_hw05_rpdu2g_672.bin MN:AP7902B HR:B2 SN: 5A1551F39430 "
        "MD:10/07/2018)",
        name="pwr-dc01-pdu-rack01-01",
        uptime_s=1656602.50,
        object_id="1.3.6.1.4.1.318.1.3.4.8",
        vendor="APC",
        os="AOS",
        os_version="v6.7.2",
        model="AP7902B",
        if_count=2,
        if_up=2,
        if_down=0,
        interfaces={
            1: If("LOOPBACK", IfStatus.UP, speed_bps=None, mac=""),
            2: If("vmac0", IfStatus.UP, speed_bps=100_000_000, mac="28:29:86:3a:42:1f"),
        },
        missing=("storage", "cpu"),
    ),
    Device(
        community="eaton-9PX-partial-walk",
        descr=None,
        name=None,
        uptime_s=None,
        object_id="1.3.6.1.4.1.705.1",
        vendor="Eaton",
        missing=("sys.descr", "sys.name", "sys.uptime", "interfaces", "storage", "cpu"),
    ),
    Device(
        community="geist-watchdog15p",
        descr="Data Center 01 Temp Sensor",
        name="pwr-dc01-temp-rack1-01",
        uptime_s=1658138.05,
        object_id="1.3.6.1.4.1.21239.42.1.31",
        vendor="Geist",
        if_count=1,
        if_up=1,
        if_down=0,
        interfaces={
            1: If("eth0", IfStatus.UP, speed_bps=100_000_000, mac="54:10:ec:a1:3c:3f"),
        },
        missing=("storage", "cpu"),
    ),
    Device(
        community="solaris-system",
        descr="Sun SNMP Agent, Sun-Blade-100",
        name="oss",
        uptime_s=6241625.52,
        object_id="1.3.6.1.4.1.42.2.1.1",
        vendor="Sun",
        os="Solaris",
        model="Sun-Blade-100",
        missing=("interfaces", "storage", "cpu"),
    ),
    Device(
        community="linksys-system",
        descr="BEFSX41",
        name="isp-gw",
        uptime_s=6382.39,
        object_id="1.3.6.1.4.1.3955.1.1",
        vendor="Linksys",
        model="BEFSX41",
        missing=("interfaces", "storage", "cpu"),
    ),
]


@pytest.fixture(scope="module")
def agent_port() -> Iterator[int]:
    try:
        with snmpsim() as port:
            # snmpsim opens each recording on first use (a second for the big ones): do it
            # now, so the probe's deadlines measure the probe.
            for device in DEVICES:
                answers(port, device.community, wait=20)
            yield port
    except RuntimeError as exc:
        pytest.skip(f"snmpsim did not start: {exc}")


def target(port: int, device: Device, version: SnmpVersion) -> SnmpTarget:
    return SnmpTarget(
        "127.0.0.1",
        port,
        version=version,
        community=device.community,
        timeout=5.0,
        retries=1,
        deadline=60.0,
    )


@pytest.mark.parametrize("version", [SnmpVersion.V2C, SnmpVersion.V1])
@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.community)
async def test_recorded_device(agent_port: int, device: Device, version: SnmpVersion) -> None:
    async with SnmpPoller() as poller:
        poll = await poller.poll_detail(target(agent_port, device, version))
    result, snapshot = poll.result, poll.snapshot
    assert snapshot is not None, result.error
    values = result.values

    expected_status = ProbeStatus.PARTIAL if device.missing else ProbeStatus.OK
    assert result.status is expected_status, result.error
    assert result.missing == device.missing
    if device.missing:
        assert result.error == "missing: " + ", ".join(device.missing)
    assert result.rtt is not None and result.rtt > 0

    assert values.get("sys.descr") == device.descr
    assert snapshot.system.descr == device.descr
    assert values.get("sys.name") == device.name
    assert values["sys.object_id"] == device.object_id
    if device.uptime_s is None:
        assert "sys.uptime_s" not in values
    else:
        assert values["sys.uptime_s"] == pytest.approx(device.uptime_s)
        assert values["sys.rebooted"] == 0
    assert values.get("sys.vendor", "") == device.vendor
    assert values.get("sys.os", "") == device.os
    assert values.get("sys.os_version", "") == device.os_version
    assert values.get("sys.model", "") == device.model

    _check_interfaces(device, values, snapshot.interfaces, version)
    _check_storage(device, values, snapshot)
    _check_cpu(device, values, snapshot.cpu_loads)


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.community)
async def test_measuring_poll_shows_what_a_full_poll_shows(agent_port: int, device: Device) -> None:
    """Between discoveries a poll reads only what changes and fills in the rest from the last
    discovery: for every recorded device it must come out exactly as a full poll does."""
    leaning = target(agent_port, device, SnmpVersion.V2C)
    reading = dataclasses.replace(leaning, rediscover=0)
    async with SnmpPoller() as poller_a, SnmpPoller() as poller_b:
        polls = [await poller_a.poll_detail(leaning) for _ in range(2)]
        reference = [await poller_b.poll_detail(reading) for _ in range(2)]
    assert [p.full for p in polls] == [True, False]
    assert [p.full for p in reference] == [True, True]
    assert polls[1].snapshot == reference[1].snapshot
    assert polls[1].result.values == reference[1].result.values
    assert polls[1].result.missing == reference[1].result.missing == device.missing


def _check_interfaces(
    device: Device, values: dict, interfaces: tuple[Interface, ...], version: SnmpVersion
) -> None:
    if "interfaces" in device.missing:
        assert "if.count" not in values
        assert interfaces == ()
        return
    assert values["if.count"] == device.if_count == len(interfaces)
    assert values["if.up"] == device.if_up
    assert values["if.down"] == device.if_down
    by_index = {i.index: i for i in interfaces}
    for index, want in device.interfaces.items():
        got = by_index[index]
        assert got.name == want.name
        assert got.oper_status is want.oper
        assert got.admin_status is want.admin
        assert values[f"if.{index}.oper_status"] == int(want.oper)
        assert values[f"if.{index}.admin_status"] == int(want.admin)
        assert got.speed_bps == want.speed_bps
        if want.mac is not None:
            assert got.mac == want.mac
        if want.counters_64bit is not None:
            # SNMPv1 cannot carry Counter64: a v1 poll always falls back to ifInOctets.
            assert got.counters_64bit is (want.counters_64bit and version is not SnmpVersion.V1)
        assert got.in_bps is None  # a first poll has nothing to take a rate against
        assert f"if.{index}.in_bps" not in values


def _check_storage(device: Device, values: dict, snapshot: SnmpSnapshot) -> None:
    if "storage" in device.missing:
        assert "storage.count" not in values
        assert snapshot.storage == ()
        assert "mem.total_bytes" not in values
        return
    by_index = {s.index: s for s in snapshot.storage}
    assert set(by_index) == set(device.storage)
    for index, want in device.storage.items():
        got = by_index[index]
        assert got.descr == want.descr
        assert got.kind is want.kind
        assert got.allocation_unit == want.unit
        assert got.size_bytes == want.size_units * want.unit
        assert got.used_bytes == want.used_units * want.unit
        metric = f"storage.{index}.used_pct"
        if got.kind in (StorageKind.FIXED_DISK, StorageKind.RAM):
            assert values[metric] == pytest.approx(100 * want.used_units / want.size_units)
            assert values[f"storage.{index}.size_bytes"] == want.size_units * want.unit
        elif got.kind in (StorageKind.OTHER, StorageKind.COMPACT_DISC):
            assert metric not in values
    assert values["storage.count"] == device.storage_metric_count
    assert values["mem.total_bytes"] == device.mem_total
    assert values["mem.used_bytes"] == device.mem_used


def _check_cpu(device: Device, values: dict, loads: tuple[int, ...]) -> None:
    if device.cpu is None:
        assert "cpu" in device.missing
        assert "cpu.load_pct" not in values
        return
    assert loads == device.cpu
    assert values["cpu.count"] == len(device.cpu)
    assert values["cpu.load_pct"] == pytest.approx(sum(device.cpu) / len(device.cpu))
    for position, load in enumerate(device.cpu):
        assert values[f"cpu.{position}.load_pct"] == load


async def test_numbers_are_what_samples_take(agent_port: int) -> None:
    """Labels stay out of ``numbers()``; statuses, sizes and loads go in."""
    async with SnmpPoller() as poller:
        result = await poller.poll(target(agent_port, DEVICES[0], SnmpVersion.V2C))
    numbers = result.numbers()
    assert "sys.descr" not in numbers and "if.2.name" not in numbers
    assert numbers["if.2.oper_status"] == 1.0
    assert numbers["storage.31.size_bytes"] == 2164327 * 4096
    assert numbers["cpu.load_pct"] == 11.0


async def test_unknown_community_fails_cleanly(agent_port: int) -> None:
    """snmpsim, like real agents, stays silent for a community it does not serve."""
    async with SnmpPoller() as poller:
        result = await poller.poll(
            SnmpTarget(
                "127.0.0.1",
                agent_port,
                community="no-such-device",
                timeout=0.5,
                retries=0,
                deadline=5.0,
            )
        )
    assert result.status is ProbeStatus.FAILED
    assert "no SNMP answer" in result.error and "community" in result.error
    assert result.values == {}


async def test_get_raw_values(agent_port: int) -> None:
    """``get`` decodes the hex-recorded strings and leaves out what the agent lacks."""
    apc = next(d for d in DEVICES if d.community == "apc-ap7902b")
    async with SnmpPoller() as poller:
        got = await poller.get(
            target(agent_port, apc, SnmpVersion.V2C),
            [
                "1.3.6.1.2.1.1.5.0",
                "1.3.6.1.2.1.1.2.0",
                "1.3.6.1.2.1.1.3.0",
                "1.3.6.1.2.1.2.2.1.6.2",
                "1.3.6.1.2.1.25.1.1.0",
            ],
        )
    assert got == {
        "1.3.6.1.2.1.1.5.0": "pwr-dc01-pdu-rack01-01",
        "1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.318.1.3.4.8",
        "1.3.6.1.2.1.1.3.0": 165660250,
        "1.3.6.1.2.1.2.2.1.6.2": "28:29:86:3a:42:1f",
    }


async def test_many_devices_at_once(agent_port: int) -> None:
    """All recordings polled concurrently through one poller give the same answers as alone."""
    async with SnmpPoller() as poller:
        polls = await asyncio.gather(
            *(poller.poll(target(agent_port, d, SnmpVersion.V2C)) for d in DEVICES)
        )
    for device, result in zip(DEVICES, polls, strict=True):
        assert result.missing == device.missing, (device.community, result.error)
        assert result.values.get("sys.name") == device.name


# An agent with every value of the wrong type or out of range, served by snmpsim like the
# recordings: the probe must say what it could not use and carry on.
MANGLED = """\
1.3.6.1.2.1.1.1.0|4x|ff00fe
1.3.6.1.2.1.1.2.0|4|not an oid
1.3.6.1.2.1.1.3.0|4|not a number
1.3.6.1.2.1.1.5.0|4|mangled
1.3.6.1.2.1.2.2.1.2.1|4|eth0
1.3.6.1.2.1.2.2.1.5.1|4|fast
1.3.6.1.2.1.2.2.1.6.1|4|abc
1.3.6.1.2.1.2.2.1.7.1|2|1
1.3.6.1.2.1.2.2.1.8.1|2|99
1.3.6.1.2.1.2.2.1.10.1|4|lots
1.3.6.1.2.1.25.2.3.1.2.1|2|4
1.3.6.1.2.1.25.2.3.1.3.1|4|/
1.3.6.1.2.1.25.2.3.1.4.1|4|big
1.3.6.1.2.1.25.2.3.1.5.1|2|10
1.3.6.1.2.1.25.2.3.1.2.2|6|1.3.6.1.2.1.25.2.1.4
1.3.6.1.2.1.25.2.3.1.3.2|4|/data
1.3.6.1.2.1.25.2.3.1.4.2|2|4096
1.3.6.1.2.1.25.2.3.1.5.2|2|-1
1.3.6.1.2.1.25.2.3.1.6.2|2|-2
1.3.6.1.2.1.25.3.3.1.2.1.7|2|50
"""


async def test_mangled_agent_gives_what_it_can(tmp_path: Path) -> None:
    lines = sorted(MANGLED.splitlines(), key=lambda r: [int(n) for n in r.split("|")[0].split(".")])
    (tmp_path / "mangled.snmprec").write_text("\n".join(lines) + "\n")  # snmpsim wants OID order
    with snmpsim(tmp_path) as port:
        async with SnmpPoller() as poller:
            target = SnmpTarget("127.0.0.1", port, community="mangled", timeout=5.0, deadline=30.0)
            poll = await poller.poll_detail(target)
    result, snapshot = poll.result, poll.snapshot
    assert snapshot is not None, result.error
    assert result.status is ProbeStatus.PARTIAL
    assert result.missing == ("sys.uptime",)  # a string where TimeTicks belong
    assert result.values["sys.descr"] == "ff:00:fe"  # binary, shown as hex
    assert result.values["sys.object_id"] == "not an oid"
    (eth0,) = snapshot.interfaces
    assert eth0.name == "eth0" and eth0.mac == "61:62:63"
    assert eth0.oper_status is None and eth0.speed_bps is None and eth0.in_octets is None
    assert not eth0.is_down and result.values["if.down"] == 0
    # Row 1's allocation unit is not a number: skipped. Row 2 overflowed Integer32.
    (data,) = snapshot.storage
    assert data.descr == "/data" and data.kind is StorageKind.FIXED_DISK
    assert data.size_bytes == (2**32 - 1) * 4096 and data.used_bytes == (2**32 - 2) * 4096
    # A processor row with a two-part index is not hrProcessorTable's: no loads, no crash.
    assert snapshot.cpu_loads == () and result.values["cpu.count"] == 0
