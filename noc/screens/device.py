"""Device detail: identity, every check, sparklines, interfaces, filesystems, alerts, events.

Everything a device said about itself (sysDescr, interface names, check output) is untrusted and
drawn through ``safe_text``; tables are Rich tables of ``Text`` cells, never markup strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from noc.errors import NocError
from noc.livemodel import Flushed
from noc.readmodel import DeviceDetail, device_detail
from noc.textsafe import safe_text
from noc.widgets.health_grid import age
from noc.widgets.key_bar import KeyBar
from noc.widgets.sparkline import sparkline
from noc.widgets.states import look, severity_look
from noc.widgets.status_bar import clock_text

if TYPE_CHECKING:
    from noc.app import NocApp

VALUE_WIDTH = 40


def _value(value: Any, width: int = VALUE_WIDTH) -> Text:
    if isinstance(value, float):
        return Text(f"{value:.4g}")
    return safe_text(value, width)


def _badge(state: str) -> Text:
    look_ = look(state)
    return Text(f"{look_.symbol} {look_.label}", style=f"bold {_STATE_COLOURS[look_.component]}")


_STATE_COLOURS = {
    "down": "reverse red",
    "critical": "red",
    "warning": "yellow",
    "unknown": "magenta",
    "unreachable": "blue",
    "ok": "green",
    "pending": "dim",
}


def _table(*columns: str, flex: str | None = None) -> Table:
    """Columns at their natural width; ``flex`` (the last by default) takes what is left and
    is the one cut, so that short columns never collapse beside a 10,000-character one."""
    flex = flex or columns[-1]
    table = Table(box=None, pad_edge=False, show_edge=False, expand=True, header_style="bold")
    for column in columns:
        if column == flex:
            table.add_column(column, no_wrap=True, overflow="ellipsis", ratio=1)
        else:
            table.add_column(column, no_wrap=True, overflow="ellipsis", min_width=len(column))
    return table


class DeviceScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("device.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back"),
        Binding("a", "ack", "Ack"),
        Binding("z", "snooze", "Snooze"),
        Binding("m", "maintenance", "Maint"),
        Binding("r", "refresh", "Refresh"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape, backspace | Back to the dashboard. |
    | a / z | Acknowledge / snooze the device's worst open alert. |
    | m | Start maintenance on the device, its site or its client. |
    | r | Read the device again. |
    """

    def __init__(self, device_id: int) -> None:
        super().__init__()
        self.device_id = device_id
        self.detail: DeviceDetail | None = None

    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.noc
        yield app.status_bar()
        yield Static(Text("loading…"), id="device-title")
        with VerticalScroll(id="device-body"):
            yield Static(id="identity")
            yield Static(id="checks")
            yield Static(id="history")
            yield Static(id="interfaces")
            yield Static(id="filesystems")
            yield Static(id="device-alerts")
            yield Static(id="events")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#device-body").focus()
        self.load()

    @work(exclusive=True, group="device", exit_on_error=False)
    async def load(self) -> None:
        try:
            detail = await self.noc.guarded(
                device_detail(self.noc.store, self.device_id, now=self.noc.clock())
            )
        except (NocError, SQLAlchemyError, OSError) as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        if detail is None:
            self.notify("This device was removed from the inventory.", severity="warning")
            self.dismiss()
            return
        self.detail = detail
        self._show(detail)

    # live -------------------------------------------------------------------------------------

    def model_reset(self) -> None:
        self.load()

    def model_changed(self, flushed: Flushed) -> None:
        if self.device_id in flushed.devices or flushed.alerts:
            self.load()

    # drawing ----------------------------------------------------------------------------------

    def _show(self, detail: DeviceDetail) -> None:
        now = self.noc.clock()
        tile = detail.tile
        title = Text(no_wrap=True, overflow="ellipsis", end="")
        title.append_text(_badge(tile.state))
        title.append(" ")
        title.append_text(safe_text(tile.name, 60, style="bold"))
        title.append("  ")
        title.append_text(safe_text(f"{tile.client} / {tile.site} · {tile.kind}", 60))
        if tile.in_maintenance:
            title.append("  [maintenance]", style="bold")
        self.query_one("#device-title", Static).update(title)
        self.query_one("#identity", Static).update(self._identity(detail, now))
        self.query_one("#checks", Static).update(self._checks(detail, now))
        self.query_one("#history", Static).update(self._history(detail))
        self.query_one("#interfaces", Static).update(self._grouped("Interfaces", detail.interfaces))
        self.query_one("#filesystems", Static).update(
            self._grouped("Filesystems", detail.filesystems)
        )
        self.query_one("#device-alerts", Static).update(self._alerts(detail, now))
        self.query_one("#events", Static).update(self._events(detail))

    def _section(self, title: str, body: RenderableType) -> Group:
        return Group(Text(title, style="bold underline"), body, Text(""))

    def _identity(self, detail: DeviceDetail, now: float) -> RenderableType:
        tile, ident = detail.tile, detail.identity
        table = Table.grid(padding=(0, 2), expand=True)
        table.add_column(style="bold", no_wrap=True, min_width=11)
        table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
        rows: list[tuple[str, Text]] = [
            ("Address", safe_text(tile.address, 60)),
            ("Parent", safe_text(detail.parent or "—", 60)),
            ("Tags", safe_text(", ".join(tile.tags) or "—", 60)),
        ]
        for label, key in (("Vendor", "vendor"), ("Model", "model"), ("OS", "os")):
            if key in ident:
                rows.append((label, _value(ident[key], 60)))
        if isinstance(ident.get("uptime"), int | float):
            rows.append(("Uptime", Text(age(float(ident["uptime"])))))
        if "descr" in ident:
            rows.append(("Description", safe_text(ident["descr"], 200)))
        if detail.description:
            rows.append(("Notes", safe_text(detail.description, 200)))
        if detail.children:
            rows.append(("Children", safe_text(", ".join(detail.children), 200)))
        for window in detail.maintenance:
            until = clock_text(window.ends_at, seconds=False) if window.ends_at else "ended by hand"
            text = f"{window.scope} until {until}: {window.reason}"
            rows.append(("Maintenance", safe_text(text, 120)))
        for label, value in rows:
            table.add_row(label, value)
        return self._section("Device", table)

    def _checks(self, detail: DeviceDetail, now: float) -> RenderableType:
        table = _table("State", "Check", "Type", "For", "Output")
        for check in detail.checks:
            table.add_row(
                _badge(check.state),
                safe_text(check.name, 24),
                Text(check.type),
                Text(age(now - check.since) if check.since else ""),
                safe_text(check.output, 120),
            )
        return self._section(f"Checks ({len(detail.checks)})", table)

    def _history(self, detail: DeviceDetail) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, overflow="ellipsis", max_width=28)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, justify="right")
        for name, values in sorted(detail.history.items()):
            if values:
                table.add_row(
                    safe_text(name, 28), Text(sparkline(values, 40)), Text(f"{values[-1]:.4g}")
                )
        if not detail.history:
            table.add_row(Text("no samples yet", style="dim"), Text(""), Text(""))
        return self._section("History (6 h)", table)

    def _grouped(self, title: str, groups: dict[str, dict[str, Any]]) -> RenderableType:
        if not groups:
            return Text("")
        metrics = sorted({m for values in groups.values() for m in values})[:6]
        table = _table("Name", *metrics)
        for name, values in groups.items():
            table.add_row(safe_text(name, 24), *(_value(values.get(m, ""), 16) for m in metrics))
        return self._section(f"{title} ({len(groups)})", table)

    def _alerts(self, detail: DeviceDetail, now: float) -> RenderableType:
        if not detail.alerts:
            return self._section("Open alerts", Text("none", style="dim"))
        table = _table("Sev", "Age", "Check", "Summary", "Ack", "Ticket", flex="Summary")
        for alert in detail.alerts:
            look_ = severity_look(alert.severity)
            table.add_row(
                Text(f"{look_.symbol} {look_.label}"),
                Text(age(now - alert.first_seen)),
                safe_text(alert.check or alert.condition, 16),
                safe_text(alert.summary, 80),
                safe_text(alert.ack_by or "", 16),
                Text(f"#{alert.ticket_number}" if alert.ticket_number else ""),
            )
        return self._section(f"Open alerts ({len(detail.alerts)})", table)

    def _events(self, detail: DeviceDetail) -> RenderableType:
        table = _table("Time", "Event", "Check", "By", "Detail", flex="Detail")
        for event in detail.events[:20]:
            data = ", ".join(f"{k}={v}" for k, v in event.data.items())
            table.add_row(
                Text(clock_text(event.ts)),
                safe_text(event.kind, 20),
                safe_text(event.check, 16),
                safe_text(event.actor, 16),
                safe_text(data, 120),
            )
        return self._section("Recent events", table)

    # actions ----------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_ack(self) -> None:
        alerts = self.noc.model.device_alerts(self.device_id)
        self.noc.start_ack(alerts[0] if alerts else None)

    def action_snooze(self) -> None:
        alerts = self.noc.model.device_alerts(self.device_id)
        self.noc.start_snooze(alerts[0] if alerts else None)

    def action_maintenance(self) -> None:
        self.noc.start_maintenance(self.device_id)

    def action_refresh(self) -> None:
        self.load()
