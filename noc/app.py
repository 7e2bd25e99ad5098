"""The console: a Textual app over the store that reads a snapshot, then follows the event bus.

The app probes nothing. It loads a snapshot (``noc.readmodel``), then a poll worker tails the
events, reads back what they point at, and queues the result in the ``LiveModel``; a flush on an
interval applies everything queued at once and tells each screen what changed, so a storm of
changes costs one repaint of the lines on screen per flush. A poll never overlaps itself: the
next one is scheduled when the last ends. Flushes wait while a dialog is open.

Alert actions (ack, snooze, maintenance) open a dialog, then write through ``noc.alerting`` in a
worker; tickets and time write through ``noc.psa``. In wall mode every one of them is refused
with a notice. The technician's running timer is the app's, so every screen's status bar shows it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.theme import Theme
from textual.timer import Timer

from noc.alerting import acknowledge, add_maintenance, snooze
from noc.config import Settings
from noc.errors import NocError
from noc.livemodel import Flushed, LiveModel
from noc.palette import NocCommands
from noc.psa import create_ticket, ensure_technician, start_timer, stop_timer
from noc.readmodel import (
    AlertRow,
    EventTail,
    fetch_changes,
    load_history,
    load_snapshot,
    severity_rank,
)
from noc.screens.dialogs import (
    AckDialog,
    AckResult,
    MaintenanceDialog,
    MaintenanceResult,
    SnoozeDialog,
    SnoozeResult,
    TicketDialog,
    TicketResult,
)
from noc.storage.models import Technician
from noc.storage.store import Store
from noc.textsafe import clean
from noc.ticketrows import RunningTimer, technician_timer
from noc.widgets.status_bar import StatusBar

HIGH_CONTRAST = Theme(
    name="noc-high-contrast",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ffff00",
    warning="#ffaf00",
    error="#ff0000",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    dark=True,
    variables={
        "block-cursor-background": "#ffffff",
        "block-cursor-foreground": "#000000",
        "block-cursor-blurred-background": "#5f5f5f",
        "block-cursor-blurred-foreground": "#ffffff",
        "footer-key-foreground": "#ffff00",
        "text-muted": "#d0d0d0",
    },
)


T = TypeVar("T")


class LiveScreen(Protocol):
    def model_reset(self) -> None: ...

    def model_changed(self, flushed: Flushed) -> None: ...


class NocApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "noc"
    COMMANDS = App.COMMANDS | {NocCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("f2", "toggle_contrast", "Contrast"),
        Binding("ctrl+p", "command_palette", "Palette", priority=True),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | q | Quit. |
    | f2 | Switch between the configured theme and high contrast. |
    | ctrl+p | The command palette: jump to a client, device or alert; run an action. |
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        technician: str,
        wall: bool = False,
        attach: bool = False,
        *,
        mine: bool = False,
        clock: Callable[[], float] = time.time,
        poll_s: float | None = None,
        flush_s: float = 0.25,
        history: bool = True,
        history_s: float = 60.0,
        freeze_heap: bool = True,
    ) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.technician = clean(technician, 64) or "unknown"
        self.wall = wall
        self.attach = attach
        self.mine = mine
        """Start on "my alerts" (over the dashboard, or the wall, that escape returns to)."""
        self.clock = clock
        self.poll_s = poll_s if poll_s is not None else max(settings.console.refresh_s, 0.05)
        self.flush_s = flush_s
        self.history = history
        self.history_s = history_s
        self.freeze_heap = freeze_heap
        """Keep each loaded snapshot out of the garbage collector's full passes (``settle_heap``);
        off only where many apps share one process, as in the tests."""
        self.model = LiveModel()
        self.tail: EventTail | None = None
        self.loaded = False
        self._poll_timer: Timer | None = None
        self._polling = False
        self._poll_again = False
        self.store_error = ""
        self._store_tasks: set[asyncio.Task[object]] = set()
        self._closing = False
        self.timer: RunningTimer | None = None
        """The technician's running timer, read at load and changed by ``switch_timer``."""
        self._technician_row: Technician | None = None

    @property
    def mode(self) -> str:
        return "wall" if self.wall else "attach" if self.attach else "live"

    # start-up and shutdown --------------------------------------------------------------------

    async def guarded(self, awaitable: Awaitable[T]) -> T:
        """Run a store call so that cancelling its worker never abandons it half-way.

        A cancelled await would leave aiosqlite's thread finishing the query after the loop
        closed; the call runs on as a task that shutdown waits for.
        """
        if self._closing:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never started: nothing to wait for
            raise asyncio.CancelledError
        task: asyncio.Task[T] = asyncio.ensure_future(awaitable)
        self._store_tasks.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._store_tasks.discard)
        return await asyncio.shield(task)

    async def on_unmount(self) -> None:
        """Let store calls in flight finish; a worker still running starts no new one."""
        self._closing = True
        if self._poll_timer is not None:
            self._poll_timer.stop()
        deadline = time.monotonic() + 10
        while self._store_tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._store_tasks), timeout=1)

    def on_mount(self) -> None:
        self.register_theme(HIGH_CONTRAST)
        wanted = self.settings.console.theme
        self.theme = wanted if wanted in self.available_themes else "textual-dark"
        from noc.screens.dashboard import DashboardScreen
        from noc.screens.wall import WallScreen

        self.push_screen(WallScreen() if self.wall else DashboardScreen())
        if self.mine:
            self.open_mine()
        self.set_interval(self.flush_s, self.flush)
        if self.history:
            self.set_interval(self.history_s, self.refresh_history)
        self.load()

    @work(exclusive=True, group="snapshot", exit_on_error=False)
    async def load(self) -> None:
        """(Re)load the snapshot; the event tail resumes from the snapshot's last event."""
        try:
            snapshot = await self.guarded(
                load_snapshot(self.store, now=self.clock(), history=self.history)
            )
        except (NocError, SQLAlchemyError, OSError) as exc:
            self._store_failed(exc)
            self._schedule_poll(max(self.poll_s, 2.0), retry_load=True)
            return
        self.model.reset(snapshot)
        self.tail = EventTail(self.store, snapshot.last_event_id)
        if self.freeze_heap:
            settle_heap()
        self.loaded = True
        self._store_ok()
        for screen in self._live_screens():
            screen.model_reset()
        self._refresh_status()
        self._schedule_poll(self.poll_s)
        await self._read_timer()

    async def _read_timer(self) -> None:
        try:
            self.timer = await self.guarded(technician_timer(self.store, self.technician))
        except (NocError, SQLAlchemyError, OSError) as exc:
            self._store_failed(exc)
            return
        self._status_timer()

    def _live_screens(self) -> list[LiveScreen]:
        return [s for s in self.screen_stack if hasattr(s, "model_changed")]  # type: ignore[misc]

    # following the store ----------------------------------------------------------------------

    def _schedule_poll(self, delay: float, *, retry_load: bool = False) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
        if self._closing:
            return
        # Never 0: Textual's timer divides by its interval when it runs late.
        self._poll_timer = self.set_timer(max(delay, 0.01), self.load if retry_load else self.poll)

    def poll_now(self) -> None:
        """Read the bus at once (after a write of ours), without ever running two polls."""
        if self._polling:
            self._poll_again = True
        elif self.tail is not None:
            self.poll()

    @work(group="tail", exit_on_error=False)
    async def poll(self) -> None:
        if self.tail is None or self._polling:
            return
        self._polling = True
        delay = self.poll_s
        try:
            events = await self.guarded(self.tail.poll())
            tickets = {e.ticket_id for e in events if e.ticket_id is not None}
            if tickets:
                for screen in self.screen_stack:
                    changed = getattr(screen, "tickets_changed", None)
                    if callable(changed):
                        changed(tickets)
            if events:
                changes = await self.guarded(
                    fetch_changes(self.store, events, self.model.known_checks)
                )
                if changes.reload:
                    self.load()
                    return
                self.model.queue(changes)
            self._store_ok()
        except (NocError, SQLAlchemyError, OSError) as exc:
            self._store_failed(exc)
            delay = max(self.poll_s, 2.0)
        finally:
            self._polling = False
        if self._poll_again:
            self._poll_again = False
            delay = 0.0
        self._schedule_poll(delay)

    @work(exclusive=True, group="history", exit_on_error=False)
    async def refresh_history(self) -> None:
        """Sparklines move on: read the last hour of samples again (one query pair)."""
        if not self.loaded:
            return
        try:
            history = await self.guarded(load_history(self.store, self.clock()))
        except (NocError, SQLAlchemyError, OSError) as exc:
            self._store_failed(exc)
            return
        self._apply(self.model.set_history(history))

    def _apply(self, flushed: Flushed) -> None:
        if flushed:
            for screen in self._live_screens():
                screen.model_changed(flushed)
            self._refresh_status()

    def flush(self) -> None:
        """Apply what the polls queued, unless a dialog is open (it keeps queueing)."""
        if not self.model.pending or isinstance(self.screen, ModalScreen):
            return
        self._apply(self.model.flush())

    def _store_failed(self, exc: BaseException) -> None:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if message != self.store_error:
            self.store_error = message
            self.notify(message, title="store", severity="error", markup=False)
        self._status_error(message)

    def _store_ok(self) -> None:
        if self.store_error:
            self.store_error = ""
            self._status_error("")

    def _status_bars(self) -> list[StatusBar]:
        return [bar for screen in self.screen_stack for bar in screen.query(StatusBar)]

    def _status_error(self, message: str) -> None:
        for bar in self._status_bars():
            bar.error = message

    def _status_timer(self) -> None:
        for bar in self._status_bars():
            bar.timer = self.timer

    def _refresh_status(self) -> None:
        for bar in self._status_bars():
            bar.refresh()

    # actions shared by the screens ------------------------------------------------------------

    def refused(self, what: str) -> bool:
        """True (and a notice) when this console may not change anything: the wall."""
        if self.wall:
            self.notify(
                f"Read-only wall display: {what} refused.", severity="warning", markup=False
            )
            return True
        return False

    def open_device(self, device_id: int) -> None:
        from noc.screens.device import DeviceScreen

        if device_id not in self.model.devices:
            self.notify("That device is no longer in the inventory.", severity="warning")
            return
        if isinstance(self.screen, DeviceScreen) and self.screen.device_id == device_id:
            return
        self.push_screen(DeviceScreen(device_id))

    def start_ack(self, alert: AlertRow | None) -> None:
        if self.refused("acknowledge") or not self._need_alert(alert):
            return
        assert alert is not None

        def done(result: object) -> None:
            if isinstance(result, AckResult):
                expires = self.clock() + result.expires_in if result.expires_in else None
                self._write_ack(alert.id, result.note, expires)

        self.push_screen(AckDialog(_alert_subject(alert)), done)

    def start_snooze(self, alert: AlertRow | None) -> None:
        if self.refused("snooze") or not self._need_alert(alert):
            return
        assert alert is not None

        def done(result: object) -> None:
            if isinstance(result, SnoozeResult):
                self._write_snooze(alert.id, self.clock() + result.duration)

        self.push_screen(SnoozeDialog(_alert_subject(alert)), done)

    def start_maintenance(self, device_id: int | None) -> None:
        if self.refused("maintenance"):
            return
        view = self.model.devices.get(device_id) if device_id is not None else None
        if view is None:
            self.notify("Select a device first.", severity="warning")
            return
        tile = view.tile
        targets = {"device": tile.id, "site": tile.site_id, "client": tile.client_id}
        subject = f"{tile.name} · {tile.site} · {tile.client}"

        def done(result: object) -> None:
            if isinstance(result, MaintenanceResult):
                self._write_maintenance(result, targets[result.scope])

        self.push_screen(MaintenanceDialog(subject), done)

    def start_ticket(self, alert: AlertRow | None) -> None:
        """A ticket from an alert, prefilled: the alert's client, device, summary and output."""
        if self.refused("new ticket") or not self._need_alert(alert):
            return
        assert alert is not None
        if alert.ticket_number is not None:
            self.notify(f"Already ticket #{alert.ticket_number}: g opens it.", markup=False)
            return
        if alert.client_id is None:
            self.notify("This alert has no client to bill: no ticket.", severity="warning")
            return
        client_id = alert.client_id
        view = self.model.devices.get(alert.device_id) if alert.device_id is not None else None
        output = ""
        if view is not None:
            output = next((c.output for c in view.checks.values() if c.name == alert.check), "")
        dialog = TicketDialog(
            _alert_subject(alert),
            title=clean(f"{alert.device}: {alert.summary}", 300),
            description=clean(output or alert.summary, 4000),
            priority=severity_priority(alert.severity),
        )

        def done(result: object) -> None:
            if isinstance(result, TicketResult):
                self._write_ticket(alert.id, client_id, alert.device_id, result)

        self.push_screen(dialog, done)

    def open_ticket(self, ticket_id: int | None) -> None:
        from noc.screens.tickets import TicketScreen

        if ticket_id is None:
            self.notify("No ticket here: t opens one from an alert.", severity="warning")
            return
        self.push_screen(TicketScreen(ticket_id))

    def status_bar(self) -> StatusBar:
        """The bar every screen opens with: the technician, the mode and the running timer."""
        status = StatusBar(self.model, self.technician, clock=self.clock, id="status")
        status.mode = self.mode
        return status

    def open_mine(self) -> None:
        """My alerts: the on-call view. Read-only on the wall, like everything there."""
        from noc.screens.oncall import MyAlertsScreen

        if not isinstance(self.screen, MyAlertsScreen):
            self.push_screen(MyAlertsScreen())

    def open_tickets(self) -> None:
        from noc.screens.tickets import TicketsScreen

        self.push_screen(TicketsScreen())

    async def technician_row(self) -> Technician:
        """The technician's row, created on the first write that needs it (never on the wall)."""
        if self._technician_row is None:
            self._technician_row = await self.guarded(
                ensure_technician(self.store, self.technician)
            )
        return self._technician_row

    async def switch_timer(self, ticket_id: int) -> str:
        """Start the timer on ``ticket_id``, or stop it when it already runs there.

        One timer per technician: starting here stops the one running elsewhere (the domain
        bills it). Raises what the store raises; the caller shows it.
        """
        technician = await self.technician_row()
        now = self.clock()
        if self.timer is not None and self.timer.ticket_id == ticket_id:
            stopped = await self.guarded(stop_timer(self.store, technician, now=now))
            self.timer = None
            done = f"Timer stopped: {stopped.minutes:g} min" if stopped else "No timer was running"
        else:
            switch = await self.guarded(start_timer(self.store, technician, ticket_id, now=now))
            await self._read_timer()
            done = "Timer started"
            if switch.stopped is not None:
                done += f" (the other one stopped at {switch.stopped.minutes:g} min)"
        self._status_timer()
        return done

    def _need_alert(self, alert: AlertRow | None) -> bool:
        if alert is None:
            self.notify("No alert selected.", severity="warning")
            return False
        return True

    @work(group="write", exit_on_error=False)
    async def _write_ack(self, alert_id: int, note: str, expires_at: float | None) -> None:
        await self._write(
            "Acknowledged",
            acknowledge(self.store, alert_id, self.technician, note, expires_at, now=self.clock()),
        )

    @work(group="write", exit_on_error=False)
    async def _write_snooze(self, alert_id: int, until: float) -> None:
        await self._write(
            "Snoozed", snooze(self.store, alert_id, self.technician, until, now=self.clock())
        )

    @work(group="write", exit_on_error=False)
    async def _write_maintenance(self, result: MaintenanceResult, scope_id: int) -> None:
        now = self.clock()
        await self._write(
            "Maintenance started",
            add_maintenance(
                self.store,
                result.scope,
                scope_id,
                now,
                now + result.duration if result.duration else None,
                result.until_ok,
                result.reason,
                self.technician,
                now=now,
            ),
        )

    @work(group="write", exit_on_error=False)
    async def _write_ticket(
        self, alert_id: int, client_id: int, device_id: int | None, result: TicketResult
    ) -> None:
        try:
            ticket = await self.guarded(
                create_ticket(
                    self.store,
                    client_id=client_id,
                    title=result.title,
                    description=result.description,
                    priority=result.priority,
                    device_id=device_id,
                    alert_id=alert_id,
                    actor=self.technician,
                    now=self.clock(),
                )
            )
        except (NocError, SQLAlchemyError, OSError) as exc:
            self.notify(str(exc), title="not done", severity="error", markup=False)
            return
        self.notify(f"Ticket #{ticket.number} opened", markup=False)
        self.poll_now()

    async def _write(self, done: str, action: Awaitable[object]) -> None:
        try:
            await self.guarded(action)
        except (NocError, SQLAlchemyError, OSError) as exc:
            self.notify(str(exc), title="not done", severity="error", markup=False)
            return
        self.notify(done, markup=False)
        self.poll_now()

    def action_toggle_contrast(self) -> None:
        wanted = self.settings.console.theme
        if self.theme == HIGH_CONTRAST.name:
            self.theme = wanted if wanted in self.available_themes else "textual-dark"
        else:
            self.theme = HIGH_CONTRAST.name

    def action_reload(self) -> None:
        self.load()


