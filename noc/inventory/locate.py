"""Map a key path in a parsed TOML document back to its line, for one-line errors.

``tomllib`` gives values but no positions, and an error that says only "devices[3].address"
makes a person count tables by hand. The scan below knows just enough TOML to find where each
table header and key starts; each piece of key syntax is handed back to ``tomllib`` to parse, so
quoting and dotted keys follow the real rules.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*(\]\]?)\s*(#.*)?$")


def _parse_key(text: str) -> tuple[str, ...] | None:
    try:
        doc = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    node: object = doc
    while isinstance(node, dict) and len(node) == 1:
        ((key, node),) = node.items()
        path.append(key)
    return tuple(path)


def _key_before_equals(line: str) -> str | None:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return line[:i].strip()
        elif ch == "#":
            return None
    return None


class LineIndex:
    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        arrays: Counter[tuple[str, ...]] = Counter()
        current: Path = ()
        depth = 0  # open brackets/braces of a value spanning lines
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if depth == 0 and (match := _HEADER.match(line)) and len(match[1]) == len(match[3]):
                key = _parse_key(match[2])
                if key is not None:
                    if match[1] == "[[":
                        current = (*key, arrays[key])
                        arrays[key] += 1
                    else:
                        current = key
                    self._lines.setdefault(current, number)
                    continue
            if depth == 0 and stripped and not stripped.startswith("#"):
                key_text = _key_before_equals(line)
                key = _parse_key(key_text) if key_text else None
                if key is not None:
                    self._lines.setdefault((*current, *key), number)
            depth = max(0, depth + _bracket_balance(line))

    def line(self, path: Path) -> int:
        """The line of ``path`` or of its nearest ancestor that has one; 0 when unknown."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return 0


def _bracket_balance(line: str) -> int:
    balance = 0
    quote = ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            balance += 1
        elif ch in "]}":
            balance -= 1
    return balance
