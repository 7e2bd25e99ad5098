"""The agentless collector: one POSIX sh script sent over one channel, and its pure parser.

The script prints sections headed ``<marker> <name>``; the marker carries a per-poll nonce, so a
mount point or a device name that happens to look like a header cannot shift the parse. Every
section is optional: a command missing on the host leaves its section empty and the parser
reports the metric as missing instead of guessing. Linux reads ``/proc``; the BSDs answer the
same questions through ``sysctl``, ``mount -p`` and the same ``df -P -k``.

Only cheap sources are read. Pending updates come from Ubuntu's cached update-notifier count;
``apt-get -s upgrade``, ``dnf check-update`` and ``checkupdates`` cost seconds (or the network)
per poll, so without a cached count the value is simply absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCRIPT_TEMPLATE = r"""exec 2>/dev/null
LC_ALL=C; export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
s() { echo "@MARKER@ $1"; }
cpu() { if [ -r /proc/stat ]; then head -n 1 /proc/stat; else sysctl -n kern.cp_time; fi; }
s os; uname -s
s cpu; cpu; sleep @WAIT@; cpu
s load; if [ -r /proc/loadavg ]; then cat /proc/loadavg; else sysctl -n vm.loadavg; fi
s mem
if [ -r /proc/meminfo ]
then grep -E '^(MemTotal|MemFree|MemAvailable|Buffers|Cached):' /proc/meminfo
else sysctl hw.physmem hw.pagesize vm.stats.vm.v_free_count vm.stats.vm.v_inactive_count \
  vm.stats.vm.v_cache_count; fi
s uptime
if [ -r /proc/uptime ]; then cat /proc/uptime; else sysctl -n kern.boottime; date +%s; fi
s users; if command -v who >/dev/null; then who | wc -l; fi
s updates; f=/var/lib/update-notifier/updates-available; if [ -r "$f" ]; then cat "$f"; fi
s mounts; if [ -r /proc/mounts ]; then cat /proc/mounts; else mount -p; fi
s df; out=$(df -P -k -l) || [ -n "$out" ] || out=$(df -P -k); printf '%s\n' "$out"
s end
"""

_MARKER = re.compile(r"^@@noc-[0-9a-f]{4,32}$")

PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devfs",
        "devpts", "devtmpfs", "efivarfs", "fdescfs", "fuse.gvfsd-fuse", "fuse.lxcfs",
        "fuse.portal", "fuse.snapfuse", "fusectl", "hugetlbfs", "iso9660", "linprocfs",
        "linsysfs", "mqueue", "nsfs", "nullfs", "proc", "procfs", "pstore", "ramfs",
        "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "udf",
    }
)  # fmt: skip
"""Kernel views, memory-backed and read-only image mounts, and re-mounts of another file system
(nullfs): none of them fills up in a way worth an alert, and snaps sit at 100 % by design."""

CORE_METRICS = ("load.1", "cpu.used_pct", "mem.total_bytes", "mem.used_pct", "uptime_s", "fs")
"""What every Unix host can tell; lacking one makes the poll PARTIAL. ``users`` and
``updates.pending`` depend on what is installed and are reported only when present."""


def script(marker: str, cpu_wait_s: float = 0.25) -> str:
    """The collector for one poll; ``cpu_wait_s`` spaces the two CPU counter reads."""
    if not _MARKER.match(marker):
        raise ValueError(f"collector marker {marker!r} must look like @@noc-<hex>")
    if not 0 < cpu_wait_s <= 5:
        raise ValueError(f"cpu_wait_s must be in (0, 5], got {cpu_wait_s!r}")
    return SCRIPT_TEMPLATE.replace("@MARKER@", marker).replace("@WAIT@", f"{cpu_wait_s:.3f}")


@dataclass(frozen=True, slots=True)
class Filesystem:
    mount: str
    device: str
    fstype: str
    """Empty when the mount table did not list the mount point."""
    size_bytes: int
    used_bytes: int
    avail_bytes: int
    """What an unprivileged user may still write; below size - used when blocks are reserved."""

    @property
    def used_pct(self) -> float:
        """Used share of what users can have, as ``df`` and psutil count it (reserve excluded)."""
        usable = self.used_bytes + self.avail_bytes
        return round(100.0 * self.used_bytes / usable, 2) if usable > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mount": self.mount,
            "device": self.device,
            "fstype": self.fstype,
            "size_bytes": self.size_bytes,
            "used_bytes": self.used_bytes,
            "avail_bytes": self.avail_bytes,
            "used_pct": self.used_pct,
        }


@dataclass(frozen=True, slots=True)
class Collected:
    values: Mapping[str, Any]
    filesystems: tuple[Filesystem, ...]
    missing: tuple[str, ...]
    """Core metrics the host did not give (see ``CORE_METRICS``)."""
    sections: int
    """How many section headers came back: 0 means the script never ran."""


def split_sections(text: str, marker: str) -> dict[str, list[str]]:
    """Lines under each ``<marker> <name>`` header; text before the first header is dropped."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    prefix = marker + " "
    for line in text.splitlines():
        if line.startswith(prefix):
            current = sections.setdefault(line[len(prefix) :].strip(), [])
        elif current is not None and line.strip():
            current.append(line)
    return sections


