"""My alerts, the on-call view: every key of it, driven by Pilot over a real store.

The seed has four open alerts: acme-fw DOWN, acme-srv-02 CRITICAL (ticket #1042, unassigned),
acme-srv-01 WARNING (acknowledged by alice) and globex-nas UNKNOWN. tech-bob is at the keyboard.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest
from sqlalchemy import select
from textual.pilot import Pilot

from noc.alerting import acknowledge
from noc.app import NocApp
from noc.cli import build_parser
from noc.cli.common import CliContext
from noc.livemodel import LiveModel
from noc.psa import create_ticket, ensure_technician, update_ticket
from noc.readmodel import AlertRow, Snapshot
from noc.screens.dashboard import DashboardScreen
from noc.screens.device import DeviceScreen
from noc.screens.dialogs import AckDialog, MaintenanceDialog, SnoozeDialog, TicketDialog
from noc.screens.oncall import MyAlertsScreen
from noc.screens.tickets import TicketScreen
from noc.screens.wall import WallScreen
from noc.storage.models import Alert, AuditLog, Event, Ticket
from noc.storage.store import EventRecord, Store
from noc.widgets.key_bar import KeyBar
from tests.console.conftest import ready, settings, settle
from tests.console.seed import NOW, Demo
from tests.console.test_app import count, screen_text
from tests.console.test_hostile import add_hostile, assert_safe
from tests.console.test_units import tile

MakeApp = Callable[..., NocApp]


def mine(app: NocApp) -> MyAlertsScreen:
    screen = app.screen
    assert isinstance(screen, MyAlertsScreen), screen
    return screen


def listed(app: NocApp) -> list[int]:
    return [key[1] for key in mine(app).alerts.lines if key[0] == "a"]


def group_of(app: NocApp, alert_id: int) -> str:
    """The group whose title is the nearest above the alert's row."""
    lines = mine(app).alerts.lines
    group = ""
    for kind, ident in lines:
        if kind == "g":
            group = ("needs", "mine", "others")[ident]
        if (kind, ident) == ("a", alert_id):
            return group
    raise AssertionError(f"alert {alert_id} is not listed")


async def open_mine(pilot: Pilot[object], app: NocApp) -> MyAlertsScreen:
    await ready(pilot)
    await pilot.press("o")
    await pilot.pause()
    return mine(app)


async def alert_row(store: Store, alert_id: int) -> Alert:
    async with store.read() as session:
        alert = await session.get(Alert, alert_id)
    assert alert is not None
    return alert


# what it lists --------------------------------------------------------------------------------


