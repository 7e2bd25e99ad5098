"""HTTP probe throughput: noc's HttpProber against curl's parallel mode, same nginx, same run.

Two loads, each run ``--runs`` times per tool, alternating so every tool sees the same machine
load; the table shows medians, CPU per request (the poller's real budget on a 2-core box) and
each tool's rate as a fraction of curl's:

- one origin: ``--requests`` fetches of one page over HTTP and over HTTPS, ``--concurrency`` in
  flight, connections reused (a dashboard hammering one site).
- many origins: one fetch from each of ``--origins`` nginx ports per sweep (a poller's sweep:
  every target once, on new connections, as when the poll interval outlasts the server's
  keep-alive). ``httpx, 1 pool`` is a plain ``httpx.AsyncClient`` whose single pool keeps every
  connection, the design HttpProber avoids; its cost is why the origins default stays modest.

    PYTHONPATH=. python bench/bench_http.py [--requests 2000] [--origins 300] [--runs 3]
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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx

from noc.probes.http import HttpProber, HttpTarget
from noc.probes.result import ProbeStatus
from tests.support.nginx import KEYWORD, Nginx, nginx_missing, run_nginx

MAX_REQUESTS = 20_000
MAX_ORIGINS = 1_000
RUN_LIMIT_S = 60.0
"""No single run may take longer than this, whichever tool runs it."""

Measure = tuple[float, float]
"""Wall seconds, CPU seconds."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def curl_run(curl: str, urls: Sequence[str], concurrency: int, ca: Path) -> Measure:
    config = "".join(f'url = "{url}"\noutput = "/dev/null"\n' for url in urls)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        [curl, "-s", "-f", "--parallel", "--parallel-max", str(concurrency),
         "--cacert", str(ca), "-K", "-"],
        input=config, text=True, timeout=RUN_LIMIT_S, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started, _children_cpu() - cpu_before


async def _timed(jobs: Sequence[Callable[[], Awaitable[bool]]], concurrency: int) -> Measure:
    """Runs ``jobs`` at most ``concurrency`` at a time; stops the bench if any fails."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[bool]]) -> bool:
        async with gate:
            return await job()

    cpu_before = time.process_time()
    started = time.perf_counter()
    async with asyncio.timeout(RUN_LIMIT_S):
        outcomes = await asyncio.gather(*(one(job) for job in jobs))
    elapsed = time.perf_counter() - started
    if not all(outcomes):
        raise SystemExit(f"{outcomes.count(False)} of {len(jobs)} requests failed")
    return elapsed, time.process_time() - cpu_before


def _probe_job(prober: HttpProber, target: HttpTarget) -> Callable[[], Awaitable[bool]]:
    async def job() -> bool:
        result = await prober.probe(target)
        if result.status is not ProbeStatus.OK:
            print(f"  probe failed: {result.error}", file=sys.stderr)
        return result.status is ProbeStatus.OK

    return job


def _httpx_job(client: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[bool]]:
    async def job() -> bool:
        response = await client.get(url)
        return response.status_code == 200 and KEYWORD in response.text

    return job


def _report(label: str, tool: str, count: int, runs: list[Measure], curl_wall: float) -> None:
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    print(f"{label:14} {tool:14} {count / wall:8.0f} {cpu / count * 1000:11.3f} "
          f"{curl_wall / wall:8.2f}")  # fmt: skip


async def one_origin(server: Nginx, curl: str, count: int, concurrency: int, runs: int) -> None:
    ca = server.certificate.cert_file
    async with HttpProber(max_connections=concurrency) as prober:
        for scheme, base in (("http", server.http_url), ("https", server.https_url)):
            url = f"{base}/page.html"
            target = HttpTarget(url, keyword=KEYWORD, ca_file=str(ca), timeout=RUN_LIMIT_S)
            jobs = [_probe_job(prober, target)] * count
            await _timed(jobs[:concurrency], concurrency)  # warm: pool and TLS context
            noc, ref = [], []
            for _ in range(runs):
                noc.append(await _timed(jobs, concurrency))
                ref.append(await asyncio.to_thread(curl_run, curl, [url] * count, concurrency, ca))
            curl_wall = statistics.median(w for w, _ in ref)
            _report(f"1 origin {scheme}", "curl", count, ref, curl_wall)
            _report(f"1 origin {scheme}", "noc", count, noc, curl_wall)


async def many_origins(server: Nginx, curl: str, concurrency: int, runs: int) -> None:
    urls = [f"http://127.0.0.1:{port}/page.html" for port in server.extra_ports]
    targets = [HttpTarget(url, keyword=KEYWORD, timeout=RUN_LIMIT_S) for url in urls]
    ca = server.certificate.cert_file
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    noc, ref, one_pool = [], [], []
    async with (
        HttpProber(max_connections=concurrency, keepalive_expiry=0) as prober,
        httpx.AsyncClient(limits=limits, trust_env=False) as client,
    ):
        await _timed([_probe_job(prober, targets[0])], 1)  # warm: imports, TLS context
        for _ in range(runs):
            noc.append(await _timed([_probe_job(prober, t) for t in targets], concurrency))
            one_pool.append(await _timed([_httpx_job(client, u) for u in urls], concurrency))
            ref.append(await asyncio.to_thread(curl_run, curl, urls, concurrency, ca))
    label = f"{len(urls)} origins"
    curl_wall = statistics.median(w for w, _ in ref)
    _report(label, "curl", len(urls), ref, curl_wall)
    _report(label, "noc", len(urls), noc, curl_wall)
    _report(label, "httpx, 1 pool", len(urls), one_pool, curl_wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--origins", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 0 < args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be in 1..{MAX_REQUESTS}")
    if not 0 <= args.origins <= MAX_ORIGINS:
        parser.error(f"--origins must be in 0..{MAX_ORIGINS}")
    if not 0 < args.runs <= 10 or not 0 < args.concurrency <= 500:
        parser.error("--runs must be in 1..10 and --concurrency in 1..500")
    curl = shutil.which("curl")
    reason = nginx_missing() or (None if curl else "curl is not installed")
    if reason or curl is None:
        sys.exit(f"cannot run: {reason}")
    print(f"{args.concurrency} in flight, median of {args.runs} runs, nginx on loopback")
    print(f"{'load':14} {'tool':14} {'req/s':>8} {'CPU ms/req':>11} {'vs curl':>8}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_nginx(Path(tmp), extra_ports=args.origins) as server,
    ):
        asyncio.run(one_origin(server, curl, args.requests, args.concurrency, args.runs))
        if args.origins:
            asyncio.run(many_origins(server, curl, args.concurrency, args.runs))


if __name__ == "__main__":
    main()
