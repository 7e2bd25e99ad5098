"""Fixtures of the notification tests: real webhook servers on loopback, and a seeded store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from noc.storage import Store
from tests.notify.support import Seed, seed_inventory
from tests.notify.webhook_server import WebhookServer


@pytest.fixture
async def server() -> AsyncIterator[WebhookServer]:
    started = WebhookServer()
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def other_server() -> AsyncIterator[WebhookServer]:
    started = WebhookServer()
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def seed(store: Store) -> Seed:
    return await seed_inventory(store)
