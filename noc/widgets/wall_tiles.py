"""Large tiles for a wall screen: one client's devices, problems first, readable across a room.

Each tile is three lines (four on a big screen): the state (symbol, label, how long) on the
state's colour, the device's name, what is wrong, and its latency sparkline. What does not
fit is counted, never silently dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from noc.livemodel import DeviceView, LiveModel
from noc.textsafe import clean
from noc.widgets.health_grid import age
from noc.widgets.sparkline import sparkline
from noc.widgets.states import STATE_CSS, look, state_components

MIN_TILE = 26
"""Cells of the narrowest tile (80 columns hold three)."""


class WallTiles(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"wall-tiles--name", "wall-tiles--dim"} | (
        state_components("wall-tiles")
    )
    """
    | Class | Description |
    | :- | :- |
    | `wall-tiles--name` | A device's name. |
    | `wall-tiles--dim` | What is wrong, or the sparkline. |
    | `wall-tiles--<state>` | A tile's state line. |
    """

    DEFAULT_CSS = (
        """
    WallTiles {
        height: 1fr;
        & > .wall-tiles--name { text-style: bold; }
        & > .wall-tiles--dim { color: $text-muted; }
    """
        + STATE_CSS.format(name="wall-tiles")
        + "}"
    )

    def __init__(
        self, model: LiveModel, *, clock: Callable[[], float] = time.time, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.model = model
        self.clock = clock
        self.client_id: int | None = None

    def views(self) -> list[DeviceView]:
        return self.model.worst_first(self.client_id) if self.client_id is not None else []

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        views = self.views()
        if not views:
            return Text("no devices", style="dim")
        big = width >= 160 and height >= 40
        cols = max(1, width // (MIN_TILE * 3 // 2 if big else MIN_TILE))
        tile_w = width // cols
        tile_lines = 4 if big else 3
        rows = max(1, (height + 1) // (tile_lines + 1))
        fit = cols * rows
        shown = views if len(views) <= fit else views[: fit - 1]
        hidden = len(views) - len(shown)
        now = self.clock()
        name_style = self.get_component_rich_style("wall-tiles--name")
        dim = self.get_component_rich_style("wall-tiles--dim")
        out = Text(no_wrap=True, end="")
        for row_start in range(0, len(shown) + (1 if hidden else 0), cols):
            chunk = shown[row_start : row_start + cols]
            lines = [Text(no_wrap=True, end="") for _ in range(tile_lines)]
            for view in chunk:
                self._tile(lines, view, tile_w, now, name_style, dim)
            if hidden and row_start + cols > len(shown):
                more = f" +{hidden} more"
                lines[0].append(more.ljust(tile_w - 1)[: tile_w - 1] + " ", dim)
            if row_start:
                out.append("\n")
            out.append(Text("\n").join(lines))
            out.append("\n")
        return out

    def _tile(
        self,
        lines: list[Text],
        view: DeviceView,
        width: int,
        now: float,
        name_style: Style,
        dim: Style,
    ) -> None:
        inner = width - 1
        look_ = look(view.state)
        state_style = self.get_component_rich_style(f"wall-tiles--{look_.component}")
        since = age(now - view.since) if view.since else ""
        head = f" {look_.symbol} {look_.label}"
        lines[0].append(head + since.rjust(max(inner - len(head) - 1, 0)) + " ", state_style)
        lines[0].append(" ")
        name = clean(view.tile.name, inner - 1)
        lines[1].append(" " + name.ljust(inner - 1) + " ", name_style)
        spark = sparkline(view.tile.latency, inner - 1)
        if view.worst_check:
            text = view.worst_check
            if view.worst_output:
                text = f"{text}: {view.worst_output}"
            detail = clean(text, inner - 1)
        else:
            detail, spark = spark, ""
        lines[2].append(" " + detail.ljust(inner - 1) + " ", dim)
        if len(lines) > 3:
            lines[3].append(" " + spark.ljust(inner - 1) + " ", dim)
