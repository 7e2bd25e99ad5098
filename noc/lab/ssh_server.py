"""An SSH server for simulated hosts (asyncssh), answering the SSH probe's collector.

It does not run a shell: it recognises the collector by its section marker and prints the
sections a Linux host would, from the device's model at that instant. Anything else gets
"command not found", as a host without that tool would say.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import asyncssh

from noc.lab.model import LabDevice

_MARKER = re.compile(r'echo "(@@noc-[0-9a-f]{4,32}) \$1"')
_READS_STDIN = re.compile(r"^\s*(/\S*/)?sh -s\s*$")
MEM_TOTAL_KB = 16 * 1024 * 1024
CPU_TICKS_PER_S = 100


def collector_output(device: LabDevice, marker: str, t: float) -> str:
    """The collector's sections for ``device`` at ``t``, in Linux's own formats."""
    busy_pct = device.cpu_pct(t)
    total = 2 * CPU_TICKS_PER_S // 4  # two CPUs over the collector's 0.25 s wait
    busy = round(total * busy_pct / 100)
    base = int(device.uptime_s(t) * CPU_TICKS_PER_S)
    cpu1 = f"cpu  {base // 4} 0 {base // 8} {base} 0 0 0 0 0 0"
    cpu2 = f"cpu  {base // 4 + busy} 0 {base // 8} {base + total - busy} 0 0 0 0 0 0"
    load = busy_pct / 50
    mem_free = int(MEM_TOTAL_KB * (1 - device.mem_used_pct(t) / 100))
    lines = [
        f"{marker} os", "Linux",
        f"{marker} cpu", cpu1, cpu2,
        f"{marker} load", f"{load:.2f} {load:.2f} {load:.2f} 1/230 4242",
        f"{marker} mem",
        f"MemTotal:       {MEM_TOTAL_KB} kB",
        f"MemFree:        {mem_free // 2} kB",
        f"MemAvailable:   {mem_free} kB",
        "Buffers:        10240 kB",
        f"Cached:         {mem_free // 2} kB",
        f"{marker} uptime", f"{device.uptime_s(t):.2f} {device.uptime_s(t) * 1.8:.2f}",
        f"{marker} users", "1",
        f"{marker} updates", f"{device.seed % 12} updates can be applied immediately.",
        f"{marker} mounts",
    ]  # fmt: skip
    lines += [f"/dev/vd{chr(97 + v.index)}1 {v.mount} ext4 rw,relatime 0 0" for v in device.volumes]
    lines += [f"{marker} df", "Filesystem 1024-blocks Used Available Capacity Mounted on"]
    for v in device.volumes:
        size_kb = v.size_bytes // 1024
        used_kb = int(size_kb * device.volume_used_pct(v, t) / 100)
        pct = -(-used_kb * 100 // size_kb)
        lines.append(
            f"/dev/vd{chr(97 + v.index)}1 {size_kb} {used_kb} {size_kb - used_kb} {pct}% {v.mount}"
        )
    lines.append(f"{marker} end")
    return "\n".join(lines) + "\n"


class _Server(asyncssh.SSHServer):
    def __init__(self, device: LabDevice, username: str, password: str) -> None:
        self.device = device
        self.username = username
        self.password = password

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.username and password == self.password


async def serve_ssh(
    device: LabDevice, host_key: asyncssh.SSHKey, username: str, password: str
) -> asyncssh.SSHAcceptor:
    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        now = time.time()
        if not device.up(now):
            process.channel.abort()
            return
        if device.delay():
            await asyncio.sleep(device.delay())
        text = process.command or ""
        if _READS_STDIN.match(text):  # `/bin/sh -s`: the script arrives on stdin
            text = await asyncio.wait_for(process.stdin.read(), 10)
        match = _MARKER.search(text)
        if match:
            await asyncio.sleep(0.25)  # the collector's pause between CPU readings
            process.stdout.write(collector_output(device, match.group(1), time.time()))
            process.exit(0)
        else:
            process.stderr.write(f"sh: 1: {(process.command or '').split()[0:1]}: not found\n")
            process.exit(127)

    return await asyncssh.create_server(
        lambda: _Server(device, username, password),
        device.address,
        device.ssh_port,
        server_host_keys=[host_key],
        process_factory=handle,
        encoding="utf-8",
    )


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """One host key for the whole lab, kept so that known_hosts stays valid across restarts."""
    if path.is_file():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True)
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key


def known_hosts_lines(devices: list[LabDevice], key: asyncssh.SSHKey) -> list[str]:
    public = key.export_public_key().decode().strip()
    return [f"[{d.address}]:{d.ssh_port} {public}" for d in devices if d.ssh_port]