def severity_priority(severity: str) -> str:
    """An alert's ticket starts at the priority its severity deserves; the dialog can change it:
    down is P1, critical P2, warning and unknown P3, anything milder P4."""
    rank = severity_rank(severity)
    return "P1" if rank >= 6 else "P2" if rank == 5 else "P3" if rank >= 3 else "P4"


def settle_heap() -> None:
    """Take what a snapshot loaded out of the cyclic garbage collector's full collections.

    The console's heap is about 125,000 tracked objects with a handful of devices and 200,000
    with 10,000 (Textual, SQLAlchemy, the snapshot), and every full collection walked them all:
    60-150 ms on the UI loop, several times a minute in a storm of changes, and a key pressed
    then waited for it (key to frame p95 135 ms, max 155 ms in ``bench/bench_console.py``).
    Collecting once and freezing the survivors keeps later full collections to what is new
    since. Each load unfreezes first, so that what the previous load froze and has since become
    garbage (the old snapshot, closed screens) is collected then, never kept for good.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _settled(task: asyncio.Task[object]) -> None:
    """Mark a failure as seen: the awaiting worker reports it, or it was cancelled."""
    if not task.cancelled():
        task.exception()


def _alert_subject(alert: AlertRow) -> str:
    return f"{alert.device} · {alert.check or alert.condition} · {alert.summary}"
