"""The alert queue: open alerts, worst severity first, then oldest first; snoozed ones last.

Each row shows how long the alert has burned, its count, who acknowledged it, its ticket and the
ticket's SLA clock (negative once breached). Rows are keyed by alert id, so the cursor stays on
its alert while others arrive, resolve or change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar, Protocol

from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from noc.livemodel import LiveModel
from noc.readmodel import AlertRow
from noc.widgets.health_grid import age
from noc.widgets.line_list import LineBuilder, LineList
from noc.widgets.states import STATE_CSS, severity_look, state_components


def sla_clock(due: float | None, now: float) -> str:
    if due is None:
        return ""
    left = due - now
    return age(left) if left >= 0 else f"-{age(-left)}"


def columns(width: int) -> list[tuple[str, int]]:
    """Column titles and widths for a width; the summary takes what is left."""
    device = 16 if width < 110 else 24
    check = 8 if width < 110 else 14
    fixed = [
        ("sev", 6),
        ("age", 4),
        ("device", device),
        ("check", check),
        ("summary", 0),
        ("n", 3),
        ("ack", 7 if width < 110 else 12),
        ("tkt", 5 if width < 110 else 7),
        ("sla", 5),
    ]
    used = sum(w for _, w in fixed) + len(fixed) - 1
    return [(n, w if n != "summary" else max(width - used, 0)) for n, w in fixed]


class AlertQueue(LineList[int]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "alert-queue--dim",
        "alert-queue--acked",
        "alert-queue--breached",
    } | state_components("alert-queue")
    """
    | Class | Description |
    | :- | :- |
    | `alert-queue--dim` | Secondary text, and whole rows of snoozed alerts. |
    | `alert-queue--acked` | The owner of an acknowledged alert. |
    | `alert-queue--breached` | An SLA clock past its deadline. |
    | `alert-queue--<state>` | The badge of a severity. |
    """

    DEFAULT_CSS = (
        """
    AlertQueue {
        height: 1fr;
        & > .alert-queue--dim { color: $text-muted; }
        & > .alert-queue--acked { color: $success; }
        & > .alert-queue--breached { color: $error; text-style: bold reverse; }
    """
        + STATE_CSS.format(name="alert-queue")
        + "}"
    )

    def __init__(
        self,
        model: LiveModel,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.model = model
        self.clock = clock
        self.device_filter: set[int] | None = None
        """When set, only alerts of these devices (the dashboard's filter) are listed."""

    def rebuild(self) -> None:
        now = self.clock()
        alerts = [
            a
            for a in self.model.sorted_alerts()
            if self.device_filter is None or a.device_id in self.device_filter
        ]
        alerts.sort(key=lambda a: a.snoozed(now))  # stable: snoozed last, order kept
        self.set_lines([a.id for a in alerts])

    @property
    def cursor_alert(self) -> AlertRow | None:
        key = self.cursor_key
        return self.model.alerts.get(key) if key is not None else None

    @property
    def counts(self) -> tuple[int, int]:
        """(listed, snoozed)."""
        now = self.clock()
        snoozed = sum(1 for key in self.lines if self.model.alerts[key].snoozed(now))
        return len(self.lines), snoozed

    def line_rev(self, key: int) -> object:
        alert = self.model.alerts.get(key)
        if alert is None:
            return None
        now = self.clock()
        return (alert, age(now - alert.first_seen), sla_clock(alert.sla_due, now))

    def header(self, width: int) -> Text:
        text = Text(no_wrap=True, end="", style="bold")
        for n, (title, w) in enumerate(columns(width)):
            if n:
                text.append(" ")
            text.append(title[:w].ljust(w))
        return text

    def render_key(self, key: int, width: int, base: Style) -> Strip:
        alert = self.model.alerts.get(key)
        now = self.clock()
        if alert is not None and alert.snoozed(now):
            base = base + self.component_style("alert-queue--dim")
        line = LineBuilder(width, base)
        if alert is None:
            return line.strip()
        dim = self.component_style("alert-queue--dim")
        widths = dict(columns(width))
        look_ = severity_look(alert.severity)
        badge = self.component_style(f"alert-queue--{look_.component}")
        line.add(f"{look_.symbol} {look_.label}", widths["sev"], badge, trusted=True).gap()
        line.add(age(now - alert.first_seen), widths["age"], right=True, trusted=True).gap()
        line.add(alert.device, widths["device"]).gap()
        line.add(alert.check or alert.condition, widths["check"], dim).gap()
        line.add(alert.summary, widths["summary"]).gap()
        line.add(f"×{alert.count}" if alert.count > 1 else "", widths["n"], dim, right=True)
        line.gap()
        if alert.snoozed(now) and alert.snoozed_until is not None:
            ack = f"z {age(alert.snoozed_until - now)}"
            line.add(ack, widths["ack"], dim, trusted=True).gap()
        elif alert.acked(now):
            line.add(f"✔{alert.ack_by}", widths["ack"], self.component_style("alert-queue--acked"))
            line.gap()
        else:
            line.add("", widths["ack"], trusted=True).gap()
        ticket = f"#{alert.ticket_number}" if alert.ticket_number is not None else ""
        line.add(ticket, widths["tkt"], trusted=True).gap()
        clock = sla_clock(alert.sla_due, now)
        late = clock.startswith("-")
        style = self.component_style("alert-queue--breached") if late else dim
        line.add(clock, widths["sla"], style, right=True, trusted=True)
        return line.strip()


class Columned(Protocol):
    def header(self, width: int) -> Text: ...


class AlertHeader(Widget):
    """A list's column titles (the queue's, the on-call list's), in line with its columns at any
    width."""

    DEFAULT_CSS = """
    AlertHeader { height: 1; color: $text-muted; padding: 0 1 0 0; }
    """

    def __init__(self, queue: Columned, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.queue = queue

    def render(self) -> Text:
        return self.queue.header(self.size.width)
