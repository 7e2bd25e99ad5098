"""Real SNMP agents on loopback for the tests and the benchmark: snmpsim serving the recorded
devices, net-snmp's snmpd reporting this machine, and a UDP port that never answers.

Each is a context manager that starts its process on free high ports, waits until it answers
and stops it on exit, whatever happened in between.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / ".." / "shared" / "data" / "snmprec"
STARTUP_TIMEOUT = 30.0


def free_udp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports nobody listens on right now (held open together so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tlv(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def _get_sysuptime_packet(community: str) -> bytes:
    """A hand-built SNMPv2c GET of sysUpTime.0: readiness checks must not depend on the code
    under test."""
    integer_zero = b"\x02\x01\x00"
    varbind = _tlv(0x30, bytes.fromhex("06082b06010201010300") + b"\x05\x00")
    pdu = _tlv(0xA0, b"\x02\x01\x01" + integer_zero + integer_zero + _tlv(0x30, varbind))
    return _tlv(0x30, b"\x02\x01\x01" + _tlv(0x04, community.encode()) + pdu)


def answers(port: int, community: str, host: str = "127.0.0.1", wait: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        s.sendto(_get_sysuptime_packet(community), (host, port))
        try:
            return bool(s.recv(65535))
        except OSError:
            return False


def _wait_until_answering(
    proc: subprocess.Popen[bytes], endpoint: tuple[str, int], community: str, log: Path
) -> None:
    host, port = endpoint
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if answers(port, community, host=host):
            return
        time.sleep(0.1)
    raise RuntimeError(f"agent did not answer on {host}:{port} in {STARTUP_TIMEOUT:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def snmpsim_binary() -> Path | None:
    path = Path(sys.executable).parent / "snmpsim-command-responder"
    return path if path.exists() else None


@contextlib.contextmanager
def snmpsim(data_dir: Path = RECORDINGS) -> Iterator[int]:
    """snmpsim serving every ``*.snmprec`` of ``data_dir``, community = file name; yields the
    port."""
    binary = snmpsim_binary()
    if binary is None:
        raise FileNotFoundError("snmpsim-command-responder is not installed beside this Python")
    probe_community = next(p.stem for p in sorted(data_dir.glob("*.snmprec")))
    with tempfile.TemporaryDirectory(prefix="noc-snmpsim-") as tmp:
        port = free_udp_ports(1)[0]
        log = Path(tmp) / "snmpsim.log"
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(binary),
                    f"--data-dir={data_dir}",
                    f"--cache-dir={Path(tmp) / 'cache'}",
                    f"--agent-udpv4-endpoint=127.0.0.1:{port}",
                    "--logging-method=null",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_until_answering(proc, ("127.0.0.1", port), probe_community, log)
            yield port
        finally:
            _stop(proc)


def snmpd_binary() -> Path | None:
    found = shutil.which("snmpd")
    if found:
        return Path(found)
    sbin = Path("/usr/sbin/snmpd")  # not on a non-root PATH
    return sbin if sbin.exists() else None


@dataclass(frozen=True)
class V3User:
    name: str
    auth: str = ""
    """net-snmp's protocol name (``SHA``, ``MD5``, ``SHA-256``) or empty for noAuthNoPriv."""
    auth_key: str = ""
    priv: str = ""
    """``AES``, ``DES``, ``AES-256`` ... or empty for authNoPriv."""
    priv_key: str = ""

    def conf_lines(self) -> list[str]:
        create = f"createUser {self.name}"
        if self.auth:
            create += f' {self.auth} "{self.auth_key}"'
        if self.priv:
            create += f' {self.priv} "{self.priv_key}"'
        level = "priv" if self.priv else "auth" if self.auth else "noauth"
        return [create, f"rouser {self.name} {level}"]


@dataclass(frozen=True)
class Snmpd:
    endpoints: tuple[tuple[str, int], ...]
    community: str
    log: Path
    pid: int

    @property
    def port(self) -> int:
        return self.endpoints[0][1]


def _listen(address: str, port: int) -> str:
    return f"udp6:[{address}]:{port}" if ":" in address else f"udp:{address}:{port}"


@contextlib.contextmanager
def snmpd(
    *,
    ports: int | Sequence[int] = 1,
    addresses: Sequence[str] = ("127.0.0.1",),
    community: str = "public",
    source: str = "127.0.0.1",
    users: Sequence[V3User] = (),
) -> Iterator[Snmpd]:
    """net-snmp's snmpd, read-only, listening on every loopback ``addresses`` x ``ports``
    (free UDP ports when ``ports`` is a count; given ones to restart the same agent). It
    answers ``community`` from ``source`` only."""
    binary = snmpd_binary()
    if binary is None:
        raise FileNotFoundError("snmpd (net-snmp) is not installed")
    with tempfile.TemporaryDirectory(prefix="noc-snmpd-") as tmp:
        chosen = tuple(free_udp_ports(ports) if isinstance(ports, int) else ports)
        endpoints = tuple((address, port) for port in chosen for address in addresses)
        conf = Path(tmp) / "snmpd.conf"
        lines = [
            "agentAddress " + ",".join(_listen(a, p) for a, p in endpoints),
            f"rocommunity {community} {source}",
            "dontLogTCPWrappersConnects yes",
        ]
        if any(":" in a for a in addresses):
            lines.append(f"rocommunity6 {community} ::1")
        for user in users:
            lines += user.conf_lines()
        conf.write_text("\n".join(lines) + "\n")
        log = Path(tmp) / "snmpd.log"
        env = {**os.environ, "SNMP_PERSISTENT_DIR": f"{tmp}/persist", "MIBS": ""}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(binary), "-f", "-Lo", "-I", "-smux", "-C", "-c", str(conf), "-M", tmp],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_until_answering(proc, endpoints[0], community, log)
            yield Snmpd(endpoints, community, log, proc.pid)
        finally:
            _stop(proc)


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A bound UDP port that reads nothing and answers nothing: a host that swallows SNMP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]
