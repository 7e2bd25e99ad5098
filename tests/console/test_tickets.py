"""Tickets and time from the console, driven by Pilot over a real store: a ticket from an alert,
the queue, notes, status, assignee, the timer, quick time entry, conflicts and the wall."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from textual.widgets import DataTable, Input, Static

from noc.app import NocApp, severity_priority
from noc.psa import add_note, ensure_technician, start_timer, ticket_detail, update_ticket
from noc.screens.dashboard import DashboardScreen
from noc.screens.dialogs import NoteDialog, StatusDialog, TicketDialog
from noc.screens.tickets import TicketScreen, TicketsScreen
from noc.storage.models import Alert, Event, Ticket, TimeEntry
from noc.storage.store import Store
from noc.widgets.key_bar import KeyBar
from noc.widgets.status_bar import StatusBar
from tests.console.conftest import ready, settle
from tests.console.seed import NOW, Demo
from tests.console.test_app import dashboard, screen_text
from tests.console.test_hostile import add_hostile, assert_safe

MakeApp = Callable[..., NocApp]


async def entries(store: Store, ticket_id: int) -> list[TimeEntry]:
    async with store.read() as session:
        query = select(TimeEntry).where(TimeEntry.ticket_id == ticket_id)
        return list(await session.scalars(query))


async def open_detail(pilot: object, app: NocApp, ticket_id: int) -> TicketScreen:
    app.open_ticket(ticket_id)
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, TicketScreen), screen
    return screen


async def test_ticket_from_the_focused_alert(make_app: MakeApp, store: Store, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        shown = {d for _k, d in app.screen.query_one(KeyBar).items()}
        assert {"Ticket", "Go tkt", "Tickets"} <= shown
        await pilot.press("tab")  # the queue: acme-fw is down, on top
        assert dashboard(app).queue.cursor_alert.id == demo.alerts["fw-down"]  # type: ignore[union-attr]
        await pilot.press("t")
        dialog = app.screen
        assert isinstance(dialog, TicketDialog)
        assert dialog.query_one("#title", Input).value == "acme-fw: acme-fw is down: 100% loss"
        assert dialog.query_one("#description", Input).value  # the probe's output
        assert dialog.priority == "P1"
        await pilot.press("ctrl+s")
        await settle(pilot)
        async with store.read() as session:
            alert = await session.get(Alert, demo.alerts["fw-down"])
            assert alert is not None and alert.ticket_id is not None
            ticket = await session.get(Ticket, alert.ticket_id)
        assert ticket is not None
        assert ticket.number == 1043 and ticket.priority == "P1"
        assert ticket.client_id == demo.clients["acme"]
        assert ticket.device_id == demo.devices["acme-fw"]
        assert app.model.alerts[demo.alerts["fw-down"]].ticket_number == 1043
        assert "#1043" in screen_text(app)
        await pilot.press("t")  # a second ticket for the same alert is refused
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen) and app.screen.ticket_id == ticket.id
        assert "acme-fw is down" in screen_text(app)


async def test_cancelled_ticket_dialog_writes_nothing(make_app: MakeApp, store: Store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("tab", "t", "escape")
        await settle(pilot)
        async with store.read() as session:
            assert len(list(await session.scalars(select(Ticket)))) == 1


def test_priority_follows_severity() -> None:
    assert [severity_priority(s) for s in ("DOWN", "CRITICAL", "WARNING", "UNKNOWN", "info")] == [
        "P1",
        "P2",
        "P3",
        "P3",
        "P4",
    ]


async def test_g_on_an_alert_without_ticket_says_so(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("tab", "g")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("down", "g")  # the cpu alert has #1042
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert "acme-srv-02 CPU pegged" in screen_text(app)


async def test_ticket_queue_views_and_enter(make_app: MakeApp, store: Store, demo: Demo) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("T")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TicketsScreen)
        assert screen.rows == []  # nothing is bob's yet
        await pilot.press("3")
        await app.workers.wait_for_complete()
        assert [r.number for r in screen.rows] == [1042]
        await pilot.press("2")
        await app.workers.wait_for_complete()
        assert [r.number for r in screen.rows] == [1042]
        bob = await ensure_technician(store, "tech-bob")
        await update_ticket(store, ticket_id, 1, "tech-bob", assignee=bob.login, now=NOW)
        await pilot.press("1")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [(r.number, r.assignee) for r in screen.rows] == [(1042, "tech-bob")]
        assert screen.query_one(DataTable).row_count == 1
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        assert app.screen is screen


async def test_status_change_and_notes(make_app: MakeApp, store: Store, demo: Demo) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = await open_detail(pilot, app, ticket_id)
        await pilot.press("c")
        assert isinstance(app.screen, StatusDialog)
        assert app.screen.choices == ("in_progress", "waiting", "resolved", "closed")
        await pilot.press("down", "enter")  # in_progress, then waiting: saved
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = await ticket_detail(store, ticket_id)
        assert detail.ticket.status == "waiting", detail.ticket.status
        assert detail.ticket.version == 2 and screen.version == 2
        await pilot.press("n")
        assert isinstance(app.screen, NoteDialog)
        await pilot.press(*"called the ISP")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = await ticket_detail(store, ticket_id)
        assert [(n.body, n.internal, n.author) for n in detail.notes] == [
            ("called the ISP", True, "tech-bob")
        ]
        assert "called the ISP" in screen_text(app)


async def test_concurrent_edit_shows_the_conflict(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = await open_detail(pilot, app, ticket_id)
        assert screen.version == 1
        await pilot.press("c")
        assert isinstance(app.screen, StatusDialog)
        # Someone else, on another console, moves it on from the same version first; the bus
        # brings the change to the screen underneath, but the dialog was opened on version 1.
        await update_ticket(store, ticket_id, 1, "alice", status="waiting", now=NOW)
        app.poll_now()
        await app.workers.wait_for_complete()
        await pilot.press("down", "down", "enter")  # resolved, from version 1
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = await ticket_detail(store, ticket_id)
        assert detail.ticket.status == "waiting" and detail.ticket.version == 2  # not lost
        notice = screen.query_one("#conflict", Static)
        assert notice.has_class("-open") and notice.display
        text = screen_text(app)
        assert "changed by someone else" in text and "waiting" in text
        assert screen.version == 2  # reloaded: the next edit names what is there now
        screen.change(screen.version, status="resolved")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert (await ticket_detail(store, ticket_id)).ticket.status == "resolved"
        assert not notice.has_class("-open")


async def test_assign_to_me_and_to_nobody(make_app: MakeApp, store: Store, demo: Demo) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = await open_detail(pilot, app, ticket_id)
        await pilot.press("i")
        assert app.screen.query_one("#login", Input).value == "tech-bob"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = await ticket_detail(store, ticket_id)
        assert detail.logins.get(detail.ticket.assignee_id or 0) == "tech-bob"
        assert "assignee tech-bob" in screen_text(app) and screen.version == 2
        await pilot.press("i")
        app.screen.query_one("#login", Input).value = "nobody-here"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert (await ticket_detail(store, ticket_id)).ticket.version == 2  # unknown: refused
        await pilot.press("i")
        app.screen.query_one("#login", Input).value = ""
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = await ticket_detail(store, ticket_id)
        assert detail.ticket.assignee_id is None and detail.ticket.version == 3


async def test_timer_starts_and_stops_and_shows_everywhere(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    ticket_id = demo.tickets[1042]
    clock = [NOW]
    app = make_app(clock=lambda: clock[0])
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await open_detail(pilot, app, ticket_id)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        running = await entries(store, ticket_id)
        assert len(running) == 1 and running[0].ended_at is None
        assert app.timer is not None and app.timer.number == 1042
        clock[0] = NOW + 25 * 60
        await pilot.pause(1.1)  # the status bar redraws every second
        assert "⏱ #1042 0:25" in screen_text(app)
        await pilot.press("escape")  # the dashboard's status bar shows it too
        await pilot.pause()
        assert app.screen.query_one(StatusBar).timer == app.timer
        assert "⏱ #1042 0:25" in screen_text(app)
        await open_detail(pilot, app, ticket_id)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        done = await entries(store, ticket_id)
        assert len(done) == 1 and done[0].ended_at == NOW + 25 * 60 and done[0].minutes == 25
        assert app.timer is None and "⏱" not in screen_text(app)


async def test_running_timer_is_read_at_start(make_app: MakeApp, store: Store, demo: Demo) -> None:
    bob = await ensure_technician(store, "tech-bob")
    await start_timer(store, bob, demo.tickets[1042], now=NOW - 3600)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.pause()
        assert "⏱ #1042 1:00" in screen_text(app)


async def test_quick_entry_good_and_bad(make_app: MakeApp, store: Store, demo: Demo) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = await open_detail(pilot, app, ticket_id)
        await pilot.press("l")
        quick = screen.query_one("#quick", Input)
        assert quick.has_focus and quick.display
        await pilot.press(*"lots of work", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        error = screen.query_one("#quick-error", Static)
        assert error.display
        assert "start with a duration" in screen_text(app)
        assert await entries(store, ticket_id) == []
        assert quick.has_focus  # still there to correct
        quick.value = ""
        await pilot.press(*"25m remote fix, billable", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        logged = await entries(store, ticket_id)
        assert [(e.minutes, e.billable, e.work_type, e.note) for e in logged] == [
            (25, True, "remote", "fix")
        ]
        assert not quick.display and not error.display
        assert "billable 25 min" in screen_text(app)
        await pilot.press("l", "x", "escape")
        assert not quick.display and isinstance(app.screen, TicketScreen)


async def test_wall_refuses_ticket_edits(make_app: MakeApp, store: Store, demo: Demo) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app(wall=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        async with store.read() as session:
            events = len(list(await session.scalars(select(Event.id))))
        await pilot.press("t")  # on the wall screen itself
        app.start_ticket(app.model.alerts[demo.alerts["fw-down"]])
        screen = await open_detail(pilot, app, ticket_id)
        for key in ("s", "l", "n", "c", "i"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen, key
        await app.workers.wait_for_complete()
        assert not screen.query_one("#quick", Input).display
        refused = [str(n.message) for n in app._notifications if "refused" in str(n.message)]
        assert len(refused) == 7  # t on the wall, a ticket from an alert, then the five keys
        assert await entries(store, ticket_id) == []
        detail = await ticket_detail(store, ticket_id)
        assert detail.ticket.version == 1 and detail.notes == []
        async with store.read() as session:
            assert len(list(await session.scalars(select(Ticket)))) == 1
            assert len(list(await session.scalars(select(Event.id)))) == events
        assert app.timer is None


async def test_palette_opens_a_ticket(make_app: MakeApp, demo: Demo) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"ticket #1042")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.ticket_id == demo.tickets[1042]


async def test_hostile_alert_makes_a_ticket_shown_literally(
    make_app: MakeApp, store: Store, demo: Demo
) -> None:
    hostile = await add_hostile(store, demo)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        alert = app.model.device_alerts(hostile)[0]
        queue = dashboard(app).queue
        queue.focus()
        assert queue.move_to(alert.id)
        await pilot.press("t")
        assert isinstance(app.screen, TicketDialog)
        assert_safe(screen_text(app))
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        text = screen_text(app)
        assert_safe(text)
        assert "[@click=app.quit]" in text
        for y in range(1, 20):
            await pilot.click(offset=(40, y))
        await pilot.press("escape", "T", "3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TicketsScreen) and len(app.screen.rows) == 2
        assert_safe(screen_text(app))
        assert app.is_running and app.return_value is None


async def test_another_consoles_note_appears(make_app: MakeApp, store: Store, demo: Demo) -> None:
    ticket_id = demo.tickets[1042]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await open_detail(pilot, app, ticket_id)
        assert "customer called back" not in screen_text(app)
        await add_note(store, ticket_id, "alice", "customer called back", now=NOW)
        await settle(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "customer called back" in screen_text(app)
