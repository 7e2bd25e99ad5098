"""The batch writer on every backend: samples, check states, state-change events, back-pressure."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from noc.config import PollerSettings
from noc.errors import StoreError
from noc.polling.jobs import CheckJob, load_jobs
from noc.polling.outcome import CheckOutcome, State
from noc.polling.writer import ResultWriter
from noc.polling.writer_thread import WriterThread, start_writer
from noc.probes.result import ProbeResult, ProbeStatus
from noc.storage import Store
from noc.storage.models import Check, CheckState, Event, Sample, Series
from tests.polling.inventory import device, seed


async def jobs_of(store: Store, tmp_path: Path) -> dict[str, CheckJob]:
    await seed(
        store,
        tmp_path,
        device("gw", "127.0.0.41", '["icmp"]'),
        device("web", "127.0.0.42", '[{ type = "tcp", port = 8080 }]'),
    )
    return {j.check_type: j for j in await load_jobs(store, PollerSettings())}


def outcome(job: CheckJob, result: ProbeResult, ts: float, attempts: int = 1) -> CheckOutcome:
    return CheckOutcome.of(job, result, attempts=attempts, ts=ts, lag=0.0)


def ok(**values: float | str) -> ProbeResult:
    return ProbeResult(ProbeStatus.OK, dict(values), rtt=0.001)


async def states(store: Store) -> dict[int, CheckState]:
    async with store.read() as session:
        return {s.check_id: s for s in await session.scalars(select(CheckState))}


async def state_events(store: Store) -> list[Event]:
    async with store.read() as session:
        query = select(Event).where(Event.kind == "check.state").order_by(Event.id)
        return list(await session.scalars(query))


async def test_samples_and_states_land_and_events_mark_changes_only(
    store: Store, tmp_path: Path
) -> None:
    jobs = await jobs_of(store, tmp_path)
    icmp, tcp = jobs["icmp"], jobs["tcp"]
    writer = ResultWriter(store)
    writer.submit(outcome(icmp, ok(rtt_ms=0.5, loss_pct=0.0, sent=3, received=3), 100.0))
    writer.submit(outcome(tcp, ok(**{"tcp.connect_ms": 0.2, "tcp.banner": "SSH-2.0"}), 100.0))
    assert await writer.flush()
    writer.submit(outcome(icmp, ok(rtt_ms=0.7, loss_pct=0.0, sent=3, received=3), 160.0))
    lost = ProbeResult(ProbeStatus.FAILED, {"sent": 3, "received": 0}, error="no echo reply")
    writer.submit(outcome(icmp, lost, 220.0, attempts=3))
    writer.submit(outcome(tcp, ProbeResult(ProbeStatus.ERROR, error="bad port"), 220.0))
    assert await writer.flush()

    rows = await states(store)
    gw = rows[icmp.check_id]
    assert (gw.state, gw.since, gw.last_ts, gw.attempts) == ("DOWN", 220.0, 220.0, 3)
    assert gw.output == "no echo reply" and gw.values == {"sent": 3, "received": 0}
    web = rows[tcp.check_id]
    assert (web.state, web.since, web.output) == ("UNKNOWN", 220.0, "bad port")
    assert rows[icmp.check_id].device_id == icmp.device_id

    changes = [(e.check_id, e.data["from"], e.data["to"]) for e in await state_events(store)]
    assert changes == [
        (icmp.check_id, None, "OK"),
        (tcp.check_id, None, "OK"),
        (icmp.check_id, "OK", "DOWN"),  # OK -> OK wrote no event
        (tcp.check_id, "OK", "UNKNOWN"),
    ]

    async with store.read() as session:
        series = {(s.check_id, s.metric): s.id for s in await session.scalars(select(Series))}
        samples = (await session.execute(select(Sample.series_id, Sample.ts, Sample.value))).all()
    assert (tcp.check_id, "tcp.banner") not in series  # text is not a sample
    rtt = series[(icmp.check_id, "rtt_ms")]
    assert sorted((ts, v) for sid, ts, v in samples if sid == rtt) == [(100.0, 0.5), (160.0, 0.7)]
    received = series[(icmp.check_id, "received")]
    assert sorted(v for sid, _, v in samples if sid == received) == [0.0, 3.0, 3.0]
    assert writer.stats.samples == len(samples) and writer.stats.state_changes == 4
    assert writer.stats.dropped == 0 and writer.stats.lost == 0


async def test_since_survives_a_new_writer(store: Store, tmp_path: Path) -> None:
    """A restarted poller reads the state it left, so an unchanged state keeps its since."""
    jobs = await jobs_of(store, tmp_path)
    first = ResultWriter(store)
    first.submit(outcome(jobs["icmp"], ok(rtt_ms=1.0), 100.0))
    assert await first.flush()
    second = ResultWriter(store)
    second.submit(outcome(jobs["icmp"], ok(rtt_ms=1.0), 500.0))
    assert await second.flush()
    row = (await states(store))[jobs["icmp"].check_id]
    assert (row.since, row.last_ts) == (100.0, 500.0)
    assert len(await state_events(store)) == 1


async def test_partial_is_ok_with_a_note_and_odd_values_are_stored_safely(
    store: Store, tmp_path: Path
) -> None:
    jobs = await jobs_of(store, tmp_path)
    partial = ProbeResult(
        ProbeStatus.PARTIAL,
        {"cpu.used_pct": 12.5, "weird": math.nan, "big": math.inf},
        missing=("fs", "users"),
    )
    writer = ResultWriter(store)
    writer.submit(outcome(jobs["tcp"], partial, 100.0))
    assert await writer.flush()
    row = (await states(store))[jobs["tcp"].check_id]
    assert row.state == "OK" and row.output == "not reported: fs, users"
    assert row.values == {"cpu.used_pct": 12.5, "weird": None, "big": None}
    assert writer.stats.samples == 1  # NaN and infinity are not samples


async def test_results_of_a_removed_check_are_dropped_not_fatal(
    store: Store, tmp_path: Path
) -> None:
    jobs = await jobs_of(store, tmp_path)
    async with store.write() as session:
        await session.execute(delete(Check).where(Check.id == jobs["tcp"].check_id))
    writer = ResultWriter(store)
    writer.submit(outcome(jobs["tcp"], ok(**{"tcp.connect_ms": 1.0}), 100.0))
    writer.submit(outcome(jobs["icmp"], ok(rtt_ms=1.0), 100.0))
    assert await writer.flush()
    assert set(await states(store)) == {jobs["icmp"].check_id}
    assert writer.stats.orphans == 1 and writer.stats.lost == 0


async def test_a_full_queue_drops_and_counts_instead_of_blocking(
    store: Store, tmp_path: Path
) -> None:
    jobs = await jobs_of(store, tmp_path)
    writer = ResultWriter(store, max_queue=3)
    for ts in range(5):
        writer.submit(outcome(jobs["icmp"], ok(rtt_ms=1.0), float(ts)))
    assert writer.queued == 3 and writer.stats.dropped == 2
    assert await writer.flush()
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Sample)) == 3


async def test_background_flush_and_close_write_everything(store: Store, tmp_path: Path) -> None:
    jobs = await jobs_of(store, tmp_path)
    async with ResultWriter(store, flush_interval=0.05, max_batch=2) as writer:
        for ts in range(7):
            writer.submit(outcome(jobs["icmp"], ok(rtt_ms=float(ts)), float(ts)))
    assert writer.stats.outcomes == 7 and writer.stats.batches >= 4
    assert writer.queued == 0 and writer.stats.lost == 0


async def test_a_locked_store_keeps_the_batch_until_it_can_write(tmp_path: Path) -> None:
    """SQLite held by another writer: the batch waits in the queue and lands afterwards."""
    path = tmp_path / "noc.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=50)
    try:
        jobs = await jobs_of(store, tmp_path)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        writer = ResultWriter(store)
        writer.submit(outcome(jobs["icmp"], ok(rtt_ms=1.0), 100.0))
        assert not await writer.flush()
        assert writer.queued == 1 and writer.stats.failures == 1
        assert "locked" in writer.stats.last_error
        other.execute("COMMIT")
        other.close()
        assert await writer.flush()
        assert writer.queued == 0 and writer.stats.outcomes == 1 and writer.stats.lost == 0
        assert (await states(store))[jobs["icmp"].check_id].state == State.OK
    finally:
        await store.close()


@pytest.mark.parametrize("failures", [2])
async def test_a_batch_refused_too_often_is_given_up_and_counted(
    tmp_path: Path, failures: int
) -> None:
    path = tmp_path / "noc.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=20)
    try:
        jobs = await jobs_of(store, tmp_path)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            writer = ResultWriter(store, max_failures=failures)
            writer.submit(outcome(jobs["icmp"], ok(rtt_ms=1.0), 100.0))
            for _ in range(failures):
                assert not await writer.flush()
            assert writer.queued == 0 and writer.stats.lost == 1
        finally:
            other.execute("ROLLBACK")
            other.close()
    finally:
        await store.close()


async def test_the_writer_thread_writes_from_its_own_loop(store: Store, tmp_path: Path) -> None:
    jobs = await jobs_of(store, tmp_path)
    writer = await start_writer(store, flush_interval=0.05, max_batch=2)
    assert isinstance(writer, WriterThread)
    for ts in range(5):
        writer.submit(outcome(jobs["icmp"], ok(rtt_ms=float(ts)), float(ts)))
    writer.submit(outcome(jobs["tcp"], ok(**{"tcp.connect_ms": 1.0}), 4.0))
    await writer.aclose()
    assert writer.stats.outcomes == 6 and writer.stats.lost == 0 and writer.queued == 0
    rows = await states(store)
    assert rows[jobs["icmp"].check_id].last_ts == 4.0 and rows[jobs["tcp"].check_id].state == "OK"


async def test_the_writer_thread_reports_a_store_it_cannot_open() -> None:
    writer = WriterThread("postgresql+asyncpg://noc@127.0.0.1:1/nothing")
    with pytest.raises(StoreError, match="database"):
        await writer.start()
    await writer.aclose()
