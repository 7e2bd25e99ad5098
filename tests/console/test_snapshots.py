"""Screenshots of the dashboard, my alerts, device detail, wall and tickets at 80x24 (SSH) and
200x60 (a NOC wall).

The clock is frozen and the store is seeded with fixed times, so these never drift. Update with
``pytest tests/console/test_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from noc.app import NocApp
from noc.psa import add_entry, add_note, ensure_technician, start_timer, update_ticket
from noc.storage.store import Store
from tests.console.conftest import ready, settings
from tests.console.seed import NOW, Demo, open_store, seed_demo

SIZES = [(80, 24), (200, 60)]


Extra = Callable[[Store, Demo], Awaitable[None]]


async def _ticket_work(store: Store, demo: Demo) -> None:
    """Ticket #1042 mid-work: assigned, two notes, time logged and bob's timer running."""
    ticket_id = demo.tickets[1042]
    bob = await ensure_technician(store, "tech-bob")
    await update_ticket(store, ticket_id, 1, "tech-bob", assignee="tech-bob", now=NOW - 3000)
    await add_note(store, ticket_id, "tech-bob", "graphs show a runaway backup job", now=NOW - 2400)
    await add_note(
        store, ticket_id, "tech-bob", "We are on it; no action needed.", False, now=NOW - 2300
    )
    await add_entry(store, bob, ticket_id, 25, True, "remote", "killed the job", now=NOW - 1800)
    await start_timer(store, bob, ticket_id, now=NOW - 900)


def _factory(path: Path, extra: Extra | None = None) -> Callable[..., NocApp]:
    """Snapshot tests run the app in its own event loop: seed first, then hand it a store."""

    async def seed() -> None:
        store = await open_store(path)
        try:
            demo = await seed_demo(store)
            if extra is not None:
                await extra(store, demo)
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


@pytest.fixture
def app_factory(tmp_path: Path) -> Callable[..., NocApp]:
    return _factory(tmp_path / "snap.db")


@pytest.fixture
def ticket_app_factory(tmp_path: Path) -> Callable[..., NocApp]:
    return _factory(tmp_path / "snap.db", _ticket_work)


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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_ticket_detail(snap_compare, ticket_app_factory, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("tab", "down", "g")  # the cpu alert's ticket
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(ticket_app_factory(), run_before=run_before, terminal_size=size)


def test_ticket_dialog(snap_compare, app_factory) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("tab", "t")
        await pilot.pause()

    assert snap_compare(app_factory(), run_before=run_before, terminal_size=(80, 24))


def test_ticket_queue(snap_compare, ticket_app_factory) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await ready(pilot)
        await pilot.press("T")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(ticket_app_factory(), run_before=run_before, terminal_size=(80, 24))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_my_alerts(snap_compare, ticket_app_factory, size) -> None:  # type: ignore[no-untyped-def]
    """Started with ``--mine``: #1042 is bob's, so its alert is his; three need someone."""
    assert snap_compare(ticket_app_factory(mine=True), run_before=ready, terminal_size=size)
