"""Untrusted text (device strings, ticket text, probe output) made safe to put on a screen.

A device controls its ``sysDescr``, its interface names and its SSH banner; a customer controls a
ticket's text. Written to a terminal raw, such a string can clear the screen (``ESC[2J``), set the
clipboard (OSC 52), move the cursor back over what was drawn (``\\r``) or reverse the order of
what follows (U+202E). Rendered as Rich/Textual markup it can even run actions
(``[@click=app.quit]``). So nothing from outside is written as it came:

- every control character (C0, DEL, C1), and with it the start of every escape sequence, becomes
  a visible escape such as ``\\x1b``; ``\\r`` becomes ``\\r``;
- bidi overrides and isolates, zero-width and other invisible format characters, line and
  paragraph separators and lone surrogates become ``<U+202E>``;
- the result is cut to a cell width with an ellipsis, measured the way the terminal draws it;
- it is returned as plain ``str`` or as a ``rich.text.Text`` (which is never parsed as markup),
  never as a markup string.

Escapes are styled apart in ``Text`` so that a literal backslash in a Windows path and an escaped
control character can be told apart on screen.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

__all__ = ["ELLIPSIS", "ESCAPE_STYLE", "clean", "safe_text"]

ELLIPSIS = "…"
ESCAPE_STYLE = "reverse"
"""How an escape is told apart from the same characters typed literally."""

_PLAIN = re.compile(r"[\x20-\x7e]*")
_NAMED = {"\r": "\\r", "\t": "\\t", "\n": "\\n"}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@lru_cache(maxsize=4096)
def _escape_char(char: str, multiline: bool) -> str | None:
    """The visible replacement for ``char``, or ``None`` when it is safe as it is."""
    if multiline and char == "\n":
        return None
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return _NAMED.get(char, f"\\x{code:02x}")
    if code < 0x7F:
        return None
    if unicodedata.category(char) in _UNSAFE_CATEGORIES:
        return f"<U+{code:04X}>"
    return None


def _pieces(value: str, multiline: bool) -> list[tuple[str, bool]]:
    """``value`` as (text, is_escape) runs."""
    out: list[tuple[str, bool]] = []
    run: list[str] = []
    for char in value:
        escaped = _escape_char(char, multiline)
        if escaped is None:
            run.append(char)
            continue
        if run:
            out.append(("".join(run), False))
            run = []
        out.append((escaped, True))
    if run:
        out.append(("".join(run), False))
    return out


def _cut(pieces: list[tuple[str, bool]], max_width: int, truncated: bool) -> list[tuple[str, bool]]:
    """Keep what fits in ``max_width`` cells; an ellipsis takes the last cell when cut."""
    if not truncated and sum(cell_len(text) for text, _ in pieces) <= max_width:
        return pieces
    budget = max_width - 1
    kept: list[tuple[str, bool]] = []
    for text, escape in pieces:
        width = cell_len(text)
        if width <= budget:
            kept.append((text, escape))
            budget -= width
            continue
        if not escape:  # an escape is never cut in half: "\x1" would read as something else
            chars: list[str] = []
            for char in text:
                w = cell_len(char)
                if w > budget:
                    break
                chars.append(char)
                budget -= w
            if chars:
                kept.append(("".join(chars), False))
        break
    kept.append((ELLIPSIS, False))
    return kept


def _prepare(value: object, max_width: int | None, multiline: bool) -> list[tuple[str, bool]]:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    truncated = False
    if max_width is not None:
        if max_width <= 0:
            return []
        # Bound the work for a 10 MB banner: past a few times the width only zero-width
        # characters could still fit, and those are shown cut anyway.
        limit = max_width * 4 + 16
        truncated = len(text) > limit
        text = text[:limit]
    if _PLAIN.fullmatch(text):
        pieces = [(text, False)] if text else []
    else:
        pieces = _pieces(text, multiline)
    return pieces if max_width is None else _cut(pieces, max_width, truncated)


def clean(value: object, max_width: int | None = None, *, multiline: bool = False) -> str:
    """``value`` as a plain string with every unsafe character escaped, cut to ``max_width``."""
    return "".join(text for text, _ in _prepare(value, max_width, multiline))


def safe_text(
    value: object,
    max_width: int | None = None,
    *,
    style: str | Style = "",
    multiline: bool = False,
) -> Text:
    """``value`` as a ``Text`` (never markup) with escapes styled apart, cut to ``max_width``."""
    result = Text(style=style, no_wrap=not multiline, end="")
    for text, escape in _prepare(value, max_width, multiline):
        result.append(text, ESCAPE_STYLE if escape else None)
    return result
