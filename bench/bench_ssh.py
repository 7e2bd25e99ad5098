"""Commands per second through the SSH pool, against a fresh login per command and OpenSSH.

All three run the same command on the same real sshd on loopback, eight at a time:

  pooled          SshPool: one connection, up to 8 parallel channels on it
  fresh           a new connection (TCP, key exchange, publickey login) per command
  ControlMaster   ssh -S <socket> under ``xargs -P8`` through one OpenSSH master connection

Each figure is the median of ``--rounds`` runs, every run bounded in count and in time. Budgets:
pooled >= 5x fresh and >= 2x ControlMaster; the exit status is 1 when one is missed.

    PYTHONPATH=. python bench/bench_ssh.py
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noc.probes.ssh import SshPool, SshTarget, SshTimeouts  # noqa: E402
from tests.probes.sshd_server import TEST_USER, Sshd, SshdWorld, unavailable  # noqa: E402

PARALLEL = 8
COMMAND = "echo ok"


async def _bounded(count: int, one: Callable[[], Awaitable[bool]], limit_s: float) -> float:
    """Run ``one`` ``count`` times, PARALLEL at a time; commands per second."""
    todo = iter(range(count))
    done = 0

    async def worker() -> None:
        nonlocal done
        for _ in todo:
            if not await one():
                raise RuntimeError("a command failed")
            done += 1

    t0 = time.perf_counter()
    async with asyncio.timeout(limit_s):
        await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    return done / (time.perf_counter() - t0)


async def pooled(target: SshTarget, count: int, limit_s: float) -> float:
    async with SshPool(channels=PARALLEL) as pool:
        await pool.run(target, COMMAND)  # log in once, as a poller would have long since

        async def one() -> bool:
            return (await pool.run(target, COMMAND)).stdout == "ok\n"

        return await _bounded(count, one, limit_s)


async def fresh(target: SshTarget, count: int, limit_s: float) -> float:
    async def one() -> bool:
        async with SshPool() as pool:
            return (await pool.run(target, COMMAND)).stdout == "ok\n"

    return await _bounded(count, one, limit_s)


def _ssh_options(world: SshdWorld, sshd: Sshd, known_hosts: Path, control: Path) -> list[str]:
    return [
        "-F", "/dev/null",
        "-p", str(sshd.port),
        "-i", str(world.client_key),
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"ControlPath={control}",
    ]  # fmt: skip


def control_master(
    world: SshdWorld, sshd: Sshd, known_hosts: Path, count: int, limit_s: float
) -> float:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise SystemExit("ssh (the OpenSSH client) is not installed")
    control = world.dir / f"cm-{sshd.port}-{time.monotonic_ns()}.sock"
    options = _ssh_options(world, sshd, known_hosts, control)
    login = f"{TEST_USER}@127.0.0.1"
    master = subprocess.Popen(
        [ssh, *options, "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N", login],
        stdin=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 10
        while not control.exists():
            if time.monotonic() > end or master.poll() is not None:
                raise SystemExit("the OpenSSH control master did not start")
            time.sleep(0.02)
        lines = "".join(f"{i}\n" for i in range(count))
        t0 = time.perf_counter()
        run = subprocess.run(
            ["xargs", f"-P{PARALLEL}", "-I{}", ssh, *options, "-o", "ControlMaster=no", login,
             "echo", "{}"],
            input=lines, capture_output=True, text=True, timeout=limit_s,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
        if run.returncode != 0 or len(run.stdout.split()) != count:
            raise SystemExit(f"xargs ssh failed: {run.stderr[-500:]}")
        return count / elapsed
    finally:
        subprocess.run([ssh, *options, "-O", "exit", login], capture_output=True, timeout=10)
        try:
            master.wait(5)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(5)


def median_of(rounds: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pooled", type=int, default=1000, help="commands per pooled run")
    parser.add_argument("--fresh", type=int, default=120, help="commands per fresh-login run")
    parser.add_argument("--cm", type=int, default=400, help="commands per ControlMaster run")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds allowed per run")
    args = parser.parse_args()

    reason = unavailable()
    if reason:
        print(f"skipped: {reason}")
        return 0
    world = SshdWorld()
    try:
        sshd = world.sshd()
        known_hosts = world.known_hosts(sshd.host_key_line)
        target = SshTarget(
            "127.0.0.1",
            TEST_USER,
            port=sshd.port,
            client_keys=(str(world.client_key),),
            known_hosts=str(known_hosts),
            timeouts=SshTimeouts(connect=10, login=10, command=30),
        )
        rates = {
            "pooled": median_of(
                args.rounds, lambda: asyncio.run(pooled(target, args.pooled, args.limit))
            ),
            "fresh": median_of(
                args.rounds, lambda: asyncio.run(fresh(target, args.fresh, args.limit))
            ),
            "ControlMaster": median_of(
                args.rounds,
                lambda: control_master(world, sshd, known_hosts, args.cm, args.limit),
            ),
        }
    finally:
        world.close()

    budgets = {"fresh": 5.0, "ControlMaster": 2.0}
    print(f"ssh commands/s, {PARALLEL} in parallel, median of {args.rounds} ({COMMAND!r})")
    print(f"{'mode':<15}{'cmds/s':>10}{'pooled is':>12}{'budget':>9}")
    failed = False
    for mode, rate in rates.items():
        ratio = rates["pooled"] / rate
        budget = budgets.get(mode)
        verdict = ""
        if budget is not None:
            verdict = f">= {budget:g}x " + ("ok" if ratio >= budget else "MISSED")
            failed |= ratio < budget
        print(f"{mode:<15}{rate:>10.1f}{ratio:>11.1f}x  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
