"""When runs happen, on a clock the test drives: spread, phase, jitter, lag, drops, batching.

The probes here answer at once (or when the test opens a gate), so every number below is
exact: no test in this file depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from noc.polling.adapters import Adapters
from noc.polling.clock import ManualClock, settle
from noc.polling.jobs import CheckJob
from noc.polling.outcome import State
from noc.polling.scheduler import Scheduler
from noc.probes.result import ProbeResult, ProbeStatus
from tests.polling.peers import Recorder, job


class ClockedAdapter:
    """Answers OK at once, noting the scheduler-clock time of every start; a check in
    ``gated`` waits for ``gate`` first, and one in ``failing`` always fails."""

    check_type = "tcp"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.starts: dict[int, list[float]] = {}
        self.gate = asyncio.Event()
        self.gated: set[int] = set()
        self.failing: set[int] = set()

    async def probe(self, job: CheckJob) -> ProbeResult:
        self.starts.setdefault(job.check_id, []).append(self.clock.monotonic())
        if job.check_id in self.gated:
            await self.gate.wait()
        if job.check_id in self.failing:
            return ProbeResult(ProbeStatus.FAILED, error="refused")
        return ProbeResult(ProbeStatus.OK, {"n": 1})

    async def aclose(self) -> None:
        return None


class ClockedSweep:
    """A batching probe (the ICMP lane) that records each sweep's size and time."""

    check_type = "icmp"
    window = 0.5

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sweeps: list[tuple[float, list[int]]] = []

    def batch_budget(self, jobs: Sequence[CheckJob]) -> float:
        return 1.0

    async def probe_many(self, jobs: Sequence[CheckJob]) -> dict[int, ProbeResult]:
        self.sweeps.append((self.clock.monotonic(), [j.check_id for j in jobs]))
        return {j.check_id: ProbeResult(ProbeStatus.OK, {"rtt_ms": 0.1}) for j in jobs}

    async def probe(self, job: CheckJob) -> ProbeResult:
        return (await self.probe_many([job]))[job.check_id]

    async def aclose(self) -> None:
        return None


def make(
    **kwargs: object,
) -> tuple[Scheduler, ManualClock, ClockedAdapter, ClockedSweep, Recorder]:
    clock = ManualClock()
    adapters = Adapters(factories={})
    single, sweep = ClockedAdapter(clock), ClockedSweep(clock)
    adapters.register(single)
    adapters.register(sweep)
    recorder = Recorder()
    options: dict[str, object] = {"clock": clock, "rng": random.Random(7), **kwargs}
    sched = Scheduler(adapters, recorder, **options)  # type: ignore[arg-type]
    return sched, clock, single, sweep, recorder


async def start(sched: Scheduler, jobs: list[CheckJob]) -> asyncio.Task[None]:
    sched.set_jobs(jobs)
    task = asyncio.create_task(sched.run())
    await settle()
    return task


async def stop(sched: Scheduler, task: asyncio.Task[None]) -> None:
    sched.stop()
    await task


