"""The scheduler against real peers on loopback: deadlines, retries and concurrency caps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from noc.polling.adapters import Adapters
from noc.polling.outcome import State
from noc.polling.scheduler import Scheduler
from noc.probes.result import ProbeStatus
from tests.polling.peers import ClosedPort, Listener, RawTcpAdapter, Recorder, job


def scheduler(recorder: Recorder, **kwargs: object) -> tuple[Scheduler, RawTcpAdapter]:
    adapters = Adapters(factories={})
    raw = RawTcpAdapter()
    adapters.register(raw)
    options: dict[str, object] = {"retry_delay": 0.01, "grace": 0.1, **kwargs}
    return Scheduler(adapters, recorder, **options), raw  # type: ignore[arg-type]


@pytest.fixture
async def hang() -> AsyncIterator[Listener]:
    listener = await Listener("hang").start()
    yield listener
    await listener.close()


@pytest.fixture
async def open_port() -> AsyncIterator[Listener]:
    listener = await Listener("close", host="127.0.0.2").start()
    yield listener
    await listener.close()


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    port = ClosedPort("127.0.0.3")
    yield port
    port.close()


async def test_a_hung_peer_ends_at_its_deadline_and_delays_nobody(
    hang: Listener, open_port: Listener, closed_port: ClosedPort
) -> None:
    recorder = Recorder()
    sched, _ = scheduler(recorder, per_target=1)  # one slot per address: the worst case
    jobs = [
        job(1, params={"port": hang.port, "read": True}, timeout=0.5),
        job(2, address="127.0.0.2", params={"port": open_port.port, "read": True}, timeout=0.5),
        job(3, address="127.0.0.3", params={"port": closed_port.port}, timeout=0.5),
    ]
    t0 = time.monotonic()
    async with asyncio.timeout(10):  # without the scheduler's deadline this would never end
        outcomes = {o.job.check_id: o for o in await sched.run_once(jobs)}
    hung = outcomes[1]
    assert hung.result.status is ProbeStatus.FAILED and hung.state is State.CRITICAL
    assert "hard deadline" in hung.result.error
    assert sched.stats.deadline_hits == 1
    assert outcomes[2].state is State.OK
    assert outcomes[3].state is State.CRITICAL and "cannot connect" in outcomes[3].result.error
    # the hung run took its whole deadline (0.5 s + 0.1 s grace), the others none of it
    assert recorder.arrived[1] - t0 >= 0.6
    assert max(recorder.arrived[2], recorder.arrived[3]) < recorder.arrived[1] - 0.3
    assert hang.accepted == 1 and hang.current == 0  # the hung connection was closed


async def test_a_failure_is_retried_quickly_before_the_target_is_declared_down(
    hang: Listener,
) -> None:
    recorder = Recorder()
    sched, raw = scheduler(recorder)
    check = job(1, params={"port": hang.port, "read": True}, timeout=0.1, retries=2)
    async with asyncio.timeout(10):
        [outcome] = await sched.run_once([check])
    assert outcome.attempts == 3 and outcome.state is State.CRITICAL
    assert hang.accepted == 3  # counted where it matters: at the peer
    assert sched.stats.retries == 2 and sched.stats.runs == 1
    starts = [t for _, t in raw.started]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap < 0.1 + 0.1 + 0.5 for gap in gaps)  # deadline + grace + retry, not interval


async def test_a_target_that_answers_is_not_retried(open_port: Listener) -> None:
    recorder = Recorder()
    sched, _ = scheduler(recorder)
    check = job(1, address=open_port.host, params={"port": open_port.port}, retries=3)
    [outcome] = await sched.run_once([check])
    assert outcome.attempts == 1 and outcome.state is State.OK
    assert open_port.accepted == 1


async def test_the_per_target_cap_holds_at_the_peer() -> None:
    listener = await Listener("hold", hold=0.15).start()
    try:
        recorder = Recorder()
        sched, _ = scheduler(recorder, per_target=2)
        jobs = [
            job(i, params={"port": listener.port, "read": True}, device_id=1) for i in range(1, 9)
        ]
        outcomes = await sched.run_once(jobs)
        assert len(outcomes) == 8 and all(o.state is State.OK for o in outcomes)
        assert listener.accepted == 8
        assert listener.max_current == 2
    finally:
        await listener.close()


async def test_the_global_cap_holds_across_targets() -> None:
    listeners = [await Listener("hold", host=f"127.0.0.{i}", hold=0.15).start() for i in (1, 2, 3)]
    try:
        recorder = Recorder()
        sched, _ = scheduler(recorder, concurrency=2, per_target=4)
        jobs = [
            job(n, address=lis.host, params={"port": lis.port, "read": True})
            for n, lis in enumerate(listeners * 2, start=1)
        ]
        await sched.run_once(jobs)
        assert sum(lis.accepted for lis in listeners) == 6
        assert max(lis.max_current for lis in listeners) <= 2
        # at the scheduler's side too: never more than 2 in flight
        assert sched.stats.in_flight == 0
    finally:
        for lis in listeners:
            await lis.close()


async def test_a_saturated_target_does_not_hold_global_slots(hang: Listener) -> None:
    """Runs queued behind a hung device wait for *its* slots, not the global ones."""
    async with asyncio.timeout(5):
        other = await Listener("close", host="127.0.0.2").start()
        try:
            recorder = Recorder()
            sched, _ = scheduler(recorder, concurrency=2, per_target=1)
            stuck = [
                job(i, params={"port": hang.port, "read": True}, timeout=0.6, device_id=1)
                for i in (1, 2)
            ]
            fine = job(9, address="127.0.0.2", params={"port": other.port}, timeout=0.6)
            await sched.run_once([*stuck, fine])
            # had the second hung run sat on the other global slot, this one would have waited
            # for the first hung run to end
            assert recorder.arrived[9] < min(recorder.arrived[1], recorder.arrived[2])
            assert hang.max_current == 1
        finally:
            await other.close()