def _cpu_ticks(line: str) -> tuple[int, int]:
    """(all ticks, idle ticks) from a Linux ``cpu`` line or a BSD ``kern.cp_time`` line."""
    fields = line.replace(",", " ").split()
    if fields and fields[0] == "cpu":
        # user nice system idle iowait irq softirq steal; guest time is already in user
        ticks = [int(x) for x in fields[1:9]]
        return sum(ticks), ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    ticks = [int(x) for x in fields]  # FreeBSD: user nice sys intr idle; OpenBSD adds spin
    return sum(ticks), ticks[-1]


def parse_cpu(lines: Sequence[str]) -> dict[str, Any]:
    if len(lines) < 2:
        return {}
    total0, idle0 = _cpu_ticks(lines[0])
    total1, idle1 = _cpu_ticks(lines[1])
    elapsed = total1 - total0
    if elapsed <= 0:
        return {}
    busy = elapsed - (idle1 - idle0)
    return {"cpu.used_pct": round(min(100.0, max(0.0, 100.0 * busy / elapsed)), 2)}


def parse_load(lines: Sequence[str]) -> dict[str, Any]:
    fields = " ".join(lines).replace("{", " ").replace("}", " ").split()
    one, five, fifteen = (float(x) for x in fields[:3])
    return {"load.1": one, "load.5": five, "load.15": fifteen}


def _colon_pairs(lines: Sequence[str]) -> dict[str, int]:
    pairs: dict[str, int] = {}
    for line in lines:
        name, sep, rest = line.partition(":")
        words = rest.split()
        if sep and words and words[0].isdigit():
            pairs[name.strip()] = int(words[0]) * (1024 if words[1:2] == ["kB"] else 1)
    return pairs


def parse_mem(lines: Sequence[str]) -> dict[str, Any]:
    got = _colon_pairs(lines)
    if "MemTotal" in got:  # Linux, already in bytes
        total = got["MemTotal"]
        avail = got.get("MemAvailable")
        if avail is None:  # kernels before 3.14
            avail = got["MemFree"] + got.get("Buffers", 0) + got.get("Cached", 0)
    else:  # BSD sysctl: pages
        total = got["hw.physmem"]
        page = got["hw.pagesize"]
        free = sum(got.get(f"vm.stats.vm.v_{n}_count", 0) for n in ("free", "inactive", "cache"))
        avail = free * page
    if total <= 0:
        return {}
    used_pct = round(100.0 * (total - min(avail, total)) / total, 2)
    return {"mem.total_bytes": total, "mem.available_bytes": avail, "mem.used_pct": used_pct}


