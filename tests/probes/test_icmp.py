"""The ICMP probe against real peers: the loopback addresses Linux answers (all of 127/8 and ::1)
and hosts in network namespaces these tests create (link-local IPv6 on a veth pair, so not one
packet can leave the machine).

Run as a script (``--respond DELAY``) this module is also the delayed echo responder that the
late-reply tests start inside a namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from noc.probes.icmp import IcmpMethod, IcmpPinger, icmp_capability, summarize
from noc.probes.icmp_packet import (
    ECHO_REPLY_V4,
    ECHO_REPLY_V6,
    ECHO_REQUEST_V6,
    EchoCodec,
    checksum,
)
from noc.probes.result import ProbeStatus

REPO = Path(__file__).resolve().parents[2]
PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")
WIDE_GROUP_RANGE = "0 2147483647"
TOKEN = bytes(range(8))
_names = itertools.count()


# --- wire format -----------------------------------------------------------------------------


def reference_checksum(data: bytes) -> int:
    """RFC 1071 word by word, the slow obvious way, to check the fast one against."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_checksum_matches_the_rfc_1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


@pytest.mark.parametrize("size", [0, 1, 2, 3, 8, 63, 64, 1500])
def test_checksum_matches_the_word_by_word_sum(size: int) -> None:
    rng = random.Random(size)
    for _ in range(50):
        data = rng.randbytes(size)
        assert checksum(data) == reference_checksum(data)
    assert checksum(b"\xff" * size) == reference_checksum(b"\xff" * size)
    assert checksum(bytes(size)) == 0xFFFF


def v4_raw_codec(ident: int = 0x1234, payload_size: int = 56) -> EchoCodec:
    return EchoCodec(socket.AF_INET, ident, TOKEN, payload_size, ip_header=True, fill_checksum=True)


@pytest.mark.parametrize(
    "serial", [0, 1, 0xFFFE, 0xFFFF, 0x10000, 0xFFFF_FFFF, 2**63, 2**64 - 1, 0x1234_5678_9ABC]
)
def test_requests_carry_a_valid_checksum(serial: int) -> None:
    for payload_size in (16, 17, 56, 1000):
        packet = v4_raw_codec(payload_size=payload_size).build(serial)
        assert len(packet) == 8 + payload_size
        assert checksum(packet) == 0, "a packet that includes its checksum sums to zero"
        unchecked = packet[:2] + b"\0\0" + packet[4:]
        assert struct.unpack_from("!H", packet, 2)[0] == reference_checksum(unchecked)


def test_kernel_checksummed_requests_leave_the_field_zero() -> None:
    codec = EchoCodec(socket.AF_INET6, 7, TOKEN)
    packet = codec.build(99)
    assert packet[0] == ECHO_REQUEST_V6 and packet[2:4] == b"\0\0"


def as_reply(request: bytes, reply_type: int = ECHO_REPLY_V4) -> bytes:
    """What a host sends back: the request with the type changed and a new checksum."""
    body = bytes([reply_type, 0, 0, 0]) + request[4:]
    return body[:2] + checksum(body).to_bytes(2, "big") + body[4:]


def ipv4_header(options: bytes = b"") -> bytes:
    words = 5 + len(options) // 4
    return bytes([0x40 | words]) + bytes(19) + options


def test_parse_finds_the_serial_after_an_ipv4_header_with_options() -> None:
    codec = v4_raw_codec()
    reply = as_reply(codec.build(0xABCDEF0123))
    assert codec.parse(ipv4_header() + reply) == 0xABCDEF0123
    assert codec.parse(ipv4_header(b"\x01" * 8) + reply) == 0xABCDEF0123


def test_parse_reads_bare_icmpv6_replies() -> None:
    codec = EchoCodec(socket.AF_INET6, 42, TOKEN)
    assert codec.parse(as_reply(codec.build(5), ECHO_REPLY_V6)) == 5
    assert codec.parse(codec.build(5)) is None, "a request is not a reply"


def tampered(packet: bytes, offset: int, value: int) -> bytes:
    return packet[:offset] + bytes([value]) + packet[offset + 1 :]