async def test_needs_someone_then_mine_worst_and_oldest_first(
    make_app: MakeApp, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        assert screen.alerts.has_focus
        # alice's acknowledged disk alert is hers: not listed
        assert listed(app) == [demo.alerts["fw-down"], demo.alerts["cpu"], demo.alerts["nas"]]
        assert {group_of(app, a) for a in listed(app)} == {"needs"}
        assert screen.alerts.cursor_alert is not None
        assert screen.alerts.cursor_alert.id == demo.alerts["fw-down"]
        text = screen_text(app)
        assert "! NEEDS SOMEONE 3" in text and "◆ MINE 0" in text
        assert "nothing of yours" in text
        assert "1 taken or held" in text
        for row in (
            "! ▼ DOWN  30m acme-fw",
            "! ✖ CRIT   1h acme-srv-02",
            "! ? UNKN  15m globex-nas",
        ):
            assert row in text  # mark, severity symbol and label, age: none needs colour
        assert "unacked  #1042" in text and "Acme Co…" in text
        assert "/var 88% used" not in text


async def test_key_bar_names_every_key_at_80_columns(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert ("o", "Mine") in app.screen.query_one(KeyBar).items()  # the dashboard's
        await open_mine(pilot, app)
        bar = app.screen.query_one(KeyBar)
        shown = dict((d, k) for k, d in bar.items())
        for description, key in {
            "Back": "esc", "Open": "⏎", "Ack": "a", "Snooze": "z", "Ticket": "t", "Go tkt": "g",
            "Maint": "m", "All/mine": "v", "Reload": "r", "Quit": "q",
        }.items():  # fmt: skip
            assert shown.get(description) == key, description
        text = screen_text(app)
        for _key, description in bar.items():
            assert description in text, f"{description} is cut off the key bar"


async def test_cursor_moves_over_alerts_only(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        alerts = (await open_mine(pilot, app)).alerts
        await pilot.press("down", "j")
        assert alerts.cursor_key == ("a", demo.alerts["nas"])
        await pilot.press("down")  # nothing selectable below: the mine group is empty
        assert alerts.cursor_key == ("a", demo.alerts["nas"])
        await pilot.press("k", "up", "up")
        assert alerts.cursor_key == ("a", demo.alerts["fw-down"])
        await pilot.press("end")
        assert alerts.cursor_key == ("a", demo.alerts["nas"])
        await pilot.press("home")
        assert alerts.cursor_key == ("a", demo.alerts["fw-down"])


async def test_v_shows_what_others_took_and_hides_it_again(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("v")
        assert group_of(app, demo.alerts["disk"]) == "others"
        text = screen_text(app)
        assert "· TAKEN OR HELD 1" in text and "✔alice" in text and "v hides them" in text
        await pilot.press("v")
        assert demo.alerts["disk"] not in listed(app)
        assert not screen.alerts.everything


# acting on the focused alert -------------------------------------------------------------------


async def test_ack_in_two_keys(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("down")  # the cpu alert
        await pilot.press("a")
        assert isinstance(app.screen, AckDialog)
        await pilot.press("enter")
        await settle(pilot)
        alert = await alert_row(store, demo.alerts["cpu"])
        assert (alert.ack_by, alert.ack_note, alert.ack_expires) == ("tech-bob", "", None)
        assert app.screen is screen
        assert group_of(app, demo.alerts["cpu"]) == "mine"
        assert screen.alerts.cursor_key == ("a", demo.alerts["cpu"])  # it went with its alert
        text = screen_text(app)
        assert "! NEEDS SOMEONE 2" in text and "◆ MINE 1" in text
        assert "◆ ✖ CRIT   1h acme-srv-02" in text and "✔me" in text


async def test_ack_cancelled_writes_nothing(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mine(pilot, app)
        audit = await count(store, AuditLog)
        await pilot.press("a", "escape")
        await settle(pilot)
        assert isinstance(app.screen, MyAlertsScreen)
        assert await count(store, AuditLog) == audit


async def test_snooze_from_my_alerts(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("end", "z")  # globex-nas
        assert isinstance(app.screen, SnoozeDialog)
        await pilot.press("enter")  # an hour, the default
        await settle(pilot)
        assert (await alert_row(store, demo.alerts["nas"])).snoozed_until == NOW + 3600
        # held now, but it stays under the cursor until the cursor leaves it
        assert screen.alerts.cursor_key == ("a", demo.alerts["nas"])
        assert "z 1h" in screen_text(app)
        await pilot.press("up")
        assert demo.alerts["nas"] not in listed(app)
        assert "2 taken or held" in screen_text(app)


async def test_ticket_from_my_alerts_then_go_to_it(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("t")  # acme-fw, no ticket yet
        assert isinstance(app.screen, TicketDialog)
        await pilot.press("ctrl+s")
        await settle(pilot)
        alert = await alert_row(store, demo.alerts["fw-down"])
        assert alert.ticket_id is not None
        async with store.read() as session:
            number = await session.scalar(select(Ticket.number).where(Ticket.id == alert.ticket_id))
        assert app.screen is screen and f"#{number}" in screen_text(app)
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen) and app.screen.ticket_id == alert.ticket_id
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("down", "t")  # cpu already has #1042: said, no dialog
        assert app.screen is screen
        assert any("Already ticket #1042" in str(n.message) for n in app._notifications)


async def test_g_without_a_ticket_says_so(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mine(pilot, app)
        await pilot.press("g")  # acme-fw has none
        assert isinstance(app.screen, MyAlertsScreen)
        assert any("No ticket here" in str(n.message) for n in app._notifications)


async def test_enter_opens_the_device_and_escape_comes_back(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("down", "enter")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, DeviceScreen)
        assert app.screen.device_id == demo.devices["acme-srv-02"]
        await pilot.press("escape")
        assert app.screen is screen
        assert screen.alerts.cursor_key == ("a", demo.alerts["cpu"])
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("o", "backspace")
        assert isinstance(app.screen, DashboardScreen)


async def test_maintenance_dialog_for_the_alerts_device(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mine(pilot, app)
        await pilot.press("m")
        assert isinstance(app.screen, MaintenanceDialog)
        assert "acme-fw" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MyAlertsScreen)


async def test_reload_keeps_the_cursor(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("down", "down")
        await pilot.press("r")
        await ready(pilot)
        assert screen.alerts.cursor_key == ("a", demo.alerts["nas"])


# live -----------------------------------------------------------------------------------------


async def test_alert_acked_by_someone_else_leaves(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await acknowledge(store, demo.alerts["nas"], "alice", "mine", now=NOW)
        await settle(pilot)
        assert demo.alerts["nas"] not in listed(app)
        assert screen.alerts.cursor_key == ("a", demo.alerts["fw-down"])
        assert "globex-nas" not in screen_text(app)


async def test_alert_under_the_cursor_stays_until_the_cursor_leaves(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("down")  # cpu
        await acknowledge(store, demo.alerts["cpu"], "alice", "", now=NOW)
        await settle(pilot)
        assert screen.alerts.cursor_key == ("a", demo.alerts["cpu"])  # never the neighbour
        assert "✔alice" in screen_text(app)
        await pilot.press("down")
        assert screen.alerts.cursor_key == ("a", demo.alerts["nas"])
        assert demo.alerts["cpu"] not in listed(app)


async def test_ticket_assigned_to_me_brings_its_alert_in(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        disk = demo.alerts["disk"]  # alice acknowledged it: not listed
        assert disk not in listed(app)
        await ensure_technician(store, "tech-bob")
        ticket = await create_ticket(
            store, client_id=demo.clients["acme"], title="disk", actor="alice", alert_id=disk
        )
        await update_ticket(store, ticket.id, 1, "alice", assignee="tech-bob", now=NOW)
        await settle(pilot)
        assert group_of(app, disk) == "mine"
        assert f"#{ticket.number} me" in screen_text(app)
        assert screen.alerts.cursor_key == ("a", demo.alerts["fw-down"])
        # and a ticket handed to someone else takes it out of "needs someone"
        await ensure_technician(store, "alice")
        await update_ticket(store, demo.tickets[1042], 1, "alice", assignee="alice", now=NOW)
        await settle(pilot)
        assert demo.alerts["cpu"] not in listed(app)


async def test_new_alert_arrives_without_moving_the_cursor(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("down", "down")  # globex-nas, last
        async with store.write() as session:
            alert = Alert(
                dedup_key="initech-ap-01:ping",
                device_id=demo.devices["initech-ap-01"],
                check_id=demo.checks[("initech-ap-01", "ping")],
                condition="down",
                severity="DOWN",
                summary="initech-ap-01 is down",
                first_seen=NOW - 5,
                last_seen=NOW,
            )
            session.add(alert)
            await session.flush()
            await store.append_events(
                session,
                [EventRecord("alert.opened", alert.device_id, alert.check_id, alert.id, ts=NOW)],
            )
        await settle(pilot)
        assert listed(app)[:2] == [demo.alerts["fw-down"], alert.id]  # DOWN, then younger
        assert screen.alerts.cursor_key == ("a", demo.alerts["nas"])
        assert "initech-ap-01 is down" in screen_text(app)


async def test_a_storm_elsewhere_leaves_the_list_alone(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    from tests.console.seed import set_state

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mine(pilot, app)
        await pilot.press("end")
        lines = screen.alerts.lines
        await set_state(store, demo.checks[("globex-web-01", "ping")], "CRITICAL")
        await settle(pilot)
        assert screen.alerts.lines is lines  # not even rebuilt: no alert of that device
        await set_state(store, demo.checks[("acme-fw", "ping")], "UNREACHABLE")
        await settle(pilot)
        assert demo.alerts["fw-down"] not in listed(app)  # its parent's alert is the one


# starting on it, the palette, the wall --------------------------------------------------------


async def test_mine_start_in_attach_mode(make_app: MakeApp, demo: Demo) -> None:
    app = make_app(mine=True, attach=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, MyAlertsScreen)
        assert "ATTACH" in screen_text(app)
        assert listed(app)[0] == demo.alerts["fw-down"]
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_palette_opens_my_alerts_and_acts_there(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p", *"my alerts")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        screen = mine(app)
        await pilot.press("ctrl+p", *"alert globex-nas")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and screen.alerts.cursor_key == ("a", demo.alerts["nas"])
        await pilot.press("ctrl+p", *"acknowledge selected")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AckDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert (await alert_row(store, demo.alerts["nas"])).ack_by == "tech-bob"
        assert app.screen is screen


async def test_wall_refuses_every_change(make_app: MakeApp, store: Store) -> None:
    app = make_app(wall=True, mine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, MyAlertsScreen)
        events, audit = await count(store, Event), await count(store, AuditLog)
        for key in ("a", "z", "t", "m", "g", "enter"):
            await pilot.press(key)
            assert isinstance(app.screen, MyAlertsScreen), key
        refused = [str(n.message) for n in app._notifications if "refused" in str(n.message)]
        assert len(refused) == 6
        await settle(pilot)
        assert (await count(store, Event), await count(store, AuditLog)) == (events, audit)
        await pilot.press("escape")
        assert isinstance(app.screen, WallScreen)


# SSH, NO_COLOR, hostile text ------------------------------------------------------------------


async def test_no_color_reads_the_same(make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(mine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.no_color
        await pilot.press("v")
        text = screen_text(app)
        for seen in ("! ▼ DOWN", "! ✖ CRIT", "! ? UNKN", "· ▲ WARN", "unacked", "✔alice"):
            assert seen in text


async def test_hostile_alert_is_drawn_literally(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    await add_hostile(store, demo)
    app = make_app(mine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        text = screen_text(app)
        assert_safe(text)
        assert "\\x1b[2J\\x1b]52;c;" in text  # the device, as visible escapes
        for y in range(3, 10):
            await pilot.click(offset=(30, y))
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, MyAlertsScreen)


# the parts without a screen -------------------------------------------------------------------


def _alert(aid: int, device: int = 1, **kw: object) -> AlertRow:
    base: dict[str, object] = {
        "id": aid, "device_id": device, "device": f"dev-{device}", "client_id": 1,
        "client": "Client 1", "check": "ping", "condition": "down", "severity": "CRITICAL",
        "summary": "", "first_seen": NOW - aid, "last_seen": NOW, "count": 1, "ack_by": None,
        "ack_note": "", "ack_at": None, "ack_expires": None, "snoozed_until": None,
        "ticket_id": None, "ticket_number": None, "sla_due": None,
    }  # fmt: skip
    base.update(kw)
    return AlertRow(**base)  # type: ignore[arg-type]


def test_duty_decides_whose_alert_it_is() -> None:
    model = LiveModel()
    devices = (tile(1), tile(2, state="UNREACHABLE"), tile(3, in_maintenance=True))
    model.reset(Snapshot(devices, {}, (), (), 0, NOW))
    cases = {
        "mine ack": (_alert(1, ack_by="bob"), ("mine", "ack")),
        "mine ticket": (_alert(2, ack_by="alice", ticket_assignee="bob"), ("mine", "ticket")),
        "expired ack": (_alert(3, ack_by="bob", ack_expires=NOW - 1), ("needs", "")),
        "acked": (_alert(4, ack_by="alice"), ("others", "acked")),
        "their ticket": (_alert(5, ticket_assignee="alice"), ("others", "ticket")),
        "snoozed": (_alert(6, snoozed_until=NOW + 60), ("others", "snoozed")),
        "snooze over": (_alert(7, snoozed_until=NOW - 60), ("needs", "")),
        "window": (_alert(8, maintenance=True), ("others", "maintenance")),
        "window over": (_alert(9, maintenance=True, maintenance_until=NOW), ("needs", "")),
        "device window": (_alert(10, device=3), ("others", "maintenance")),
        "parent down": (_alert(11, device=2), ("others", "parent")),
        "unreachable": (_alert(12, severity="unreachable"), ("others", "parent")),
        "nobody": (_alert(13, ticket_id=5, ticket_number=1), ("needs", "")),
    }
    for name, (alert, expected) in cases.items():
        assert tuple(model.duty(alert, "bob", NOW)) == expected, name
    model.alerts = {a.id: a for a, _ in cases.values()}
    grouped = model.duties("bob", NOW)
    assert [a.id for a, _ in grouped["needs"]] == [13, 9, 7, 3]  # same severity: oldest first
    assert [a.id for a, _ in grouped["mine"]] == [2, 1]


def test_columns_fit_every_width() -> None:
    from noc.widgets.oncall_list import columns

    for width in (79, 129, 130, 199):
        widths = columns(width)
        assert sum(w for _, w in widths) + len(widths) - 1 == width
        assert dict(widths)["summary"] >= 20
    assert "check" not in dict(columns(129)) and "sla" in dict(columns(130))


# the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["--attach", "--mine"], ["console", "--attach", "--mine"]], ids=["noc", "console"]
)
def test_noc_mine_starts_on_my_alerts(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, clean_env: object
) -> None:
    import noc.console

    seen: dict[str, object] = {}

    def run_console(settings: object, **kwargs: object) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setattr(noc.console, "run_console", run_console)
    args = build_parser().parse_args(["--as", "tech-bob", *argv])  # attached: no poller child
    assert isinstance(args, argparse.Namespace) and args.mine
    assert args.handler(CliContext(settings(), "tech-bob"), args) == 0
    assert seen == {"technician": "tech-bob", "wall": False, "attach": True, "mine": True}
