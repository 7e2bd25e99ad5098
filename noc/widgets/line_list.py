"""A keyed list of one-line rows drawn with the Line API: the base of the grid and the queue.

One ``ScrollView`` draws only the lines on screen, from an LRU cache of ``Strip``s keyed by the
row's key, its revision, the width and whether the cursor is on it. A change to one device bumps
its revision and refreshes its line alone; 10,000 rows cost nothing until they scroll into view.

The cursor follows a key, not a line number: when rows come and go above it the list scrolls so
that the selected row stays where it was on screen, and a live update never moves it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from noc.textsafe import clean

K = TypeVar("K", bound=Hashable)

CACHE_LINES = 2000


class LineBuilder:
    """Columns of one line, each cut and padded to its width; untrusted text is cleaned."""

    __slots__ = ("_segments", "_used", "width", "base")

    def __init__(self, width: int, base: Style) -> None:
        self._segments: list[Segment] = []
        self._used = 0
        self.width = width
        self.base = base

    def add(
        self,
        text: str,
        width: int | None = None,
        style: Style | None = None,
        *,
        right: bool = False,
        trusted: bool = False,
    ) -> LineBuilder:
        room = self.width - self._used
        if room <= 0:
            return self
        width = room if width is None else min(width, room)
        shown = text if trusted else clean(text, width)
        size = cell_len(shown)
        if size > width:
            shown = clean(shown, width)
            size = cell_len(shown)
        pad = " " * (width - size)
        shown = pad + shown if right else shown + pad
        self._segments.append(Segment(shown, self.base + style if style else self.base))
        self._used += width
        return self

    @property
    def remaining(self) -> int:
        return self.width - self._used

    def gap(self, cells: int = 1) -> LineBuilder:
        return self.add(" " * cells, cells, trusted=True)

    def strip(self) -> Strip:
        if self._used < self.width:
            self._segments.append(Segment(" " * (self.width - self._used), self.base))
        return Strip(self._segments, self.width)


class LineList(ScrollView, Generic[K], can_focus=True):
    """Rows by key, a cursor on selectable rows, a cache of rendered lines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "select", "Open"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | up, k / down, j | Move the cursor to the previous / next selectable row. |
    | pageup / pagedown | Move the cursor a screen up / down. |
    | home / end, G | First / last row (g is the dashboard's "go to ticket"). |
    | enter | Post `Selected` for the row under the cursor. |
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-list--cursor", "line-list--cursor-blurred"}
    """
    | Class | Description |
    | :- | :- |
    | `line-list--cursor` | The row under the cursor while the list has focus. |
    | `line-list--cursor-blurred` | The row under the cursor while focus is elsewhere. |
    """

    DEFAULT_CSS = """
    LineList {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .line-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
        & > .line-list--cursor-blurred {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
    }
    """

    cursor: reactive[int] = reactive(-1, always_update=True, init=False)
    """Index of the row under the cursor; -1 when there is none."""

    class Highlighted(Message):
        """The cursor moved to ``key`` (``None``: the list is empty)."""

        def __init__(self, line_list: LineList[Any], key: Any) -> None:
            super().__init__()
            self.line_list = line_list
            self.key = key

        @property
        def control(self) -> LineList[Any]:
            return self.line_list

    class Selected(Message):
        """Enter was pressed on ``key``."""

        def __init__(self, line_list: LineList[Any], key: Any) -> None:
            super().__init__()
            self.line_list = line_list
            self.key = key

        @property
        def control(self) -> LineList[Any]:
            return self.line_list

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.lines: list[K] = []
        self.index: dict[K, int] = {}
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(CACHE_LINES)
        self._styles: dict[str, Style] = {}
        self._base: Style | None = None
        """``rich_style`` walks every ancestor: looked up once, not once a line."""
        self.renders = 0
        """Lines rendered (cache misses): what the benchmark counts."""

    # what subclasses provide --------------------------------------------------------------------

    def selectable(self, key: K) -> bool:
        return True

    def line_rev(self, key: K) -> object:
        """Anything that changes when the row must be drawn again."""
        return 0

    def render_key(self, key: K, width: int, base: Style) -> Strip:
        raise NotImplementedError

    # keys and cursor --------------------------------------------------------------------------

    @property
    def cursor_key(self) -> K | None:
        return self.lines[self.cursor] if 0 <= self.cursor < len(self.lines) else None

    def set_lines(self, lines: Sequence[K], *, keep: K | None = None) -> None:
        """Replace the rows; the cursor stays on ``keep`` (or its current key) and on the same
        screen row, or moves to the nearest selectable row when that key is gone."""
        anchor = keep if keep is not None else self.cursor_key
        old_row = self.cursor - round(self.scroll_y) if self.cursor >= 0 else None
        self.lines = list(lines)
        self.index = {key: n for n, key in enumerate(self.lines)}
        self.virtual_size = Size(self.size.width or 1, len(self.lines))
        target = self.index.get(anchor, -1) if anchor is not None else -1
        if target < 0:
            target = self._nearest(min(max(self.cursor, 0), len(self.lines) - 1))
        self.set_reactive(LineList.cursor, target)
        if target >= 0 and old_row is not None:
            self.scroll_to(y=max(0, target - old_row), animate=False)
        self._keep_cursor_visible()
        self.refresh()
        if self.cursor_key != anchor:
            self.post_message(self.Highlighted(self, self.cursor_key))

    def _nearest(self, start: int) -> int:
        if not self.lines or start < 0:
            return -1
        for n in range(start, len(self.lines)):
            if self.selectable(self.lines[n]):
                return n
        for n in range(min(start, len(self.lines) - 1), -1, -1):
            if self.selectable(self.lines[n]):
                return n
        return -1

    def _step(self, start: int, delta: int) -> int:
        n = start + delta
        while 0 <= n < len(self.lines):
            if self.selectable(self.lines[n]):
                return n
            n += delta
        return start

    def move_to(self, key: K) -> bool:
        n = self.index.get(key)
        if n is None or not self.selectable(key):
            return False
        self.cursor = n
        return True

    def watch_cursor(self, old: int, new: int) -> None:
        for line in (old, new):
            if 0 <= line < len(self.lines):
                self.refresh_line(line)
        self._keep_cursor_visible()
        self.post_message(self.Highlighted(self, self.cursor_key))

    def _keep_cursor_visible(self) -> None:
        if self.cursor < 0:
            return
        height = max(self.scrollable_content_region.height, 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.cursor = self._step(self.cursor, -1)
        if self.cursor == self._nearest(0):
            self.scroll_to(y=0, animate=False)  # show the headers above the first row

    def action_cursor_down(self) -> None:
        self.cursor = self._step(self.cursor, 1)

    def action_page_up(self) -> None:
        page = max(self.scrollable_content_region.height - 1, 1)
        self.cursor = self._nearest(max(self.cursor - page, 0))

    def action_page_down(self) -> None:
        page = max(self.scrollable_content_region.height - 1, 1)
        self.cursor = self._nearest(min(self.cursor + page, len(self.lines) - 1))

    def action_first(self) -> None:
        self.cursor = self._nearest(0)
        self.scroll_to(y=0, animate=False)

    def action_last(self) -> None:
        self.cursor = self._step(len(self.lines), -1) if self.lines else -1

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None and self.selectable(key):
            self.post_message(self.Selected(self, key))

    # drawing ----------------------------------------------------------------------------------

    def component_style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._base = None
        self._cache.clear()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width or 1, len(self.lines))
        self._keep_cursor_visible()

    def on_focus(self) -> None:
        if 0 <= self.cursor < len(self.lines):
            self.refresh_line(self.cursor)

    def on_blur(self) -> None:
        self.on_focus()

    def visible_lines(self) -> Iterator[tuple[int, K]]:
        """(line, key) for the rows on screen: a flush looks at these, not at every change."""
        top = round(self.scroll_y)
        bottom = min(top + self.scrollable_content_region.height, len(self.lines))
        for line in range(max(top, 0), bottom):
            yield line, self.lines[line]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = round(self.scroll_y) + y
        base = self._base
        if base is None:
            base = self._base = self.rich_style
        if not 0 <= line < len(self.lines):
            return Strip.blank(width, base)
        key = self.lines[line]
        selected = line == self.cursor
        cache_key = (key, self.line_rev(key), width, selected, selected and self.has_focus)
        strip = self._cache.get(cache_key)
        if strip is None:
            self.renders += 1
            strip = self.render_key(key, width, base)
            if selected:
                # The cursor's colours win over every column's, so the row stays readable in
                # any theme; the state still reads from its symbol and label.
                name = "line-list--cursor" if self.has_focus else "line-list--cursor-blurred"
                cursor = self.component_style(name)
                strip = Strip(
                    [
                        Segment(text, style + cursor if style else cursor, control)
                        for text, style, control in strip
                    ],
                    strip.cell_length,
                )
            self._cache[cache_key] = strip
        return strip