_BOOTTIME = re.compile(r"sec\s*=\s*(\d+)")


def parse_uptime(lines: Sequence[str]) -> dict[str, Any]:
    boot = _BOOTTIME.search(lines[0])
    if boot is None:  # Linux /proc/uptime: seconds since boot
        return {"uptime_s": float(lines[0].split()[0])}
    return {"uptime_s": float(int(lines[1].split()[0]) - int(boot.group(1)))}


def parse_users(lines: Sequence[str]) -> dict[str, Any]:
    return {"users": int(lines[0].split()[0])}


_UPDATES = re.compile(r"^\s*(\d+)\s+(?:updates?|packages?)\s+can\s+be\b")


def parse_updates(lines: Sequence[str]) -> dict[str, Any]:
    for line in lines:
        found = _UPDATES.match(line)
        if found:
            return {"updates.pending": int(found.group(1))}
    return {}


_OCTAL = re.compile(r"\\([0-7]{3})")
_DF_LINE = re.compile(
    r"^(?P<dev>.+?)\s+(?P<size>\d+)\s+(?P<used>-?\d+)\s+(?P<avail>-?\d+)\s+(?:\d+%|-)\s+"
    r"(?P<mount>/.*)$"
)


def _unescape(field: str) -> str:
    """Mount tables write space, tab, newline and backslash as ``\\ooo``."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(lines: Sequence[str]) -> dict[str, tuple[str, str]]:
    """mount point -> (device, type) from /proc/mounts or ``mount -p``; the last mount wins."""
    table: dict[str, tuple[str, str]] = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 3:
            table[_unescape(fields[1])] = (_unescape(fields[0]), fields[2])
    return table


def parse_df(lines: Sequence[str], mounts: Mapping[str, tuple[str, str]]) -> list[Filesystem]:
    found: list[Filesystem] = []
    for line in lines:
        row = _DF_LINE.match(line)
        if row is None:
            continue  # the header, or a line df wrapped
        mount = row["mount"]
        fstype = mounts.get(mount, ("", ""))[1]
        size = int(row["size"]) * 1024
        if size <= 0 or fstype in PSEUDO_FILESYSTEMS:
            continue
        used = int(row["used"]) * 1024
        found.append(Filesystem(mount, row["dev"], fstype, size, used, int(row["avail"]) * 1024))
    return found


_PARSERS: dict[str, Callable[[Sequence[str]], dict[str, Any]]] = {
    "cpu": parse_cpu,
    "load": parse_load,
    "mem": parse_mem,
    "uptime": parse_uptime,
    "users": parse_users,
    "updates": parse_updates,
}


def parse(text: str, marker: str) -> Collected:
    """Everything the script's output says; a section that does not parse is just absent."""
    sections = split_sections(text, marker)
    values: dict[str, Any] = {}
    os_name = sections.get("os", [""])[0].strip()
    if os_name:
        values["os.name"] = os_name[:64]
    for name, parser in _PARSERS.items():
        lines = sections.get(name)
        if not lines:
            continue
        try:
            values.update(parser(lines))
        except (ValueError, IndexError, KeyError):
            continue
    filesystems = tuple(parse_df(sections.get("df", []), parse_mounts(sections.get("mounts", []))))
    for fs in filesystems:
        values[f"fs.{fs.mount}.size_bytes"] = fs.size_bytes
        values[f"fs.{fs.mount}.used_bytes"] = fs.used_bytes
        values[f"fs.{fs.mount}.used_pct"] = fs.used_pct
    if filesystems:
        values["filesystems"] = tuple(fs.as_dict() for fs in filesystems)
    present = set(values) | ({"fs"} if filesystems else set())
    missing = tuple(name for name in CORE_METRICS if name not in present)
    return Collected(values, filesystems, missing, len(sections))
