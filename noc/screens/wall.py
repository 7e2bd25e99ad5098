"""Wall mode: a read-only screen that rotates through the clients, problems first.

It changes nothing: every key that would (ack, snooze, maintenance) is refused with a notice,
so a wall console can run unattended under any account.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Digits, Static

from noc.livemodel import Flushed
from noc.readmodel import STATES, ClientSummary, state_rank, worst_state
from noc.textsafe import safe_text
from noc.widgets.key_bar import KeyBar
from noc.widgets.states import look
from noc.widgets.status_bar import clock_text
from noc.widgets.wall_tiles import WallTiles

if TYPE_CHECKING:
    from noc.app import NocApp


class WallScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("wall.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,n", "next_client", "Next"),
        Binding("left,b", "previous_client", "Previous"),
        Binding("space", "pause", "Pause"),
        Binding("a", "refuse('acknowledge')", "Ack", show=False),
        Binding("z", "refuse('snooze')", "Snooze", show=False),
        Binding("m", "refuse('maintenance')", "Maint", show=False),
        Binding("t", "refuse('new ticket')", "Ticket", show=False),
        Binding("enter", "refuse('opening a device')", "Open", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | right, n / left, b | Next / previous client now. |
    | space | Stop or resume the rotation. |
    | a, z, m, t, enter | Refused: the wall is read-only. |
    """

    def __init__(self) -> None:
        super().__init__()
        self.position = 0
        self.paused = False

    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.noc
        yield app.status_bar()
        with Horizontal(id="wall-head"):
            yield Static(id="wall-client")
            yield Digits(clock_text(app.clock(), seconds=False), id="wall-clock")
        yield WallTiles(app.model, clock=app.clock, id="wall-tiles")
        yield Static(id="wall-clients")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_interval(max(self.noc.settings.console.wall_rotate_s, 1.0), self._rotate)
        self.set_interval(1.0, self._tick)
        if self.noc.loaded:
            self.model_reset()

    def clients(self) -> list[ClientSummary]:
        """Clients worst first: the ones with problems come round first."""
        model = self.noc.model
        out = []
        for cid, info in model.clients.items():
            counts = model.counts.get(cid, {})
            out.append(
                ClientSummary(
                    cid, info.code, info.name, sum(counts.values()), counts, model.open_alerts(cid)
                )
            )
        return sorted(out, key=lambda c: (-state_rank(c.worst), -c.problems, c.name.lower()))

    def model_reset(self) -> None:
        self._show()

    def model_changed(self, flushed: Flushed) -> None:
        self._show()

    def _rotate(self) -> None:
        if not self.paused:
            self.position += 1
            self._show()

    def _tick(self) -> None:
        self.query_one("#wall-clock", Digits).update(clock_text(self.noc.clock(), seconds=False))

    def _show(self) -> None:
        clients = self.clients()
        tiles = self.query_one("#wall-tiles", WallTiles)
        if not clients:
            tiles.client_id = None
            tiles.refresh()
            return
        current = clients[self.position % len(clients)]
        tiles.client_id = current.id
        tiles.refresh()
        head = Text(no_wrap=True, overflow="ellipsis", end="")
        head.append_text(safe_text(current.name, 60, style="bold"))
        head.append(f"  {self.position % len(clients) + 1}/{len(clients)}")
        if self.paused:
            head.append("  paused", style="reverse")
        head.append("  read-only", style="dim")
        self.query_one("#wall-client", Static).update(head)
        strip = Text(no_wrap=False, end="")
        for client in clients:
            worst = look(worst_state(s for s, n in client.counts.items() if n))
            marker = "▶" if client.id == current.id else " "
            strip.append(f"{marker}{worst.symbol} ")
            strip.append_text(safe_text(client.name, 24))
            chips = [
                f"{look(s).symbol}{client.counts.get(s, 0)}"
                for s in STATES
                if client.counts.get(s, 0) and s not in ("OK", "PENDING")
            ]
            strip.append(f" {' '.join(chips)}  " if chips else "  ")
        self.query_one("#wall-clients", Static).update(strip)

    def show_client(self, client_id: int) -> None:
        """Jump to a client (from the palette); the rotation carries on from there."""
        for n, client in enumerate(self.clients()):
            if client.id == client_id:
                self.position = n
                self._show()
                return

    def action_next_client(self) -> None:
        self.position += 1
        self._show()

    def action_previous_client(self) -> None:
        self.position -= 1
        self._show()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._show()

    def action_refuse(self, what: str) -> None:
        self.noc.refused(what)
