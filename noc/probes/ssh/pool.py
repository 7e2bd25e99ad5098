"""Pooled SSH connections: one per account, many channels on it, reused across polls.

A fresh SSH login costs a TCP handshake, a key exchange and an authentication (tens of
milliseconds of CPU on both ends); a channel on an open connection costs one round trip. So a
connection is kept per target (host, port, user, credentials, jump) and commands run as
parallel channels on it, at most ``channels`` at a time (OpenSSH refuses more than its
``MaxSessions``, 10 by default). Connections that die are noticed (asyncssh reports the loss,
keepalives catch silent peers) and replaced on next use; one a command finds already dead is
replaced once, transparently, because no command ran on it. Idle connections are closed after
``idle_timeout``. Every ``run()`` is under one hard deadline, connecting and queueing included,
so a host that accepts TCP and never speaks stalls only its own poll.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from types import TracebackType

import asyncssh

from noc.probes.result import ProbeResult, ProbeStatus
from noc.probes.ssh import collect
from noc.probes.ssh.connect import open_connection
from noc.probes.ssh.errors import SshConnectError, SshError, SshTimeoutError
from noc.probes.ssh.hostkeys import KnownHostsCache, RecordingClient
from noc.probes.ssh.target import SshTarget

COLLECT_COMMAND = "/bin/sh -s"
"""The collector arrives on stdin, so the account's login shell (bash, zsh, even csh) only has
to start a POSIX sh, and the script's length never meets a command-line limit."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_status: int | None
    """``None`` when the command was killed by a signal or its channel was cut."""
    stdout: str
    stderr: str
    duration: float
    """Seconds from opening the channel to its close (not connecting or queueing)."""
    exit_signal: str | None = None
    truncated: bool = False
    """Output went past the pool's ``max_output``; the rest was dropped and the channel closed."""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.truncated


OPENING = "opening a channel"
_TRANSIENT_REFUSALS = frozenset(
    {
        asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
        asyncssh.OPEN_CONNECT_FAILED,  # OpenSSH's answer past MaxSessions
        asyncssh.OPEN_RESOURCE_SHORTAGE,
    }
)


class _Progress:
    """How far one ``run()`` got, so a deadline can say where it struck."""

    __slots__ = ("link", "stage")

    def __init__(self) -> None:
        self.stage = "connecting"
        self.link: _Link | None = None


class _Link:
    """One authenticated connection and what is riding on it."""

    __slots__ = ("busy", "conn", "last_used", "lost", "parent", "slots", "tunnels")

    def __init__(
        self, conn: asyncssh.SSHClientConnection, channels: int, parent: _Link | None
    ) -> None:
        self.conn = conn
        self.slots = asyncio.Semaphore(channels)
        self.busy = 0
        self.tunnels = 0
        """Connections to other targets tunnelled through this one (as their jump host)."""
        self.parent = parent
        self.last_used = time.monotonic()
        self.lost = False

    @property
    def alive(self) -> bool:
        return not self.lost and not self.conn.is_closed()

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1


