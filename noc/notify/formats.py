"""What each kind of channel is sent: generic JSON, Slack, Microsoft Teams and ntfy.

The outbox stores a ``Message`` (the facts, format-free) and the payload for a channel is made
at the moment of sending, so a channel whose kind changes in the rules file gets the new format.

Device strings are plain text in every format. Each format is given them where it interprets the
least, and what it would still interpret is escaped:

* Slack: ``plain_text`` objects (no mrkdwn, ``emoji: false`` so ``:shortcodes:`` stay text),
  and ``&``, ``<``, ``>`` as entities everywhere, as Slack requires of all text.
* Teams: an Adaptive Card whose untrusted strings are ``TextRun`` elements of a
  ``RichTextBlock``; a ``TextRun`` is never parsed as markdown, so ``**``, ``[x](y)`` and ``_``
  stay literal. ``{{`` is broken up, because Teams expands ``{{DATE(...)}}`` in card text.
* ntfy: the body is sent without the ``Markdown`` header, so it is plain; the title travels in
  a header, RFC 2047-encoded when it is not ASCII (headers are latin-1 on the wire).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.header import Header
from typing import Any

from noc import __version__
from noc.notify.plain import plain

RESOLVED = "alert.resolved"
TITLE_CHARS = 150
"""Slack's limit for a header block; the other formats follow it so titles read the same."""
NTFY_BODY_BYTES = 3800
"""ntfy turns a body over 4096 bytes into an attachment."""
NTFY_PRIORITY = {"down": "urgent", "critical": "high", "warning": "default", "unknown": "default"}
NTFY_TAGS = {"down": "rotating_light", "critical": "rotating_light", "warning": "warning"}


@dataclass(frozen=True, slots=True)
class Message:
    """One announcement about one alert, as stored in ``Notification.payload``."""

    event: str
    """alert.opened, alert.escalated, alert.repeated, alert.resolved or notify.test."""
    severity: str
    condition: str
    summary: str = ""
    alert_id: int | None = None
    device: str | None = None
    client: str | None = None
    site: str | None = None
    first_seen: float | None = None
    resolved_at: float | None = None
    rule: str = ""
    stage: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Set by the planner on rows that were not sent: ``{"suppressed": reason}``."""

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Message:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            **{k: v for k, v in payload.items() if k in known},
            extra={k: v for k, v in payload.items() if k not in known},
        )

    def as_payload(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}

    @property
    def recovered(self) -> bool:
        return self.event == RESOLVED


@dataclass(frozen=True, slots=True)
class Rendered:
    headers: dict[str, str]
    content: bytes


def _when(ts: float | None) -> str:
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def title(message: Message) -> str:
    """``[CRITICAL] core-sw1: cpu`` or ``[RESOLVED] core-sw1: cpu``, as plain text."""
    label = "RESOLVED" if message.recovered else message.severity.upper()
    if message.event == "notify.test":
        label = "TEST"
    where = plain(message.device, 100) or plain(message.client, 64) or "noc"
    return plain(f"[{label}] {where}: {plain(message.condition, 100)}", TITLE_CHARS)


def facts(message: Message) -> list[tuple[str, str]]:
    """The labelled lines every format shows, values as plain text."""
    rows = [("Summary", plain(message.summary, 1000))] if message.summary else []
    if message.client:
        site = f" / {plain(message.site, 64)}" if message.site else ""
        rows.append(("Client", plain(message.client, 64) + site))
    if message.first_seen is not None:
        rows.append(("Since", _when(message.first_seen)))
    if message.resolved_at is not None:
        rows.append(("Resolved", _when(message.resolved_at)))
    if message.alert_id is not None:
        rows.append(("Alert", f"#{message.alert_id}"))
    if message.event == "alert.repeated":
        rows.append(("Reminder", f"{message.stage}"))
    return rows


def _common_headers(notification_id: int | None) -> dict[str, str]:
    headers = {"User-Agent": f"noc/{__version__}"}
    if notification_id is not None:
        headers["X-Noc-Notification"] = str(notification_id)
    return headers


def _json(value: Any, notification_id: int | None) -> Rendered:
    headers = _common_headers(notification_id)
    headers["Content-Type"] = "application/json"
    return Rendered(headers, json.dumps(value, ensure_ascii=False).encode())


def render_webhook(message: Message, notification_id: int | None) -> Rendered:
    """The message as it is stored, plus a title and the id to de-duplicate on: deliveries are
    at least once, so a receiver may see a notification twice and should key on the id."""
    body = {
        "source": "noc",
        "notification_id": notification_id,
        "title": title(message),
        **{k: v for k, v in message.as_payload().items() if k != "suppressed"},
    }
    return _json(body, notification_id)


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": slack_escape(text), "emoji": False}


def render_slack(message: Message, notification_id: int | None) -> Rendered:
    head = title(message)
    lines = [f"{label}: {value}" for label, value in facts(message)]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _slack_text(head)}]
    if lines:
        blocks.append({"type": "section", "text": _slack_text("\n".join(lines))})
    body = {"text": slack_escape(head), "blocks": blocks}
    return _json(body, notification_id)


def teams_text(text: str) -> str:
    return text.replace("{{", "{\u200b{")


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": teams_text(text), **style}


def render_teams(message: Message, notification_id: int | None) -> Rendered:
    """An Adaptive Card (1.4) in the envelope that Teams workflow webhooks accept."""
    color = "Good" if message.recovered else "Attention"
    body: list[dict[str, Any]] = [
        {
            "type": "RichTextBlock",
            "inlines": [_run(title(message), weight="Bolder", size="Medium", color=color)],
        }
    ]
    for label, value in facts(message):
        body.append(
            {
                "type": "RichTextBlock",
                "inlines": [_run(f"{label}: ", weight="Bolder"), _run(value)],
            }
        )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": teams_text(title(message)),
        "body": body,
    }
    envelope = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
    return _json(envelope, notification_id)


def header_value(text: str) -> str:
    """A header value that survives latin-1 and carries no line break."""
    value = plain(text, TITLE_CHARS)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=10_000)


def render_ntfy(message: Message, notification_id: int | None) -> Rendered:
    headers = _common_headers(notification_id)
    headers["Content-Type"] = "text/plain; charset=utf-8"
    headers["Title"] = header_value(title(message))
    if message.recovered:
        headers["Priority"] = "default"
        headers["Tags"] = "white_check_mark"
    else:
        headers["Priority"] = NTFY_PRIORITY.get(message.severity, "default")
        headers["Tags"] = NTFY_TAGS.get(message.severity, "bell")
    text = "\n".join(f"{label}: {value}" for label, value in facts(message)) or title(message)
    content = text.encode()
    if len(content) > NTFY_BODY_BYTES:
        content = content[:NTFY_BODY_BYTES].decode(errors="ignore").encode() + "…".encode()
    return Rendered(headers, content)


RENDERERS = {
    "webhook": render_webhook,
    "slack": render_slack,
    "teams": render_teams,
    "ntfy": render_ntfy,
}


def render(kind: str, message: Message, notification_id: int | None = None) -> Rendered:
    return RENDERERS[kind](message, notification_id)