def test_parse_rejects_everything_that_is_not_our_reply() -> None:
    codec = v4_raw_codec()
    header = ipv4_header()
    reply = as_reply(codec.build(77))
    others = {
        "request": codec.build(77),
        "unreachable": tampered(reply, 0, 3),
        "nonzero code": tampered(reply, 1, 1),
        "other ident": tampered(reply, 4, 0x99),
        "wrong sequence": tampered(reply, 7, 0x00),
        "other token": tampered(reply, 8, 0xFF),
        "truncated": reply[:20],
    }
    assert codec.parse(header + reply) == 77
    for name, packet in others.items():
        assert codec.parse(header + packet) is None, name
    assert codec.parse(b"") is None
    assert codec.parse(b"\x4f") is None, "a header length beyond the data"
    assert EchoCodec(socket.AF_INET, 0x1234, bytes(8)).parse(reply) is None, "other pinger"


def test_codec_refuses_impossible_settings() -> None:
    with pytest.raises(ValueError, match="token"):
        EchoCodec(socket.AF_INET, 1, b"short")
    with pytest.raises(ValueError, match="payload_size"):
        EchoCodec(socket.AF_INET, 1, TOKEN, payload_size=15)
    with pytest.raises(ValueError, match="ident"):
        EchoCodec(socket.AF_INET, 0x10000, TOKEN)


# --- statistics ------------------------------------------------------------------------------


def test_summarize_reports_rtt_jitter_and_loss_in_milliseconds() -> None:
    result = summarize([0.010, 0.014, 0.012], sent=4, timeout=1.0)
    assert result.status is ProbeStatus.OK and result.ok
    values = result.values
    assert (values["sent"], values["received"], values["loss_pct"]) == (4, 3, 25.0)
    assert values["rtt_ms"] == pytest.approx(12.0)
    assert values["rtt_min_ms"] == pytest.approx(10.0)
    assert values["rtt_max_ms"] == pytest.approx(14.0)
    assert values["jitter_ms"] == pytest.approx(3.0)  # |14-10| and |12-14|, averaged
    assert result.rtt == pytest.approx(0.012)
    assert set(result.numbers()) == set(values)


def test_summarize_all_lost_is_a_failure_with_a_reason() -> None:
    result = summarize([], sent=3, timeout=0.5)
    assert result.status is ProbeStatus.FAILED
    assert result.values == {"sent": 3, "received": 0, "loss_pct": 100.0}
    assert result.error == "no echo reply: 3 of 3 requests lost (timeout 0.5 s)"


def test_summarize_nothing_sent_says_why() -> None:
    refused = summarize([], sent=0, timeout=1.0, send_error="Network is unreachable")
    assert refused.status is ProbeStatus.FAILED
    assert refused.values == {"sent": 0, "received": 0, "loss_pct": 100.0}
    assert refused.error == "echo request not sent: Network is unreachable"
    starved = summarize([], sent=0, timeout=1.0)
    assert starved.status is ProbeStatus.ERROR and "deadline" in starved.error


def test_the_probe_does_not_import_textual() -> None:
    code = "import sys, noc.probes.icmp; print(sorted(m for m in sys.modules if 'textual' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert done.stdout.strip() == "[]"


# --- real sockets: fixtures --------------------------------------------------------------------


