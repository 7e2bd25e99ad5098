"""The SSH probe: its parser on written Linux/FreeBSD outputs, and the pool against real sshd."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from noc.config import SshSettings
from noc.probes.result import ProbeStatus
from noc.probes.ssh import (
    SshAuthError,
    SshPool,
    SshTarget,
    SshTimeoutError,
    SshTimeouts,
    parse,
)
from noc.probes.ssh.collect import PSEUDO_FILESYSTEMS, script, split_sections
from tests.probes.sshd_server import TEST_USER, Sshd, SshdWorld, free_port, keygen, unavailable

DATA = Path(__file__).parent / "data" / "ssh"

# ---------------------------------------------------------------------------------------------
# The parser, on outputs written from real hosts' formats


def test_linux_sample_parses_every_metric() -> None:
    got = parse((DATA / "debian12.txt").read_text(), "@@noc-0a1b2c3d")
    v = got.values
    assert got.missing == ()
    assert (v["load.1"], v["load.5"], v["load.15"]) == (2.0, 1.01, 0.42)
    # busy = (user+nice+system+irq+softirq+steal) delta, idle = idle+iowait delta
    busy, idle = (60 + 0 + 30 + 0 + 2 + 2), (160 + 10)
    assert v["cpu.used_pct"] == round(100 * busy / (busy + idle), 2)
    assert v["mem.total_bytes"] == 24684092 * 1024
    assert v["mem.used_pct"] == round(100 * (24684092 - 24232752) / 24684092, 2)
    assert v["uptime_s"] == 628.35
    assert v["users"] == 3
    assert "updates.pending" not in v
    assert v["os.name"] == "Linux"
    mounts = [fs.mount for fs in got.filesystems]
    assert mounts == ["/", "/boot/efi", "/home", "/srv/media share"]  # no tmpfs, udev, snap
    home = got.filesystems[2]
    assert (home.device, home.fstype) == ("/dev/mapper/vg0-home", "ext4")
    assert v["fs./home.size_bytes"] == 102626232 * 1024
    assert v["fs./home.used_bytes"] == 92346112 * 1024
    assert v["fs./home.used_pct"] == round(100 * 92346112 / (92346112 + 5020440), 2)
    assert v["fs./srv/media share.used_bytes"] == 1234560 * 1024
    assert got.filesystems[3].fstype == "xfs"  # \040 in /proc/mounts matched df's space
    assert v["filesystems"][0] == got.filesystems[0].as_dict()


def test_freebsd_sample_parses_every_metric() -> None:
    got = parse((DATA / "freebsd14.txt").read_text(), "@@noc-5eedf00d")
    v = got.values
    assert got.missing == ()
    assert (v["load.1"], v["load.5"], v["load.15"]) == (0.52, 0.41, 0.38)
    # kern.cp_time: user nice sys intr idle
    busy, idle = 100 + 0 + 50 + 10, 800
    assert v["cpu.used_pct"] == round(100 * busy / (busy + idle), 2)
    total = 8540749824
    available = (1200000 + 300000) * 4096
    assert v["mem.total_bytes"] == total
    assert v["mem.available_bytes"] == available
    assert v["mem.used_pct"] == round(100 * (total - available) / total, 2)
    assert v["uptime_s"] == 86400.0
    assert v["users"] == 2
    mounts = [fs.mount for fs in got.filesystems]
    assert mounts == ["/", "/boot/efi", "/tmp", "/usr/home", "/var/log"]  # no devfs, nullfs
    assert got.filesystems[0].fstype == "zfs"
    assert v["fs./.size_bytes"] == 93298860 * 1024


@pytest.mark.parametrize(
    ("sample", "pending"),
    [("ubuntu2204-updates-available.txt", 7), ("ubuntu1804-updates-available.txt", 12)],
)
def test_update_notifier_counts(sample: str, pending: int) -> None:
    text = "@@noc-00ff updates\n" + (DATA / sample).read_text()
    assert parse(text, "@@noc-00ff").values["updates.pending"] == pending


def test_missing_and_garbled_sections_are_reported_not_raised() -> None:
    text = "\n".join(
        [
            "motd noise before the first header",
            "@@noc-00ff load",
            "not numbers at all",
            "@@noc-00ff cpu",
            "cpu  1 2 3 4",  # only one read: no rate
            "@@noc-00ff uptime",
            "12.5 3.0",
        ]
    )
    got = parse(text, "@@noc-00ff")
    assert got.values == {"uptime_s": 12.5}
    assert got.missing == ("load.1", "cpu.used_pct", "mem.total_bytes", "mem.used_pct", "fs")
    assert parse("This account is currently not available.\n", "@@noc-00ff").sections == 0


def test_a_header_with_another_marker_is_data() -> None:
    text = "@@noc-00ff df\n@@noc-beef end\n@@noc-00ff end\n"
    assert split_sections(text, "@@noc-00ff") == {"df": ["@@noc-beef end"], "end": []}


def test_script_refuses_a_marker_that_could_inject_shell() -> None:
    with pytest.raises(ValueError, match="marker"):
        script("@@noc-1; rm -rf ~")


def test_target_identity_ignores_deadlines_but_not_credentials() -> None:
    base = SshTarget("127.0.0.1", "ops", password="s3cret")
    assert base == replace(base, timeouts=SshTimeouts(connect=1, login=1, command=1))
    assert base != replace(base, password="rotated")
    assert "s3cret" not in repr(base)
    assert str(replace(base, port=2222, jump=base)) == "ops@127.0.0.1:2222 via ops@127.0.0.1:22"
    with pytest.raises(ValueError, match="username"):
        SshTarget("127.0.0.1", "")


def test_target_from_settings_checks_the_configured_known_hosts() -> None:
    settings = SshSettings(known_hosts="/etc/noc/known_hosts", connect_timeout_s=2.0)
    target = SshTarget.configured(settings, "127.0.0.1", "ops", port=2222)
    assert target.known_hosts == "/etc/noc/known_hosts"
    assert (target.timeouts.connect, target.timeouts.login) == (2.0, settings.login_timeout_s)
    assert SshTarget("127.0.0.1", "ops").known_hosts == SshSettings().known_hosts


# ---------------------------------------------------------------------------------------------
# Against a real OpenSSH sshd on loopback

peers = pytest.mark.peers


@pytest.fixture(scope="session")
def world() -> Iterator[SshdWorld]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    world = SshdWorld()
    yield world
    world.close()


@pytest.fixture
def sshd(world: SshdWorld) -> Sshd:
    return world.sshd()


@pytest.fixture
def target(world: SshdWorld, sshd: Sshd) -> SshTarget:
    return SshTarget(
        "127.0.0.1",
        TEST_USER,
        port=sshd.port,
        client_keys=(str(world.client_key),),
        known_hosts=str(world.known_hosts(sshd.host_key_line)),
        timeouts=SshTimeouts(connect=10, login=10, command=20),
    )


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    async with SshPool() as pool:
        yield pool


async def eventually(check: Callable[[], bool], limit_s: float = 10.0) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


def logins(sshd: Sshd) -> int:
    return sshd.log().count(f"Accepted publickey for {TEST_USER}")


NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "9p"})
"""``df -l`` leaves these out (a stale share would hang the collector)."""

AUTH_ATTEMPT = re.compile(r"^(Failed|Accepted|Postponed) \S+ for|^Invalid user", re.M)


@peers
async def test_poll_agrees_with_psutil(pool: SshPool, target: SshTarget) -> None:
    result = await pool.poll(target)
    assert result.status is ProbeStatus.OK, result.error
    v = result.values
    assert v["mem.total_bytes"] == psutil.virtual_memory().total
    assert abs(v["uptime_s"] - (time.time() - psutil.boot_time())) < 5
    assert abs(v["load.15"] - os.getloadavg()[2]) < 1.0
    assert 0.0 <= v["cpu.used_pct"] <= 100.0
    assert v["users"] == len(psutil.users())

    # psutil's default list drops every "nodev" type, overlay included (a container's root);
    # take them all and skip what the probe skips on purpose: pseudo and network file systems
    skipped = PSEUDO_FILESYSTEMS | NETWORK_FILESYSTEMS
    ours = {p.mountpoint: p for p in psutil.disk_partitions(all=True) if p.fstype not in skipped}
    probed = {fs["mount"]: fs for fs in v["filesystems"]}
    assert probed, "the probe found no file system at all"
    # df shows a file system once even when it is mounted in several places; psutil lists each
    assert set(probed) <= set(ours)
    assert {fs["device"] for fs in probed.values()} == {p.device for p in ours.values()}
    for mount, fs in probed.items():
        usage = psutil.disk_usage(mount)
        assert fs["fstype"] == ours[mount].fstype
        assert abs(fs["size_bytes"] - usage.total) <= 1 << 20, mount
        assert abs(fs["used_bytes"] - usage.used) <= max(usage.total // 100, 64 << 20), mount
        assert abs(fs["used_pct"] - usage.percent) <= 1.0, mount
        assert v[f"fs.{mount}.used_pct"] == fs["used_pct"]


@peers
async def test_connection_is_reused_across_polls(
    pool: SshPool, target: SshTarget, sshd: Sshd
) -> None:
    for _ in range(3):
        assert (await pool.poll(target)).status is ProbeStatus.OK
    results = await asyncio.gather(*(pool.poll(target) for _ in range(6)))
    assert all(r.status is ProbeStatus.OK for r in results)
    assert pool.connections_opened == 1
    assert logins(sshd) == 1
    assert await eventually(lambda: len(sshd.sessions()) == 1)  # the start-up check's is gone


@peers
async def test_parallel_channels_are_bounded_per_connection(
    target: SshTarget, sshd: Sshd, world: SshdWorld
) -> None:
    # each command counts, on the server, the commands running when it starts
    running = world.dir / f"running-{sshd.port}"
    running.mkdir(mode=0o777)
    running.chmod(0o777)
    command = f"touch {running}/$$; n=$(ls {running} | wc -l); sleep 0.3; rm {running}/$$; echo $n"
    async with SshPool(channels=3) as pool:
        results = await asyncio.gather(*(pool.run(target, command) for _ in range(9)))
    seen = [int(r.stdout) for r in results]
    assert all(r.exit_status == 0 for r in results)
    assert max(seen) <= 3
    assert max(seen) >= 2, "the channels did not run in parallel"
    assert logins(sshd) == 1


@peers
async def test_channels_beyond_max_sessions_wait_their_turn(
    world: SshdWorld, target: SshTarget
) -> None:
    strict = world.sshd(max_sessions=2)  # sshd says "open failed" to a third channel
    tight = replace(
        target, port=strict.port, known_hosts=str(world.known_hosts(strict.host_key_line))
    )
    async with SshPool(channels=8) as pool:
        results = await asyncio.gather(*(pool.run(tight, "sleep 0.2; echo done") for _ in range(8)))
    assert [r.stdout for r in results] == ["done\n"] * 8
    assert logins(strict) == 1
    assert "no more sessions" in strict.log()  # the refusals did happen, and were waited out


@peers
async def test_unknown_host_key_is_refused_before_any_login(
    pool: SshPool, target: SshTarget, sshd: Sshd, world: SshdWorld
) -> None:
    known = world.known_hosts()  # empty: the server is unknown
    refused = replace(target, known_hosts=str(known), password="a secret")
    result = await pool.poll(refused)
    assert result.status is ProbeStatus.ERROR
    assert f"host key for 127.0.0.1:{sshd.port} not in {known}" in result.error
    assert "SHA256:" in result.error
    assert await eventually(lambda: not sshd.sessions())
    assert "Host key is not trusted" in sshd.log()  # the connection did reach key exchange
    assert not AUTH_ATTEMPT.search(sshd.log()), sshd.log()


@peers
async def test_changed_host_key_is_refused_before_any_login(
    pool: SshPool, target: SshTarget, sshd: Sshd, world: SshdWorld, tmp_path: Path
) -> None:
    other = keygen(tmp_path / "other_host_key").split()
    known = world.known_hosts(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}")
    result = await pool.poll(replace(target, known_hosts=str(known), password="a secret"))
    assert result.status is ProbeStatus.ERROR
    assert f"host key CHANGED for 127.0.0.1:{sshd.port}" in result.error
    assert await eventually(lambda: not sshd.sessions())
    assert "Host key is not trusted" in sshd.log()
    assert not AUTH_ATTEMPT.search(sshd.log()), sshd.log()


@peers
async def test_server_log_does_record_a_credential_when_one_is_sent(
    pool: SshPool, target: SshTarget, sshd: Sshd
) -> None:
    """The control for the two tests above: with a trusted key the password does go out."""
    result = await pool.poll(replace(target, client_keys=(), password="a secret"))
    assert result.status is ProbeStatus.ERROR
    assert "login refused (tried password)" in result.error
    assert await eventually(lambda: f"Failed password for {TEST_USER}" in sshd.log())
    assert AUTH_ATTEMPT.search(sshd.log())


@peers
async def test_unreadable_client_key_is_an_error(pool: SshPool, target: SshTarget) -> None:
    result = await pool.poll(replace(target, client_keys=("/nonexistent/key",)))
    assert result.status is ProbeStatus.ERROR
    assert "cannot read client key /nonexistent/key" in result.error


@pytest.fixture
def agent_socket(world: SshdWorld, tmp_path: Path) -> Iterator[Path]:
    """An ssh-agent holding the test client key (and nothing else)."""
    agent_bin, add_bin = shutil.which("ssh-agent"), shutil.which("ssh-add")
    if not agent_bin or not add_bin:
        pytest.skip("ssh-agent/ssh-add are not installed")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen([agent_bin, "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 5
        while not sock.exists() and time.monotonic() < end:
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run([add_bin, "-q", str(world.client_key)], env=env, check=True)
        yield sock
    finally:
        agent.terminate()
        agent.wait(5)


@peers
async def test_agent_authentication(
    pool: SshPool, target: SshTarget, agent_socket: Path, sshd: Sshd
) -> None:
    result = await pool.poll(replace(target, client_keys=(), agent=str(agent_socket)))
    assert result.status is ProbeStatus.OK, result.error
    assert logins(sshd) == 1


@peers
async def test_dead_connection_is_replaced(pool: SshPool, target: SshTarget, sshd: Sshd) -> None:
    assert (await pool.poll(target)).status is ProbeStatus.OK
    assert sshd.kill_sessions() == 1
    # at once, before or after the client noticed: either way the next poll logs in again
    result = await pool.poll(target)
    assert result.status is ProbeStatus.OK, result.error
    assert pool.connections_opened == 2
    assert logins(sshd) == 2


@peers
async def test_idle_connection_is_closed(target: SshTarget, sshd: Sshd) -> None:
    async with SshPool(idle_timeout=0.3) as pool:
        assert (await pool.poll(target)).status is ProbeStatus.OK
        assert pool.open_connections == 1
        assert await eventually(lambda: pool.open_connections == 0)
        assert await eventually(lambda: not sshd.sessions())
        assert f"Disconnected from user {TEST_USER}" in sshd.log()
        assert (await pool.poll(target)).status is ProbeStatus.OK  # and comes back when needed
        assert pool.connections_opened == 2


@peers
async def test_jump_host(pool: SshPool, target: SshTarget, sshd: Sshd, world: SshdWorld) -> None:
    via = replace(target, jump=target)
    result = await pool.poll(via)
    assert result.status is ProbeStatus.OK, result.error
    assert pool.connections_opened == 2  # the jump, and the target through it
    assert logins(sshd) == 2
    assert "Starting session: command" in sshd.log()

    # the jump host's own key is checked against the jump's own known_hosts
    async with SshPool() as fresh:
        unknown_jump = replace(
            target, port=sshd.port, jump=replace(target, known_hosts=str(world.known_hosts()))
        )
        result = await fresh.poll(unknown_jump)
    assert result.status is ProbeStatus.ERROR
    assert f"host key for 127.0.0.1:{sshd.port} not in" in result.error
    assert logins(sshd) == 2


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP listener that accepts and never says a word (no SSH banner)."""
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@peers
async def test_silent_listener_ends_at_the_deadline_without_delaying_others(
    pool: SshPool, target: SshTarget, silent_port: int
) -> None:
    silent = replace(target, port=silent_port, timeouts=SshTimeouts(connect=30, login=30))
    finished: list[str] = []

    async def timed(name: str, t: SshTarget, deadline: float) -> tuple[float, ProbeStatus, str]:
        t0 = time.monotonic()
        result = await pool.poll(t, deadline=deadline)
        finished.append(name)
        return time.monotonic() - t0, result.status, result.error

    (hung_s, hung, why), (_, real, real_why) = await asyncio.gather(
        timed("silent", silent, 2.0), timed("sshd", target, 15.0)
    )
    assert real is ProbeStatus.OK, real_why
    assert finished == ["sshd", "silent"]
    assert hung is ProbeStatus.FAILED
    assert "no result within 2s (timed out connecting)" in why
    assert 1.9 <= hung_s < 6.0