async def test_first_runs_spread_over_the_interval_then_keep_their_phase() -> None:
    sched, clock, single, _, _ = make(jitter=0.1)
    t0 = clock.monotonic()
    task = await start(sched, [job(i, interval=60.0) for i in range(1, 201)])
    await clock.advance(130.0)  # the latest second run: phase 60 + 60 + jitter 6 = 126
    await stop(sched, task)
    firsts = sorted(starts[0] - t0 for starts in single.starts.values())
    assert len(firsts) == 200
    # spread over the interval: every 10-second stretch of the first minute has some
    buckets = {int(t // 10) for t in firsts if t < 60}
    assert buckets == set(range(6))
    assert firsts[-1] <= 60.0 + 6.0  # phase < interval, plus at most 10 % jitter
    for starts in single.starts.values():
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        # the phase holds: each run 60 s after the last, give or take the jitter (6 s)
        assert all(54.0 <= g <= 66.0 for g in gaps)
        assert len(starts) >= 2
    assert sched.stats.late == 0 and sched.stats.dropped == 0
    assert sched.stats.lag_summary()["max"] == 0.0


async def test_without_jitter_the_interval_is_exact() -> None:
    sched, clock, single, _, _ = make(jitter=0.0)
    task = await start(sched, [job(1, interval=10.0)])
    await clock.advance(45.0)
    await stop(sched, task)
    starts = single.starts[1]
    gaps = [round(b - a, 9) for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) >= 3 and set(gaps) == {10.0}


async def test_lag_counts_the_wait_for_a_slot_and_late_runs_are_counted() -> None:
    sched, clock, single, _, recorder = make(concurrency=1, jitter=0.0, late_after=1.0)
    single.gated = {1}
    sched._load([job(1), job(2)], repeat=False, spread=0.0)  # both due now
    task = asyncio.create_task(sched.run())
    await settle()
    assert list(single.starts) == [1]  # check 2 waits for the only slot
    await clock.advance(5.0)
    single.gate.set()
    await settle()
    await stop(sched, task)
    lags = {o.job.check_id: o.lag for o in recorder.outcomes}
    assert lags == {1: 0.0, 2: 5.0}
    assert sched.stats.late == 1


async def test_a_run_still_going_when_the_next_is_due_is_dropped_not_doubled() -> None:
    sched, clock, single, _, recorder = make(jitter=0.0)
    single.gated = {1}
    task = await start(sched, [job(1, interval=10.0), job(2, interval=10.0)])
    await clock.advance(35.0, step=1.0)
    assert len(single.starts[1]) == 1  # never a second run on top of the first
    assert len(single.starts[2]) >= 3
    assert sched.stats.dropped >= 2
    single.gate.set()
    await settle()
    await stop(sched, task)
    assert [o.job.check_id for o in recorder.outcomes].count(1) == 1


async def test_falling_far_behind_skips_missed_runs_instead_of_bursting() -> None:
    sched, clock, single, _, _ = make(jitter=0.0)
    task = await start(sched, [job(1, interval=1.0)])
    await clock.advance(1.0)
    runs = len(single.starts[1])
    # the loop is starved (a jump of the clock): 30 slots pass with no chance to run
    clock.jump(30.0)
    await clock.advance(0.0)
    await stop(sched, task)
    assert len(single.starts[1]) == runs + 1  # one catch-up run, not thirty
    assert sched.stats.dropped >= 29


async def test_retries_wait_the_retry_delay_and_a_confirmed_down_target_gets_one_try() -> None:
    sched, clock, single, _, recorder = make(jitter=0.0, retry_delay=2.0)
    single.failing = {1}
    task = await start(sched, [job(1, interval=60.0, retries=2)])
    await clock.advance(150.0, step=1.0)
    await stop(sched, task)
    starts = single.starts[1]
    first = starts[0]
    # first run: three attempts 2 s apart; later runs: one attempt each (already down)
    assert [s - first for s in starts[:3]] == [0.0, 2.0, 4.0]
    assert [round(s - first) for s in starts[3:]] == [60, 120]
    assert [o.attempts for o in recorder.outcomes] == [3, 1, 1]
    assert all(o.state is State.CRITICAL for o in recorder.outcomes)


async def test_checks_of_a_batching_probe_share_sweeps() -> None:
    sched, clock, _, sweep, recorder = make(jitter=0.0)
    jobs = [job(i, check_type="icmp", interval=10.0) for i in range(1, 101)]
    task = await start(sched, jobs)
    await clock.advance(10.0, step=0.1)
    await stop(sched, task)
    swept = [cid for _, members in sweep.sweeps for cid in members]
    assert sorted(swept) == list(range(1, 101))  # every check once
    assert len(sweep.sweeps) <= 21  # window 0.5 s over 10 s: at most ~20 sweeps, not 100
    assert len(recorder.outcomes) == 100
    assert all(o.state is State.OK for o in recorder.outcomes)


async def test_reloading_keeps_phases_and_forgets_removed_checks() -> None:
    sched, clock, single, _, recorder = make(jitter=0.0)
    task = await start(sched, [job(1, interval=10.0), job(2, interval=10.0)])
    await clock.advance(10.0)
    first = dict((cid, s[0]) for cid, s in single.starts.items())
    sched.set_jobs([job(1, interval=10.0), job(3, interval=10.0)])  # 2 removed, 3 added
    await clock.advance(20.0)
    await stop(sched, task)
    assert [round(s - first[1], 9) for s in single.starts[1]] == [0.0, 10.0, 20.0]
    assert len(single.starts[2]) == 1
    assert len(single.starts[3]) >= 1
    assert {o.job.check_id for o in recorder.outcomes} == {1, 2, 3}


async def test_a_crashing_probe_costs_one_unknown_result() -> None:
    sched, clock, single, _, _ = make()

    async def boom(job: CheckJob) -> ProbeResult:
        raise RuntimeError("bug in a probe")

    single.probe = boom  # type: ignore[method-assign]
    outcomes = await sched.run_once([job(1), job(2, check_type="nosuch")])
    by_id = {o.job.check_id: o for o in outcomes}
    assert by_id[1].state is State.UNKNOWN and "RuntimeError: bug in a probe" in by_id[1].output
    assert by_id[2].state is State.UNKNOWN and "no probe for check type" in by_id[2].output
    assert sched.stats.crashed == 1
