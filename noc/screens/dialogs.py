"""Small modal dialogs: the alert actions (ack, snooze, maintenance) and the ticket edits.

Each returns a plain result (or ``None`` when cancelled) and writes nothing itself: the screen
that opened it performs the action, so the same dialogs serve the dashboard and device detail.
What they show about the alert or device is untrusted text and is drawn as ``Text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList, RadioButton, RadioSet, Static

from noc.alerting.durations import parse_duration
from noc.errors import NocError
from noc.textsafe import safe_text
from noc.widgets.key_bar import KeyBar


class DialogError(NocError):
    """A field the technician must fill in or correct; shown in the dialog, which stays open."""


@dataclass(frozen=True)
class AckResult:
    note: str
    expires_in: float | None


@dataclass(frozen=True)
class SnoozeResult:
    duration: float


@dataclass(frozen=True)
class MaintenanceResult:
    scope: Literal["device", "site", "client"]
    duration: float | None
    until_ok: bool
    reason: str


class _Dialog(ModalScreen[object]):
    CSS_PATH = Path(__file__).with_name("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Close without doing anything. |
    | ctrl+s, enter | Do it. |
    """
    TITLE_TEXT = ""

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject = subject

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.TITLE_TEXT, style="bold"), classes="dialog-title")
            yield Static(safe_text(self.subject, 200), classes="dialog-subject")
            yield from self.fields()
            yield Static("", classes="dialog-error")
        yield KeyBar()

    def fields(self) -> ComposeResult:
        yield from ()

    def show_error(self, message: str) -> None:
        self.query_one(".dialog-error", Static).update(Text(message, style="bold"))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        try:
            result = self.result()
        except NocError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(result)

    def result(self) -> object:
        raise NotImplementedError

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()


class AckDialog(_Dialog):
    TITLE_TEXT = "Acknowledge"

    def fields(self) -> ComposeResult:
        yield Label("Note (why, what next)")
        yield Input(id="note", max_length=2000, placeholder="e.g. on it, vendor case 1234")
        yield Label("Expires after (blank: until resolved)")
        yield Input(id="expires", placeholder="e.g. 4h")

    def result(self) -> AckResult:
        expires = self.query_one("#expires", Input).value
        return AckResult(
            note=self.query_one("#note", Input).value.strip(),
            expires_in=parse_duration(expires) if expires.strip() else None,
        )


class SnoozeDialog(_Dialog):
    TITLE_TEXT = "Snooze"

    def fields(self) -> ComposeResult:
        yield Label("For how long: 15m, 1h, 4h, 1d, 2h30m")
        yield Input("1h", id="duration")

    def result(self) -> SnoozeResult:
        return SnoozeResult(parse_duration(self.query_one("#duration", Input).value))


class MaintenanceDialog(_Dialog):
    TITLE_TEXT = "Maintenance"

    def __init__(self, subject: str, *, scopes: tuple[str, ...] = ("device", "site", "client")):
        super().__init__(subject)
        self.scopes = scopes

    def fields(self) -> ComposeResult:
        yield Label("Scope")
        with RadioSet(id="scope"):
            for n, scope in enumerate(self.scopes):
                yield RadioButton(scope, value=n == 0, name=scope)
        yield Label("For how long (blank: until ended by hand)")
        yield Input("2h", id="duration")
        yield Checkbox("End when everything is OK again", id="until-ok")
        yield Label("Reason")
        yield Input(id="reason", max_length=2000, placeholder="e.g. firmware upgrade")

    def on_mount(self) -> None:
        self.query_one("#duration", Input).focus()

    def result(self) -> MaintenanceResult:
        radio = self.query_one("#scope", RadioSet)
        pressed = radio.pressed_button
        scope = pressed.name if pressed is not None and pressed.name else self.scopes[0]
        duration = self.query_one("#duration", Input).value
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            raise DialogError("a reason is needed: it goes to the audit log and the team")
        return MaintenanceResult(
            scope=scope,  # type: ignore[arg-type]
            duration=parse_duration(duration) if duration.strip() else None,
            until_ok=self.query_one("#until-ok", Checkbox).value,
            reason=reason,
        )


@dataclass(frozen=True)
class TicketResult:
    title: str
    description: str
    priority: str


@dataclass(frozen=True)
class NoteResult:
    body: str
    internal: bool


@dataclass(frozen=True)
class StatusResult:
    status: str


@dataclass(frozen=True)
class AssignResult:
    login: str | None
    """None: nobody."""


class TicketDialog(_Dialog):
    """A ticket from an alert: everything prefilled, so saving is one key when it is right."""

    TITLE_TEXT = "New ticket"
    PRIORITIES = ("P1", "P2", "P3", "P4")

    def __init__(self, subject: str, *, title: str, description: str, priority: str) -> None:
        super().__init__(subject)
        self.title_value = title
        self.description = description
        self.priority = priority if priority in self.PRIORITIES else "P3"

    def fields(self) -> ComposeResult:
        yield Label("Title")
        yield Input(self.title_value, id="title", max_length=300)
        yield Label("Priority")
        with RadioSet(id="priority"):
            for priority in self.PRIORITIES:
                yield RadioButton(priority, value=priority == self.priority, name=priority)
        yield Label("Description")
        yield Input(self.description, id="description", max_length=4000)

    def on_mount(self) -> None:
        self.query_one("#title", Input).focus()

    def result(self) -> TicketResult:
        title = self.query_one("#title", Input).value.strip()
        if not title:
            raise DialogError("a title is needed")
        pressed = self.query_one("#priority", RadioSet).pressed_button
        return TicketResult(
            title=title,
            description=self.query_one("#description", Input).value.strip(),
            priority=pressed.name if pressed is not None and pressed.name else self.priority,
        )


class NoteDialog(_Dialog):
    TITLE_TEXT = "Note"

    def fields(self) -> ComposeResult:
        yield Label("Note")
        yield Input(id="body", max_length=4000, placeholder="what was done, what is next")
        yield Checkbox("Public: the client sees it", id="public")

    def on_mount(self) -> None:
        self.query_one("#body", Input).focus()

    def result(self) -> NoteResult:
        body = self.query_one("#body", Input).value.strip()
        if not body:
            raise DialogError("the note is empty")
        return NoteResult(body=body, internal=not self.query_one("#public", Checkbox).value)


class StatusDialog(_Dialog):
    """Offers only the moves the ticket's current status allows: arrows pick, enter saves."""

    TITLE_TEXT = "Status"

    def __init__(self, subject: str, *, choices: tuple[str, ...]) -> None:
        super().__init__(subject)
        self.choices = choices

    def fields(self) -> ComposeResult:
        yield Label("New status")
        yield OptionList(*self.choices, id="status")

    def on_mount(self) -> None:
        self.query_one("#status", OptionList).focus()

    @on(OptionList.OptionSelected, "#status")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_submit()

    def result(self) -> StatusResult:
        highlighted = self.query_one("#status", OptionList).highlighted
        if not self.choices or highlighted is None:
            raise DialogError("no status change is allowed from here")
        return StatusResult(self.choices[highlighted])


class AssignDialog(_Dialog):
    TITLE_TEXT = "Assign"

    def __init__(self, subject: str, *, login: str) -> None:
        super().__init__(subject)
        self.login = login

    def fields(self) -> ComposeResult:
        yield Label("Technician login (blank: unassigned)")
        yield Input(self.login, id="login", max_length=64)

    def on_mount(self) -> None:
        self.query_one("#login", Input).focus()

    def result(self) -> AssignResult:
        login = self.query_one("#login", Input).value.strip()
        return AssignResult(login or None)
