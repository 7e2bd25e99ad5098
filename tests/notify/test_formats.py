"""Payloads: device strings stay plain text in every format, whatever they contain."""

from __future__ import annotations

import json
from email.header import decode_header, make_header
from typing import Any

from noc.notify.formats import Message, render, title
from noc.notify.plain import plain

HOSTILE = "<!channel> *pwn* _x_ & [click](http://evil.test) {{DATE(2017-02-14T06:08:39Z)}}"
DEVICE = "core\x1b[2J-sw\u202e1 <@U123>"


def message(**overrides: Any) -> Message:
    values: dict[str, Any] = {
        "event": "alert.opened",
        "severity": "critical",
        "condition": "cpu",
        "summary": HOSTILE,
        "alert_id": 42,
        "device": DEVICE,
        "client": "acme",
        "site": "hq",
        "first_seen": 1_800_000_000.0,
        "rule": "oncall",
    }
    values.update(overrides)
    return Message(**values)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_plain_removes_controls_and_bidi_and_keeps_one_line() -> None:
    assert plain("a\x1b[2Jb\u202ec\nd\re\x00") == "a\ufffd[2Jb\ufffdc d e\ufffd"
    assert plain("x" * 10, 5) == "xxxx…"
    assert plain(None) == ""


def test_message_survives_the_outbox_payload() -> None:
    original = message(extra={"suppressed": "acknowledged by bob"})
    payload = json.loads(json.dumps(original.as_payload()))
    assert payload["suppressed"] == "acknowledged by bob"
    assert Message.from_payload(payload) == original


def test_webhook_is_the_message_as_json_with_its_id() -> None:
    rendered = render("webhook", message(), 7)
    body = json.loads(rendered.content)
    assert rendered.headers["Content-Type"] == "application/json"
    assert rendered.headers["X-Noc-Notification"] == "7"
    assert body["notification_id"] == 7 and body["alert_id"] == 42
    assert body["summary"] == HOSTILE  # JSON needs no escaping: the receiver gets the text
    assert body["title"] == "[CRITICAL] core\ufffd[2J-sw\ufffd1 <@U123>: cpu"


def test_slack_uses_plain_text_with_entities() -> None:
    body = json.loads(render("slack", message(), 7).content)
    texts = strings(body)
    assert all("<" not in t and ">" not in t for t in texts)
    assert not any(
        "&" in t.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "") for t in texts
    )
    assert "&lt;!channel&gt; *pwn* _x_ &amp; [click]" in body["blocks"][1]["text"]["text"]
    for block in body["blocks"]:
        assert block["text"]["type"] == "plain_text" and block["text"]["emoji"] is False
    assert body["text"].startswith("[CRITICAL] core\ufffd[2J-sw\ufffd1 &lt;@U123&gt;")
    assert "\x1b" not in json.dumps(body) and "\u202e" not in json.dumps(body, ensure_ascii=False)


def test_teams_puts_untrusted_text_only_in_text_runs() -> None:
    envelope = json.loads(render("teams", message(), 7).content)
    (attachment,) = envelope["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    for block in card["body"]:
        assert block["type"] == "RichTextBlock"  # no TextBlock: those parse markdown
        assert all(run["type"] == "TextRun" for run in block["inlines"])
    summary = [run["text"] for b in card["body"] for run in b["inlines"]]
    assert "*pwn* _x_ & [click](http://evil.test)" in " ".join(summary)
    assert not any("{{" in text for text in strings(card))
    assert card["body"][0]["inlines"][0]["color"] == "Attention"
    resolved = json.loads(render("teams", message(event="alert.resolved"), 7).content)
    assert resolved["attachments"][0]["content"]["body"][0]["inlines"][0]["color"] == "Good"


def test_ntfy_title_header_is_latin1_safe_and_body_is_plain() -> None:
    rendered = render("ntfy", message(device="café-sw ✓"), 7)
    raw = rendered.headers["Title"]
    raw.encode("latin-1")  # what httpx needs of a header value
    assert raw.startswith("=?utf-8?")
    assert str(make_header(decode_header(raw))) == "[CRITICAL] café-sw ✓: cpu"
    assert rendered.headers["Priority"] == "high" and rendered.headers["Tags"] == "rotating_light"
    assert "Markdown" not in rendered.headers
    body = rendered.content.decode()
    assert HOSTILE in body and "Client: acme / hq" in body
    recovered = render("ntfy", message(event="alert.resolved", severity="down"), 7)
    assert recovered.headers["Tags"] == "white_check_mark"
    assert render("ntfy", message(), 7).headers["Title"].isascii()


def test_ntfy_body_stays_under_the_attachment_size() -> None:
    rendered = render("ntfy", message(summary="é" * 5000), 7)
    assert len(rendered.content) <= 4096
    rendered.content.decode()  # never cut inside a character


def test_titles_of_recovery_and_test() -> None:
    assert title(message(event="alert.resolved")).startswith("[RESOLVED] ")
    assert title(message(event="notify.test", device=None, client=None)) == "[TEST] noc: cpu"
