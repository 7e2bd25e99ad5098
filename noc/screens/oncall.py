"""My alerts: what the technician on call must see, and acknowledging in two keys (``a``, enter).

noc routes no alert to a person, so "mine" is what people did: alerts I acknowledged and alerts
whose ticket is assigned to me. Above them, the alerts nobody has taken (``LiveModel.duty``
decides). It follows the same live model as the dashboard and acts through the same app
actions and dialogs, so the wall refuses every change here as everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from noc.livemodel import Flushed
from noc.readmodel import AlertRow
from noc.screens.alert_actions import ALERT_BINDINGS, AlertActions
from noc.textsafe import safe_text
from noc.widgets.alert_queue import AlertHeader
from noc.widgets.key_bar import KeyBar
from noc.widgets.line_list import LineList
from noc.widgets.oncall_list import OncallList

if TYPE_CHECKING:
    from noc.app import NocApp


class MyAlertsScreen(AlertActions, Screen[None]):
    CSS_PATH = Path(__file__).with_name("oncall.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back"),
        *ALERT_BINDINGS,
        Binding("v", "everything", "All/mine"),
        Binding("r", "reload", "Reload"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape, backspace | Back to where it was opened from. |
    | up, k / down, j | The previous / next alert. |
    | enter | Open the alert's device. |
    | a | Acknowledge the alert: enter at once takes it with no note. |
    | z / m / t / g | Snooze / maintenance / new ticket / go to its ticket (``ALERT_BINDINGS``). |
    | v | Also list what others took and what is held, or back to mine. |
    | r | Reload the snapshot from the store. |
    """

    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.noc
        yield app.status_bar()
        yield Static(id="mine-title")
        alerts = OncallList(app.model, app.technician, clock=app.clock, id="mine")
        yield AlertHeader(alerts, id="mine-header")
        yield alerts
        yield KeyBar()

    @property
    def alerts(self) -> OncallList:
        return self.query_one("#mine", OncallList)

    def on_mount(self) -> None:
        self.alerts.focus()
        # Acknowledgements and snoozes expire with time alone, with no event to say so.
        self.set_interval(30.0, self._requeue)
        if self.noc.loaded:
            self.model_reset()

    def _requeue(self) -> None:
        if self.noc.loaded:
            self.alerts.rebuild(pin=True)
            self._title()

    # the model --------------------------------------------------------------------------------

    def model_reset(self) -> None:
        self.alerts.rebuild(pin=True)
        self._title()

    def model_changed(self, flushed: Flushed) -> None:
        """Alerts changed, or a device that has one changed state (its parent went down, or
        came back): group again. A storm of other devices costs a set comparison."""
        if not flushed.alerts:
            devices = {a.device_id for a in self.noc.model.alerts.values()}
            if devices.isdisjoint(flushed.devices):
                return
        self.alerts.rebuild(pin=True)
        self._title()

    def _title(self) -> None:
        alerts = self.alerts
        counts = alerts.counts
        title = Text(" My alerts ", style="bold")
        title.append_text(safe_text(self.noc.technician, 20, style="bold"))
        title.append(f" · {counts['needs']} need someone · {counts['mine']} mine", style="bold")
        hint = "v hides them" if alerts.everything else "v shows them"
        title.append(f" · {counts['others']} taken or held ({hint})", style="dim")
        self.query_one("#mine-title", Static).update(title)

    # actions ----------------------------------------------------------------------------------

    def selected_alert(self) -> AlertRow | None:
        return self.alerts.cursor_alert

    @on(LineList.Selected, "#mine")
    def _open_device(self, event: LineList.Selected) -> None:
        alert = self.noc.model.alerts.get(event.key[1])
        if self.noc.refused("opening a device") or alert is None:
            return
        if alert.device_id is None:
            self.notify("This alert has no device.", severity="warning")
            return
        self.noc.open_device(alert.device_id)

    def action_everything(self) -> None:
        alerts = self.alerts
        alerts.everything = not alerts.everything
        alerts.rebuild()
        self._title()

    def action_reload(self) -> None:
        self.noc.load()

    def action_back(self) -> None:
        self.dismiss()

    # palette targets --------------------------------------------------------------------------

    def show_alert(self, alert_id: int) -> bool:
        """Put the cursor on an alert, listing everything when it is someone else's."""
        alerts = self.alerts
        if not alerts.move_to_alert(alert_id) and not alerts.everything:
            self.action_everything()
        return alerts.move_to_alert(alert_id)
