"""SNMP GET throughput: noc's poller against net-snmp's snmpget, same agents, same run.

Each "device" is one loopback address and port of a real snmpd (snmpd binds about 128
addresses at most, so several run side by side). A device poll is one GET of 8 OIDs. Three
contenders poll the same list of devices:

- ``snmpget``: one net-snmp process a device, 16 at a time (``xargs -P16``), MIB loading off;
- noc in one process (``SnmpPoller``);
- noc over worker processes (``SnmpWorkerPool``), one per core by default.

Each is run ``--runs`` times, interleaved, every run bounded by ``--limit`` seconds; the table
shows the median devices/s and the ratio to snmpget. Exit status 1 if the pool is under
``--target`` times snmpget.

    PYTHONPATH=. python bench/bench_snmp.py [--devices 500] [--polls 3000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noc.probes.snmp import (  # noqa: E402
    SnmpError,
    SnmpPoller,
    SnmpTarget,
    SnmpWorkerPool,
)
from tests.probes.snmp_agents import Snmpd, answers, snmpd, snmpd_binary  # noqa: E402

OIDS = [
    "1.3.6.1.2.1.1.1.0",
    "1.3.6.1.2.1.1.2.0",
    "1.3.6.1.2.1.1.3.0",
    "1.3.6.1.2.1.1.4.0",
    "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0",
    "1.3.6.1.2.1.1.7.0",
    "1.3.6.1.2.1.2.1.0",
]
ADDRESSES_PER_AGENT = 100
"""snmpd serves up to ~128 addresses, and reads one config line of at most a few KB."""
TIMEOUT, RETRIES = 2.0, 1
SNMPGET = "snmpget xargs -P16"


@dataclass
class Run:
    ok: int
    failed: int
    seconds: float
    client_cpu: float = 0.0
    """CPU seconds of the polling side (every process of it)."""
    agent_cpu: float = 0.0
    """CPU seconds the snmpd processes spent answering."""

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def per_device_ms(self, cpu: float) -> float:
        return 1000 * cpu / self.ok if self.ok else float("nan")


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class AgentMeter:
    """CPU used by the agents between ``start`` and ``stop``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = 0.0

    def start(self) -> None:
        self.before = sum(process_cpu(p) for p in self.pids)

    def stop(self) -> float:
        return sum(process_cpu(p) for p in self.pids) - self.before


@contextlib.contextmanager
def agents(devices: int) -> Iterator[tuple[list[tuple[str, int]], list[int]]]:
    """``devices`` loopback endpoints served by as many snmpd as it takes, and their pids."""
    count = math.ceil(devices / ADDRESSES_PER_AGENT)
    with contextlib.ExitStack() as stack:
        endpoints: list[tuple[str, int]] = []
        pids: list[int] = []
        for agent in range(count):
            first = 2 + agent * ADDRESSES_PER_AGENT
            wanted = min(ADDRESSES_PER_AGENT, devices - len(endpoints))
            addresses = [f"127.0.{n // 250}.{n % 250 + 1}" for n in range(first, first + wanted)]
            running: Snmpd = stack.enter_context(snmpd(addresses=addresses, source="127.0.0.0/8"))
            endpoints += running.endpoints
            pids.append(running.pid)
        silent = [f"{h}:{p}" for h, p in endpoints if not answers(p, "public", host=h, wait=1.0)]
        if silent:
            raise RuntimeError(f"{len(silent)} endpoints do not answer, e.g. {silent[:3]}")
        yield endpoints, pids


