"""HTTP(S) probe throughput: noc's HttpProber against curl's parallel mode, same nginx, same run.

Both fetch the same page ``--requests`` times with at most ``--concurrency`` in flight, reusing
connections, once over HTTP and once over HTTPS (trusting the test certificate). Runs alternate
between the tools so both see the same machine load; the table shows medians, CPU per request
(the poller's real budget on a 2-core box) and noc's rate as a fraction of curl's.

    PYTHONPATH=. python bench/bench_http.py [--requests 2000] [--concurrency 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from noc.probes.http import HttpProber, HttpTarget
from noc.probes.result import ProbeStatus
from tests.support.nginx import KEYWORD, Nginx, nginx_missing, run_nginx

MAX_REQUESTS = 20_000
RUN_LIMIT_S = 60.0
"""No single run may take longer than this, whichever tool runs it."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def curl_run(curl: str, url: str, count: int, concurrency: int, ca: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds for curl to fetch ``url`` ``count`` times."""
    config = "".join(f'url = "{url}"\noutput = "/dev/null"\n' for _ in range(count))
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        [curl, "-s", "-f", "--parallel", "--parallel-max", str(concurrency),
         "--cacert", str(ca), "-K", "-"],
        input=config, text=True, timeout=RUN_LIMIT_S, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started, _children_cpu() - cpu_before


async def noc_run(
    prober: HttpProber, target: HttpTarget, count: int, concurrency: int
) -> tuple[float, float]:
    """Wall and CPU seconds for ``count`` probes; fails loudly if any probe does."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one() -> bool:
        async with gate:
            result = await prober.probe(target)
        if result.status is not ProbeStatus.OK:
            errors.append(result.error)
        return result.status is ProbeStatus.OK

    cpu_before = time.process_time()
    started = time.perf_counter()
    async with asyncio.timeout(RUN_LIMIT_S):
        outcomes = await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - started
    if not all(outcomes):
        raise SystemExit(f"{outcomes.count(False)} of {count} probes failed: {errors[:3]}")
    return elapsed, time.process_time() - cpu_before


async def compare(server: Nginx, curl: str, count: int, concurrency: int, runs: int) -> None:
    ca = server.certificate.cert_file
    print(f"{count} requests, {concurrency} in flight, median of {runs} runs")
    print(f"{'':6} {'tool':5} {'req/s':>8} {'CPU ms/req':>11} {'vs curl':>8}")
    async with HttpProber(max_connections=concurrency) as prober:
        for scheme, base in (("http", server.http_url), ("https", server.https_url)):
            url = f"{base}/page.html"
            target = HttpTarget(url, keyword=KEYWORD, ca_file=str(ca))
            await noc_run(prober, target, concurrency, concurrency)  # warm: pool and TLS
            noc, ref = [], []
            for _ in range(runs):
                noc.append(await noc_run(prober, target, count, concurrency))
                ref.append(await asyncio.to_thread(curl_run, curl, url, count, concurrency, ca))
            noc_wall = statistics.median(w for w, _ in noc)
            ref_wall = statistics.median(w for w, _ in ref)
            noc_cpu = statistics.median(c for _, c in noc)
            ref_cpu = statistics.median(c for _, c in ref)
            print(f"{scheme:6} {'curl':5} {count / ref_wall:8.0f} {ref_cpu / count * 1000:11.3f}")
            print(
                f"{scheme:6} {'noc':5} {count / noc_wall:8.0f} {noc_cpu / count * 1000:11.3f}"
                f" {ref_wall / noc_wall:8.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 0 < args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be in 1..{MAX_REQUESTS}")
    if not 0 < args.runs <= 10:
        parser.error("--runs must be in 1..10")
    curl = shutil.which("curl")
    reason = nginx_missing() or (None if curl else "curl is not installed")
    if reason or curl is None:
        sys.exit(f"cannot run: {reason}")
    with tempfile.TemporaryDirectory() as tmp, run_nginx(Path(tmp)) as server:
        asyncio.run(compare(server, curl, args.requests, args.concurrency, args.runs))


if __name__ == "__main__":
    main()