@peers
async def test_run_returns_exit_status_and_output(pool: SshPool, target: SshTarget) -> None:
    result = await pool.run(target, "echo out; echo err >&2; exit 3")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok
    fed = await pool.run(target, "tr a-z A-Z", input="hello\n")
    assert fed.ok and fed.stdout == "HELLO\n"


@peers
async def test_output_beyond_the_cap_is_cut(target: SshTarget) -> None:
    async with SshPool(max_output=1000) as pool:
        result = await pool.run(target, "yes | head -c 100000")
    assert result.truncated and len(result.stdout) == 1000 and not result.ok


@peers
async def test_command_deadline_keeps_the_connection(
    pool: SshPool, target: SshTarget, sshd: Sshd
) -> None:
    with pytest.raises(SshTimeoutError, match=r"timed out running the command"):
        await pool.run(target, "sleep 10", deadline=0.5)
    assert (await pool.run(target, "echo still here")).stdout == "still here\n"
    assert logins(sshd) == 1


@peers
async def test_refused_port_fails_fast(pool: SshPool, target: SshTarget) -> None:
    result = await pool.poll(replace(target, port=free_port()))
    assert result.status is ProbeStatus.FAILED
    assert "refused" in result.error


@peers
async def test_run_raises_typed_errors(pool: SshPool, target: SshTarget) -> None:
    with pytest.raises(SshAuthError, match="login refused"):
        await pool.run(replace(target, client_keys=(), password="nope"), "true")


@peers
async def test_connect_timeout_applies_inside_a_longer_deadline(
    pool: SshPool, target: SshTarget, silent_port: int
) -> None:
    silent = replace(target, port=silent_port, timeouts=SshTimeouts(connect=0.5, command=30))
    result = await pool.poll(silent)
    assert result.status is ProbeStatus.FAILED
    assert "no SSH session within the 0.5s connect timeout" in result.error
    assert result.duration < 10
