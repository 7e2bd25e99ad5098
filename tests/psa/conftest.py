"""Seed data for the PSA tests; the `store` and `db_url` fixtures come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from noc.psa import ensure_technician
from noc.storage import Store
from noc.storage.models import Client, Device, Site, Technician


@pytest.fixture
async def other_store(store: Store, db_url: str) -> AsyncIterator[Store]:
    """A second, independent Store on the same database: another console or process."""
    opened = await Store.open(db_url)
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