class SshPool:
    """Connections shared by every SSH check of one poller; use as ``async with SshPool()``."""

    def __init__(
        self,
        *,
        channels: int = 8,
        idle_timeout: float = 300.0,
        keepalive_s: float = 30.0,
        max_output: int = 1 << 20,
        cpu_wait_s: float = 0.25,
    ) -> None:
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be > 0, got {idle_timeout}")
        self.channels = channels
        self.idle_timeout = idle_timeout
        self.keepalive_s = keepalive_s
        self.max_output = max_output
        self.cpu_wait_s = cpu_wait_s
        self.connections_opened = 0
        """Logins made so far; with reuse working it stays at one per target."""
        self._links: dict[SshTarget, _Link] = {}
        self._connecting: dict[SshTarget, asyncio.Task[_Link]] = {}
        self._known_hosts = KnownHostsCache()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> SshPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def open_connections(self) -> int:
        return sum(1 for link in self._links.values() if link.alive)

    async def poll(self, target: SshTarget, *, deadline: float | None = None) -> ProbeResult:
        """Collect load, CPU, memory, file systems, uptime, users and updates in one exchange."""
        started = time.time()
        t0 = time.monotonic()
        marker = f"@@noc-{secrets.token_hex(4)}"
        script = collect.script(marker, self.cpu_wait_s)
        try:
            result = await self.run(target, COLLECT_COMMAND, input=script, deadline=deadline)
        except SshError as exc:
            return ProbeResult(
                exc.status, error=str(exc), started=started, duration=time.monotonic() - t0
            )
        parsed = collect.parse(result.stdout, marker)
        duration = time.monotonic() - t0
        if parsed.sections == 0:
            return ProbeResult(
                ProbeStatus.ERROR,
                error=f"{target}: the collector printed nothing (exit status"
                f" {result.exit_status}); the account needs a shell that can start /bin/sh",
                rtt=result.duration,
                started=started,
                duration=duration,
            )
        return ProbeResult(
            ProbeStatus.PARTIAL if parsed.missing else ProbeStatus.OK,
            dict(parsed.values),
            rtt=result.duration,
            error=f"not reported: {', '.join(parsed.missing)}" if parsed.missing else "",
            missing=parsed.missing,
            started=started,
            duration=duration,
        )

    async def run(
        self,
        target: SshTarget,
        command: str,
        *,
        input: str | None = None,
        deadline: float | None = None,
    ) -> CommandResult:
        """Run ``command`` on a pooled connection, all of it within ``deadline`` seconds.

        A non-zero exit is a result, not an error; an ``SshError`` means the command could not
        run to its end (host key, login, network, deadline).
        """
        if self._closed:
            raise RuntimeError("SshPool is closed")
        if deadline is None:
            deadline = target.timeouts.command
        progress = _Progress()
        try:
            async with asyncio.timeout(deadline):
                return await self._run(target, command, input, progress)
        except TimeoutError:
            if progress.stage == OPENING and progress.link is not None:
                # the server never answered a channel open: the connection is as good as dead
                self._discard(target, progress.link)
            raise SshTimeoutError(
                f"{target}: no result within {deadline:g}s (timed out {progress.stage})"
            ) from None

    async def _run(
        self, target: SshTarget, command: str, input: str | None, progress: _Progress
    ) -> CommandResult:
        for attempt in (1, 2):
            progress.stage = "connecting"
            link = progress.link = await self._link(target)
            progress.stage = "waiting for a free channel"
            async with link.slots:
                link.busy += 1
                try:
                    try:
                        process = await self._open_channel(link, command, progress)
                    except (asyncssh.Error, OSError) as exc:
                        if attempt == 1 and not link.alive:
                            self._discard(target, link)
                            continue  # the connection died while idle: nothing ran, go again
                        raise SshConnectError(f"{target}: cannot open a channel: {exc}") from None
                    progress.stage = "running the command"
                    return await self._communicate(target, link, process, input)
                finally:
                    link.busy -= 1
                    link.last_used = time.monotonic()
        raise AssertionError("unreachable: the second attempt returns or raises")

    @staticmethod
    async def _open_channel(
        link: _Link, command: str, progress: _Progress
    ) -> asyncssh.SSHClientProcess[str]:
        """Open a session channel, waiting out sshd's MaxSessions refusals.

        sshd frees a session slot a moment after the client sees the previous channel close, so
        a busy connection near MaxSessions gets "open failed" now and then (and always, when the
        server's MaxSessions is below ``channels``); that is a "not yet", retried with a short
        back-off for as long as the caller's deadline allows.
        """
        delay = 0.005
        while True:
            progress.stage = OPENING
            try:
                return await link.conn.create_process(command, encoding="utf-8", errors="replace")
            except asyncssh.ChannelOpenError as exc:
                if exc.code not in _TRANSIENT_REFUSALS or not link.alive:
                    raise
            progress.stage = "waiting for the server to allow another channel"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def _communicate(
        self,
        target: SshTarget,
        link: _Link,
        process: asyncssh.SSHClientProcess[str],
        input: str | None,
    ) -> CommandResult:
        t0 = time.monotonic()
        done = False
        try:
            if input is not None:
                process.stdin.write(input)
            process.stdin.write_eof()
            (out, cut_out), (err, cut_err) = await asyncio.gather(
                _read_capped(process.stdout, self.max_output),
                _read_capped(process.stderr, self.max_output),
            )
            if cut_out or cut_err:
                process.close()
            await process.wait_closed()
            done = True
        except (asyncssh.Error, OSError) as exc:
            raise SshConnectError(f"{target}: connection failed mid-command: {exc}") from None
        finally:
            if not done:
                process.close()
        if process.exit_status is None and process.exit_signal is None and not link.alive:
            raise SshConnectError(f"{target}: connection lost mid-command")
        signal = process.exit_signal[0] if process.exit_signal else None
        return CommandResult(
            process.exit_status, out, err, time.monotonic() - t0, signal, cut_out or cut_err
        )

    async def _link(self, target: SshTarget) -> _Link:
        link = self._links.get(target)
        if link is not None:
            if link.alive:
                return link
            self._discard(target, link)
        task = self._connecting.get(target)
        if task is None:
            task = asyncio.create_task(self._open(target), name=f"ssh connect {target}")
            task.add_done_callback(_retrieve)
            self._connecting[target] = task
        # shielded: one caller's deadline must not cancel a login others are waiting for
        return await asyncio.shield(task)

    async def _open(self, target: SshTarget) -> _Link:
        try:
            parent = await self._link(target.jump) if target.jump is not None else None
            if parent is not None:
                parent.tunnels += 1
            client = RecordingClient()
            try:
                conn = await open_connection(
                    target,
                    self._known_hosts,
                    client,
                    tunnel=parent.conn if parent is not None else None,
                    keepalive_s=self.keepalive_s,
                )
            except BaseException:
                if parent is not None:
                    parent.tunnels -= 1
                raise
            link = _Link(conn, self.channels, parent)
            client.on_lost = lambda: self._lost(target, link)
            self._links[target] = link
            self.connections_opened += 1
            if self._reaper is None or self._reaper.done():
                self._reaper = asyncio.create_task(self._reap(), name="ssh idle reaper")
            return link
        finally:
            self._connecting.pop(target, None)

    def _lost(self, target: SshTarget, link: _Link) -> None:
        if link.lost:
            return
        link.lost = True
        if self._links.get(target) is link:
            del self._links[target]
        if link.parent is not None:
            link.parent.tunnels -= 1
            link.parent.last_used = time.monotonic()

    def _discard(self, target: SshTarget, link: _Link) -> None:
        self._lost(target, link)
        link.conn.abort()

    async def _reap(self) -> None:
        """Close connections idle for ``idle_timeout``; a jump host only once nothing uses it."""
        while self._links:
            await asyncio.sleep(max(self.idle_timeout / 4, 0.05))
            now = time.monotonic()
            for target, link in list(self._links.items()):
                if link.busy or link.tunnels or now - link.last_used < self.idle_timeout:
                    continue
                self._lost(target, link)
                link.conn.close()

    async def close(self) -> None:
        """Close every connection, tunnelled ones before their jump hosts."""
        self._closed = True
        tasks = [*self._connecting.values(), *([self._reaper] if self._reaper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        links = sorted(self._links.items(), key=lambda item: -item[1].depth)
        for target, link in links:
            self._lost(target, link)
            link.conn.close()
        waits = [asyncio.ensure_future(link.conn.wait_closed()) for _, link in links]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=2)
            for waiter in pending:
                waiter.cancel()


async def _read_capped(stream: asyncssh.SSHReader[str], limit: int) -> tuple[str, bool]:
    """All of a stream up to ``limit`` characters, and whether there was more."""
    parts: list[str] = []
    size = 0
    while chunk := await stream.read(65536):
        if size + len(chunk) > limit:
            parts.append(chunk[: limit - size])
            return "".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return "".join(parts), False


def _retrieve(task: asyncio.Task[_Link]) -> None:
    """Mark a login's failure as seen when every caller gave up waiting for it."""
    if not task.cancelled():
        task.exception()
