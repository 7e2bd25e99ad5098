"""A real OpenSSH sshd on a free loopback port with its own keys and config, for tests and bench.

It logs in as a dedicated account with a plain ``/bin/sh`` (``noc-probe``): root's shell start-up
here runs pyenv (~120 ms a command) and would be what gets measured. sshd logs at VERBOSE to a
file, which is how the tests see, from the server's side, every connection and every
authentication attempt (``Failed none``/``Failed password``/``Accepted publickey``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from tests.support.ports import free_port

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
TEST_USER = "noc-probe"
PRIVSEP_DIR = Path("/run/sshd")


def unavailable() -> str | None:
    """Why a real sshd cannot run here, or ``None`` (creating the test account if needed)."""
    if not SSHD.exists():
        return f"{SSHD} is not installed (apt-get install openssh-server)"
    if not Path(SSH_KEYGEN).exists():
        return "ssh-keygen is not installed"
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        if os.geteuid() != 0:
            return f"user {TEST_USER} is missing and only root can create it"
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", TEST_USER], check=True)
    if os.geteuid() != 0:
        return "sshd needs root to switch to the test user"
    _unlock(TEST_USER)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    return None


def _unlock(user: str) -> None:
    """useradd leaves the password field "!", which sshd (without PAM) reads as a locked
    account that may not log in even by key; "*" allows keys and matches no password."""
    for line in Path("/etc/shadow").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user and rest.startswith("!"):
            subprocess.run(["usermod", "-p", "*", user], check=True)


def keygen(path: Path, comment: str = "noc-test") -> str:
    """A fresh ed25519 key pair without passphrase; returns the public key line."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


class Sshd:
    """One sshd process; ``start()`` and ``stop()`` (which also ends its session processes)."""

    def __init__(self, workdir: Path, authorized_keys: Path, *, max_sessions: int = 10) -> None:
        self.dir = workdir
        self.authorized_keys = authorized_keys
        self.max_sessions = max_sessions
        self.port = 0
        self.log_path = workdir / "sshd.log"
        self.host_key = workdir / "host_ed25519"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key_line(self) -> str:
        """The server's public key as a known_hosts entry for ``[127.0.0.1]:port``."""
        algorithm, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {algorithm} {blob}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> Sshd:
        if not self.host_key.exists():
            keygen(self.host_key, "noc-test-host")
        for _ in range(3):  # another process may take the free port before sshd binds it
            self.port = free_port()
            config = self.dir / "sshd_config"
            config.write_text(self._config())
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [str(SSHD), "-f", str(config), "-D", "-e"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            if self._wait_listening():
                return self
            self.stop()
        raise RuntimeError(f"sshd did not start; its log:\n{self.log()[-2000:]}")

    def _config(self) -> str:
        return "\n".join(
            [
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.host_key}",
                f"PidFile {self.dir / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.authorized_keys}",
                "UsePAM no",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                f"AllowUsers {TEST_USER}",
                "AllowTcpForwarding yes",
                f"MaxSessions {self.max_sessions}",
                "MaxStartups 100:30:200",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                "X11Forwarding no",
                "LogLevel VERBOSE",
                "",
            ]
        )

    def _wait_listening(self, limit_s: float = 5.0) -> bool:
        assert self.proc is not None
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.settimeout(2.0)
                    return sock.recv(64).startswith(b"SSH-2.0-OpenSSH")
            except OSError:
                time.sleep(0.02)
        return False

    def sessions(self) -> list[int]:
        """Pids of the per-connection sshd processes (direct children of the listener)."""
        if self.proc is None:
            return []
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def kill_sessions(self) -> int:
        """SIGKILL every connection's sshd processes and wait until they are gone.

        Each connection has a privileged monitor and an unprivileged child that both hold the
        socket; only when all are dead is the TCP connection closed, which is the moment a
        test wants to act on ("the server vanished").
        """
        sessions = self.sessions()
        procs: list[psutil.Process] = []
        for pid in sessions:
            with contextlib.suppress(psutil.NoSuchProcess):
                top = psutil.Process(pid)
                procs += [top, *top.children(recursive=True)]
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        end = time.monotonic() + 5
        while any(_running(proc) for proc in procs) and time.monotonic() < end:
            time.sleep(0.01)
        return len(sessions)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.kill_sessions()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class SshdWorld:
    """A directory the test account can read, a client key authorised in it, and sshds."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="noc-sshd-"))
        self.dir.chmod(0o755)  # sshd reads authorized_keys as the test user
        self.client_key = self.dir / "client_ed25519"
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.write_text(keygen(self.client_key) + "\n")
        self.authorized_keys.chmod(0o644)
        self._servers: list[Sshd] = []

    def sshd(self, **options: int) -> Sshd:
        workdir = Path(tempfile.mkdtemp(prefix="sshd-", dir=self.dir))
        workdir.chmod(0o755)
        server = Sshd(workdir, self.authorized_keys, **options)
        self._servers.append(server)
        return server.start()

    def known_hosts(self, *lines: str) -> Path:
        fd, name = tempfile.mkstemp(prefix="known_hosts-", dir=self.dir)
        os.close(fd)
        path = Path(name)
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    def close(self) -> None:
        for server in self._servers:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
