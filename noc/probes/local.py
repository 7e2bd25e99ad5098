"""The machine noc itself runs on, read with psutil: the poller watches its own host too.

Metric names match the SSH probe's where they overlap (``load.1``, ``cpu.used_pct``,
``mem.used_pct``, ``fs./var.used_pct``, ``uptime_s``, ``users``), so a threshold written for
remote Linux hosts applies here unchanged.

psutil reads /proc and calls statvfs, which block (a hung NFS server blocks statvfs for minutes),
so every read runs on a worker thread under a deadline. Network filesystems are left out unless
asked for, for the same reason; pseudo filesystems (proc, tmpfs, cgroup, squashfs images that
are always full...) are always left out, and a device mounted twice is counted once, at its
shortest mount point, as ``df`` does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple

import psutil

from noc.probes.result import ProbeResult, ProbeStatus

__all__ = ["LocalProbe"]

PSEUDO_FS = frozenset(
    """
    autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devfs devpts devtmpfs efivarfs
    fuse.gvfsd-fuse fuse.lxcfs fuse.portal fusectl hugetlbfs iso9660 mqueue nfsd nsfs proc
    pstore ramfs rpc_pipefs securityfs selinuxfs squashfs sysfs tmpfs tracefs udf
    """.split()
)
NETWORK_FS = frozenset(
    """
    9p afs ceph cifs davfs fuse.glusterfs fuse.rclone fuse.s3fs fuse.sshfs glusterfs lustre
    nfs nfs4 smb3 smbfs sshfs
    """.split()
)
CPU_PRIME_S = 0.25
"""CPU use is a difference of two readings; the first probe waits this long for its second."""


class _Mount(NamedTuple):
    device: str
    mountpoint: str


def real_filesystems(*, include_network: bool = False) -> list[_Mount]:
    """Mounts worth watching, one per device. Blocking: call it on a thread."""
    skip = PSEUDO_FS if include_network else PSEUDO_FS | NETWORK_FS
    chosen: dict[str, _Mount] = {}
    for part in psutil.disk_partitions(all=True):
        if part.fstype in skip or not part.fstype:
            continue
        mount = _Mount(part.device, part.mountpoint)
        best = chosen.get(part.device)
        if best is None or len(mount.mountpoint) < len(best.mountpoint):
            chosen[part.device] = mount
    return sorted(chosen.values(), key=lambda m: m.mountpoint)


def _busy_and_total(times: Any) -> tuple[float, float]:
    """psutil's own split: guest time is already inside user time, iowait is idle."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class LocalProbe:
    """Keeps the previous CPU reading so each probe reports use since the last one."""

    def __init__(self, *, timeout: float = 10.0, include_network_fs: bool = False) -> None:
        self.timeout = timeout
        self.include_network_fs = include_network_fs
        self._cpu: tuple[float, float] | None = None

    async def probe(self) -> ProbeResult:
        started, t0 = time.time(), time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                values = await asyncio.to_thread(self._collect)
        except TimeoutError:
            return ProbeResult(
                ProbeStatus.FAILED,
                error=f"no reading within {self.timeout:g} s (a hung filesystem?)",
                started=started,
                duration=time.monotonic() - t0,
            )
        except (OSError, psutil.Error) as exc:
            return ProbeResult(
                ProbeStatus.ERROR,
                error=f"psutil: {exc}",
                started=started,
                duration=time.monotonic() - t0,
            )
        return ProbeResult(ProbeStatus.OK, values, started=started, duration=time.monotonic() - t0)

    def _collect(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        values["cpu.used_pct"] = self._cpu_used_pct()
        values["cpu.count"] = psutil.cpu_count() or 0
        values["load.1"], values["load.5"], values["load.15"] = psutil.getloadavg()
        mem = psutil.virtual_memory()
        values["mem.total_bytes"] = mem.total
        values["mem.available_bytes"] = mem.available
        values["mem.used_bytes"] = mem.total - mem.available
        values["mem.used_pct"] = _pct(mem.total - mem.available, mem.total)
        swap = psutil.swap_memory()
        values["swap.total_bytes"] = swap.total
        values["swap.used_bytes"] = swap.used
        values["swap.used_pct"] = _pct(swap.used, swap.total)
        for mount in real_filesystems(include_network=self.include_network_fs):
            try:
                usage = psutil.disk_usage(mount.mountpoint)
            except OSError:
                continue  # unmounted meanwhile, or not ours to read
            if usage.total == 0:
                continue
            key = f"fs.{mount.mountpoint}"
            values[f"{key}.size_bytes"] = usage.total
            values[f"{key}.used_bytes"] = usage.used
            values[f"{key}.used_pct"] = usage.percent
        values["uptime_s"] = round(time.time() - psutil.boot_time(), 1)
        values["users"] = len(psutil.users())
        values["procs"] = len(psutil.pids())
        for nic, io in psutil.net_io_counters(pernic=True).items():
            if nic == "lo":
                continue
            values[f"net.{nic}.rx_bytes"] = io.bytes_recv
            values[f"net.{nic}.tx_bytes"] = io.bytes_sent
            values[f"net.{nic}.rx_packets"] = io.packets_recv
            values[f"net.{nic}.tx_packets"] = io.packets_sent
            values[f"net.{nic}.rx_errors"] = io.errin
            values[f"net.{nic}.tx_errors"] = io.errout
            values[f"net.{nic}.rx_dropped"] = io.dropin
            values[f"net.{nic}.tx_dropped"] = io.dropout
        return values

    def _cpu_used_pct(self) -> float:
        if self._cpu is None:
            self._cpu = _busy_and_total(psutil.cpu_times())
            time.sleep(CPU_PRIME_S)  # on the worker thread, never the event loop
        busy, total = _busy_and_total(psutil.cpu_times())
        last_busy, last_total = self._cpu
        self._cpu = busy, total
        if total <= last_total:
            return 0.0
        return round(min(100.0, max(0.0, 100 * (busy - last_busy) / (total - last_total))), 2)


def _pct(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole else 0.0
