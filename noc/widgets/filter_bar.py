"""The filter line above the grid: type to narrow, ``enter`` to go back to the list.

Shows what is applied (problems only, the query) and how many devices match, or the one-line
reason a query cannot be read; a bad query never clears the last good filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from noc.devicefilter import DeviceFilter, FilterError

PLACEHOLDER = "filter: words  client:  site:  tag:  kind:  state:down,crit"


class FilterBar(Horizontal):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Clear the query and go back to the list. |
    """

    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        & > Input { border: none; height: 1; width: 1fr; padding: 0 1; }
        & > #filter-status { width: auto; max-width: 50%; padding: 0 1; color: $text-muted; }
        & > #filter-status.-error { color: $error; text-style: bold; }
    }
    """

    problems_only: reactive[bool] = reactive(False)
    """Only devices that are not OK."""
    matched: reactive[tuple[int, int]] = reactive((0, 0))
    """(devices shown, devices in all)."""

    @dataclass
    class Changed(Message):
        """A new filter to apply; ``done`` when the technician pressed enter or escape."""

        filter_bar: FilterBar
        filter: DeviceFilter
        done: bool = False

        @property
        def control(self) -> FilterBar:
            return self.filter_bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter = DeviceFilter()
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder=PLACEHOLDER, id="filter-input", select_on_focus=False)
        yield Static(id="filter-status")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def _parse(self, query: str) -> DeviceFilter | None:
        try:
            parsed = DeviceFilter.parse(query, problems_only=self.problems_only)
        except FilterError as exc:
            self.error = str(exc)
            self._show()
            return None
        self.error = ""
        self.filter = parsed
        self._show()
        return parsed

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        parsed = self._parse(event.value)
        if parsed is not None:
            self.post_message(self.Changed(self, parsed))

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        parsed = self._parse(event.value) or self.filter
        self.post_message(self.Changed(self, parsed, done=True))

    def action_clear(self) -> None:
        with self.input.prevent(Input.Changed):
            self.input.value = ""
        parsed = self._parse("") or self.filter
        self.post_message(self.Changed(self, parsed, done=True))

    def set_query(self, query: str) -> None:
        """Put a query in the line from outside (the palette's "filter to client")."""
        with self.input.prevent(Input.Changed):
            self.input.value = query
        parsed = self._parse(query)
        if parsed is not None:
            self.post_message(self.Changed(self, parsed))

    def watch_problems_only(self, value: bool) -> None:
        self.filter = self.filter.with_problems(value)
        self._show()

    def watch_matched(self) -> None:
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        status = self.query_one("#filter-status", Static)
        status.set_class(bool(self.error), "-error")
        if self.error:
            status.update(Text(self.error, no_wrap=True, overflow="ellipsis"))
            return
        shown, total = self.matched
        parts = []
        if self.problems_only:
            parts.append("problems only")
        parts.append(f"{shown}/{total}" if self.filter.active else f"{total} devices")
        status.update(Text(" · ".join(parts), no_wrap=True))
