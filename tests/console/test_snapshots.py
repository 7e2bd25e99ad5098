"""Screenshots of the dashboard, device detail and wall at 80x24 (SSH) and 200x60 (a NOC wall).

The clock is frozen and the store is seeded with fixed times, so these never drift. Update with
``pytest tests/console/test_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from noc.app import NocApp
from noc.storage.store import Store
from tests.console.conftest import ready, settings
from tests.console.seed import NOW, open_store, seed_demo

SIZES = [(80, 24), (200, 60)]


@pytest.fixture
def app_factory(tmp_path: Path) -> Callable[..., NocApp]:
    """Snapshot tests run the app in its own event loop: seed first, then hand it a store."""
    path = tmp_path / "snap.db"

    async def seed() -> None:
        store = await open_store(path)
        try:
            await seed_demo(store)
        finally:
            await store.close()

    asyncio.run(seed())

    def make(**kwargs: object) -> NocApp:
        store = Store(f"sqlite+aiosqlite:///{path}")
        return NocApp(
            store,
            settings(),
            "tech-bob",
            clock=lambda: NOW,
            poll_s=3600.0,
            flush_s=3600.0,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, app_factory, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_factory(), run_before=ready, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard_problems_only_on_alert_queue(  # type: ignore[no-untyped-def]
    snap_compare, app_factory, size
) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("p", "tab", "down")

    assert snap_compare(app_factory(), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_device_detail(snap_compare, app_factory, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("down", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app_factory(), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_wall(snap_compare, app_factory, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_factory(wall=True), run_before=ready, terminal_size=size)


def test_ack_dialog(snap_compare, app_factory) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("tab", "down", "a")
        await pilot.pause()

    assert snap_compare(app_factory(), run_before=run_before, terminal_size=(80, 24))


def test_high_contrast(snap_compare, app_factory) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("f2")

    assert snap_compare(app_factory(), run_before=run_before, terminal_size=(80, 24))
