"""ICMP echo probe: round-trip time, loss and jitter, for one target or a sweep of thousands.

One ``IcmpPinger`` serves every caller of a process. It opens at most one socket per address
family, whatever the number of targets, and runs no task per host:

- each ``ping_many`` call becomes a *sweep*: flat arrays of send times and RTTs indexed by
  ``round * targets + target``, and a block of consecutive serial numbers, one per request;
- one sender callback sends the due requests of every sweep in small batches, round-robin
  between sweeps (a one-host ping is not stuck behind a sweep of thousands), within a
  packets-per-second budget, and reads the socket between batches so replies that arrive while
  we are still sending do not overflow it;
- one reader callback per socket (``loop.add_reader``) maps a reply's serial to its sweep by
  bisecting the sweeps' serial blocks, then checks the source address; the ident and a random
  token have been checked already, which a raw socket needs because it sees every reply that
  reaches the host;
- a sweep ends when every request has its reply, or ``timeout`` after its last request was
  sent, or at its hard deadline, whichever comes first. A reply slower than ``timeout`` counts
  as lost even if it arrives before the sweep ends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import secrets
import socket
import struct
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Final

from noc.probes.icmp_packet import HEADER_SIZE, MIN_PAYLOAD
from noc.probes.icmp_socket import (
    SO_TIMESTAMPNS,
    IcmpCapability,
    IcmpMethod,
    IcmpSocket,
    IcmpUnavailableError,
    icmp_capability,
    open_best_socket,
)
from noc.probes.result import ProbeResult, ProbeStatus

__all__ = [
    "DEFAULT_PPS",
    "IcmpCapability",
    "IcmpMethod",
    "IcmpPinger",
    "IcmpUnavailableError",
    "icmp_capability",
]

DEFAULT_PPS: Final = 5_000.0
"""Requests per second for one pinger, all targets together: gentle on real networks and
firewalls that police ICMP, yet a 5,000-host sweep goes out in one second."""
_BATCH: Final = 128
"""Requests sent per sender turn before the event loop gets control back."""
_BURST_SECONDS: Final = 0.01
"""How much rate budget may accumulate while idle (capped at one batch)."""
_ASSUMED_PPS: Final = 5_000.0
"""What the hard deadline assumes of an unlimited pinger: this host's Python sends faster."""
_MIN_SLEEP: Final = 0.001
_DRAIN_MAX: Final = 1024
"""Replies read per reader turn; the socket stays readable, so the loop comes back for more."""
_IP_HEADER_MAX: Final = 60
_ANC_BYTES: Final = socket.CMSG_SPACE(16)
_TIMESPEC: Final = struct.Struct("qq")
_V4_MAPPED: Final = bytes(10) + b"\xff\xff"

_ReplySink = Callable[[int, str, float], None]
_SockAddr = tuple[str, int] | tuple[str, int, int, int]
_Target = tuple[str, _SockAddr, "_Channel"]
"""Canonical address, where to send, and the socket to send on."""