def socket_count() -> int:
    """Sockets this process holds open, as the kernel sees them."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def can_open(method: IcmpMethod) -> bool:
    kind = socket.SOCK_RAW if method == "raw" else socket.SOCK_DGRAM
    try:
        socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def ping_group_range(value: str) -> Iterator[None]:
    """Set net.ipv4.ping_group_range for the block and put the old value back; skip if we may
    not (it needs root)."""
    try:
        old = PING_GROUP_RANGE.read_text().split()
        PING_GROUP_RANGE.write_text(value)
    except OSError as exc:
        pytest.skip(f"cannot set net.ipv4.ping_group_range: {exc}")
    try:
        yield
    finally:
        PING_GROUP_RANGE.write_text(" ".join(old))


@contextlib.contextmanager
def method_available(method: IcmpMethod) -> Iterator[None]:
    """Make ``method`` usable for the block: raw needs CAP_NET_RAW; datagram sockets need the
    group range, which is widened for the block when it does not admit us."""
    if can_open(method):
        yield
    elif method == "raw":
        pytest.skip("raw ICMP sockets need CAP_NET_RAW (run as root)")
    else:
        with ping_group_range(WIDE_GROUP_RANGE):
            yield


@pytest.fixture(params=["raw", "dgram"])
def method(request: pytest.FixtureRequest) -> Iterator[IcmpMethod]:
    chosen: IcmpMethod = request.param
    with method_available(chosen):
        yield chosen


@pytest.fixture
async def pinger(method: IcmpMethod) -> AsyncIterator[IcmpPinger]:
    async with IcmpPinger(method=method) as opened:
        yield opened


def loopback_hosts(count: int) -> list[str]:
    """Addresses spread over 127/8 (every one of them answers on Linux)."""
    return [f"127.{1 + i // 2500}.{i // 250 % 10}.{1 + i % 250}" for i in range(count)]


# --- real sockets: loopback --------------------------------------------------------------------


async def test_ping_localhost(pinger: IcmpPinger, method: IcmpMethod) -> None:
    result = await pinger.ping("127.0.0.1", count=3, interval=0.05, timeout=1.0)
    assert result.status is ProbeStatus.OK, result.error
    values = result.values
    assert (values["sent"], values["received"], values["loss_pct"]) == (3, 3, 0.0)
    assert 0 < values["rtt_min_ms"] <= values["rtt_ms"] <= values["rtt_max_ms"] < 1000
    assert values["jitter_ms"] >= 0
    assert pinger.methods == {"ipv4": method}
    assert pinger.in_flight == 0


async def test_sweep_of_hundreds_uses_one_socket(method: IcmpMethod) -> None:
    hosts = loopback_hosts(600)
    before = socket_count()
    async with IcmpPinger(method=method, pps=None) as pinger:
        results = await pinger.ping_many(hosts, count=2, interval=0.05, timeout=2.0)
        assert socket_count() - before == 1
        assert pinger.open_sockets == 1
    assert socket_count() == before, "closing the pinger closes its socket"
    assert list(results) == hosts
    failed = {host: r.error for host, r in results.items() if r.status is not ProbeStatus.OK}
    assert not failed
    assert all(r.values["received"] == 2 for r in results.values())


async def test_ping_ipv6_loopback(pinger: IcmpPinger, method: IcmpMethod) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this host")
    results = await pinger.ping_many(["::1", "127.0.0.1", "0:0::1"], count=2, interval=0.05)
    assert all(r.status is ProbeStatus.OK for r in results.values()), results
    assert results["0:0::1"].values["received"] == 2
    assert pinger.methods == {"ipv4": method, "ipv6": method}


async def test_concurrent_callers_share_one_pinger(pinger: IcmpPinger) -> None:
    hosts = loopback_hosts(120)
    calls = [
        pinger.ping("127.0.0.1", count=3, interval=0.02),
        pinger.ping("127.0.0.1", count=5, interval=0.02),
        pinger.ping_many(hosts, count=2, interval=0.02),
        pinger.ping_many(hosts[60:] + ["127.0.0.1"], count=4, interval=0.02),
        pinger.ping("127.9.9.9", count=1),
    ]
    first, second, sweep, overlap, single = await asyncio.gather(*calls)
    # each caller sees exactly its own replies, though they share addresses and the socket
    assert first.values["received"] == 3 and second.values["received"] == 5
    assert {r.values["received"] for r in sweep.values()} == {2}
    assert {r.values["received"] for r in overlap.values()} == {4}
    assert single.ok
    assert pinger.open_sockets == 1 and pinger.in_flight == 0


async def test_a_big_sweep_does_not_hold_up_a_single_ping(method: IcmpMethod) -> None:
    """The sender takes turns between callers: one ping is not queued behind 400 requests."""
    async with IcmpPinger(method=method, pps=400) as slow:
        sweep = asyncio.ensure_future(slow.ping_many(loopback_hosts(400), count=1))
        await asyncio.sleep(0.05)
        single = await slow.ping("127.0.0.1", count=1)
        assert single.ok and not sweep.done()
        results = await sweep
    assert all(r.ok for r in results.values())


async def test_rate_limit_spaces_the_requests(method: IcmpMethod) -> None:
    async with IcmpPinger(method=method, pps=200) as pinger:
        started = time.monotonic()
        results = await pinger.ping_many(loopback_hosts(60), count=1, timeout=1.0)
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results.values())
    # a burst of 2, then 200 per second: 58 more requests cannot go out in under 0.29 s
    assert elapsed >= 0.25


async def test_a_starved_sweep_still_ends_at_its_hard_deadline(method: IcmpMethod) -> None:
    """Three callers share 100 requests/s; each needs 30 at once, so each gets about a third of
    the rate and cannot send everything within its deadline (2 * 30 / 100 + 2 * 0.05 = 0.7 s)."""
    async with IcmpPinger(method=method, pps=100) as pinger:
        started = time.monotonic()
        sweeps = await asyncio.gather(
            *(pinger.ping_many(loopback_hosts(30), count=1, timeout=0.05) for _ in range(3))
        )
        elapsed = time.monotonic() - started
        assert pinger.in_flight == 0
    assert 0.7 <= elapsed < 0.7 + 1.0
    for results in sweeps:
        unsent = [r for r in results.values() if r.values["sent"] == 0]
        assert unsent, "some requests could not be sent in time"
        assert all(r.status is ProbeStatus.ERROR and "deadline" in r.error for r in unsent)
        assert all(r.ok for r in results.values() if r.values["sent"] == 1)


async def test_bad_addresses_get_one_line_errors(pinger: IcmpPinger) -> None:
    asked = ["127.0.0.1", "router-7", "fe80::1%no-such-if0", "", "::ffff:127.0.0.3", "127.0.0.1"]
    results = await pinger.ping_many(asked, count=1)
    assert list(results) == ["127.0.0.1", "router-7", "fe80::1%no-such-if0", "", "::ffff:127.0.0.3"]
    assert results["127.0.0.1"].ok and results["::ffff:127.0.0.3"].ok
    assert results["router-7"].status is ProbeStatus.ERROR
    assert results["router-7"].error == (
        "not an IP address: 'router-7' (resolve names before pinging)"
    )
    assert "no such interface 'no-such-if0'" in results["fe80::1%no-such-if0"].error
    assert results[""].status is ProbeStatus.ERROR
    assert await pinger.ping_many([]) == {}
    assert all("\n" not in r.error for r in results.values())


async def test_parameters_are_checked(pinger: IcmpPinger) -> None:
    for bad in ({"count": 0}, {"interval": -1.0}, {"timeout": 0.0}, {"timeout": float("inf")}):
        with pytest.raises(ValueError):
            await pinger.ping("127.0.0.1", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pps"):
        IcmpPinger(pps=0)


async def test_a_cancelled_caller_leaves_nothing_behind(pinger: IcmpPinger) -> None:
    task = asyncio.ensure_future(pinger.ping("127.0.0.1", count=50, interval=0.2))
    await asyncio.sleep(0.1)
    assert pinger.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pinger.in_flight == 0
    assert (await pinger.ping("127.0.0.1", count=1)).ok


async def test_closing_ends_the_sweeps_in_progress(method: IcmpMethod) -> None:
    pinger = IcmpPinger(method=method)
    task = asyncio.ensure_future(pinger.ping("127.0.0.1", count=50, interval=0.2))
    await asyncio.sleep(0.1)
    await pinger.aclose()
    result = await asyncio.wait_for(task, 5.0)
    assert 1 <= result.values["sent"] < 50 and result.values["received"] == result.values["sent"]
    with pytest.raises(RuntimeError, match="closed"):
        await pinger.ping("127.0.0.1")


# --- capability --------------------------------------------------------------------------------


def test_capability_as_root_is_raw() -> None:
    if not can_open("raw"):
        pytest.skip("needs CAP_NET_RAW")
    capability = icmp_capability()
    assert capability.ok and capability.method == "raw"
    assert "CAP_NET_RAW" in capability.message


UNPRIVILEGED_CHECK = """
import asyncio, json
from noc.probes.icmp import IcmpPinger, icmp_capability
async def ping():
    async with IcmpPinger() as pinger:
        result = await pinger.ping("127.0.0.1", count=1)
        return result.status.value, result.error, pinger.methods
