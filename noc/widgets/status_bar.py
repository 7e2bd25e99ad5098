"""The top line: who is at the keyboard, the mode, their running timer, the fleet's state
counts and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from noc.livemodel import LiveModel
from noc.readmodel import STATES
from noc.textsafe import safe_text
from noc.ticketrows import RunningTimer
from noc.widgets.states import STATE_CSS, look, state_components


def clock_text(ts: float, *, seconds: bool = True) -> str:
    """Local wall-clock time of ``ts`` (UTC when the process runs with TZ=UTC, as in tests)."""
    moment = datetime.fromtimestamp(ts, UTC).astimezone()
    return moment.strftime("%H:%M:%S" if seconds else "%H:%M")


class StatusBar(Widget):
    COMPONENT_CLASSES = {
        "status-bar--title",
        "status-bar--error",
        "status-bar--timer",
    } | state_components("status-bar")
    """
    | Class | Description |
    | :- | :- |
    | `status-bar--title` | The program name and the technician. |
    | `status-bar--error` | A problem reading the store. |
    | `status-bar--timer` | The technician's running timer. |
    | `status-bar--<state>` | The fleet's count of a state. |
    """

    DEFAULT_CSS = (
        """
    StatusBar {
        dock: top;
        height: 1;
        background: $panel;
        & > .status-bar--title { text-style: bold; color: $accent; }
        & > .status-bar--error { background: $error; color: $text; text-style: bold; }
        & > .status-bar--timer { color: $warning; text-style: bold; }
    """
        + STATE_CSS.format(name="status-bar")
        + "}"
    )

    mode: reactive[str] = reactive("live")
    error: reactive[str] = reactive("")
    """The last store error, shown until a read succeeds again."""
    timer: reactive[RunningTimer | None] = reactive(None)
    """The technician's running timer: its ticket and how long it has run."""

    def __init__(
        self,
        model: LiveModel,
        technician: str,
        *,
        clock: Callable[[], float] = time.time,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.model = model
        self.technician = technician
        self.clock = clock

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)
        running = getattr(self.app, "timer", None)  # a screen opened while a timer runs
        self.timer = running if isinstance(running, RunningTimer) else None

    def render(self) -> Text:
        title = self.get_component_rich_style("status-bar--title")
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(" noc ", title)
        text.append_text(safe_text(self.technician, 20, style=title))
        text.append(f" │ {self.mode.upper()} │ ")
        if self.timer is not None:
            run = int(max(self.clock() - self.timer.started_at, 0))
            style = self.get_component_rich_style("status-bar--timer")
            text.append(f"⏱ #{self.timer.number} {run // 3600}:{run % 3600 // 60:02d}", style)
            text.append(" │ ")
        if self.error:
            text.append_text(
                safe_text(self.error, 60, style=self.get_component_rich_style("status-bar--error"))
            )
            text.append(" │ ")
        totals = dict.fromkeys(STATES, 0)
        for counts in self.model.counts.values():
            for state, n in counts.items():
                totals[state] = totals.get(state, 0) + n
        for state in STATES:
            if totals[state] and state not in ("OK", "PENDING"):
                look_ = look(state)
                style = self.get_component_rich_style(f"status-bar--{look_.component}")
                text.append(f"{look_.symbol}{totals[state]}", style)
                text.append(" ")
        text.append(f"✓{totals['OK']} │ {len(self.model.alerts)} alerts │ ")
        text.append(clock_text(self.clock()))
        return text
