"""The command palette (ctrl+p): jump to any client, device or alert by fuzzy name, or run an
action.

Names are untrusted: Textual's ``Matcher.highlight`` parses its candidate as markup, so hits are
built here from cleaned plain text with the matched characters styled, never from markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.style import Style
from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from noc.textsafe import clean

if TYPE_CHECKING:
    from noc.app import NocApp
    from noc.screens.dashboard import DashboardScreen
    from noc.screens.oncall import MyAlertsScreen

MAX_HITS = 60
MATCH_STYLE = Style(reverse=True, bold=True)


def highlight(display: str, offsets: Sequence[int]) -> Text:
    text = Text(display, no_wrap=True, overflow="ellipsis")
    for offset in offsets:
        if offset < len(display) and not display[offset].isspace():
            text.stylize(MATCH_STYLE, offset, offset + 1)
    return text


class NocCommands(Provider):
    @property
    def noc(self) -> NocApp:
        return cast("NocApp", self.app)

    def _dashboard(self) -> DashboardScreen | None:
        from noc.screens.dashboard import DashboardScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def _to_dashboard(self) -> DashboardScreen | None:
        """Close what is above the dashboard (a device screen) and return it."""
        dashboard = self._dashboard()
        while dashboard is not None and self.app.screen is not dashboard:
            self.app.pop_screen()
        return dashboard

    # targets ----------------------------------------------------------------------------------

    def _open_device(self, device_id: int) -> None:
        dashboard = self._to_dashboard()
        if dashboard is not None:
            dashboard.show_device(device_id)
        self.noc.open_device(device_id)

    def _show_client(self, client_id: int, code: str) -> None:
        from noc.screens.wall import WallScreen

        dashboard = self._to_dashboard()
        if dashboard is not None:
            dashboard.show_client(code)
        elif isinstance(self.app.screen, WallScreen):
            self.app.screen.show_client(client_id)

    def _mine(self) -> MyAlertsScreen | None:
        """My alerts, when the palette was opened on it: its alert actions act there."""
        from noc.screens.oncall import MyAlertsScreen

        return self.screen if isinstance(self.screen, MyAlertsScreen) else None

    def _show_alert(self, alert_id: int) -> None:
        mine = self._mine()
        if mine is not None and mine.show_alert(alert_id):
            return
        dashboard = self._to_dashboard()
        if dashboard is not None:
            dashboard.show_alert(alert_id)

    def _screen_action(self, name: str) -> None:
        """An action of my alerts when the palette was opened there, else of the dashboard."""
        target = self._mine() or self._to_dashboard()
        if target is not None:
            getattr(target, f"action_{name}")()

    def candidates(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(plain display text, help, command) for everything one can jump to or run."""
        model = self.noc.model
        mine = self._mine()
        if mine is None:
            yield "My alerts", "o: mine, and what nobody has taken", self.noc.open_mine
        else:
            yield "My alerts: all or mine", "v", partial(self._screen_action, "everything")
        if mine is not None or self._dashboard() is not None:
            yield "Acknowledge selected alert", "a", partial(self._screen_action, "ack")
            yield "Snooze selected alert", "z", partial(self._screen_action, "snooze")
            yield (
                "Maintenance on selected device",
                "m",
                partial(self._screen_action, "maintenance"),
            )
            yield "Ticket from selected alert", "t", partial(self._screen_action, "ticket")
        if mine is None and self._dashboard() is not None:
            yield (
                "Problems only: on/off",
                "Filter the grid",
                partial(self._screen_action, "problems"),
            )
            yield "Clear filter", "Show every device", partial(self._show_client_all)
        if not self.noc.wall:
            yield "Ticket queue", "T: mine, unassigned, all", self.noc.open_tickets
        yield "High contrast theme: on/off", "f2", self.noc.action_toggle_contrast
        yield "Reload snapshot", "Read everything from the store again", self.noc.action_reload
        for info in model.clients.values():
            yield (
                f"client {clean(info.name, 60)} ({clean(info.code, 20)})",
                "Filter to client",
                (partial(self._show_client, info.id, info.code)),
            )
        for alert in model.sorted_alerts():
            display = f"alert {clean(alert.device, 40)} {clean(alert.check, 20)}: " + clean(
                alert.summary, 60
            )
            yield display, f"{alert.severity.lower()} alert", partial(self._show_alert, alert.id)
            if alert.ticket_number is not None and not self.noc.wall:
                yield (
                    f"ticket #{alert.ticket_number} {clean(alert.device, 40)}: "
                    + clean(alert.summary, 60),
                    "Open ticket",
                    partial(self.noc.open_ticket, alert.ticket_id),
                )
        if self.noc.wall:
            return
        for view in model.devices.values():
            tile = view.tile
            display = f"device {clean(tile.name, 60)} · {clean(tile.client, 30)} / " + clean(
                tile.site, 30
            )
            yield display, "Open device", partial(self._open_device, tile.id)

    def _show_client_all(self) -> None:
        dashboard = self._to_dashboard()
        if dashboard is not None:
            dashboard.filter_bar.set_query("")

    async def discover(self) -> Hits:
        for n, (display, help_text, command) in enumerate(self.candidates()):
            if n >= MAX_HITS:
                break
            yield DiscoveryHit(Text(display), command, text=display, help=_plain_help(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        wanted = set(query.lower().replace(" ", ""))
        hits = 0
        for display, help_text, command in self.candidates():
            lowered = display.lower()
            if not wanted.issubset(lowered):  # cheap pre-filter before the fuzzy match
                continue
            score, offsets = matcher.fuzzy_search.match(query, display)
            if score <= 0:
                continue
            yield Hit(
                score,
                highlight(display, offsets),
                command,
                text=display,
                help=_plain_help(help_text),
            )
            hits += 1
            if hits >= 400:
                break


def _plain_help(help_text: str) -> str:
    """Help is drawn as markup by the palette: only fixed, bracket-free words go there."""
    return help_text.replace("[", "(").replace("]", ")")