capability = icmp_capability()
print(json.dumps([capability.method, capability.message, *asyncio.run(ping())]))
"""


def run_without_cap_net_raw() -> list[object]:
    """Run the check in a child that has lost CAP_NET_RAW for good (bounding set included)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to drop CAP_NET_RAW")
    done = subprocess.run(
        [setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", sys.executable, "-c"]
        + [UNPRIVILEGED_CHECK],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    parsed: list[object] = json.loads(done.stdout)
    return parsed


def test_without_privileges_the_message_says_how_to_fix_it() -> None:
    with ping_group_range("1 0"):
        method, message, status, error, methods = run_without_cap_net_raw()
    assert method is None
    assert isinstance(message, str) and "\n" not in message
    assert "no CAP_NET_RAW" in message and "ping_group_range (1 0)" in message
    assert "setcap cap_net_raw+ep" in message
    assert 'sysctl -w net.ipv4.ping_group_range="0 2147483647"' in message
    assert status == "error" and error == message, "a probe that cannot run says the same"
    assert methods == {}


def test_without_cap_net_raw_datagram_sockets_take_over() -> None:
    with ping_group_range(WIDE_GROUP_RANGE):
        method, message, status, error, methods = run_without_cap_net_raw()
    assert method == "dgram" and "ping_group_range" in str(message)
    assert status == "ok", error
    assert methods == {"ipv4": "dgram"}


# --- real sockets: a host in a network namespace -----------------------------------------------


@dataclass(frozen=True)
class Namespace:
    name: str
    ours: str
    theirs: str
    """The veth ends: ours in this namespace, theirs in the new one."""
    target: str
    """The far end's link-local address, scoped to our side of the veth pair."""

    def set_ours_down(self) -> None:
        subprocess.run(["ip", "link", "set", self.ours, "down"], check=True, timeout=10)

    def run(self, *command: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.name, *command],
            check=True,
            capture_output=True,
            timeout=10,
        )


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    """A namespace on a veth pair; its side has fe80::b, ours fe80::a.

    Link-local addresses cannot be routed anywhere else, so nothing these tests send can
    leave the veth pair even if the setup went wrong.
    """
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2 (ip)")
    tag = f"{os.getpid() % 100_000}{next(_names)}"
    name, ours, theirs = f"noc-icmp-{tag}", f"nci{tag}a", f"nci{tag}b"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", ours, "type", "veth", "peer", "name", theirs, "netns", name],
        # no address but ours: a reply from a kernel-made one would not be from the target
        ["ip", "link", "set", ours, "addrgenmode", "none"],
        ["ip", "-n", name, "link", "set", theirs, "addrgenmode", "none"],
        ["ip", "addr", "add", "fe80::a/64", "dev", ours, "nodad"],
        ["ip", "link", "set", ours, "up"],
        ["ip", "-n", name, "addr", "add", "fe80::b/64", "dev", theirs, "nodad"],
        ["ip", "-n", name, "link", "set", theirs, "up"],
    ]
    try:
        first = subprocess.run(steps[0], capture_output=True, text=True, timeout=10)
        if first.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {first.stderr.strip()}")
        for step in steps[1:]:
            subprocess.run(step, check=True, capture_output=True, timeout=10)
        yield Namespace(name, ours, theirs, f"fe80::b%{ours}")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", ours], capture_output=True, timeout=10)


