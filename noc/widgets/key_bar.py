"""The key bar: every active binding with ``show=True``, wrapped onto as many lines as it needs.

Textual's ``Footer`` is one line that scrolls, so at 80 columns the last keys fall off the edge;
here nothing is ever hidden, at the cost of a second line on a narrow terminal.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: auto;
        background: $footer-background;
        color: $footer-description-foreground;
        & > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    }
    """
    COMPONENT_CLASSES = {"key-bar--key"}
    """
    | Class | Description |
    | :- | :- |
    | `key-bar--key` | The key of a binding. |
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self.refresh(layout=True)

    def items(self) -> list[tuple[str, str]]:
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for _namespace, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or not enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            out.append((self.app.get_key_display(binding), binding.description))
        return out

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        width = max(self.size.width, 20)
        text = Text(end="")
        used = 0
        for key, description in self.items():
            item = len(key) + len(description) + 2
            if used and used + item > width:
                text.append("\n")
                used = 0
            text.append(f" {key}", key_style)
            text.append(f" {description}")
            used += item
        return text

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        used, lines = 0, 1
        for key, description in self.items():
            item = len(key) + len(description) + 2
            if used and used + item > width:
                lines += 1
                used = 0
            used += item
        return lines
