"""A real SQLite store in tmp_path, seeded with the demo rows of ``seed.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from noc.storage.store import Store
from tests.console.seed import Demo, open_store, seed_demo


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(tmp_path / "noc.db")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def demo(store: Store) -> Demo:
    return await seed_demo(store)