@pytest.mark.parametrize("silence", ["echo ignored", "far end down"])
async def test_silent_host_ends_at_its_deadline_without_delaying_others(
    pinger: IcmpPinger, namespace: Namespace, silence: str
) -> None:
    control = await pinger.ping(namespace.target, count=2, interval=0.05)
    assert control.ok, f"the namespace host answers before it is silenced: {control.error}"
    if silence == "echo ignored":
        namespace.run("sysctl", "-qw", "net.ipv6.icmp.echo_ignore_all=1")
    else:
        namespace.run("ip", "link", "set", namespace.theirs, "down")

    count, interval, timeout = 2, 0.1, 0.5
    started = time.monotonic()
    silent = asyncio.ensure_future(
        pinger.ping(namespace.target, count=count, interval=interval, timeout=timeout)
    )
    local = asyncio.ensure_future(pinger.ping("127.0.0.1", count=1, timeout=timeout))
    done, _ = await asyncio.wait({silent, local}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {local}, "the local ping does not wait for the silent host"
    assert local.result().ok
    result = await asyncio.wait_for(silent, 10.0)
    elapsed = time.monotonic() - started

    assert result.status is ProbeStatus.FAILED
    assert result.values == {"sent": 2, "received": 0, "loss_pct": 100.0}
    assert result.error == "no echo reply: 2 of 2 requests lost (timeout 0.5 s)"
    assert (count - 1) * interval + timeout <= elapsed < (count - 1) * interval + timeout + 2.0
    assert pinger.in_flight == 0


async def test_no_route_fails_at_once_with_the_reason(
    pinger: IcmpPinger, namespace: Namespace
) -> None:
    namespace.set_ours_down()
    result = await pinger.ping(namespace.target, count=3, interval=0.05, timeout=5.0)
    assert result.status is ProbeStatus.FAILED
    assert result.values == {"sent": 0, "received": 0, "loss_pct": 100.0}
    assert result.error == "echo request not sent: Network is unreachable"
    assert result.duration < 5.0, "nothing is in flight, so nothing waits for the timeout"


@contextlib.asynccontextmanager
async def delayed_responder(namespace: Namespace, delay: float) -> AsyncIterator[None]:
    """Answer every echo request in the namespace twice, ``delay`` seconds late."""
    namespace.run("sysctl", "-qw", "net.ipv6.icmp.echo_ignore_all=1")
    process = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", namespace.name, sys.executable, __file__, "--respond", str(delay),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 10.0)
        assert line == b"ready\n", line
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.wait_for(process.wait(), 10.0)


async def test_rtt_is_measured_and_late_replies_count_as_lost(
    pinger: IcmpPinger, namespace: Namespace
) -> None:
    delay = 0.3
    async with delayed_responder(namespace, delay):
        answered = await pinger.ping(namespace.target, count=2, interval=0.05, timeout=1.5)
        assert answered.ok, answered.error
        # two copies of each reply: each request is counted once
        assert (answered.values["sent"], answered.values["received"]) == (2, 2)
        assert delay * 1000 <= answered.values["rtt_min_ms"] < 1500
        # the replies to the first two rounds arrive while the sweep still runs, but later
        # than the timeout: they do not count
        late = await pinger.ping(namespace.target, count=3, interval=0.3, timeout=0.25)
        assert late.status is ProbeStatus.FAILED
        assert (late.values["sent"], late.values["received"]) == (3, 0)


# --- the responder that runs inside the namespace ----------------------------------------------


def respond(delay: float, lifetime: float = 30.0) -> None:
    """Answer ICMPv6 echo requests twice each, ``delay`` late, until stdin closes."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        sock.setblocking(False)
        stop = loop.create_future()

        def answer(reply: bytes, peer: tuple[str, int, int, int]) -> None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)

        def readable() -> None:
            with contextlib.suppress(BlockingIOError):
                data, peer = sock.recvfrom(65_536)
                if data[:1] == bytes([ECHO_REQUEST_V6]):
                    reply = bytes([ECHO_REPLY_V6, 0, 0, 0]) + data[4:]  # kernel sums ICMPv6
                    loop.call_later(delay, answer, reply, peer)
                    loop.call_later(delay + 0.01, answer, reply, peer)

        loop.add_reader(sock.fileno(), readable)
        loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
        print("ready", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop, lifetime)

    asyncio.run(serve())


if __name__ == "__main__" and sys.argv[1:2] == ["--respond"]:
    respond(float(sys.argv[2]))
