"""The seeded store of the notification tests, for the automation tests too."""

from __future__ import annotations

import pytest

from noc.storage import Store
from tests.notify.support import Seed, seed_inventory


@pytest.fixture
async def seed(store: Store) -> Seed:
    return await seed_inventory(store)
