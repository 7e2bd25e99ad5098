"""The ticket queue and ticket detail: notes, status, assignee and time, all from the keyboard.

Every edit names the ticket version this screen read; when someone else changed the ticket in
between, the domain raises ``TicketConflict`` and the screen says so in a line that stays until
the next edit, then reloads: the technician redoes the change on what is there now, and nothing
is overwritten unseen. Time is committed the moment it is typed or the timer stops. Ticket text
is untrusted and drawn as ``Text``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from noc.errors import NocError
from noc.psa import (
    TRANSITIONS,
    TicketConflict,
    TicketDetail,
    add_entry,
    add_note,
    parse_quick_entry,
    ticket_detail,
    update_ticket,
)
from noc.psa.tickets import View
from noc.screens.dialogs import (
    AssignDialog,
    AssignResult,
    NoteDialog,
    NoteResult,
    StatusDialog,
    StatusResult,
)
from noc.textsafe import clean, safe_text
from noc.ticketrows import TicketRow, ticket_rows
from noc.widgets.health_grid import age
from noc.widgets.key_bar import KeyBar
from noc.widgets.status_bar import clock_text

if TYPE_CHECKING:
    from noc.app import NocApp

STORE_ERRORS = (NocError, SQLAlchemyError, OSError)
VIEWS: tuple[View, ...] = ("mine", "unassigned", "all")


class TicketsScreen(Screen[None]):
    """Open tickets, most urgent first, then oldest: the top row is what to do next."""

    CSS_PATH = Path(__file__).with_name("tickets.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back"),
        Binding("1", "view('mine')", "Mine"),
        Binding("2", "view('unassigned')", "Unassigned"),
        Binding("3", "view('all')", "All"),
        Binding("r", "reload", "Reload"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape, backspace | Back. |
    | enter | Open the ticket under the cursor. |
    | 1 / 2 / 3 | My tickets / unassigned ones / all open tickets. |
    | r | Read the queue again. |
    """

    def __init__(self, view: View = "mine") -> None:
        super().__init__()
        self.view: View = view
        self.rows: list[TicketRow] = []

    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def compose(self) -> ComposeResult:
        yield self.noc.status_bar()
        yield Static(id="tickets-title")
        table: DataTable[RenderableType] = DataTable(id="tickets", cursor_type="row")
        table.add_columns("#", "pri", "status", "age", "client", "assignee", "title")
        yield table
        yield KeyBar()

    @property
    def table(self) -> DataTable[RenderableType]:
        return cast("DataTable[RenderableType]", self.query_one("#tickets", DataTable))

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()  # back from a ticket that may have changed

    def tickets_changed(self, ticket_ids: set[int]) -> None:
        """The bus says tickets changed (any of them can enter or leave this view)."""
        self.load()

    @work(exclusive=True, group="tickets", exit_on_error=False)
    async def load(self) -> None:
        try:
            rows = await self.noc.guarded(
                ticket_rows(self.noc.store, self.view, self.noc.technician)
            )
        except STORE_ERRORS as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.rows = rows
        self._show()

    def _show(self) -> None:
        table = self.table
        keep = self.cursor_ticket
        table.clear()
        now = self.noc.clock()
        for row in self.rows:
            table.add_row(
                Text(f"#{row.number}"),
                Text(row.priority, style="bold" if row.priority == "P1" else ""),
                Text(row.status),
                Text(age(now - row.created_at)),
                safe_text(row.client, 16),
                safe_text(row.assignee or "—", 16),
                safe_text(row.title, 200),
                key=str(row.id),
            )
        if keep is not None:
            for n, row in enumerate(self.rows):
                if row.id == keep:
                    table.move_cursor(row=n)
        title = Text(f" Tickets · {self.view} · {len(self.rows)}", style="bold")
        title.append("   1 mine · 2 unassigned · 3 all", style="dim")
        self.query_one("#tickets-title", Static).update(title)

    @property
    def cursor_ticket(self) -> int | None:
        table = self.table
        if not self.rows or table.cursor_row >= len(self.rows) or table.row_count == 0:
            return None
        return self.rows[table.cursor_row].id

    @on(DataTable.RowSelected, "#tickets")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.noc.open_ticket(int(event.row_key.value))

    def action_view(self, view: str) -> None:
        self.view = next((v for v in VIEWS if v == view), "all")
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss()


