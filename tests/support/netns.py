"""A host in a network namespace the test creates: a real IP stack that can go silent.

Why a namespace: every 127/8 address in the test's own namespace is answered by its kernel (ping
replies, TCP resets), so "a host that answers nothing" needs a second stack. Why these addresses:
traffic may only go to 127.0.0.0/8, ::1 or hosts in namespaces the test creates, and private or
documentation ranges are out even inside such a namespace. So each host is a /30 carved from
``127.200.0.0/16`` on a veth pair, the root side ``.1`` and the namespace side ``.2``.

What makes that work on Linux (measured on this kernel, 6.18):

- ``ip addr add 127.200.0.1/30 dev veth`` is accepted, but routing to it fails with EINVAL and
  arriving packets are martians until ``net.ipv4.conf.<veth>.route_localnet=1``; this helper sets
  it on its own two veth ends only (and on ``all`` inside its own namespace), never globally.
- The /30 beats ``local 127.0.0.0/8 dev lo`` only because the kernel merges the local and main
  tables while there are no custom ``ip rule`` entries; ``NetnsHost`` checks ``ip route get``
  and refuses to start otherwise.
- IPv6 has no equivalent: ``::1`` cannot be put on a veth ("Cannot assign loopback address on
  this device") and there is no ``route_localnet`` for v6, so namespace hosts are IPv4 only, and
  IPv6 is switched off on both veth ends so they do not even send link-local router
  solicitations.
- ``silence()`` adds ``blackhole <root side>/32`` inside the namespace: the host still receives
  everything and answers nothing (no echo reply, no SYN-ACK, no reset), which is the "down, not
  refusing" case ``tc netem loss 100%`` would give on a kernel that had netem.

Needs root and iproute2; ``unavailable()`` gives the reason to skip when either is missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

POOL = ipaddress.IPv4Network("127.200.0.0/16")
"""Where host addresses come from: one /30 per host."""
_LOCK = Path("/run/lock/noc-netns.lock")
_NS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_T = TypeVar("_T")


class NetnsError(RuntimeError):
    pass


def unavailable() -> str | None:
    """Why namespace hosts cannot be made here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    return None


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    """Serialises address choice across test processes running side by side."""
    _LOCK.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Deletes namespaces (and so their veths) left by test processes that died uncleanly."""
    if not _NS_DIR.is_dir():
        return
    for entry in _NS_DIR.iterdir():
        parts = entry.name.split("-")
        if len(parts) == 3 and parts[0] == "noct" and parts[1].isdigit():
            if not _pid_alive(int(parts[1])):
                with contextlib.suppress(NetnsError):
                    _ip("netns", "del", entry.name)


def _free_block() -> ipaddress.IPv4Network:
    used = set()
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        if "inet" in fields:
            iface = ipaddress.IPv4Interface(fields[fields.index("inet") + 1])
            if iface.ip in POOL:
                used.add(ipaddress.IPv4Network(f"{iface.ip}/30", strict=False))
    for block in POOL.subnets(new_prefix=30):
        if block not in used:
            return block
    raise NetnsError(f"no free /30 left in {POOL}")


def _in_namespace(path: Path, work: Callable[[], _T]) -> _T:
    """Runs ``work`` on a throwaway thread moved into the namespace at ``path``.

    A socket keeps the namespace it was created in, so one made here can be handed to asyncio
    in the test's own thread and serve from inside the namespace.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {path}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _write_sysctl(key: str, value: str) -> None:
    Path("/proc/sys", *key.split(".")).write_text(value)


class NetnsHost:
    """A namespace with one veth to the test's namespace: ``address`` is the host's IP.

    Use as a context manager (it deletes the namespace, which takes the veth pair with it)::

        with NetnsHost() as host:
            sock = host.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host.address, 0)); sock.listen()
            server = await asyncio.start_server(handler, sock=sock)
            ...
            host.silence()      # now it swallows everything
    """

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(self) -> None:
        with NetnsHost._counter_lock:
            NetnsHost._counter += 1
            serial = NetnsHost._counter
        pid = os.getpid()
        self.name = f"noct-{pid}-{serial}"
        self.outer_if = f"nv{pid}a{serial}"[-15:]
        self.inner_if = f"nv{pid}b{serial}"[-15:]
        self.address = ""
        """The host's address, inside the namespace."""
        self.gateway = ""
        """The test side of the veth: where the host's replies go."""
        self.silent = False
        self._created = False

    @property
    def path(self) -> Path:
        return _NS_DIR / self.name

    def __enter__(self) -> Self:
        reason = unavailable()
        if reason:
            raise NetnsError(reason)
        sweep_stale()
        try:
            with _allocation_lock():
                block = _free_block()
                self.gateway, self.address = (str(block[1]), str(block[2]))
                self._create(block.prefixlen)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _create(self, prefix: int) -> None:
        _ip("netns", "add", self.name)
        self._created = True
        _ip("link", "add", self.outer_if, "type", "veth",
            "peer", "name", self.inner_if, "netns", self.name)  # fmt: skip
        _write_sysctl(f"net.ipv6.conf.{self.outer_if}.disable_ipv6", "1")
        _write_sysctl(f"net.ipv4.conf.{self.outer_if}.route_localnet", "1")
        _ip("addr", "add", f"{self.gateway}/{prefix}", "dev", self.outer_if)
        _ip("link", "set", self.outer_if, "up")

        def inside() -> None:
            _write_sysctl(f"net.ipv6.conf.{self.inner_if}.disable_ipv6", "1")
            _write_sysctl("net.ipv4.conf.all.route_localnet", "1")
            _write_sysctl(f"net.ipv4.conf.{self.inner_if}.route_localnet", "1")

        _in_namespace(self.path, inside)
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("-n", self.name, "addr", "add", f"{self.address}/{prefix}", "dev", self.inner_if)
        _ip("-n", self.name, "link", "set", self.inner_if, "up")
        route = _ip("route", "get", self.address)
        if f"dev {self.outer_if}" not in route:
            raise NetnsError(
                f"{self.address} routes via {route.strip()!r}, not {self.outer_if}: custom ip "
                "rules keep the local table ahead of the veth's /30"
            )

    def close(self) -> None:
        if self._created:
            self._created = False
            with contextlib.suppress(NetnsError):
                _ip("netns", "del", self.name)
            with contextlib.suppress(NetnsError):  # normally gone with the namespace
                _ip("link", "del", self.outer_if)

    def silence(self) -> None:
        """From now on the host receives everything and sends nothing back."""
        if not self.silent:
            _ip("-n", self.name, "route", "add", "blackhole", f"{self.gateway}/32")
            self.silent = True

    def restore(self) -> None:
        """Undoes ``silence()``: the host answers again (a flapping device)."""
        if self.silent:
            _ip("-n", self.name, "route", "del", "blackhole", f"{self.gateway}/32")
            self.silent = False

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket that lives in the namespace, for a server the test runs in-process."""
        return _in_namespace(self.path, lambda: socket.socket(family, type))

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Starts a program inside the namespace (snmpd, sshd, nginx); the caller stops it."""
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kwargs)
