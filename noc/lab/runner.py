"""Start and stop every service of a set of simulated devices in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noc.errors import NocError
from noc.lab.model import LabDevice
from noc.lab.snmp_agent import serve_snmp
from noc.lab.ssh_server import known_hosts_lines, load_host_key, serve_ssh
from noc.lab.web import serve_http, serve_tcp


class LabError(NocError):
    pass


@dataclass(frozen=True, slots=True)
class LabCredentials:
    community: str = "lab"
    ssh_user: str = "noc"
    ssh_password: str = "lab"


@dataclass
class Lab:
    devices: list[LabDevice]
    known_hosts: Path | None = None
    services: Counter[str] = field(default_factory=Counter)
    _closers: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()
        for closer in self._closers:
            wait = getattr(closer, "wait_closed", None)
            if wait is not None:
                with contextlib.suppress(Exception):
                    await wait()
        self._closers.clear()

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def raise_open_file_limit(wanted: int) -> int:
    """Each service is a socket: a lab of thousands needs more than the usual 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


async def start_lab(devices: list[LabDevice], credentials: LabCredentials, state_dir: Path) -> Lab:
    sockets = sum(
        bool(d.snmp_port) + bool(d.ssh_port) + bool(d.http_port) + len(d.tcp_ports) for d in devices
    )
    limit = raise_open_file_limit(sockets + 1024)
    if sockets + 64 > limit:
        raise LabError(f"the lab needs {sockets} sockets but this process may open {limit}")
    lab = Lab(devices)
    host_key = None
    try:
        for d in devices:
            if d.snmp_port:
                lab._closers.append(await serve_snmp(d, credentials.community))
                lab.services["snmp"] += 1
            if d.ssh_port:
                host_key = host_key or load_host_key(state_dir / "lab_host_key")
                lab._closers.append(
                    await serve_ssh(d, host_key, credentials.ssh_user, credentials.ssh_password)
                )
                lab.services["ssh"] += 1
            if d.http_port:
                lab._closers.append(await serve_http(d))
                lab.services["http"] += 1
            for port in d.tcp_ports:
                lab._closers.append(await serve_tcp(d, port))
                lab.services["tcp"] += 1
    except OSError as exc:
        await lab.close()
        raise LabError(f"the lab cannot listen: {exc.strerror or exc}") from None
    if host_key is not None:
        lab.known_hosts = state_dir / "known_hosts"
        lab.known_hosts.write_text("\n".join(known_hosts_lines(devices, host_key)) + "\n")
    return lab


async def run_forever(lab: Lab, duration: float | None) -> None:
    try:
        if duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration)
    finally:
        await lab.close()
