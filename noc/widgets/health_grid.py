"""The health grid: every device, grouped by client and site, one line each.

Built on ``LineList`` (one ScrollView, an LRU cache of Strips), so 10,000 devices cost only the
lines on screen. Each device shows its state as a symbol and a label as well as a colour, the
check that decides it, a latency sparkline and how long it has been so; each client's header
counts its devices per state and its open alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.style import Style
from textual.binding import Binding, BindingType
from textual.strip import Strip

from noc.devicefilter import DeviceFilter
from noc.livemodel import Flushed, LiveModel
from noc.readmodel import STATES
from noc.widgets.line_list import LineBuilder, LineList
from noc.widgets.sparkline import sparkline
from noc.widgets.states import STATE_CSS, look, state_components

GridKey = tuple[str, int]
"""``("c", client_id)``, ``("s", site_id)`` or ``("d", device_id)``."""


def age(seconds: float) -> str:
    """A duration in at most four characters: 59s, 41m, 23h, 12d, 3y."""
    s = max(int(seconds), 0)
    for unit, size in (("y", 31_536_000), ("d", 86_400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


class HealthGrid(LineList[GridKey]):
    """Devices grouped by client and site; the cursor moves over devices only."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_group", "Fold client"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | space | Fold or unfold the client under the cursor. |
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "health-grid--client",
        "health-grid--site",
        "health-grid--dim",
        "health-grid--maintenance",
    } | state_components("health-grid")
    """
    | Class | Description |
    | :- | :- |
    | `health-grid--client` | A client's header line. |
    | `health-grid--site` | A site's header line. |
    | `health-grid--dim` | Secondary text: address, output, age. |
    | `health-grid--maintenance` | The marker of a device in maintenance. |
    | `health-grid--<state>` | The badge of a state (down, critical, warning, unknown, ...). |
    """

    DEFAULT_CSS = (
        """
    HealthGrid {
        height: 1fr;
        & > .health-grid--client { background: $panel; text-style: bold; }
        & > .health-grid--site { color: $text-muted; text-style: italic; }
        & > .health-grid--dim { color: $text-muted; }
        & > .health-grid--maintenance { color: $accent; text-style: bold; }
    """
        + STATE_CSS.format(name="health-grid")
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
        self.filter = DeviceFilter()
        self.collapsed: set[int] = set()
        self._shown: set[int] = set()
        self._sites: dict[int, tuple[str, int]] = {}
        """Site id -> (name, devices listed) as of the last rebuild."""

    # building ---------------------------------------------------------------------------------

    def rebuild(self, keep: GridKey | None = None, *, pin: bool = False) -> None:
        """Lines from the model and the filter; the cursor stays on ``keep`` or its device.

        With ``pin`` (a live change, not the technician's filter) the device under the cursor
        stays listed even when it stops matching, so an update never pulls the row away.
        """
        model, flt = self.model, self.filter
        pinned = (self.cursor_key if keep is None else keep) if pin else keep
        lines: list[GridKey] = []
        shown: set[int] = set()
        sites: dict[int, tuple[str, int]] = {}
        client = site = -1
        codes = {cid: info.code for cid, info in model.clients.items()}
        for did in model.order:
            view = model.devices[did]
            tile = view.tile
            if not (flt.matches(view, codes.get(tile.client_id, "")) or pinned == ("d", did)):
                continue
            if tile.client_id != client:
                client, site = tile.client_id, -1
                lines.append(("c", client))
            if client in self.collapsed:
                continue
            if tile.site_id != site:
                site = tile.site_id
                lines.append(("s", site))
            lines.append(("d", did))
            shown.add(did)
            sites[site] = (tile.site, sites.get(site, ("", 0))[1] + 1)
        self._shown = shown
        self._sites = sites
        self.set_lines(lines, keep=keep)

    def apply(self, flushed: Flushed) -> None:
        """Repaint what a flush changed: single lines, or the whole list when a device moved in
        or out of the filter."""
        if self.filter.uses_state and flushed.devices:
            codes = {cid: info.code for cid, info in self.model.clients.items()}
            for did in flushed.devices:
                view = self.model.devices.get(did)
                if view is None:
                    continue
                inside = self.filter.matches(view, codes.get(view.tile.client_id, ""))
                if inside != (did in self._shown) and self.cursor_key != ("d", did):
                    self.rebuild(pin=True)
                    return
        devices, clients = flushed.devices, flushed.clients
        for line, (kind, ident) in self.visible_lines():
            if (kind == "d" and ident in devices) or (kind == "c" and ident in clients):
                self.refresh_line(line)

    @property
    def shown(self) -> int:
        """Devices listed (the filter's result)."""
        return len(self._shown)

    @property
    def cursor_device(self) -> int | None:
        key = self.cursor_key
        return key[1] if key is not None and key[0] == "d" else None

    @property
    def cursor_client(self) -> int | None:
        device = self.cursor_device
        if device is not None:
            return self.model.devices[device].tile.client_id
        key = self.cursor_key
        return key[1] if key is not None and key[0] == "c" else None

    def select_device(self, device_id: int) -> bool:
        view = self.model.devices.get(device_id)
        if view is None:
            return False
        self.collapsed.discard(view.tile.client_id)
        if ("d", device_id) not in self.index:
            self.rebuild(keep=("d", device_id))
        return self.move_to(("d", device_id))

    def action_toggle_group(self) -> None:
        client = self.cursor_client
        if client is None:
            return
        if client in self.collapsed:
            self.collapsed.discard(client)
            self.rebuild()
        else:
            self.collapsed.add(client)
            self.rebuild(keep=("c", client))

    def selectable(self, key: GridKey) -> bool:
        return key[0] == "d" or (key[0] == "c" and key[1] in self.collapsed)

    # drawing ----------------------------------------------------------------------------------

    def line_rev(self, key: GridKey) -> object:
        kind, ident = key
        if kind == "d":
            view = self.model.devices.get(ident)
            if view is None:
                return None
            return (view.rev, age(self.clock() - view.since) if view.since else "")
        if kind == "c":
            return (self.model.client_rev.get(ident, 0), ident in self.collapsed)
        return self._sites.get(ident)

    def render_key(self, key: GridKey, width: int, base: Style) -> Strip:
        kind, ident = key
        if kind == "d":
            return self._render_device(ident, width, base)
        if kind == "c":
            return self._render_client(ident, width, base)
        return self._render_site(ident, width, base)

    def _render_client(self, client_id: int, width: int, base: Style) -> Strip:
        info = self.model.clients.get(client_id)
        counts = self.model.counts.get(client_id, {})
        line = LineBuilder(width, base + self.component_style("health-grid--client"))
        fold = "▸" if client_id in self.collapsed else "▾"
        name = info.name if info else f"client {client_id}"
        total = sum(counts.values())
        line.add(f"{fold} ", 2, trusted=True)
        line.add(name, min(len(name), max(width // 3, 12)))
        line.add(f"  {total} dev ", None if width < 40 else 10, trusted=True)
        for state in STATES:
            n = counts.get(state, 0)
            if n and state != "PENDING":
                look_ = look(state)
                chip = f"{look_.symbol}{n}"
                line.add(chip, len(chip), self.component_style(f"health-grid--{look_.component}"))
                line.gap()
        alerts = self.model.open_alerts(client_id)
        if alerts:
            line.add(f" {alerts} alert{'s' if alerts != 1 else ''}", trusted=True)
        return line.strip()

    def _render_site(self, site_id: int, width: int, base: Style) -> Strip:
        name, count = self._sites.get(site_id, ("", 0))
        line = LineBuilder(width, base + self.component_style("health-grid--site"))
        line.add("  ", 2, trusted=True).add(name, min(len(name), width - 10))
        line.add(f" · {count}", trusted=True)
        return line.strip()

    def _render_device(self, device_id: int, width: int, base: Style) -> Strip:
        view = self.model.devices.get(device_id)
        line = LineBuilder(width, base)
        if view is None:
            return line.strip()
        tile = view.tile
        look_ = look(view.state)
        dim = self.component_style("health-grid--dim")
        marker = "M" if tile.in_maintenance else " "
        line.add(marker, 1, self.component_style("health-grid--maintenance"), trusted=True)
        line.add(
            f"{look_.symbol} {look_.label:<4}",
            6,
            self.component_style(f"health-grid--{look_.component}"),
            trusted=True,
        )
        line.gap()
        name_w = max(12, min(28, width // 4))
        line.add(tile.name, name_w).gap()
        if width >= 70:
            line.add(tile.address, 15, dim).gap()
        spark_w = 8 if width >= 110 else 6
        line.add(sparkline(tile.latency, spark_w), spark_w, dim, trusted=True).gap()
        if width >= 130:
            line.add(sparkline(tile.cpu, spark_w), spark_w, dim, trusted=True).gap()
        detail = view.worst_check
        if view.worst_output:
            detail = f"{detail}: {view.worst_output}"
        line.add(detail, max(line.remaining - 5, 0), dim)
        since = age(self.clock() - view.since) if view.since else ""
        line.add(since, 5, dim, right=True, trusted=True)
        return line.strip()