def run_snmpget(
    endpoints: list[tuple[str, int]], polls: int, limit: float, meter: AgentMeter
) -> Run:
    """One snmpget process per device poll, 16 in parallel."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        for i in range(polls):
            host, port = endpoints[i % len(endpoints)]
            listing.write(f"{host}:{port}\n")
        listing.flush()
        command = [
            "timeout", f"{limit:g}", "xargs", "-P16", "-I{}", "-a", listing.name,
            "snmpget", "-m", "", "-v2c", "-c", "public", "-t", f"{TIMEOUT:g}", "-r", str(RETRIES),
            "-Oqv", "{}", *OIDS,
        ]  # fmt: skip
        cpu = children_cpu()
        meter.start()
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        agent_cpu = meter.stop()
        cpu = children_cpu() - cpu
    ok = len(done.stdout.splitlines()) // len(OIDS)
    return Run(ok, polls - ok, seconds, cpu, agent_cpu)


async def _run_noc(
    prober: SnmpPoller | SnmpWorkerPool,
    targets: list[SnmpTarget],
    polls: int,
    concurrency: int,
    limit: float,
    meter: AgentMeter | None = None,
) -> Run:
    gate = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(target: SnmpTarget) -> None:
        nonlocal ok
        async with gate:
            try:
                got = await prober.get(target, OIDS)
            except SnmpError:
                return
            if len(got) == len(OIDS) - 1:  # net-snmp has no sysServices.0
                ok += 1

    workers = prober.pids if isinstance(prober, SnmpWorkerPool) else []
    cpu = time.process_time() + sum(process_cpu(p) for p in workers)
    if meter is not None:
        meter.start()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            await asyncio.gather(*(one(targets[i % len(targets)]) for i in range(polls)))
    except TimeoutError:
        pass
    seconds = time.perf_counter() - start
    agent_cpu = meter.stop() if meter is not None else 0.0
    cpu = time.process_time() + sum(process_cpu(p) for p in workers) - cpu
    return Run(ok, polls - ok, seconds, cpu, agent_cpu)


def run_noc(
    targets: list[SnmpTarget],
    polls: int,
    concurrency: int,
    limit: float,
    meter: AgentMeter,
    workers: int,
) -> Run:
    """In this process (``workers`` 0) or over worker processes, after one warm-up pass."""

    async def main() -> Run:
        prober = SnmpWorkerPool(workers) if workers else SnmpPoller()
        async with prober:
            await _run_noc(prober, targets, len(targets), concurrency, limit)
            return await _run_noc(prober, targets, polls, concurrency, limit, meter)

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--polls", type=int, default=3000, help="device polls per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", type=int, default=128, help="GETs in flight (noc)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds a run may take")
    parser.add_argument("--target", type=float, default=2.0, help="pool / snmpget to pass")
    args = parser.parse_args()
    if snmpd_binary() is None or shutil.which("snmpget") is None:
        print("bench_snmp: needs net-snmp's snmpd and snmpget", file=sys.stderr)
        return 2
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())

    with agents(args.devices) as (endpoints, pids):
        meter = AgentMeter(pids)
        targets = [
            SnmpTarget(host, port, timeout=TIMEOUT, retries=RETRIES, deadline=10.0)
            for host, port in endpoints
        ]
        pool = f"noc, {args.workers} workers"
        contenders: dict[str, Callable[[], Run]] = {
            SNMPGET: lambda: run_snmpget(endpoints, args.polls, args.limit, meter),
            "noc, 1 process": lambda: run_noc(
                targets, args.polls, args.concurrency, args.limit, meter, 0
            ),
            pool: lambda: run_noc(
                targets, args.polls, args.concurrency, args.limit, meter, args.workers
            ),
        }
        results: dict[str, list[Run]] = {name: [] for name in contenders}
        for attempt in range(args.runs):
            for name, contender in contenders.items():
                run = contender()
                results[name].append(run)
                print(
                    f"run {attempt + 1}: {name:<20} {run.rate:6.0f} devices/s, "
                    f"{run.ok} ok, {run.failed} failed, {run.seconds:5.2f} s, CPU ms/device: "
                    f"{run.per_device_ms(run.client_cpu):.2f} poller "
                    f"{run.per_device_ms(run.agent_cpu):.2f} snmpd",
                    flush=True,
                )

    medians = {name: statistics.median(r.rate for r in runs) for name, runs in results.items()}
    baseline = medians[SNMPGET]
    print()
    print(
        f"{len(endpoints)} devices (snmpd on loopback), {args.polls} polls a run, GET of 8 OIDs,"
        f" median of {args.runs}; load average before: {load_before}"
    )
    print(f"{'contender':<22}{'devices/s':>10}{'vs snmpget':>12}{'CPU ms/dev':>12}{'failed':>8}")
    for name, rate in medians.items():
        runs = results[name]
        cpu = statistics.median(r.per_device_ms(r.client_cpu) for r in runs)
        failed = sum(r.failed for r in runs)
        print(f"{name:<22}{rate:>10.0f}{rate / baseline:>11.2f}x{cpu:>12.2f}{failed:>8}")
    pool_ratio = medians[pool] / baseline
    verdict = "PASS" if pool_ratio >= args.target else "FAIL"
    print(f"\n{verdict}: pool is {pool_ratio:.2f}x snmpget (target {args.target:g}x)")
    return 0 if pool_ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
