"""The on-call list: the open alerts one technician must see, grouped by whose they are.

"Needs someone" (nobody acknowledged it, no ticket holder, not held) comes first, then "mine"
(acknowledged by me, or its ticket is assigned to me), then, only when asked for, what others
took or what is held (snoozed, maintenance, behind a parent that is down). Each group is worst
severity first, then oldest. Every row says the same thing without colour: a mark for its group,
the severity's symbol and label, who acknowledged it, whose ticket it is.

Rows are keyed by alert id, so the cursor stays on its alert while others arrive or leave; a
live change never takes away the row under the cursor (a technician about to press ``a`` must
not find the neighbouring alert under it), it leaves at the next move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from noc.livemodel import GROUPS, Duty, Group, LiveModel
from noc.readmodel import AlertRow
from noc.widgets.alert_queue import sla_clock
from noc.widgets.health_grid import age
from noc.widgets.line_list import LineBuilder, LineList
from noc.widgets.states import STATE_CSS, severity_look, state_components

OncallKey = tuple[str, int]
"""``("g", group)`` a group's title, ``("e", group)`` its "nothing here" line, ``("a", alert)``;
``group`` indexes ``GROUPS``."""

TITLES: dict[Group, tuple[str, str, str]] = {
    "needs": ("! NEEDS SOMEONE", "unacknowledged, nobody's ticket", "nothing is waiting"),
    "mine": ("◆ MINE", "acknowledged by you, or your ticket", "nothing of yours: a takes one"),
    "others": ("· TAKEN OR HELD", "others', snoozed, maintenance, parent", "none"),
}
"""Per group: its title (the mark leads), what it holds, what an empty group says."""

HELD = {"snoozed": "z", "maintenance": "M maint", "parent": "~parent"}


def columns(width: int) -> list[tuple[str, int]]:
    """Column titles and widths; the summary takes what is left, check and SLA only when wide."""
    wide = width >= 130
    fixed = [
        ("", 1),
        ("sev", 6),
        ("age", 4),
        ("device", 24 if wide else 14),
        ("client", 16 if wide else 8),
        *([("check", 14)] if wide else []),
        ("summary", 0),
        ("ack", 14 if wide else 8),
        ("ticket", 16 if wide else 10),
        *([("sla", 5)] if wide else []),
    ]
    used = sum(w for _, w in fixed) + len(fixed) - 1
    return [(n, w if n != "summary" else max(width - used, 0)) for n, w in fixed]


class OncallList(LineList[OncallKey]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "oncall-list--group",
        "oncall-list--dim",
        "oncall-list--needs",
        "oncall-list--mine",
        "oncall-list--breached",
    } | state_components("oncall-list")
    """
    | Class | Description |
    | :- | :- |
    | `oncall-list--group` | A group's title line. |
    | `oncall-list--dim` | Secondary text, and whole rows of alerts taken or held. |
    | `oncall-list--needs` | The mark and "unacked" of an alert nobody has taken. |
    | `oncall-list--mine` | The mark, acknowledgement and ticket of one's own alert. |
    | `oncall-list--breached` | An SLA clock past its deadline. |
    | `oncall-list--<state>` | The badge of a severity. |
    """

    DEFAULT_CSS = (
        """
    OncallList {
        height: 1fr;
        & > .oncall-list--group { background: $panel; text-style: bold; }
        & > .oncall-list--dim { color: $text-muted; }
        & > .oncall-list--needs { color: $warning; text-style: bold; }
        & > .oncall-list--mine { color: $success; text-style: bold; }
        & > .oncall-list--breached { color: $error; text-style: bold reverse; }
    """
        + STATE_CSS.format(name="oncall-list")
        + "}"
    )

    def __init__(
        self,
        model: LiveModel,
        login: str,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.model = model
        self.login = login
        self.clock = clock
        self.everything = False
        """Also list what others took and what is held."""
        self.counts: dict[Group, int] = dict.fromkeys(GROUPS, 0)
        self._duties: dict[int, Duty] = {}
        self._pinned: int | None = None
        """An alert listed only because the cursor is on it."""

    # building ---------------------------------------------------------------------------------

    def rebuild(self, *, pin: bool = False) -> None:
        """Lines from the model; with ``pin`` (a live change) the alert under the cursor stays
        listed where it was even when it left the view, until the cursor moves."""
        pinned = self.cursor_alert if pin else None
        was = self._duties.get(pinned.id) if pinned is not None else None
        grouped = self.model.duties(self.login, self.clock())
        self.counts = {group: len(rows) for group, rows in grouped.items()}
        shown = GROUPS if self.everything else GROUPS[:2]
        self._pinned = None
        if pinned is not None and was is not None and was.group in shown:
            for alert, duty in grouped["others"] if not self.everything else ():
                if alert.id == pinned.id:
                    grouped[was.group].append((alert, duty))
                    grouped[was.group].sort(key=lambda pair: pair[0].sort_key())
                    self._pinned = alert.id
        lines: list[OncallKey] = []
        duties: dict[int, Duty] = {}
        for n, group in enumerate(GROUPS):
            if group not in shown:
                continue
            lines.append(("g", n))
            if not grouped[group]:
                lines.append(("e", n))
            for alert, duty in grouped[group]:
                lines.append(("a", alert.id))
                duties[alert.id] = duty
        self._duties = duties
        self.set_lines(lines)

    @property
    def cursor_alert(self) -> AlertRow | None:
        key = self.cursor_key
        if key is None or key[0] != "a":
            return None
        return self.model.alerts.get(key[1])

    def move_to_alert(self, alert_id: int) -> bool:
        return self.move_to(("a", alert_id))

    def selectable(self, key: OncallKey) -> bool:
        return key[0] == "a"

    def watch_cursor(self, old: int, new: int) -> None:
        super().watch_cursor(old, new)
        if self._pinned is not None and self.cursor_key != ("a", self._pinned):
            self.rebuild()  # the cursor left the alert that had left the view

    # drawing ----------------------------------------------------------------------------------

    def line_rev(self, key: OncallKey) -> object:
        kind, ident = key
        if kind == "g":
            return (self.counts[GROUPS[ident]], self.everything)
        if kind != "a":
            return 0
        alert = self.model.alerts.get(ident)
        if alert is None:
            return None
        now = self.clock()
        return (alert, self._duties.get(ident), age(now - alert.first_seen), _snooze(alert, now))

    def header(self, width: int) -> Text:
        text = Text(no_wrap=True, end="", style="bold")
        for n, (title, w) in enumerate(columns(width)):
            if n:
                text.append(" ")
            text.append(title[:w].ljust(w))
        return text

    def render_key(self, key: OncallKey, width: int, base: Style) -> Strip:
        kind, ident = key
        if kind == "a":
            return self._render_alert(ident, width, base)
        title, meaning, empty = TITLES[GROUPS[ident]]
        if kind == "e":
            line = LineBuilder(width, base + self.component_style("oncall-list--dim"))
            return line.add(f"  {empty}", trusted=True).strip()
        line = LineBuilder(width, base + self.component_style("oncall-list--group"))
        head = f"{title} {self.counts[GROUPS[ident]]}  "
        line.add(head, len(head), trusted=True)
        line.add(meaning, None, self.component_style("oncall-list--dim"), trusted=True)
        return line.strip()

    def _render_alert(self, alert_id: int, width: int, base: Style) -> Strip:
        alert = self.model.alerts.get(alert_id)
        duty = self._duties.get(alert_id)
        if duty is not None and duty.group == "others":
            base = base + self.component_style("oncall-list--dim")
        line = LineBuilder(width, base)
        if alert is None or duty is None:
            return line.strip()
        now = self.clock()
        dim = self.component_style("oncall-list--dim")
        needs = self.component_style("oncall-list--needs")
        mine = self.component_style("oncall-list--mine")
        widths = dict(columns(width))
        mark, mark_style = {"needs": ("!", needs), "mine": ("◆", mine)}.get(duty.group, ("·", dim))
        line.add(mark, 1, mark_style, trusted=True).gap()
        look_ = severity_look(alert.severity)
        badge = self.component_style(f"oncall-list--{look_.component}")
        line.add(f"{look_.symbol} {look_.label}", widths["sev"], badge, trusted=True).gap()
        line.add(age(now - alert.first_seen), widths["age"], right=True, trusted=True).gap()
        line.add(alert.device, widths["device"]).gap()
        line.add(alert.client, widths["client"], dim).gap()
        if "check" in widths:
            line.add(alert.check or alert.condition, widths["check"], dim).gap()
        line.add(alert.summary, widths["summary"]).gap()
        if alert.acked(now):
            who = "me" if alert.ack_by == self.login else alert.ack_by or ""
            line.add(f"✔{who}", widths["ack"], mine if who == "me" else None).gap()
        elif duty.why in HELD:
            held = _snooze(alert, now) or HELD[duty.why]
            line.add(held, widths["ack"], dim, trusted=True).gap()
        else:
            line.add("unacked", widths["ack"], needs, trusted=True).gap()
        if alert.ticket_number is None:
            line.add("", widths["ticket"], trusted=True)
        else:
            holder = alert.ticket_assignee
            who = "me" if holder == self.login else holder or ""
            ticket = f"#{alert.ticket_number} {who}".rstrip()
            line.add(ticket, widths["ticket"], mine if who == "me" else None)
        if "sla" in widths:
            clock = sla_clock(alert.sla_due, now)
            late = clock.startswith("-")
            style = self.component_style("oncall-list--breached") if late else dim
            line.gap().add(clock, widths["sla"], style, right=True, trusted=True)
        return line.strip()


def _snooze(alert: AlertRow, now: float) -> str:
    if alert.snoozed(now) and alert.snoozed_until is not None:
        return f"z {age(alert.snoozed_until - now)}"
    return ""
