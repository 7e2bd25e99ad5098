"""The store's guarantees: migrations, SQLite's locking mode, the event bus, one-line errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, text

from noc.errors import StoreError
from noc.storage import EventRecord, Store, migrate
from noc.storage.models import Client, Technician


async def test_open_migrates_to_head_and_is_idempotent(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        assert await migrate.current_revision(store.engine) == migrate.head_revision()
        assert await migrate.upgrade(store.engine) is False  # nothing left to apply
    finally:
        await store.close()


async def test_sqlite_runs_in_wal_with_busy_timeout(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'noc.db'}", busy_timeout_ms=7000)
    try:
        async with store.read() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 7000
    finally:
        await store.close()


async def test_concurrent_read_modify_write_never_sees_database_is_locked(tmp_path: Path) -> None:
    """Two stores (two connections, as two processes would have) increment one counter.

    With a deferred BEGIN, a writer whose read snapshot went stale fails at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not retry); BEGIN
    IMMEDIATE makes it wait for the lock before reading, so every increment lands.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'noc.db'}"
    stores = [await Store.open(url), await Store.open(url)]
    try:
        async with stores[0].write() as session:
            session.add(Technician(login="counter", name="0"))

        async def bump(store: Store) -> None:
            async with store.write() as session:
                tech = await session.scalar(select(Technician).where(Technician.login == "counter"))
                assert tech is not None
                await asyncio.sleep(0)  # let the other writer interleave here
                tech.name = str(int(tech.name) + 1)

        await asyncio.gather(*(bump(stores[i % 2]) for i in range(60)))
        async with stores[0].read() as session:
            tech = await session.scalar(select(Technician).where(Technician.login == "counter"))
            assert tech is not None and tech.name == "60"
    finally:
        for s in stores:
            await s.close()


async def test_events_are_appended_in_order_and_tailed(store: Store) -> None:
    start = await store.last_event_id()
    async with store.write() as session:
        await store.append_events(
            session, [EventRecord(kind="test.a", data={"n": 1}), EventRecord(kind="test.b")]
        )
    async with store.write() as session:
        await store.append_events(session, [EventRecord(kind="test.c", actor="ann")])
    events = await store.events_after(start)
    assert [e.kind for e in events] == ["test.a", "test.b", "test.c"]
    assert events[0].data == {"n": 1} and events[2].actor == "ann"
    assert [e.kind for e in await store.events_after(events[1].id)] == ["test.c"]


async def test_failed_write_transaction_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.write() as session:
            session.add(Client(code="gone", name="Gone"))
            await session.flush()
            raise RuntimeError("boom")
    async with store.read() as session:
        assert await session.scalar(select(Client).where(Client.code == "gone")) is None


async def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"^database sqlite\+aiosqlite:///.*file/noc.db: "):
        await Store.open(f"sqlite+aiosqlite:///{blocker / 'noc.db'}")
    with pytest.raises(StoreError, match="database postgresql"):
        await Store.open("postgresql+asyncpg://noc@127.0.0.1:9/noc")


async def test_migrations_match_the_models(db_url: str) -> None:
    """A model change without its migration would otherwise only show on someone's upgrade."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from noc.storage.models import Base

    store = await Store.open(db_url)
    try:
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await store.close()
    assert diff == []
