"""The poller against the simulated lab for a few intervals: 10,000 devices pinged, 2,000 also
polled by SNMP, 500 also by SSH, with the lab serving them from a process of its own.

The devices come from ``noc.lab.plan.generate`` (all healthy, with the shares of SNMP, SSH and
HTTP asked for: ``noc lab --devices`` would add HTTP to 5% of them); ``noc lab --inventory`` serves
them in a child process — its CPU is its own, as on a machine where it runs beside the poller —
while ``noc import`` loads the same inventory into a scratch SQLite store. Then the scheduler
polls them as ``noc poll`` does — each check at its own phase of the interval, with jitter, the
threaded batch writer and the alerting evaluator behind it — for ``--intervals`` intervals.

The first interval is a cold start: every SNMP agent is discovered (names, descriptions, types:
see ``noc.probes.snmp.discovery``) and every SSH connection opened. The ones after it are what
the poller does all day. For each interval (the k-th run of every check) it prints the runs per
type and their states, whether it completed (every check ran, none late, dropped or failed, and
each result came in within the interval of its due time), and the CPU the poller (its SNMP
workers included) and the lab spent in that interval's wall window; then the scheduler lag
p50/p99/max, the longest event-loop stall, and what the writer dropped or lost.

    PYTHONPATH=. python bench/bench_lab_cycle.py [--devices 10000] [--intervals 3]
                                                 [--snmp-workers N]
    PYTHONPATH=. python bench/bench_cycle.py --lab ...   (the same)

Bounded: at most 20,000 devices, 5 intervals and ``--limit`` seconds (420) of wall time; the lab
is told to stop by itself after that long too, and is terminated (then killed) however the bench
ends. The exit status is 0 only when the run ends in a steady state — at least the last two
intervals completed with nothing failed, late or dropped (the lab is healthy: a failure means
someone fell behind) — and nothing was late, dropped or lost in any interval, the cold start
included. Agents that wait their turn for discovery at a cold start are UNKNOWN, not failed
polls of a device: they count as failed here, so the verdict says how long the cold start took
to drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_cycle import Sink, StallMonitor, percentiles_ms  # noqa: E402
from noc.cli.demo_cmd import LAB_SECRETS  # noqa: E402
from noc.config import Settings, data_dir, load_settings  # noqa: E402
from noc.lab.plan import generate, inventory_toml  # noqa: E402
from noc.lab.runner import raise_open_file_limit  # noqa: E402
from noc.polling.adapters import Adapters, SnmpAdapter, snmp_workers  # noqa: E402
from noc.polling.jobs import CheckJob, load_jobs  # noqa: E402
from noc.polling.outcome import CheckOutcome  # noqa: E402
from noc.polling.scheduler import Scheduler  # noqa: E402
from noc.polling.writer_thread import Writer, start_writer  # noqa: E402
from noc.probes.result import ProbeStatus  # noqa: E402
from noc.storage import Store  # noqa: E402

MAX_DEVICES = 20_000
LIMIT_S = 420.0
STEADY_INTERVALS = 2
"""Clean intervals in a row, at the end of the run, that make a steady state."""
LAB_READY_S = 90.0
"""The lab parses the inventory and opens ~2,500 sockets before it says it is serving."""
STOP_S = 5.0
ADDRESS = re.compile(r"\b(\w+@)?127(\.\d+){3}(:\d+)?")
"""Errors name their device: counted without it, alike errors group together."""
ROOT = Path(__file__).resolve().parents[1]
NOC = [sys.executable, "-m", "noc.cli"]


class LabProcess:
    """``noc lab --inventory`` in a child process: ready when it says so, gone when we leave."""

    def __init__(self, inventory: Path, env: dict[str, str], log: Path, duration: float) -> None:
        self.command = [*NOC, "lab", "--inventory", str(inventory), "--duration", f"{duration:g}"]
        self.env = env
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.banner = ""

    async def __aenter__(self) -> LabProcess:
        with self.log.open("wb") as errors:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        try:
            await self._ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(LAB_READY_S):
            while True:
                line = (await self.proc.stdout.readline()).decode(errors="replace")
                if not line:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the lab exited before serving:\n{tail}")
                if line.startswith("lab: ") and " devices" in line:
                    self.banner = line.strip()
                    return

    @property
    def cpu(self) -> float:
        """CPU seconds the lab has used so far (user + system)."""
        if self.proc is None:
            return 0.0
        try:
            times = psutil.Process(self.proc.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            async with asyncio.timeout(STOP_S):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def noc_import(inventory: Path, env: dict[str, str]) -> str:
    """``noc import FILE``: its last line, the summary."""
    proc = await asyncio.create_subprocess_exec(
        *NOC,
        "import",
        str(inventory),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await proc.communicate()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    lines = out.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        raise RuntimeError("noc import failed:\n" + "\n".join(lines[-20:]))
    return lines[-1] if lines else ""


def children_cpu(exclude: int | None) -> float:
    """CPU seconds of this process's children but the lab: the SNMP workers, when there are."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        if child.pid == exclude:
            continue
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def main_thread_cpu() -> float:
    """CPU seconds of the probes' loop alone (the writer and SQLite work on other threads)."""
    me = threading.main_thread().native_id
    for thread in psutil.Process().threads():
        if thread.id == me:
            return float(thread.user_time + thread.system_time)
    return 0.0


