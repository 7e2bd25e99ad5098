"""The dashboard: health grid above (or beside, when wide) the alert queue, a filter line, and
every key in the key bar. Alert actions work from either pane: on a device they act on its
worst open alert."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Static

from noc.devicefilter import DeviceFilter
from noc.livemodel import Flushed
from noc.readmodel import AlertRow
from noc.screens.alert_actions import ALERT_BINDINGS, AlertActions
from noc.widgets.alert_queue import AlertHeader, AlertQueue
from noc.widgets.filter_bar import FilterBar
from noc.widgets.health_grid import HealthGrid
from noc.widgets.key_bar import KeyBar
from noc.widgets.line_list import LineList

if TYPE_CHECKING:
    from noc.app import NocApp


class DashboardScreen(AlertActions, Screen[None]):
    CSS_PATH = Path(__file__).with_name("dashboard.tcss")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        *ALERT_BINDINGS,
        Binding("T", "tickets", "Tickets"),
        Binding("o", "mine", "Mine"),
        Binding("slash", "filter", "Filter"),
        Binding("p", "problems", "Problems"),
        Binding("tab", "switch_pane", "Pane"),
        Binding("r", "reload", "Reload"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter | Open the device under the cursor (or the selected alert's device). |
    | a | Acknowledge the selected alert, with a note. |
    | z | Snooze the selected alert. |
    | m | Start maintenance on the selected device, its site or its client. |
    | t | Open a ticket from the selected alert, prefilled from it. |
    | g | Go to the selected alert's ticket. |
    | T | The ticket queue. |
    | o | My alerts: the on-call view (mine, and what nobody has taken). |
    | / | Edit the filter; enter goes back to the list, escape clears it. |
    | p | Problems only, on or off. |
    | tab | Move between the grid and the alert queue. |
    | r | Reload the snapshot from the store. |
    """

    def __init__(self) -> None:
        super().__init__()
        self._alert_counts = (-1, -1)

    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.noc
        yield app.status_bar()
        yield FilterBar(id="filter")
        with Container(id="panes"):
            with Vertical(id="grid-pane"):
                yield HealthGrid(app.model, clock=app.clock, id="grid")
            with Vertical(id="alert-pane"):
                yield Static(id="alert-title")
                queue = AlertQueue(app.model, clock=app.clock, id="alerts")
                yield AlertHeader(queue, id="alert-header")
                yield queue
        yield KeyBar()

    def on_mount(self) -> None:
        self.grid.focus()
        # Snoozes and acknowledgements expire with time alone, with no event to say so.
        self.set_interval(30.0, self._requeue)
        if self.noc.loaded:
            self.model_reset()

    def _requeue(self) -> None:
        if self.noc.loaded:
            self.queue.rebuild()
            self._counts()

    @property
    def grid(self) -> HealthGrid:
        return self.query_one("#grid", HealthGrid)

    @property
    def queue(self) -> AlertQueue:
        return self.query_one("#alerts", AlertQueue)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one("#filter", FilterBar)

    # the model --------------------------------------------------------------------------------

    def model_reset(self) -> None:
        self.grid.rebuild()
        self._sync_queue()
        self._counts()

    def model_changed(self, flushed: Flushed) -> None:
        grid = self.grid
        before = grid.lines
        grid.apply(flushed)
        if grid.lines is not before:
            self._sync_queue()
        elif flushed.alerts:
            self.queue.rebuild()
        self._counts()

    def _sync_queue(self) -> None:
        grid, queue = self.grid, self.queue
        flt = grid.filter
        queue.device_filter = (
            {key[1] for key in grid.lines if key[0] == "d"} if flt.active else None
        )
        queue.rebuild()

    def _counts(self) -> None:
        self.filter_bar.matched = (self.grid.shown, len(self.noc.model.devices))
        listed, snoozed = self.queue.counts
        if (listed, snoozed) == self._alert_counts:
            return  # an update would lay the screen out again for nothing
        self._alert_counts = (listed, snoozed)
        title = Text(f" Alerts {listed - snoozed}", style="bold")
        if snoozed:
            title.append(f" · {snoozed} snoozed", style="dim")
        self.query_one("#alert-title", Static).update(title)

    # events -----------------------------------------------------------------------------------

    @on(LineList.Selected, "#grid")
    def _open_from_grid(self, event: LineList.Selected) -> None:
        kind, ident = event.key
        if kind == "d":
            self.noc.open_device(ident)

    @on(LineList.Selected, "#alerts")
    def _open_from_queue(self, event: LineList.Selected) -> None:
        alert = self.noc.model.alerts.get(event.key)
        if alert is not None and alert.device_id is not None:
            self.noc.open_device(alert.device_id)

    @on(FilterBar.Changed)
    def _filter(self, event: FilterBar.Changed) -> None:
        self.apply_filter(event.filter)
        if event.done:
            self.grid.focus()

    def apply_filter(self, flt: DeviceFilter) -> None:
        self.grid.filter = flt
        self.grid.rebuild()
        self._sync_queue()
        self._counts()

    # actions ----------------------------------------------------------------------------------

    def selected_alert(self) -> AlertRow | None:
        """The queue's alert when it has focus, else the grid device's worst open alert."""
        if self.queue.has_focus:
            return self.queue.cursor_alert
        device = self.grid.cursor_device
        alerts = self.noc.model.device_alerts(device) if device is not None else []
        return alerts[0] if alerts else None

    def selected_device(self) -> int | None:
        if self.queue.has_focus:
            return super().selected_device()
        return self.grid.cursor_device

    def action_tickets(self) -> None:
        self.noc.open_tickets()

    def action_mine(self) -> None:
        self.noc.open_mine()

    def action_filter(self) -> None:
        self.filter_bar.input.focus()

    def action_problems(self) -> None:
        bar = self.filter_bar
        bar.problems_only = not bar.problems_only
        self.apply_filter(bar.filter)

    def action_switch_pane(self) -> None:
        (self.queue if self.grid.has_focus else self.grid).focus()

    def action_reload(self) -> None:
        self.noc.load()

    # palette targets --------------------------------------------------------------------------

    def show_client(self, code: str) -> None:
        self.filter_bar.set_query(f"client:{code}")
        self.grid.focus()

    def show_alert(self, alert_id: int) -> None:
        if not self.queue.move_to(alert_id):
            self.filter_bar.set_query("")
            self.queue.move_to(alert_id)
        self.queue.focus()

    def show_device(self, device_id: int) -> None:
        if not self.grid.select_device(device_id):
            self.filter_bar.set_query("")
            self.grid.select_device(device_id)
        self.grid.focus()