class TicketScreen(Screen[None]):
    """One ticket: what it is, its notes and its time, with every edit a key away."""

    CSS_PATH = Path(__file__).with_name("tickets.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back"),
        Binding("n", "note", "Note"),
        Binding("c", "status", "Status"),
        Binding("i", "assign", "Assign"),
        Binding("s", "timer", "Timer"),
        Binding("l", "log_time", "Log time"),
        Binding("r", "reload", "Reload"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape, backspace | Back (escape in the time line closes the line). |
    | n | Add a note, internal unless marked public. |
    | c | Change the status (only the moves allowed from here are offered). |
    | i | Assign to a technician (yourself by default), or to nobody. |
    | s | Start the timer on this ticket, or stop it when it runs here. |
    | l | Log time in one line: ``25m remote fix, billable``. |
    | r | Read the ticket again. |
    """

    def __init__(self, ticket_id: int) -> None:
        super().__init__()
        self.ticket_id = ticket_id
        self.detail: TicketDetail | None = None
        self.version: int | None = None
        """The version the technician is looking at: every edit names it."""

    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def compose(self) -> ComposeResult:
        yield self.noc.status_bar()
        yield Static(Text("loading…"), id="ticket-title")
        yield Static(id="conflict")
        with VerticalScroll(id="ticket-body"):
            yield Static(id="ticket-info")
            yield Static(id="ticket-notes")
            yield Static(id="ticket-time")
        yield Input(id="quick", placeholder="25m remote fix, billable  (enter logs, escape closes)")
        yield Static(id="quick-error")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#ticket-body").focus()
        self.load()

    # reading ----------------------------------------------------------------------------------

    @work(exclusive=True, group="ticket", exit_on_error=False)
    async def load(self) -> None:
        await self._load()

    async def _load(self) -> None:
        try:
            detail = await self.noc.guarded(ticket_detail(self.noc.store, self.ticket_id))
        except STORE_ERRORS as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.detail = detail
        self.version = detail.ticket.version
        self._show(detail)

    def _show(self, detail: TicketDetail) -> None:
        ticket = detail.ticket
        title = Text(f" #{ticket.number} ", style="bold")
        title.append_text(safe_text(ticket.title, 300))
        self.query_one("#ticket-title", Static).update(title)
        assignee = detail.logins.get(ticket.assignee_id, "") if ticket.assignee_id else ""
        info = Text(no_wrap=False)
        info.append(f"{ticket.priority} · {ticket.status} · ", style="bold")
        info.append_text(safe_text(detail.client.code, 32))
        if detail.device is not None:
            info.append(" · ")
            info.append_text(safe_text(detail.device.name, 64))
        info.append(" · assignee ")
        info.append_text(safe_text(assignee or "nobody", 32))
        info.append(f" · opened {clock_text(ticket.created_at, seconds=False)}")
        info.append(f" · v{ticket.version}", style="dim")
        if ticket.description:
            info.append("\n")
            info.append_text(safe_text(ticket.description, 4000, multiline=True))
        self.query_one("#ticket-info", Static).update(info)
        self.query_one("#ticket-notes", Static).update(self._notes(detail))
        self.query_one("#ticket-time", Static).update(self._time(detail))

    def _notes(self, detail: TicketDetail) -> RenderableType:
        head = Text(f"\nNotes ({len(detail.notes)})", style="bold")
        if not detail.notes:
            return Group(head, Text("none yet: n adds one", style="dim"))
        lines: list[RenderableType] = [head]
        for note in detail.notes:
            line = Text(clock_text(note.created_at, seconds=False) + " ", style="dim")
            line.append_text(safe_text(note.author, 20, style="bold"))
            line.append(" internal: " if note.internal else " PUBLIC: ")
            line.append_text(safe_text(note.body, 2000, multiline=True))
            lines.append(line)
        return Group(*lines)

    def _time(self, detail: TicketDetail) -> RenderableType:
        head = Text(
            f"\nTime {detail.minutes:g} min · billable {detail.billable_minutes:g} min",
            style="bold",
        )
        if not detail.time_entries:
            return Group(head, Text("none yet: s starts the timer, l logs time", style="dim"))
        table = Table(box=None, pad_edge=False, show_edge=False, expand=True, header_style="dim")
        for column in ("when", "min", "bill", "type", "who"):
            table.add_column(column, no_wrap=True)
        table.add_column("note", no_wrap=True, overflow="ellipsis", ratio=1)
        for entry in detail.time_entries:
            running = entry.ended_at is None
            table.add_row(
                clock_text(entry.started_at, seconds=False),
                "running" if running else f"{entry.minutes:g}",
                "yes" if entry.billable else "no",
                safe_text(entry.work_type, 12),
                safe_text(detail.logins.get(entry.technician_id, "?"), 16),
                safe_text(entry.note, 200),
            )
        return Group(head, table)

    def tickets_changed(self, ticket_ids: set[int]) -> None:
        """Someone (maybe us) changed this ticket: show it. A dialog already open keeps the
        version it was opened on, so its edit still conflicts rather than overwrites."""
        if self.ticket_id in ticket_ids:
            self.load()

    # edits ------------------------------------------------------------------------------------

    def _subject(self) -> str:
        if self.detail is None:
            return ""
        return f"#{self.detail.ticket.number} {clean(self.detail.ticket.title, 200)}"

    def action_note(self) -> None:
        if self.noc.refused("note") or self.detail is None:
            return

        def done(result: object) -> None:
            if isinstance(result, NoteResult):
                self._write_note(result)

        self.app.push_screen(NoteDialog(self._subject()), done)

    def action_status(self) -> None:
        if self.noc.refused("status change") or self.detail is None:
            return
        current = self.detail.ticket.status
        order = ("open", "in_progress", "waiting", "resolved", "closed")
        choices = tuple(s for s in order if s in TRANSITIONS.get(current, frozenset()))
        version = self.detail.ticket.version

        def done(result: object) -> None:
            if isinstance(result, StatusResult) and result.status:
                self.change(version, status=result.status)

        self.app.push_screen(StatusDialog(self._subject(), choices=choices), done)

    def action_assign(self) -> None:
        if self.noc.refused("assignment") or self.detail is None:
            return

        version = self.detail.ticket.version

        def done(result: object) -> None:
            if isinstance(result, AssignResult):
                self.change(version, assignee=result.login)

        self.app.push_screen(AssignDialog(self._subject(), login=self.noc.technician), done)

    def action_timer(self) -> None:
        if self.noc.refused("timer") or self.detail is None:
            return
        self._switch_timer()

    def action_log_time(self) -> None:
        if self.noc.refused("time entry") or self.detail is None:
            return
        quick = self.query_one("#quick", Input)
        quick.add_class("-open")
        quick.focus()

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss()

    def _close_quick(self) -> None:
        quick = self.query_one("#quick", Input)
        quick.value = ""
        quick.remove_class("-open")
        self._quick_error("")
        self.query_one("#ticket-body").focus()

    def _quick_error(self, message: str) -> None:
        error = self.query_one("#quick-error", Static)
        error.set_class(bool(message), "-open")
        error.update(Text(clean(message, 300), style="bold"))

    def on_key(self, event: events.Key) -> None:
        """Escape in the time line closes the line; only a second one leaves the ticket."""
        if event.key == "escape" and self.query_one("#quick", Input).has_focus:
            event.stop()
            event.prevent_default()
            self._close_quick()

    @on(Input.Submitted, "#quick")
    def _quick_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            entry = parse_quick_entry(event.value)
        except NocError as exc:
            self._quick_error(str(exc))
            return
        self._log_time(entry.minutes, entry.billable, entry.work_type, entry.note)

    @work(group="ticket-write", exit_on_error=False)
    async def _log_time(self, minutes: int, billable: bool, work_type: str, note: str) -> None:
        try:
            technician = await self.noc.technician_row()
            await self.noc.guarded(
                add_entry(
                    self.noc.store,
                    technician,
                    self.ticket_id,
                    minutes,
                    billable,
                    work_type,
                    note,
                    now=self.noc.clock(),
                )
            )
        except STORE_ERRORS as exc:
            self._quick_error(str(exc))
            return
        self._close_quick()
        self.notify(f"Logged {minutes} min", markup=False)
        await self._load()

    @work(group="ticket-write", exit_on_error=False)
    async def _write_note(self, result: NoteResult) -> None:
        try:
            await self.noc.guarded(
                add_note(
                    self.noc.store,
                    self.ticket_id,
                    self.noc.technician,
                    result.body,
                    result.internal,
                    now=self.noc.clock(),
                )
            )
        except STORE_ERRORS as exc:
            self.notify(str(exc), title="not done", severity="error", markup=False)
            return
        self.notify("Note added" if result.internal else "Public note added", markup=False)
        await self._load()

    @work(group="ticket-write", exit_on_error=False)
    async def _switch_timer(self) -> None:
        try:
            done = await self.noc.switch_timer(self.ticket_id)
        except STORE_ERRORS as exc:
            self.notify(str(exc), title="not done", severity="error", markup=False)
            return
        self.notify(done, markup=False)
        await self._load()

    @work(group="ticket-write", exit_on_error=False)
    async def change(self, version: int, **changes: object) -> None:
        """Status or assignee, against the version the technician saw when deciding; a
        conflict is shown, not lost."""
        self._conflict("")
        try:
            if changes.get("assignee") == self.noc.technician:
                await self.noc.technician_row()  # assigning to yourself creates your row
            await self.noc.guarded(
                update_ticket(
                    self.noc.store,
                    self.ticket_id,
                    version,
                    self.noc.technician,
                    now=self.noc.clock(),
                    **changes,
                )
            )
        except TicketConflict as exc:
            self._conflict(f"{exc}: reloaded, nothing of yours was saved; redo it if still right")
            await self._load()
            return
        except STORE_ERRORS as exc:
            self.notify(str(exc), title="not done", severity="error", markup=False)
            return
        self.notify("Saved", markup=False)
        await self._load()

    def _conflict(self, message: str) -> None:
        notice = self.query_one("#conflict", Static)
        notice.set_class(bool(message), "-open")
        notice.update(Text(clean(message, 400), style="bold"))