def per_type(outcomes: Sequence[CheckOutcome]) -> list[str]:
    """A line per check type: how many ran, their states, lag and how long an answer took."""
    groups: dict[str, list[CheckOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.job.check_type].append(o)
    lines = []
    for check_type, group in sorted(groups.items()):
        states = Counter(str(o.state) for o in group)
        lags = sorted(o.lag for o in group)
        took = [o.result.duration for o in group if o.result.duration is not None]
        retried = sum(1 for o in group if o.attempts > 1)
        lines.append(
            f"  {check_type:5} {len(group):6} runs; states {dict(sorted(states.items()))}; "
            f"lag p50 {lags[len(lags) // 2] * 1000:.1f} ms max {lags[-1] * 1000:.1f} ms; "
            f"duration median {statistics.median(took) * 1000 if took else 0:.1f} ms; "
            f"retried {retried}"
        )
        errors = Counter(ADDRESS.sub("<device>", o.result.error) for o in group if o.result.error)
        lines += [f"        {n} × {error[:150]}" for error, n in errors.most_common(3)]
    return lines


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


async def main(args: argparse.Namespace) -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raise_open_file_limit(hard if hard != resource.RLIM_INFINITY else 1 << 20)
    tmp = Path(tempfile.mkdtemp(prefix="noc-bench-lab-"))
    try:
        return await run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def run(args: argparse.Namespace, tmp: Path) -> int:
    print(f"before: {load_line()}")
    devices = generate(
        args.devices,
        epoch=time.time(),
        snmp_share=args.snmp_share,
        ssh_share=args.ssh_share,
        http_share=args.http_share,
        healthy_only=True,
    )
    inventory = tmp / "lab.toml"
    inventory.write_text(inventory_toml(devices), encoding="utf-8")

    # As `noc demo` sets them up: the lab's secrets, its host keys, one store for everyone.
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")  # the lab's host key and known_hosts
    os.environ.update(LAB_SECRETS)
    os.environ["NOC_SSH_KNOWN_HOSTS"] = str(data_dir() / "lab" / "known_hosts")
    os.environ["NOC_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }

    t0 = time.perf_counter()
    imported = asyncio.create_task(noc_import(inventory, env))  # while the lab starts
    try:
        async with LabProcess(inventory, env, tmp / "lab.log", args.limit) as lab:
            summary = await imported
            print(f"{lab.banner}; {summary} ({time.perf_counter() - t0:.1f} s to set up)")
            settings = load_settings()
            store = await Store.open(settings.database_url)
            try:
                return await cycle(args, store, settings, lab)
            finally:
                await store.close()
    finally:
        if not imported.done():
            imported.cancel()
            await asyncio.gather(imported, return_exceptions=True)


class Recorder(Sink):
    """Forwards to the writer and keeps every outcome with when it came in."""

    def __init__(self, writer: Writer, checks: int, runs: int) -> None:
        super().__init__(writer)
        self.runs: dict[int, list[CheckOutcome]] = defaultdict(list)
        self.arrived: dict[int, list[float]] = defaultdict(list)
        self._want, self._left = runs, checks
        self.all_in = asyncio.Event()
        """Set once every check has made ``runs`` runs."""

    def submit(self, outcome: CheckOutcome) -> None:
        super().submit(outcome)
        runs = self.runs[outcome.job.check_id]
        runs.append(outcome)
        self.arrived[outcome.job.check_id].append(self.last)
        if len(runs) == self._want:
            self._left -= 1
            if not self._left:
                self.all_in.set()

    def nth(self, n: int) -> list[CheckOutcome]:
        return [runs[n] for runs in self.runs.values() if len(runs) > n]


class CpuClock:
    """Poller and lab CPU seconds, read at each interval's end by a timer of its own."""

    def __init__(self, lab: LabProcess) -> None:
        self.lab = lab
        self.marks: list[tuple[float, float, float, float]] = []
        """(process, probes' loop, SNMP workers, lab) CPU seconds at each mark."""

    def mark(self) -> None:
        lab_pid = self.lab.proc.pid if self.lab.proc else None
        self.marks.append(
            (time.process_time(), main_thread_cpu(), children_cpu(lab_pid), self.lab.cpu)
        )

    def spent(self, k: int) -> tuple[float, float, float, float]:
        before, after = self.marks[k], self.marks[k + 1]
        return tuple(b - a for a, b in zip(before, after, strict=True))  # type: ignore[return-value]


async def cycle(args: argparse.Namespace, store: Store, settings: Settings, lab: LabProcess) -> int:
    jobs = await load_jobs(store, settings.poller)
    interval = max(job.interval for job in jobs)
    timeout = max(job.timeout for job in jobs)

    adapters = Adapters(settings)
    adapters.register(SnmpAdapter(workers=snmp_workers(args.snmp_workers)))
    # as `noc poll` runs it: the writer on its own thread, the alerting evaluator on its loop,
    # the scheduler spreading each check's runs over the interval and repeating them
    writer = await start_writer(
        store, busy_timeout_ms=settings.database.busy_timeout_ms, evaluate=True, zone=""
    )
    sink = Recorder(writer, len(jobs), args.intervals)
    scheduler = Scheduler.from_settings(settings.poller, adapters, sink)
    clock = CpuClock(lab)
    stats_at: list[tuple[int, int]] = []
    started = time.perf_counter()
    clock.mark()
    scheduler.set_jobs(jobs)
    runner = asyncio.create_task(scheduler.run())
    try:
        with StallMonitor() as stalls:
            for k in range(args.intervals):
                await asyncio.sleep(started + (k + 1) * interval - time.perf_counter())
                clock.mark()
                stats_at.append((scheduler.stats.late, scheduler.stats.dropped))
            # the last interval's latest runs were due up to a jitter later: let them finish
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval * settings.poller.jitter + timeout * 2):
                    await sink.all_in.wait()
        loaded = load_line()
    finally:
        scheduler.stop()
        await runner
        await adapters.aclose()
        flush_started = time.perf_counter()
        await writer.aclose()
    flushed = time.perf_counter() - flush_started

    kinds = Counter(job.check_type for job in jobs)
    workers = snmp_workers(args.snmp_workers)
    print(
        f"poller: {len(jobs)} checks ({', '.join(f'{n} {t}' for t, n in sorted(kinds.items()))}) "
        f"on {len({j.device_id for j in jobs})} devices, every {interval:g} s, each at its own "
        f"phase as `noc poll` runs them, for {args.intervals} intervals; "
        f"SNMP workers: {workers}"
    )
    verdicts = []
    for k in range(args.intervals):
        verdicts.append(
            report_interval(k, sink, jobs, interval, clock, stats_at, scheduler.late_after)
        )
    s, w = scheduler.stats, writer.stats
    print(
        f"overall: scheduler lag {percentiles_ms(scheduler)}; longest event-loop stall "
        f"{stalls.worst * 1000:.1f} ms, {stalls.worst_at:.1f} s in; late {s.late}, dropped "
        f"{s.dropped}, deadline hits {s.deadline_hits}, retries {s.retries}, crashed {s.crashed}"
    )
    print(
        f"  writer: {w.outcomes} states, {w.samples} samples in {w.batches} batches, "
        f"max queued {w.max_queued}, dropped {w.dropped}, lost {w.lost}, "
        f"final flush {flushed * 1000:.0f} ms"
    )
    print(f"  during: {loaded}")
    settled = next((k for k, clean in enumerate(verdicts) if all(verdicts[k:])), None)
    steady = settled is not None and len(verdicts) - settled >= STEADY_INTERVALS
    ok = steady and not (s.late or s.dropped or w.dropped or w.lost or s.crashed)
    if settled is None:
        how = "the last interval did NOT complete cleanly: no steady state"
    else:
        how = (
            f"from interval {settled + 1} on ({len(verdicts) - settled} of {len(verdicts)}; "
            f"{STEADY_INTERVALS} needed) every interval completed with nothing failed, late or "
            f"dropped"
        )
        how += (
            "; the cold start did too"
            if settled == 0
            else (f"; the cold start took {settled} interval{'s' if settled > 1 else ''} to drain")
        )
    print(
        f"verdict: {'PASS' if ok else 'FAIL'} — {how}; over every interval, cold start "
        f"included: late {s.late}, dropped {s.dropped}, writer lost {w.lost}"
    )
    return 0 if ok else 1


def report_interval(
    k: int,
    sink: Recorder,
    jobs: Sequence[CheckJob],
    interval: float,
    clock: CpuClock,
    stats_at: Sequence[tuple[int, int]],
    late_after: float,
) -> bool:
    """One interval's runs — the k-th of every check — and the CPU spent in its wall window."""
    outcomes = sink.nth(k)
    ran = len(outcomes)
    failed = sum(1 for o in outcomes if o.result.status in (ProbeStatus.FAILED, ProbeStatus.ERROR))
    late = sum(1 for o in outcomes if o.lag > late_after)
    arrivals = [sink.arrived[o.job.check_id][k] for o in outcomes]
    took = max((o.result.duration or 0.0) + o.lag for o in outcomes) if outcomes else 0.0
    dropped = stats_at[k][1] - (stats_at[k - 1][1] if k else 0)
    complete = ran == len(jobs) and took < interval
    cpu, loop_cpu, workers_cpu, lab_cpu = clock.spent(k)
    title = "first interval (cold)" if k == 0 else f"interval {k + 1}"
    print(f"{title}:")
    print(*per_type(outcomes), sep="\n")
    print(
        f"  completed: {'yes' if complete else 'NO'} — {ran} of {len(jobs)} checks ran; "
        f"{failed} failed, {late} late, {dropped} dropped; the slowest result came "
        f"{took:.1f} s after it was due (the interval is {interval:g} s); results came in "
        f"over {max(arrivals, default=0) - min(arrivals, default=0):.1f} s"
    )
    print(
        f"  CPU in its {interval:g} s: poller {cpu + workers_cpu:.1f} s ({loop_cpu:.1f} s the "
        f"probes' loop, {cpu - loop_cpu:.1f} s the writer's and other threads, "
        f"{workers_cpu:.1f} s SNMP workers); lab {lab_cpu:.1f} s; together "
        f"{(cpu + workers_cpu + lab_cpu) / interval * 100:.0f}% of one core "
        f"(of {100 * (os.cpu_count() or 1)}%)"
    )
    return complete and not (failed or late or dropped)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--snmp-share", type=float, default=0.2)
    parser.add_argument("--ssh-share", type=float, default=0.05)
    parser.add_argument("--http-share", type=float, default=0.0)
    parser.add_argument(
        "--intervals",
        type=int,
        default=4,
        help="intervals to poll (2-5); the first discovers every agent and opens every SSH "
        "connection, the last two must be clean",
    )
    parser.add_argument(
        "--snmp-workers",
        type=int,
        default=0,
        help="[poller] snmp_workers: SNMP processes, 0 (the default here) one per CPU, "
        "1 the poller's own",
    )
    parser.add_argument("--limit", type=float, default=LIMIT_S, help="wall-time bound, seconds")
    args = parser.parse_args(argv)
    if not 1 <= args.devices <= MAX_DEVICES:
        parser.error(f"--devices must be from 1 to {MAX_DEVICES}")
    if not STEADY_INTERVALS <= args.intervals <= 5:
        parser.error(f"--intervals must be from {STEADY_INTERVALS} to 5")
    if not 0 < args.limit <= LIMIT_S:
        parser.error(f"--limit must be from 0 to {LIMIT_S:g}")
    return args


async def bounded(args: argparse.Namespace) -> int:
    async with asyncio.timeout(args.limit):
        return await main(args)


def run_bench(argv: Sequence[str]) -> int:
    return asyncio.run(bounded(parse(argv)))


if __name__ == "__main__":
    sys.exit(run_bench(sys.argv[1:]))
