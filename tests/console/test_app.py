"""Every key in the key bar and every flow of the console, driven by Pilot over a real store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from textual.widgets import Input

from noc.app import HIGH_CONTRAST, NocApp
from noc.screens.dashboard import DashboardScreen
from noc.screens.device import DeviceScreen
from noc.screens.dialogs import AckDialog, MaintenanceDialog, SnoozeDialog
from noc.screens.wall import WallScreen
from noc.storage.models import Alert, AuditLog, Event, MaintenanceWindow
from noc.storage.store import Store
from noc.widgets.alert_queue import AlertQueue
from noc.widgets.health_grid import HealthGrid
from noc.widgets.key_bar import KeyBar
from tests.console.conftest import ready, settle
from tests.console.seed import NOW, Demo, set_state

MakeApp = Callable[..., NocApp]


def dashboard(app: NocApp) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen), screen
    return screen


def grid_names(app: NocApp) -> list[str]:
    grid = dashboard(app).grid
    return [app.model.devices[key[1]].tile.name for key in grid.lines if key[0] == "d"]


def screen_text(app: NocApp) -> str:
    """What is on screen, as plain text lines, modal dialogs and toasts included."""
    update = app.screen._compositor.render_update(  # noqa: SLF001
        full=True,
        screen_stack=app._background_screens,  # noqa: SLF001
    )
    lines = getattr(update, "strips", [])
    return "\n".join("".join(seg.text for strip in line for seg in strip) for line in lines)


async def count(store: Store, model: type[object]) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_dashboard_shows_grid_queue_and_technician(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert grid_names(app) == [
            "acme-fw",
            "acme-core-rtr",
            "acme-srv-01",
            "acme-srv-02",
            "acme-sw-01",
            "globex-db-01",
            "globex-nas",
            "globex-web-01",
            "initech-ap-01",
        ]
        queue = dashboard(app).queue
        assert queue.lines == [
            demo.alerts["fw-down"],
            demo.alerts["cpu"],
            demo.alerts["disk"],
            demo.alerts["nas"],
        ]
        text = screen_text(app)
        assert "tech-bob" in text
        assert "▼ DOWN" in text and "✖ CRIT" in text  # symbol and label, not colour alone
        assert "#1042" in text and "✔alice" in text


async def test_key_bar_shows_every_binding_at_80_columns(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        bar = app.screen.query_one(KeyBar)
        shown = {description for _key, description in bar.items()}
        for expected in (
            "Open", "Fold client", "Ack", "Snooze", "Maint", "Filter", "Problems", "Pane",
            "Reload", "Quit", "Contrast", "Palette",
        ):  # fmt: skip
            assert expected in shown
        text = screen_text(app)
        for _key, description in bar.items():
            assert description in text, f"{description} is cut off the key bar"


async def test_cursor_moves_over_devices_only(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        grid = dashboard(app).grid
        names = grid_names(app)
        assert grid.cursor_device is not None
        assert app.model.devices[grid.cursor_device].tile.name == names[0]
        await pilot.press("down", "down")
        assert app.model.devices[grid.cursor_device].tile.name == names[2]
        await pilot.press("j", "up")
        assert app.model.devices[grid.cursor_device].tile.name == names[2]
        await pilot.press("end")
        assert app.model.devices[grid.cursor_device].tile.name == names[-1]
        await pilot.press("home")
        assert app.model.devices[grid.cursor_device].tile.name == names[0]
        await pilot.press("pagedown")
        assert grid.cursor_device is not None


async def test_enter_opens_device_detail_and_escape_returns(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("down", "enter")  # acme-core-rtr
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DeviceScreen)
        text = screen_text(app)
        assert "acme-core-rtr" in text and "Cisco" in text and "IOS 12.2(55)SE5" in text
        assert "Uptime" in text and "41d" in text
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_enter_on_an_alert_opens_its_device(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("tab")
        assert dashboard(app).queue.has_focus
        await pilot.press("down", "enter")  # the cpu alert
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, DeviceScreen)
        assert app.screen.device_id == demo.devices["acme-srv-02"]


async def test_ack_with_note(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("tab", "down")  # queue, the cpu alert
        await pilot.press("a")
        assert isinstance(app.screen, AckDialog)
        await pilot.press(*"on it [b]now[/b]")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        async with store.read() as session:
            alert = await session.get(Alert, demo.alerts["cpu"])
        assert alert is not None
        assert (alert.ack_by, alert.ack_note) == ("tech-bob", "on it [b]now[/b]")
        assert app.model.alerts[demo.alerts["cpu"]].ack_by == "tech-bob"
        assert "✔tech-…" in screen_text(app)
        assert dashboard(app).queue.cursor_key == demo.alerts["cpu"]


async def test_ack_from_the_grid_takes_the_devices_worst_alert(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert dashboard(app).grid.select_device(demo.devices["acme-fw"])
        await pilot.press("a")
        await pilot.press("ctrl+s")
        await settle(pilot)
        async with store.read() as session:
            alert = await session.get(Alert, demo.alerts["fw-down"])
        assert alert is not None and alert.ack_by == "tech-bob"


async def test_ack_cancelled_writes_nothing(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        before = await count(store, AuditLog)
        await pilot.press("a", "escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert await count(store, AuditLog) == before


async def test_ack_on_a_device_without_alerts_says_so(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        dashboard(app).grid.select_device(demo.devices["globex-db-01"])
        await pilot.press("a")
        assert isinstance(app.screen, DashboardScreen)
        assert any("No alert selected" in str(n.message) for n in app._notifications)


async def test_snooze(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("tab", "end", "z")  # the nas alert, last
        assert isinstance(app.screen, SnoozeDialog)
        duration = app.screen.query_one("#duration", Input)
        duration.value = "30m"
        await pilot.press("enter")
        await settle(pilot)
        async with store.read() as session:
            alert = await session.get(Alert, demo.alerts["nas"])
        assert alert is not None and alert.snoozed_until == NOW + 1800
        assert "1 snoozed" in screen_text(app)


async def test_snooze_bad_duration_keeps_dialog_open(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("tab", "z")
        app.screen.query_one("#duration", Input).value = "soon"
        await pilot.press("enter")
        assert isinstance(app.screen, SnoozeDialog)
        assert "30m" in screen_text(app)  # the one-line hint names the forms
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_maintenance_on_a_device(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        dashboard(app).grid.select_device(demo.devices["acme-srv-01"])
        await pilot.press("m")
        assert isinstance(app.screen, MaintenanceDialog)
        await pilot.press("enter")  # no reason yet: refused, dialog stays
        assert isinstance(app.screen, MaintenanceDialog)
        app.screen.query_one("#reason", Input).value = "disk swap"
        await pilot.press("ctrl+s")
        await settle(pilot)
        async with store.read() as session:
            windows = list(await session.scalars(select(MaintenanceWindow)))
        assert [(w.scope, w.scope_id, w.reason, w.created_by) for w in windows] == [
            ("device", demo.devices["acme-srv-01"], "disk swap", "tech-bob")
        ]
        assert windows[0].ends_at == NOW + 7200
        await settle(pilot)  # the maintenance event reloads the snapshot
        await ready(pilot)
        assert app.model.devices[demo.devices["acme-srv-01"]].tile.in_maintenance


async def test_filters_by_client_site_tag_state_and_text(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)

        async def apply(query: str) -> list[str]:
            await pilot.press("slash")
            field = dashboard(app).filter_bar.input
            assert field.has_focus
            field.value = query
            await pilot.press("enter")
            await pilot.pause()
            assert dashboard(app).grid.has_focus
            return grid_names(app)

        assert await apply("client:globex") == ["globex-db-01", "globex-nas", "globex-web-01"]
        assert await apply("site:branch") == ["acme-fw"]
        assert await apply("tag:db") == ["acme-srv-02", "globex-db-01"]
        assert await apply("state:down,crit") == ["acme-fw", "acme-srv-02"]
        assert await apply("srv 127.0.10") == ["acme-srv-01", "acme-srv-02"]
        queue = dashboard(app).queue
        assert len(queue.lines) == 2  # the queue follows the grid's filter
        assert "2/9" in screen_text(app)
        await pilot.press("slash", "escape")
        assert len(grid_names(app)) == 9
        await pilot.press("slash")
        dashboard(app).filter_bar.input.value = "state:bogus"
        await pilot.pause()
        assert "unknown state" in screen_text(app)
        assert len(grid_names(app)) == 9  # a bad query keeps the last good filter


async def test_problems_only_toggle(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("p")
        assert grid_names(app) == [
            "acme-fw",
            "acme-srv-01",
            "acme-srv-02",
            "acme-sw-01",
            "globex-nas",
        ]
        assert "problems only" in screen_text(app)
        await pilot.press("p")
        assert len(grid_names(app)) == 9


async def test_space_folds_a_client(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        grid = dashboard(app).grid
        await pilot.press("space")
        assert grid.cursor_key == ("c", app.model.devices[app.model.order[0]].tile.client_id)
        assert "acme-fw" not in grid_names(app) and "globex-nas" in grid_names(app)
        await pilot.press("space")
        assert "acme-fw" in grid_names(app)


async def test_live_update_keeps_the_cursor(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        grid = dashboard(app).grid
        grid.select_device(demo.devices["globex-web-01"])
        await pilot.pause()
        before_key, before_row = grid.cursor_key, grid.cursor - round(grid.scroll_y)
        await set_state(store, demo.checks[("globex-db-01", "ping")], "CRITICAL", output="60%")
        await set_state(store, demo.checks[("initech-ap-01", "ping")], "DOWN", in_event=False)
        await settle(pilot)
        assert app.model.devices[demo.devices["globex-db-01"]].state == "CRITICAL"
        assert app.model.devices[demo.devices["initech-ap-01"]].state == "DOWN"
        assert grid.cursor_key == before_key
        assert grid.cursor - round(grid.scroll_y) == before_row
        assert "globex: 60%" not in screen_text(app)
        assert "ping: 60%" in screen_text(app)


async def test_live_update_under_problems_only_keeps_the_selected_row(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("p")
        grid = dashboard(app).grid
        grid.select_device(demo.devices["acme-srv-02"])
        await pilot.pause()
        await set_state(store, demo.checks[("acme-srv-02", "cpu")], "OK")  # no longer a problem
        await set_state(store, demo.checks[("acme-fw", "ping")], "OK")  # above the cursor
        await settle(pilot)
        assert grid.cursor_key == ("d", demo.devices["acme-srv-02"])  # pinned under the cursor
        assert "acme-fw" not in grid_names(app)
        await pilot.press("up")
        assert grid.cursor_device != demo.devices["acme-srv-02"]
        await pilot.press("p", "p")  # a filter change drops the pinned row
        assert "acme-srv-02" not in grid_names(app)


async def test_rows_removed_above_keep_the_cursor_on_its_screen_row(tmp_path: Path) -> None:
    from tests.console.conftest import settings
    from tests.console.seed import open_store, seed_bulk

    store = await open_store(tmp_path / "bulk.db")
    try:
        await seed_bulk(store, 300, clients=2, sites_per_client=1)
        app = NocApp(store, settings(), "bob", clock=lambda: NOW, poll_s=0.05, flush_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            await pilot.press("p")
            grid = dashboard(app).grid
            problems = [key[1] for key in grid.lines if key[0] == "d"]
            target = problems[40]
            grid.select_device(target)
            await pilot.pause()
            row = grid.cursor - round(grid.scroll_y)
            assert round(grid.scroll_y) > 5
            for did in problems[30:35]:  # five rows above the cursor leave the list
                await set_state(store, did, "OK")
            await settle(pilot)
            assert grid.cursor_key == ("d", target)
            assert grid.cursor - round(grid.scroll_y) == row
            assert len([k for k in grid.lines if k[0] == "d"]) == len(problems) - 5
    finally:
        await store.close()


async def test_palette_jumps_to_a_device(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"device globex-nas")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DeviceScreen)
        assert app.screen.device_id == demo.devices["globex-nas"]
        await pilot.press("escape")
        assert dashboard(app).grid.cursor_device == demo.devices["globex-nas"]


async def test_palette_filters_to_a_client(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"client initech")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert grid_names(app) == ["initech-ap-01"]


async def test_contrast_toggle_and_reload(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("f2")
        assert app.theme == HIGH_CONTRAST.name
        await pilot.press("f2")
        assert app.theme == "textual-dark"
        await pilot.press("r")
        await ready(pilot)
        assert len(grid_names(app)) == 9


async def test_quit(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("q")
    assert app.return_code == 0


async def test_wall_refuses_every_change(make_app: MakeApp, store: Store) -> None:
    app = make_app(wall=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, WallScreen)
        events, audit = await count(store, Event), await count(store, AuditLog)
        for key in ("a", "z", "m", "enter"):
            await pilot.press(key)
            assert isinstance(app.screen, WallScreen)
        refused = [str(n.message) for n in app._notifications if "refused" in str(n.message)]
        assert len(refused) == 4
        app.start_ack(next(iter(app.model.alerts.values())))  # the palette's path, too
        assert isinstance(app.screen, WallScreen)
        await settle(pilot)
        assert (await count(store, Event), await count(store, AuditLog)) == (events, audit)


async def test_wall_rotates_problems_first(make_app: MakeApp) -> None:
    app = make_app(wall=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        wall = app.screen
        assert isinstance(wall, WallScreen)
        assert [c.name for c in wall.clients()] == ["Acme Corp", "Globex", "Initech"]
        text = screen_text(app)
        assert "Acme Corp" in text and "acme-fw" in text and "1/3" in text
        await pilot.press("right")
        assert "globex-nas" in screen_text(app)
        await pilot.press("left", "left")
        assert "initech-ap-01" in screen_text(app)
        await pilot.press("space")
        assert "paused" in screen_text(app)


async def test_technician_name_is_shown_safely(store: Store, demo: Demo) -> None:
    from tests.console.conftest import settings

    app = NocApp(store, settings(), "\x1b[2J[@click=app.quit]x", clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        text = screen_text(app)
        assert "\\x1b[2J[@click=app." in text  # escaped, cut to its width, and shown as is
        assert app.is_running


async def test_store_errors_are_one_line_and_the_app_keeps_running(
    make_app: MakeApp, store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await store.engine.dispose()
        async with store.write() as session:
            from sqlalchemy import text

            await session.execute(text("ALTER TABLE events RENAME TO events_gone"))
        await settle(pilot)
        assert app.store_error and "\n" not in app.store_error
        assert "no such table" in screen_text(app)
        assert isinstance(app.screen, DashboardScreen)


def test_grid_and_queue_are_line_api_widgets() -> None:
    from textual.scroll_view import ScrollView

    assert issubclass(HealthGrid, ScrollView) and issubclass(AlertQueue, ScrollView)


async def test_sparklines_follow_new_samples(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app(history_s=3600.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        db = demo.devices["globex-db-01"]
        before = app.model.devices[db].tile.latency
        ids = await store.series_ids([(db, demo.checks[("globex-db-01", "ping")], "rtt")])
        (sid,) = ids.values()
        await store.write_samples([(sid, NOW - 30, 0.5)])  # a spike in the last bucket
        app.refresh_history()
        await app.workers.wait_for_complete()
        await pilot.pause()
        after = app.model.devices[db].tile.latency
        assert after != before and after[-1] > before[-1]


async def test_no_color_keeps_every_state_readable(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.no_color
        text = screen_text(app)
        for badge in ("▼ DOWN", "✖ CRIT", "▲ WARN", "? UNKN", "~ UNRE", "✓ OK"):
            assert badge in text


async def test_palette_on_the_wall_jumps_to_a_client(make_app: MakeApp) -> None:
    app = make_app(wall=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"client initech")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WallScreen)
        assert "initech-ap-01" in screen_text(app)


async def test_device_screen_actions(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app.open_device(demo.devices["acme-srv-02"])
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DeviceScreen)
        for key, dialog in (("a", AckDialog), ("z", SnoozeDialog), ("m", MaintenanceDialog)):
            await pilot.press(key)
            assert isinstance(app.screen, dialog)
            await pilot.press("escape")
            assert isinstance(app.screen, DeviceScreen)
        await pilot.press("z")
        await pilot.press("enter")  # the default: an hour
        await settle(pilot)
        async with store.read() as session:
            alert = await session.get(Alert, demo.alerts["cpu"])
        assert alert is not None and alert.snoozed_until == NOW + 3600
        assert isinstance(app.screen, DeviceScreen)
        await pilot.press("backspace")
        assert isinstance(app.screen, DashboardScreen)


async def test_each_load_freezes_the_heap_and_frees_what_the_last_one_froze(
    store: Store, demo: Demo
) -> None:
    """The console's default: a full collection never walks the snapshot (``settle_heap``)."""
    import gc
    import weakref

    from tests.console.conftest import settings

    class Node:
        me: object = None

    app = NocApp(store, settings(), "tech-bob", clock=lambda: NOW, poll_s=0.05, flush_s=0.05)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            assert gc.get_freeze_count() > 10_000
            node = Node()
            node.me = node  # a cycle only the collector can free
            gone = weakref.ref(node)
            app.load()
            await app.workers.wait_for_complete()  # frozen with everything alive at the load
            del node
            gc.collect()
            assert gone() is not None  # a full collection no longer looks at it
            app.load()
            await app.workers.wait_for_complete()
            assert gone() is None  # the next load let go of what the last one froze
            assert len(grid_names(app)) == 9
    finally:
        gc.unfreeze()
