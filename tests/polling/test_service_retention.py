"""The poller keeps the store bounded: retention runs beside the scheduler unless turned off."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from noc.config import RetentionSettings, Settings
from noc.polling.adapters import Adapters
from noc.polling.service import PollerService
from noc.storage import Store
from noc.storage.models import Check, Sample, SampleRollup
from tests.polling.inventory import device, seed
from tests.polling.peers import Listener, RawTcpAdapter

TINY = RetentionSettings(raw_hours=1, rollup_5m_days=1, rollup_1h_days=2)


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    server = await Listener("close").start()
    try:
        yield server
    finally:
        await server.close()


async def seed_old(store: Store, tmp_path: Path, port: int, now: float) -> tuple[int, float]:
    """A polled device whose series already holds two hours of samples from hours ago and an
    hourly bucket from days ago, all outside ``TINY``; returns the series and the hours' start.
    """
    checks = f'[{{ type = "tcp", port = {port}, interval = "1s" }}]'
    await seed(store, tmp_path, device("box", "127.0.0.1", checks))
    async with store.read() as session:
        check = (await session.scalars(select(Check))).one()
    ids = await store.series_ids([(check.device_id, check.id, "tcp.connect_ms")])
    sid = ids[(check.id, "tcp.connect_ms")]
    old = math.floor((now - 4 * 3600) / 3600) * 3600
    await store.write_samples([(sid, old + 60 * i + 1.0, float(i % 9)) for i in range(120)])
    async with store.write() as session:
        session.add(
            SampleRollup(
                series_id=sid,
                resolution=3600,
                bucket=int(old) - 3 * 86400,
                min=1.0,
                max=1.0,
                sum=1.0,
                count=1,
            )
        )
    return sid, old


def service(store: Store, *, retention: bool) -> PollerService:
    settings = Settings()
    settings.retention = TINY
    adapters = Adapters(factories={})
    adapters.register(RawTcpAdapter())
    return PollerService(
        store,
        settings,
        adapters=adapters,
        reload_every=0.05,
        flush_interval=0.05,
        retention=retention,
    )


async def samples(store: Store, *where: object) -> int:
    async with store.read() as session:
        query = select(func.count()).select_from(Sample).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(query) or 0)


async def rolled(store: Store, sid: int) -> dict[int, tuple[int, int]]:
    """Per resolution: how many buckets, and how many samples they account for."""
    async with store.read() as session:
        rows = await session.execute(
            select(SampleRollup.resolution, func.count(), func.sum(SampleRollup.count))
            .where(SampleRollup.series_id == sid)
            .group_by(SampleRollup.resolution)
        )
        return {int(res): (int(n), int(total)) for res, n, total in rows}


async def run_until(poller: PollerService, reached: Callable[[], Awaitable[bool]]) -> None:
    """Run the service until ``reached()`` holds, then stop it as a signal would."""
    stop = asyncio.Event()
    runner = asyncio.create_task(poller.run(stop))
    try:
        async with asyncio.timeout(15):
            while not await reached():
                assert not runner.done(), "the service stopped by itself"
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        async with asyncio.timeout(15):
            await runner


async def test_a_running_poller_rolls_up_and_prunes_old_samples(
    store: Store, tmp_path: Path, listener: Listener
) -> None:
    now = time.time()
    sid, old = await seed_old(store, tmp_path, listener.port, now)
    poller = service(store, retention=True)

    async def pruned_and_polling() -> bool:
        old_left = await samples(store, Sample.ts < now - 3600)
        return old_left == 0 and await samples(store, Sample.ts >= now - 60) > 0

    await run_until(poller, pruned_and_polling)

    assert poller.retention is not None and poller.retention.last is not None
    assert (poller.retention.last.buckets, poller.retention.last.pruned) == (24 + 2, 120 + 1)
    # Every old sample was rolled up before it was dropped; the days-old bucket is gone.
    assert await rolled(store, sid) == {300: (24, 120), 3600: (2, 120)}
    assert poller.writer is not None and poller.writer.stats.lost == 0


async def test_a_poller_started_without_retention_leaves_samples_alone(
    store: Store, tmp_path: Path, listener: Listener
) -> None:
    now = time.time()
    sid, _ = await seed_old(store, tmp_path, listener.port, now)
    poller = service(store, retention=False)

    async def polled_twice() -> bool:
        return await samples(store, Sample.ts >= now - 60) >= 2

    await run_until(poller, polled_twice)

    assert poller.retention is None
    assert await samples(store, Sample.ts < now - 3600) == 120
    assert await rolled(store, sid) == {3600: (1, 1)}
