"""A real SQLite store in tmp_path seeded with ``seed.py``'s demo rows, and apps over it."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from noc.app import NocApp
from noc.config import Settings
from noc.storage.store import Store
from tests.console.seed import NOW, Demo, open_store, seed_demo


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Clock text is local time: pin the zone so screens and snapshots never depend on it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


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


def settings() -> Settings:
    s = Settings()
    s.console.wall_rotate_s = 3600.0
    return s


@pytest.fixture
def make_app(store: Store, demo: Demo) -> Callable[..., NocApp]:
    def make(**kwargs: object) -> NocApp:
        options: dict[str, object] = {
            "clock": lambda: NOW,
            "poll_s": 0.05,
            "flush_s": 0.05,
            "freeze_heap": False,  # a full collection of pytest's whole heap on every load
        }
        options.update(kwargs)
        return NocApp(store, settings(), "tech-bob", **options)  # type: ignore[arg-type]

    return make


async def ready(pilot: Pilot[object]) -> None:
    """Wait for the snapshot to be on screen: no sleeps, just the workers and a refresh."""
    app = pilot.app
    assert isinstance(app, NocApp)
    for _ in range(200):
        if app.loaded:
            break
        await pilot.pause(0.01)
    assert app.loaded, "the snapshot never loaded"
    await app.workers.wait_for_complete()
    await pilot.pause()


async def settle(pilot: Pilot[object]) -> None:
    """Let a write reach the store, the tail read it and a flush apply it."""
    app = pilot.app
    assert isinstance(app, NocApp)
    await app.workers.wait_for_complete()
    for _ in range(3):
        app.poll_now()
        await app.workers.wait_for_complete()
        await pilot.pause(0.06)
    app.flush()
    await pilot.pause()
