"""The local-host probe agrees with psutil and df, and never blocks the event loop."""

from __future__ import annotations

import asyncio
import shutil
import time

import psutil
import pytest

from noc.probes.local import PSEUDO_FS, LocalProbe, real_filesystems
from noc.probes.result import ProbeStatus

SHARED_WITH_SSH = (
    "load.1",
    "load.5",
    "load.15",
    "cpu.used_pct",
    "mem.total_bytes",
    "mem.used_pct",
    "uptime_s",
    "users",
)


async def test_reads_the_host_without_blocking_the_loop() -> None:
    probe = LocalProbe()
    task = asyncio.create_task(probe.probe())
    await asyncio.sleep(0.01)
    # The first reading waits CPU_PRIME_S for its second CPU sample: on a thread, so the loop ran.
    assert not task.done()
    result = await task

    assert result.status is ProbeStatus.OK, result.error
    for name in SHARED_WITH_SSH:
        assert name in result.values, name
    assert 0.0 <= result.values["cpu.used_pct"] <= 100.0
    assert result.values["cpu.count"] == psutil.cpu_count()
    assert result.values["users"] == len(psutil.users())
    assert result.values["procs"] > 1
    assert "net.lo.rx_bytes" not in result.values


async def test_memory_agrees_with_psutil() -> None:
    result = await LocalProbe().probe()
    mem = psutil.virtual_memory()

    assert result.values["mem.total_bytes"] == mem.total
    assert result.values["swap.total_bytes"] == psutil.swap_memory().total
    used = result.values["mem.total_bytes"] - result.values["mem.available_bytes"]
    assert result.values["mem.used_bytes"] == used
    assert result.values["mem.used_pct"] == pytest.approx(100 * used / mem.total, abs=0.01)


async def test_uptime_agrees_with_boot_time() -> None:
    result = await LocalProbe().probe()

    assert result.values["uptime_s"] == pytest.approx(time.time() - psutil.boot_time(), abs=5)


def _mounts(values: dict[str, object]) -> set[str]:
    return {
        key[len("fs.") : -len(".size_bytes")]
        for key in values
        if key.startswith("fs.") and key.endswith(".size_bytes")
    }


async def test_filesystems_agree_with_psutil() -> None:
    result = await LocalProbe().probe()
    mounts = _mounts(result.values)

    assert "/" in mounts
    assert not mounts & {"/proc", "/sys", "/dev", "/dev/shm", "/sys/fs/cgroup"}
    for mount in mounts:
        usage = psutil.disk_usage(mount)
        assert result.values[f"fs.{mount}.size_bytes"] == usage.total
        assert result.values[f"fs.{mount}.used_bytes"] == pytest.approx(
            usage.used, abs=usage.total * 0.01
        )
        assert 0 <= result.values[f"fs.{mount}.used_pct"] <= 100
    fstypes = {p.mountpoint: p.fstype for p in psutil.disk_partitions(all=True)}
    assert all(fstypes[m] not in PSEUDO_FS for m in mounts)


def test_a_device_mounted_twice_counts_once() -> None:
    by_device: dict[str, list[str]] = {}
    for mount in real_filesystems():
        by_device.setdefault(mount.device, []).append(mount.mountpoint)

    assert all(len(points) == 1 for points in by_device.values())


async def test_filesystems_agree_with_df() -> None:
    """df (local only, pseudo and memory filesystems excluded) lists the same mount points."""
    if shutil.which("df") is None:
        pytest.skip("df is not installed")
    excluded = ["-x", "tmpfs", "-x", "devtmpfs", "-x", "squashfs", "-x", "iso9660"]
    df = await asyncio.create_subprocess_exec(
        "df", "-P", "-l", *excluded, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(df.communicate(), 10)
    from_df = {line.split(None, 5)[5] for line in out.decode().splitlines()[1:]}
    result = await LocalProbe().probe()

    assert _mounts(result.values) == from_df


async def test_cpu_use_is_measured_between_probes() -> None:
    probe = LocalProbe()
    await probe.probe()
    started = time.monotonic()
    while time.monotonic() - started < 0.3:  # keep one core busy for a bounded moment
        pass
    second = await probe.probe()

    assert second.values["cpu.used_pct"] > 0.0
