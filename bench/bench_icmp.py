"""ICMP sweep throughput: noc's pinger against fping on the same loopback addresses, same run.

Linux answers every address of 127.0.0.0/8, so a sweep of 127.1.x.y needs no lab. Each size is
swept ``--runs`` times by each tool, alternating so both see the same machine load; the table
shows medians and noc's rate as a fraction of fping's.

    python bench/bench_icmp.py [--hosts 1000,5000] [--runs 3] [--method raw|dgram]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from noc.probes.icmp import IcmpPinger, icmp_capability

FIRST_ADDRESS = ipaddress.IPv4Address("127.1.0.1")
MAX_HOSTS = 60_000
"""Stays inside 127.1.0.0/16 and its neighbours, all loopback."""
TIMEOUT_MS = 100
RUN_LIMIT_S = 30.0
"""No single sweep may take longer than this, whichever tool runs it."""


def loopback_addresses(count: int) -> list[str]:
    return [str(FIRST_ADDRESS + i) for i in range(count)]


def fping_sweep(fping: str, addresses: Sequence[str]) -> tuple[float, int]:
    """Seconds for one fping sweep, and how many hosts it found alive."""
    started = time.perf_counter()
    done = subprocess.run(
        [fping, "-i", "0", "-r", "0", "-t", str(TIMEOUT_MS)],
        input="\n".join(addresses),
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return elapsed, done.stdout.count(" is alive")


async def noc_sweep(pinger: IcmpPinger, addresses: Sequence[str]) -> tuple[float, int]:
    """Seconds for one sweep of a warm pinger, and how many hosts answered."""
    started = time.perf_counter()
    async with asyncio.timeout(RUN_LIMIT_S):
        results = await pinger.ping_many(addresses, count=1, timeout=TIMEOUT_MS / 1000)
    elapsed = time.perf_counter() - started
    return elapsed, sum(result.ok for result in results.values())


def rate(hosts: int, seconds: float) -> str:
    return f"{hosts / seconds:>9,.0f}"


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1000,5000", help="comma-separated sweep sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--method", choices=("raw", "dgram"), default=None)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.hosts.split(",")]
    if any(not 1 <= size <= MAX_HOSTS for size in sizes) or not 1 <= args.runs <= 20:
        parser.error(f"sizes must be 1..{MAX_HOSTS} and runs 1..20")
    capability = icmp_capability()
    if not capability.ok:
        print(capability.message, file=sys.stderr)
        return 2
    fping = shutil.which("fping")
    if fping is None:
        print("fping not found: the comparison needs it (apt install fping)", file=sys.stderr)
        return 2

    method = args.method or capability.method
    print(f"noc: {method} socket; fping: {fping}; timeout {TIMEOUT_MS} ms, 1 echo per host")
    print(f"median of {args.runs} runs each, alternating tools\n")
    header = (
        f"{'hosts':>6} | {'fping s':>8} {'hosts/s':>9} {'alive':>6} | "
        f"{'noc s':>8} {'hosts/s':>9} {'alive':>6} | {'noc/fping':>9}"
    )
    print(header)
    print("-" * len(header))
    async with IcmpPinger(method=args.method, pps=None) as pinger:
        await pinger.ping_many(loopback_addresses(10), count=1, timeout=TIMEOUT_MS / 1000)
        for size in sizes:
            addresses = loopback_addresses(size)
            fping_runs, noc_runs = [], []
            for _ in range(args.runs):
                fping_runs.append(fping_sweep(fping, addresses))
                noc_runs.append(await noc_sweep(pinger, addresses))
            fping_s = statistics.median(seconds for seconds, _ in fping_runs)
            noc_s = statistics.median(seconds for seconds, _ in noc_runs)
            print(
                f"{size:>6} | {fping_s:>8.4f} {rate(size, fping_s)} "
                f"{min(alive for _, alive in fping_runs):>6} | "
                f"{noc_s:>8.4f} {rate(size, noc_s)} {min(alive for _, alive in noc_runs):>6} | "
                f"{fping_s / noc_s:>8.2f}x"
            )
        print(f"\nsockets noc opened: {pinger.open_sockets} ({pinger.methods})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