class _Channel:
    """One open socket: sends requests, reads and dispatches replies."""

    __slots__ = ("codec", "method", "sock", "_recv_bytes", "_sink")

    def __init__(self, opened: IcmpSocket, sink: _ReplySink) -> None:
        self.sock = opened.sock
        self.codec = opened.codec
        self.method = opened.method
        self._sink = sink
        # room for our own replies only: recvmsg allocates this much per call, and anything
        # longer is not ours (a truncated read still starts with the headers parse needs)
        self._recv_bytes = _IP_HEADER_MAX + HEADER_SIZE + opened.codec.payload_size

    def drain(self) -> None:
        """Read every queued reply and hand ours to the sink.

        The reply time is the kernel's receive timestamp (CLOCK_REALTIME, mapped onto the
        monotonic clock), so a reply that waited while the loop was busy still gets its true
        RTT; without one, the time we read it.
        """
        recvmsg, parse, sink, size = (
            self.sock.recvmsg,
            self.codec.parse,
            self._sink,
            self._recv_bytes,
        )
        wall_minus_mono = time.time() - time.monotonic()
        for _ in range(_DRAIN_MAX):
            try:
                data, ancillary, _flags, source = recvmsg(size, _ANC_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # a queued socket error is reported once; the next read goes on
                continue
            serial = parse(data)
            if serial is None:
                continue
            now = time.monotonic()
            received = now
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                    received = min(now, seconds + nanoseconds * 1e-9 - wall_minus_mono)
            sink(serial, source[0], received)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _Sweep:
    """The bookkeeping of one ``ping_many`` call: arrays, no object per request."""

    __slots__ = (
        "addresses",
        "base",
        "channels",
        "count",
        "done",
        "errors",
        "finished",
        "interval",
        "n",
        "next_due",
        "pending",
        "round",
        "rtt",
        "sent_at",
        "size",
        "sockaddrs",
        "stalled",
        "start",
        "timeout",
        "timers",
        "_cursor",
        "_on_finish",
    )

    def __init__(
        self,
        targets: list[_Target],
        *,
        count: int,
        interval: float,
        timeout: float,
        base: int,
        start: float,
        loop: asyncio.AbstractEventLoop,
        on_finish: Callable[[_Sweep], None],
    ) -> None:
        self.addresses = [address for address, _, _ in targets]
        self.sockaddrs = [sockaddr for _, sockaddr, _ in targets]
        self.channels = [channel for _, _, channel in targets]
        self.n = len(targets)
        self.count, self.interval, self.timeout = count, interval, timeout
        self.size = self.n * count
        self.base = base
        self.sent_at = array("d", bytes(8 * self.size))
        """Monotonic send time per request; 0.0 while unsent."""
        self.rtt = array("d", [-1.0]) * self.size
        """Seconds per request; -1.0 while unanswered."""
        self.errors: dict[int, str] = {}
        self.start = start
        self.round = 0
        self._cursor = 0
        self.next_due = start
        self.pending = 0
        self.stalled = False
        self.finished = False
        self.done: asyncio.Future[None] = loop.create_future()
        self.timers: list[asyncio.TimerHandle] = []
        self._on_finish = on_finish

    @property
    def sending(self) -> bool:
        return not self.finished and self.round < self.count

    def send(self, budget: int) -> int:
        """Send up to ``budget`` requests of the current round; returns how many were tried."""
        self.stalled = False
        n, first = self.n, self._cursor
        offset = self.round * n
        end = min(n, first + budget)
        serial0 = self.base + offset
        channels, sockaddrs, sent_at = self.channels, self.sockaddrs, self.sent_at
        monotonic = time.monotonic
        i = first
        while i < end:
            channel = channels[i]
            packet = channel.codec.build(serial0 + i)
            sent = monotonic()  # before: on loopback the reply is queued before sendto returns
            try:
                channel.sock.sendto(packet, sockaddrs[i])
            except (BlockingIOError, InterruptedError):
                self.stalled = True  # our send buffer is full: this one goes next turn
                break
            except OSError as exc:  # no route, interface down...: this target, not the sweep
                self.errors[i] = exc.strerror or str(exc)
            else:
                sent_at[offset + i] = sent
                self.pending += 1
            i += 1
        self._cursor = i
        if i == n:
            self.round += 1
            self._cursor = 0
            self.next_due = self.start + self.round * self.interval
        return i - first

    def record(self, serial: int, source: str, received: float) -> None:
        slot = serial - self.base
        if slot >= self.size or self.rtt[slot] >= 0.0 or source != self.addresses[slot % self.n]:
            return
        sent = self.sent_at[slot]
        if sent == 0.0 or received - sent > self.timeout:
            return
        self.rtt[slot] = max(received - sent, 0.0)
        self.pending -= 1
        if self.pending == 0 and self.round == self.count:
            self.finish()

    def finish(self) -> None:
        """End the sweep (idempotent): results are read from the arrays as they stand."""
        if self.finished:
            return
        self.finished = True
        for timer in self.timers:
            timer.cancel()
        self._on_finish(self)
        if not self.done.done():
            self.done.set_result(None)

    def result(self, index: int, started: float, duration: float) -> ProbeResult:
        sent_at, rtt = self.sent_at, self.rtt
        sent = 0
        rtts = []
        for slot in range(index, self.size, self.n):
            if sent_at[slot] > 0.0:
                sent += 1
                if rtt[slot] >= 0.0:
                    rtts.append(rtt[slot])
        return summarize(
            rtts,
            sent=sent,
            timeout=self.timeout,
            send_error=self.errors.get(index, ""),
            started=started,
            duration=duration,
        )


def summarize(
    rtts: Sequence[float],
    *,
    sent: int,
    timeout: float,
    send_error: str = "",
    started: float = 0.0,
    duration: float = 0.0,
) -> ProbeResult:
    """A target's result from the RTTs (seconds, in send order) of the replies it gave.

    Jitter is the mean absolute difference between consecutive RTTs (the RFC 3550 idea without
    its smoothing): what a voice or video user feels, unlike the spread of ``rtt_min/max``.
    """
    received = len(rtts)
    if sent == 0 and send_error:  # no route, interface down: as unreachable as a silent host
        values = {"sent": 0, "received": 0, "loss_pct": 100.0}
        error = f"echo request not sent: {send_error}"
        return ProbeResult(
            ProbeStatus.FAILED, values, error=error, started=started, duration=duration
        )
    if sent == 0:
        error = "echo request not sent before the deadline (too many targets for the rate limit)"
        return ProbeResult(
            ProbeStatus.ERROR,
            {"sent": 0, "received": 0},
            error=error,
            started=started,
            duration=duration,
        )
    loss_pct = 100.0 * (sent - received) / sent
    if received == 0:
        error = f"no echo reply: {sent} of {sent} requests lost (timeout {timeout:g} s)"
        if send_error:
            error += f"; send error: {send_error}"
        values = {"sent": sent, "received": 0, "loss_pct": loss_pct}
        return ProbeResult(
            ProbeStatus.FAILED, values, error=error, started=started, duration=duration
        )
    mean = sum(rtts) / received
    jitter = (
        sum(abs(b - a) for a, b in zip(rtts, rtts[1:], strict=False)) / (received - 1)
        if received > 1
        else 0.0
    )
    values = {
        "rtt_ms": mean * 1000.0,
        "rtt_min_ms": min(rtts) * 1000.0,
        "rtt_max_ms": max(rtts) * 1000.0,
        "jitter_ms": jitter * 1000.0,
        "loss_pct": loss_pct,
        "sent": sent,
        "received": received,
    }
    return ProbeResult(ProbeStatus.OK, values, rtt=mean, started=started, duration=duration)


def _parse_address(address: str) -> tuple[str, socket.AddressFamily, _SockAddr]:
    """Canonical text (as a reply's source will read), family and the address to send to.

    Raises ``ValueError`` for anything but an IP literal: resolving names is not a ping's job,
    and a scheduler that pings every minute should not query DNS every minute. ``inet_pton``
    rather than ``ipaddress``: ten times faster, and a sweep parses thousands.
    """
    text = address.strip()
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except OSError:
        pass
    else:
        canonical = socket.inet_ntop(socket.AF_INET, packed)
        return canonical, socket.AF_INET, (canonical, 0)
    if "%" in text:  # scoped (link-local): the sockaddr's scope field wins over the suffix
        ip = ipaddress.IPv6Address(text)
        zone = ip.scope_id or ""
        try:
            scope = int(zone) if zone.isdigit() else socket.if_nametoindex(zone)
        except OSError:
            raise ValueError(f"no such interface {zone!r} in {address!r}") from None
        bare = str(ip).partition("%")[0]  # a reply's source names its scope apart, too
        return bare, socket.AF_INET6, (bare, 0, 0, scope)
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        raise ValueError(f"not an IP address: {address!r}") from None
    if packed.startswith(_V4_MAPPED):
        canonical = socket.inet_ntop(socket.AF_INET, packed[12:])
        return canonical, socket.AF_INET, (canonical, 0)
    canonical = socket.inet_ntop(socket.AF_INET6, packed)
    return canonical, socket.AF_INET6, (canonical, 0, 0, 0)


class IcmpPinger:
    """Pings for every caller of one event loop, with one socket per address family.

    Create it inside the running loop, preferably as ``async with IcmpPinger() as pinger``.
    ``method`` forces raw or datagram sockets (default: raw when permitted); ``pps`` caps the
    requests per second of all callers together (None: as fast as the host sends).
    """

    def __init__(
        self,
        *,
        method: IcmpMethod | None = None,
        pps: float | None = DEFAULT_PPS,
        payload_size: int = 56,
    ) -> None:
        if pps is not None and not (pps > 0 and math.isfinite(pps)):
            raise ValueError(f"pps must be a positive number or None, not {pps!r}")
        if payload_size < MIN_PAYLOAD:
            raise ValueError(f"payload_size must be at least {MIN_PAYLOAD} bytes")
        self._loop = asyncio.get_running_loop()
        self._method: IcmpMethod | None = method
        self._pps = pps
        self._burst = 1.0 if pps is None else min(float(_BATCH), max(1.0, pps * _BURST_SECONDS))
        self._tokens = self._burst
        self._tokens_at = time.monotonic()
        self._payload_size = payload_size
        self._ident = secrets.randbelow(0x10000)
        self._token = secrets.token_bytes(8)
        self._next_serial = 1
        self._channels: dict[socket.AddressFamily, _Channel] = {}
        self._unavailable: dict[socket.AddressFamily, str] = {}
        self._bases: list[int] = []
        self._sweeps: list[_Sweep] = []
        """Every unfinished sweep, ordered by ``base``: where a reply's serial is looked up."""
        self._sending: list[_Sweep] = []
        self._pump_handle: asyncio.Handle | None = None
        self._pump_due = 0.0
        self._closed = False

    async def __aenter__(self) -> IcmpPinger:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End every sweep in progress (their callers get what arrived) and close the sockets."""
        self._closed = True
        for sweep in list(self._sweeps):
            sweep.finish()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        for channel in self._channels.values():
            channel.close(self._loop)
        self._channels.clear()

    @property
    def open_sockets(self) -> int:
        return len(self._channels)

    @property
    def in_flight(self) -> int:
        """Sweeps (``ping_many`` calls) not finished yet."""
        return len(self._sweeps)

    @property
    def methods(self) -> dict[str, IcmpMethod]:
        """The kind of each open socket, by family ("ipv4", "ipv6")."""
        return {
            "ipv6" if family == socket.AF_INET6 else "ipv4": channel.method
            for family, channel in self._channels.items()
        }

    async def ping(
        self,
        address: str,
        *,
        count: int = 3,
        interval: float = 0.2,
        timeout: float = 1.0,  # noqa: ASYNC109 - how long a reply may take, not this call
    ) -> ProbeResult:
        results = await self.ping_many([address], count=count, interval=interval, timeout=timeout)
        return results[address]

    async def ping_many(
        self,
        addresses: Sequence[str],
        *,
        count: int = 3,
        interval: float = 0.2,
        timeout: float = 1.0,  # noqa: ASYNC109 - how long a reply may take, not this call
    ) -> dict[str, ProbeResult]:
        """Ping every address ``count`` times, ``interval`` seconds apart; one result each.

        A reply counts if it comes within ``timeout`` of its request. The call returns when all
        replies are in, ``timeout`` after the last request, or at the latest
        ``(count - 1) * interval + 2 * requests / pps + 2 * timeout`` after it began (the 2:
        concurrent callers share the rate), even if some requests could not be sent by then.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        if not (interval >= 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be a finite number >= 0, not {interval!r}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a finite number > 0, not {timeout!r}")
        if self._closed:
            raise RuntimeError("this IcmpPinger is closed")
        started, start = time.time(), time.monotonic()
        results: dict[str, ProbeResult] = {}
        targets: list[_Target] = []
        indexes: dict[str, int] = {}
        for address in dict.fromkeys(addresses):
            try:
                canonical, family, sockaddr = _parse_address(address)
            except ValueError as exc:
                error = f"{exc} (resolve names before pinging)"
                results[address] = ProbeResult(ProbeStatus.ERROR, error=error, started=started)
                continue
            channel = self._channel(family)
            if isinstance(channel, str):
                results[address] = ProbeResult(ProbeStatus.ERROR, error=channel, started=started)
                continue
            indexes[address] = len(targets)
            targets.append((canonical, sockaddr, channel))
        if targets:
            sweep = self._start_sweep(targets, count, interval, timeout, start)
            rate = self._pps or _ASSUMED_PPS
            hard_deadline = (count - 1) * interval + 2 * sweep.size / rate + 2 * timeout
            try:
                async with asyncio.timeout(hard_deadline):
                    await sweep.done
            except TimeoutError:
                pass
            finally:
                sweep.finish()
            duration = time.monotonic() - start
            for address, index in indexes.items():
                results[address] = sweep.result(index, started, duration)
        return {address: results[address] for address in dict.fromkeys(addresses)}

    def _channel(self, family: socket.AddressFamily) -> _Channel | str:
        """The family's socket, opened on first use; or why it cannot be."""
        channel = self._channels.get(family)
        if channel is not None:
            return channel
        if family in self._unavailable:
            return self._unavailable[family]
        try:
            opened = open_best_socket(
                family,
                self._method,
                ident=self._ident,
                token=self._token,
                payload_size=self._payload_size,
            )
        except IcmpUnavailableError as exc:
            self._unavailable[family] = str(exc)
            return str(exc)
        channel = _Channel(opened, self._on_reply)
        self._loop.add_reader(opened.sock.fileno(), channel.drain)
        self._channels[family] = channel
        return channel

    def _start_sweep(
        self,
        targets: list[_Target],
        count: int,
        interval: float,
        timeout: float,
        start: float,
    ) -> _Sweep:
        sweep = _Sweep(
            targets,
            count=count,
            interval=interval,
            timeout=timeout,
            base=self._next_serial,
            start=start,
            loop=self._loop,
            on_finish=self._forget,
        )
        self._next_serial += sweep.size
        self._bases.append(sweep.base)  # serials only grow, so the list stays sorted
        self._sweeps.append(sweep)
        self._sending.append(sweep)
        self._wake_sender(0.0)
        return sweep

    def _forget(self, sweep: _Sweep) -> None:
        index = bisect_left(self._bases, sweep.base)
        if index < len(self._sweeps) and self._sweeps[index] is sweep:
            del self._bases[index]
            del self._sweeps[index]

    def _on_reply(self, serial: int, source: str, received: float) -> None:
        index = bisect_right(self._bases, serial) - 1
        if index >= 0:
            self._sweeps[index].record(serial, source, received)

    def _wake_sender(self, delay: float) -> None:
        """Run the sender after ``delay`` seconds, unless it is already due sooner."""
        due = time.monotonic() + delay
        if self._pump_handle is not None:
            if self._pump_due <= due:
                return
            self._pump_handle.cancel()
        self._pump_due = due
        if delay <= 0.0:
            self._pump_handle = self._loop.call_soon(self._pump)
        else:
            self._pump_handle = self._loop.call_later(delay, self._pump)

    def _budget(self, now: float) -> int:
        if self._pps is None:
            return _BATCH
        self._tokens = min(self._burst, self._tokens + (now - self._tokens_at) * self._pps)
        self._tokens_at = now
        return int(self._tokens)

    def _pump(self) -> None:
        """One sender turn: a batch of due requests, round-robin over the sweeps."""
        self._pump_handle = None
        now = time.monotonic()
        budget = self._budget(now)
        used = 0
        stalled = False
        ready = [sweep for sweep in self._sending if sweep.next_due <= now]
        served: dict[_Sweep, None] = {}
        while ready and used < budget and not stalled:
            share = max(1, (budget - used) // len(ready))
            still_ready = []
            for sweep in ready:
                used += sweep.send(min(share, budget - used))
                served[sweep] = None
                stalled = stalled or sweep.stalled
                if sweep.sending and sweep.next_due <= now:
                    still_ready.append(sweep)
                elif sweep.round == sweep.count:
                    self._sent_all(sweep)
                if used >= budget:
                    break
            ready = still_ready
        if self._pps is not None:
            self._tokens -= used
        if used:
            for channel in self._channels.values():
                channel.drain()
        # the sweeps served this turn go to the back of the queue: with more sweeps due than
        # the batch holds, the next turn starts with those that got nothing
        waiting = [sweep for sweep in self._sending if sweep.sending and sweep not in served]
        self._sending = waiting + [sweep for sweep in served if sweep.sending]
        if not self._sending:
            return
        delay = max(0.0, min(sweep.next_due for sweep in self._sending) - now)
        if stalled:
            delay = max(delay, _MIN_SLEEP)
        if self._pps is not None and self._tokens < 1.0:
            wanted = max(1.0, self._burst / 2)
            delay = max(delay, _MIN_SLEEP, (wanted - self._tokens) / self._pps)
        self._wake_sender(delay)

    def _sent_all(self, sweep: _Sweep) -> None:
        """The sweep's last request is out: wait ``timeout`` for the stragglers, no more."""
        if sweep.pending == 0:
            sweep.finish()
        else:
            sweep.timers.append(self._loop.call_later(sweep.timeout, sweep.finish))
