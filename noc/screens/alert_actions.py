"""The alert keys the dashboard and my alerts share: the same key does the same thing on both.

Each acts on the screen's selected alert through the app (``start_ack`` ...), which opens the
dialog, writes through the domain and refuses on the wall; a screen only says which alert and
which device are selected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType

from noc.readmodel import AlertRow

if TYPE_CHECKING:
    from noc.app import NocApp

ALERT_BINDINGS: list[BindingType] = [
    Binding("a", "ack", "Ack"),
    Binding("z", "snooze", "Snooze"),
    Binding("m", "maintenance", "Maint"),
    Binding("t", "ticket", "Ticket"),
    Binding("g", "goto_ticket", "Go tkt"),
]
"""
| Key(s) | Description |
| :- | :- |
| a | Acknowledge the selected alert: enter at once takes it, or type a note first. |
| z | Snooze the selected alert. |
| m | Start maintenance on the selected device, its site or its client. |
| t | Open a ticket from the selected alert, prefilled from it. |
| g | Go to the selected alert's ticket. |
"""


class AlertActions:
    """Mixed into a screen before ``Screen``; the screen provides ``selected_alert``."""

    @property
    def noc(self) -> NocApp:
        raise NotImplementedError

    def selected_alert(self) -> AlertRow | None:
        raise NotImplementedError

    def selected_device(self) -> int | None:
        alert = self.selected_alert()
        return alert.device_id if alert is not None else None

    def action_ack(self) -> None:
        self.noc.start_ack(self.selected_alert())

    def action_snooze(self) -> None:
        self.noc.start_snooze(self.selected_alert())

    def action_maintenance(self) -> None:
        self.noc.start_maintenance(self.selected_device())

    def action_ticket(self) -> None:
        self.noc.start_ticket(self.selected_alert())

    def action_goto_ticket(self) -> None:
        if self.noc.refused("opening a ticket"):
            return
        alert = self.selected_alert()
        if alert is None:
            self.noc.notify("No alert selected.", severity="warning")
            return
        self.noc.open_ticket(alert.ticket_id)
