"""Untrusted text made into one plain line, before it goes into a payload or onto a terminal.

Device names, summaries and ticket text come from outside. A chat client or a terminal can be
made to do things by control characters (escape sequences, ``\\r`` overwriting a line) and
invisible format characters (bidi overrides reordering what follows), so those become a visible
replacement and the line breaks become spaces. What a format would *interpret* (Slack's ``&``,
``<``, ``>``, Teams' markdown) is that format's business: see ``formats``.
"""

from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
REPLACEMENT = "\ufffd"
_SPACES = {"\n": " ", "\r": " ", "\t": " "}
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _safe(char: str) -> str:
    if " " <= char <= "~":
        return char
    if char in _SPACES:
        return _SPACES[char]
    return REPLACEMENT if unicodedata.category(char) in _UNSAFE else char


def plain(value: object, limit: int = 500) -> str:
    """``value`` as one printable line of at most ``limit`` characters (None becomes "")."""
    if value is None:
        return ""
    text = "".join(_safe(char) for char in str(value))
    if len(text) > limit:
        return text[: max(0, limit - 1)] + ELLIPSIS
    return text
