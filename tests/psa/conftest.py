"""A real store for every PSA test: SQLite always, PostgreSQL too when NOC_TEST_PG_URL is set.

Each PostgreSQL test gets a database of its own (created from the admin URL, dropped after with
FORCE), so tests never see each other's tickets and can run in any order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from noc.psa import ensure_technician
from noc.storage import Store
from noc.storage.models import Client, Device, Site, Technician

PG_URL = os.environ.get("NOC_TEST_PG_URL", "")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "pg",
        id="pg",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="NOC_TEST_PG_URL is not set"),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'noc.db'}"
        return
    name = f"noc_psa_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def other_store(store: Store, store_url: str) -> AsyncIterator[Store]:
    """A second, independent Store on the same database: another console or process."""
    opened = await Store.open(store_url)
    try:
        yield opened
    finally:
        await opened.close()


@dataclass(frozen=True)
class Seed:
    client_id: int
    other_client_id: int
    device_id: int
    other_device_id: int
    alice: Technician
    bob: Technician


@pytest.fixture
async def seed(store: Store) -> Seed:
    """Two clients with one device each, and two technicians."""
    async with store.write() as session:
        acme, globex = Client(code="acme", name="Acme"), Client(code="globex", name="Globex")
        session.add_all([acme, globex])
        await session.flush()
        hq = Site(client_id=acme.id, code="hq", name="HQ")
        plant = Site(client_id=globex.id, code="plant", name="Plant")
        session.add_all([hq, plant])
        await session.flush()
        fw = Device(site_id=hq.id, name="acme-fw", address="127.0.0.1", address_key="127.0.0.1")
        sw = Device(
            site_id=plant.id, name="globex-sw", address="127.0.0.2", address_key="127.0.0.2"
        )
        session.add_all([fw, sw])
        await session.flush()
        ids = (acme.id, globex.id, fw.id, sw.id)
    alice = await ensure_technician(store, "alice", "Alice Admin")
    bob = await ensure_technician(store, "bob")
    return Seed(*ids, alice=alice, bob=bob)
