"""A hostile device: 10,000 characters of escape sequences, bidi overrides and markup in its
name, its sysDescr, its interfaces and its alert. The console shows it literally, cut, and
nothing happens: no quit, no clipboard, no cleared screen."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from noc.app import NocApp
from noc.screens.dashboard import DashboardScreen
from noc.screens.device import DeviceScreen
from noc.storage.models import Alert, Check, CheckState, Device, Event
from noc.storage.store import Store
from tests.console.conftest import ready
from tests.console.seed import HOSTILE_NAME, NOW, Demo
from tests.console.test_app import screen_text

FORBIDDEN = ("\x1b", "\r", "\x07", "\u202e", "\x9b")


async def add_hostile(store: Store, demo: Demo) -> int:
    assert len(HOSTILE_NAME) >= 10_000
    async with store.write() as session:
        device = Device(
            site_id=demo.sites["hq"],
            name=HOSTILE_NAME,
            kind="[b]router[/b]",
            address="127.0.99.1",
            address_key="127.0.99.1",
            tags=["[/]", "[0]", "[@click=app.quit]"],
            description=HOSTILE_NAME,
        )
        session.add(device)
        await session.flush()
        check = Check(device_id=device.id, name="[@click=app.quit]snmp", type="snmp")
        session.add(check)
        await session.flush()
        session.add(
            CheckState(
                check_id=check.id,
                device_id=device.id,
                state="CRITICAL",
                since=NOW - 60,
                last_ts=NOW,
                output=HOSTILE_NAME,
                values={
                    "sys.descr": HOSTILE_NAME,
                    "vendor": "[@click=app.quit]Evil",
                    f"if.{HOSTILE_NAME[:300]}.oper_status": HOSTILE_NAME[:300],
                },
            )
        )
        session.add(
            Alert(
                dedup_key="hostile",
                device_id=device.id,
                check_id=check.id,
                condition="[/]",
                severity="CRITICAL",
                summary=HOSTILE_NAME,
                first_seen=NOW - 60,
                last_seen=NOW,
            )
        )
        return device.id


def assert_safe(text: str) -> None:
    for bad in FORBIDDEN:
        assert bad not in text, f"{bad!r} reached the screen"


async def test_hostile_device_is_shown_literally_and_nothing_happens(
    make_app: Callable[..., NocApp], store: Store, demo: Demo
) -> None:
    hostile = await add_hostile(store, demo)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        text = screen_text(app)
        assert_safe(text)
        assert "\\x1b[2J\\x1b]52;c;" in text  # shown as visible escapes, in the grid and queue
        assert dashboard.grid.select_device(hostile)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DeviceScreen)
        text = screen_text(app)
        assert_safe(text)
        assert "[@click=app.quit]" in text
        assert "[/][0]" in text
        assert "<U+202E>" in text
        assert "[@click=app.quit]Evil" in text
        # click everywhere the hostile text is drawn: a markup action would fire here
        for y in range(1, 20):
            await pilot.click(offset=(40, y))
        await pilot.pause()
        assert app.is_running and app.return_value is None
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"device ")
        await pilot.pause(0.3)
        assert_safe(screen_text(app))
        await pilot.press("escape")
        assert app.is_running
    async with store.read() as session:
        kinds = list(await session.scalars(select(Event.kind)))
        assert await session.scalar(select(func.count()).select_from(Event)) == 2
    assert kinds == ["check.state", "alert.opened"]  # only the seed's: nothing was written
