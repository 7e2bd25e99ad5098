"""Untrusted strings come out escaped, cut and never interpreted as markup."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from noc.textsafe import ELLIPSIS, ESCAPE_STYLE, clean, safe_text

HOSTILE = (
    "\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07\rline\u202eevil\u2066x\u2069"
    "[/][0][@click=app.quit]\x7f\x9b31m\x00"
)


def render(text: Text, width: int = 400) -> str:
    """What a terminal receives when the text is printed, escape codes included."""
    console = Console(width=width, file=None, force_terminal=True, color_system="truecolor")
    with console.capture() as capture:
        console.print(text, end="")
    return capture.get()


def test_plain_ascii_is_unchanged() -> None:
    assert clean("core-rtr-01 (Cisco IOS 15.2)") == "core-rtr-01 (Cisco IOS 15.2)"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb", "a\\rb"),
        ("a\nb", "a\\nb"),
        ("tab\there", "tab\\there"),
        ("\x00\x07\x7f", "\\x00\\x07\\x7f"),
        ("\x9b1m", "\\x9b1m"),
        ("\x1b]52;c;AAAA\x07", "\\x1b]52;c;AAAA\\x07"),
        ("abc\u202edef", "abc<U+202E>def"),
        ("\u202a\u202b\u202c\u202d", "<U+202A><U+202B><U+202C><U+202D>"),
        ("\u2066\u2067\u2068\u2069", "<U+2066><U+2067><U+2068><U+2069>"),
        ("zero\u200bwidth\ufeff", "zero<U+200B>width<U+FEFF>"),
        ("line\u2028sep", "line<U+2028>sep"),
        ("lone\udcffsurrogate", "lone<U+DCFF>surrogate"),
    ],
)
def test_controls_and_bidi_become_visible_escapes(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_multiline_keeps_newlines_but_not_carriage_returns() -> None:
    assert clean("one\r\ntwo", multiline=True) == "one\\r\ntwo"


def test_non_ascii_text_is_kept() -> None:
    assert clean("Zürich – 東京 ✓") == "Zürich – 東京 ✓"


def test_none_and_numbers() -> None:
    assert clean(None) == ""
    assert clean(42) == "42"


@pytest.mark.parametrize("width", [1, 2, 5, 10, 33])
def test_cut_to_width_with_ellipsis(width: int) -> None:
    out = clean("x" * 100, width)
    assert cell_len(out) == width
    assert out.endswith(ELLIPSIS)


def test_fits_exactly_is_not_cut() -> None:
    assert clean("abcde", 5) == "abcde"
    assert clean("abcdef", 5) == "abcd" + ELLIPSIS


def test_zero_width_is_empty() -> None:
    assert clean("abc", 0) == ""


def test_wide_characters_are_measured_in_cells() -> None:
    out = clean("東京東京東京", 5)
    assert cell_len(out) <= 5
    assert out == "東京" + ELLIPSIS


def test_an_escape_is_never_cut_in_half() -> None:
    out = clean("ab\x1bcd", 5)
    assert out == "ab" + ELLIPSIS
    assert "\\x1" not in out


def test_zero_width_flood_is_bounded_and_marked_cut() -> None:
    out = clean("a" + "\u0301" * 100_000 + "tail", 10)
    assert out.endswith(ELLIPSIS)
    assert "tail" not in out


def test_hostile_string_renders_without_any_escape_sequence() -> None:
    value = HOSTILE * 500
    text = safe_text(value, 120)
    assert isinstance(text, Text)
    assert 112 <= cell_len(text.plain) <= 120  # an escape is dropped whole, not split
    plain = text.plain
    for bad in ("\x1b", "\r", "\x07", "\x00", "\x7f", "\x9b", "\u202e", "\u2066", "\u2069"):
        assert bad not in plain
    # What reaches the terminal: only Rich's own SGR codes, never the device's.
    out = render(text)
    assert "\x1b[2J" not in out
    assert "\x1b]52" not in out
    assert "\r" not in out


def test_markup_is_shown_literally() -> None:
    text = safe_text("[b]bold[/b] [/] [0] [@click=app.quit]quit[/]")
    assert text.plain == "[b]bold[/b] [/] [0] [@click=app.quit]quit[/]"
    assert text.spans == []
    out = render(text)
    assert "[@click=app.quit]" in out
    assert "[/]" in out


def test_escapes_are_styled_apart() -> None:
    text = safe_text("C:\\x1b and \x1b")
    styled = [text.plain[span.start : span.end] for span in text.spans]
    assert styled == ["\\x1b"]
    assert all(str(span.style) == ESCAPE_STYLE for span in text.spans)


def test_base_style_applies_to_the_whole_text() -> None:
    text = safe_text("name", style="bold")
    assert str(text.style) == "bold"
    assert text.no_wrap
