"""The rules file: where notifications go, when they escalate, and which alerts open tickets.

```toml
[channels.oncall]
kind = "webhook"                 # webhook | slack | teams | ntfy
url = "env:ONCALL_WEBHOOK"       # env:VAR, file:/path, keyring:service/user, or a literal URL
headers = { Authorization = "env:ONCALL_TOKEN" }
timeout = "10s"

[[rules]]
name = "critical-oncall"
clients = []                     # client codes; empty means every client
min_severity = "critical"        # unknown < warning < critical < down
after = "10m"                    # age of the alert, while nobody has acknowledged it
channels = ["oncall"]
repeat = "30m"                   # optional: again every 30 minutes while it stays open
notify_recovery = true

[[tickets]]
clients = ["acme"]
min_severity = "critical"
priority = "P2"
auto_resolve = false
```

A literal URL is accepted (a lab, a quick test), but a webhook URL carries its secret in the
path, so it is only ever shown through ``mask_url``; references are resolved at the moment of
sending, so a rotated secret needs no restart. Names are the identity of what was already sent
(a notification row keeps its rule's and channel's name), which is why rules must be named:
reordering the file must not look like new rules.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noc.alerting.states import RANK, SEVERITY
from noc.errors import InventoryError, SecretError
from noc.inventory.fields import parse_duration
from noc.inventory.locate import LineIndex
from noc.inventory.spec import Where
from noc.inventory.toml_format import decode_error
from noc.notify.errors import RulesError
from noc.psa.errors import TicketError
from noc.psa.tickets import clean_priority
from noc.secrets import SecretRef, mask_url

CHANNEL_KINDS = ("webhook", "slack", "teams", "ntfy")
SEVERITY_RANK: Mapping[str, int] = dict(
    sorted(((name, RANK[state]) for state, name in SEVERITY.items()), key=lambda item: item[1])
)
"""The evaluator's alert severities by its ranks, least urgent first: unknown, warning,
critical, down (a device gone ranks above one service failing)."""

TICKET_CHANNEL = "@ticket"
"""The channel name of ticket automation rows in the outbox; ``@`` keeps it apart from any
channel a rules file can name."""

DEFAULT_TIMEOUT_S = 10.0
TOP_LEVEL = frozenset({"channels", "rules", "tickets"})
CHANNEL_FIELDS = frozenset({"kind", "url", "headers", "timeout"})
RULE_FIELDS = frozenset(
    {"name", "clients", "min_severity", "after", "channels", "repeat", "notify_recovery"}
)
TICKET_FIELDS = frozenset({"name", "clients", "min_severity", "priority", "auto_resolve"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_ZERO = re.compile(r"^\s*0+(?:\.0*)?\s*[hms]?\s*$")
_REF_PREFIXES = ("env:", "file:", "keyring:")


@dataclass(frozen=True, slots=True)
class Secretish:
    """A value that is either given literally or as a secret reference."""

    literal: str | None = None
    ref: SecretRef | None = None

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        if self.ref is not None:
            return self.ref.resolve(environ)
        return self.literal or ""

    @property
    def is_literal(self) -> bool:
        return self.ref is None


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    kind: str
    url: Secretish
    headers: Mapping[str, Secretish] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def shown_url(self) -> str:
        """What may be printed: the reference as written, or the literal URL masked."""
        if self.url.ref is not None:
            return str(self.url.ref)
        return mask_url(self.url.literal or "")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which alerts a rule is about: the clients (empty: all) and the least severity."""

    clients: frozenset[str] = frozenset()
    min_severity: str = "critical"

    def matches(self, client_code: str | None, severity: str) -> bool:
        if self.clients and client_code not in self.clients:
            return False
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[self.min_severity]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    scope: Scope
    channels: tuple[str, ...]
    after_s: float = 0.0
    repeat_s: float | None = None
    notify_recovery: bool = True

    def stage_at(self, age: float) -> int | None:
        return due_stage(age, self.after_s, self.repeat_s)


def due_stage(age: float, after_s: float, repeat_s: float | None) -> int | None:
    """Which announcement is due for an alert this old: None before ``after``, 0 for the first,
    n for the n-th repeat. A planner that was away skips to the current stage instead of
    sending every stage it missed."""
    if age < after_s:
        return None
    if repeat_s is None:
        return 0
    return int((age - after_s) // repeat_s)


@dataclass(frozen=True, slots=True)
class TicketRule:
    name: str
    scope: Scope
    priority: str = "P2"
    auto_resolve: bool = False


@dataclass(frozen=True, slots=True)
class RuleSet:
    source: str = ""
    channels: Mapping[str, Channel] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    tickets: tuple[TicketRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules or self.tickets)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def ticket_rule(self, name: str) -> TicketRule | None:
        return next((t for t in self.tickets if t.name == name), None)


def load_rules(path: str | Path | None) -> RuleSet:
    """The rules in ``path``; an empty path means no rules (nothing is ever sent)."""
    if not path:
        return RuleSet()
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{file}: cannot read the rules file: {exc.strerror or exc}") from None
    return parse_rules(text, str(file))


class _Reader:
    """Validation with positions: every failure is ``file:line: field: why``."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.index = LineIndex(text)

    def fail(self, path: tuple[str | int, ...], name: str, message: str) -> RulesError:
        line = self.index.line(path)
        at = f"{self.source}:{line}" if line else self.source
        return RulesError(f"{at}: {name}: {message}")

    def only(
        self,
        table: Mapping[str, Any],
        allowed: frozenset[str],
        path: tuple[str | int, ...],
        name: str,
    ) -> None:
        for key in table:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.fail(
                    (*path, key), f"{name}.{key}", f"unknown field (expected {expected})"
                )

    def name(self, value: Any, path: tuple[str | int, ...], name: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.fail(
                path, name, "expected a name of letters, digits, '_', '.' or '-' (at most 64)"
            )
        return value

    def string_list(self, value: Any, path: tuple[str | int, ...], name: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(path, name, "expected a list of names")
        return tuple(v.strip() for v in value)

    def boolean(self, value: Any, path: tuple[str | int, ...], name: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, name, "expected true or false")
        return value

    def duration(
        self, value: Any, path: tuple[str | int, ...], name: str, *, zero: bool = False
    ) -> float:
        if zero and not isinstance(value, bool):
            if value == 0 or (isinstance(value, str) and _ZERO.match(value)):
                return 0.0
        try:
            return parse_duration(value, Where(self.source, self.index.line(path)), name)
        except InventoryError as exc:
            raise RulesError(str(exc)) from None

    def scope(self, table: Mapping[str, Any], path: tuple[str | int, ...], name: str) -> Scope:
        clients = self.string_list(table.get("clients", []), (*path, "clients"), f"{name}.clients")
        severity = table.get("min_severity", "critical")
        if severity not in SEVERITY_RANK:
            raise self.fail(
                (*path, "min_severity"),
                f"{name}.min_severity",
                f"{severity!r} is not one of {', '.join(SEVERITY_RANK)}",
            )
        return Scope(frozenset(clients), severity)

    def secretish(self, value: Any, path: tuple[str | int, ...], name: str) -> Secretish:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, name, "expected a string")
        text = value.strip()
        if text.startswith(_REF_PREFIXES):
            try:
                return Secretish(ref=SecretRef.parse(text))
            except SecretError as exc:
                raise self.fail(path, name, str(exc)) from None
        if any(ch in text for ch in "\r\n\x00"):
            raise self.fail(path, name, "must be one line")
        return Secretish(literal=text)


def parse_rules(text: str, source: str) -> RuleSet:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(decode_error(source, exc)) from None
    reader = _Reader(text, source)
    for key in doc:
        if key not in TOP_LEVEL:
            expected = ", ".join(sorted(TOP_LEVEL))
            at: tuple[str | int, ...] = (key, 0) if isinstance(doc[key], list) else (key,)
            raise reader.fail(at, key, f"unknown section (expected {expected})")
    channels = _channels(reader, doc.get("channels", {}))
    rules = _rules(reader, _array(reader, doc, "rules"), channels)
    tickets = _tickets(reader, _array(reader, doc, "tickets"))
    return RuleSet(source, channels, rules, tickets)


def _array(reader: _Reader, doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise reader.fail((key,), key, f"expected [[{key}]] tables")
    return value


def _channels(reader: _Reader, tables: Any) -> dict[str, Channel]:
    if not isinstance(tables, Mapping):
        raise reader.fail(("channels",), "channels", "expected tables [channels.NAME]")
    channels: dict[str, Channel] = {}
    for name, table in tables.items():
        path = ("channels", name)
        label = f"channels.{name}"
        reader.name(name, path, label)
        if not isinstance(table, Mapping):
            raise reader.fail(path, label, "expected a table")
        reader.only(table, CHANNEL_FIELDS, path, label)
        kind = table.get("kind")
        if kind not in CHANNEL_KINDS:
            raise reader.fail(
                (*path, "kind"),
                f"{label}.kind",
                f"{kind!r} is not one of {', '.join(CHANNEL_KINDS)}",
            )
        if "url" not in table:
            raise reader.fail(path, f"{label}.url", "a channel needs a url")
        url = reader.secretish(table["url"], (*path, "url"), f"{label}.url")
        if url.literal is not None and not _is_http_url(url.literal):
            scheme = url.literal.partition(":")[0][:16]
            raise reader.fail(
                (*path, "url"),
                f"{label}.url",
                f"a {scheme!r} URL: expected an http(s) URL, env:VAR, file:/path or "
                "keyring:service/user (the value is not shown: it may be a secret)",
            )
        channels[name] = Channel(
            name=name,
            kind=kind,
            url=url,
            headers=_headers(reader, table.get("headers", {}), path, label),
            timeout_s=reader.duration(table["timeout"], (*path, "timeout"), f"{label}.timeout")
            if "timeout" in table
            else DEFAULT_TIMEOUT_S,
        )
    return channels


def _is_http_url(text: str) -> bool:
    scheme, sep, rest = text.partition("://")
    return bool(sep) and scheme.lower() in ("http", "https") and bool(rest.split("/", 1)[0])


def _headers(
    reader: _Reader, table: Any, path: tuple[str | int, ...], label: str
) -> dict[str, Secretish]:
    if not isinstance(table, Mapping):
        raise reader.fail((*path, "headers"), f"{label}.headers", "expected a table of strings")
    headers: dict[str, Secretish] = {}
    for key, value in table.items():
        where = (*path, "headers", key)
        if not _HEADER_NAME.match(key):
            raise reader.fail(where, f"{label}.headers", f"{key!r} is not a header name")
        headers[key] = reader.secretish(value, where, f"{label}.headers.{key}")
    return headers


def _rules(
    reader: _Reader, tables: list[Mapping[str, Any]], channels: Mapping[str, Channel]
) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        path: tuple[str | int, ...] = ("rules", i)
        label = f"rules[{i}]"
        reader.only(table, RULE_FIELDS, path, label)
        if "name" not in table:
            raise reader.fail(path, f"{label}.name", "a rule needs a name")
        name = reader.name(table["name"], (*path, "name"), f"{label}.name")
        _unique(reader, seen, name, (*path, "name"), f"{label}.name")
        targets = reader.string_list(
            table.get("channels", []), (*path, "channels"), f"{label}.channels"
        )
        if not targets:
            raise reader.fail((*path, "channels"), f"{label}.channels", "name at least one channel")
        for target in targets:
            if target not in channels:
                known = ", ".join(sorted(channels)) or "none defined"
                raise reader.fail(
                    (*path, "channels"),
                    f"{label}.channels",
                    f"no channel {target!r} (channels: {known})",
                )
        after = reader.duration(
            table.get("after", 0), (*path, "after"), f"{label}.after", zero=True
        )
        repeat = (
            reader.duration(table["repeat"], (*path, "repeat"), f"{label}.repeat")
            if "repeat" in table
            else None
        )
        rules.append(
            Rule(
                name=name,
                scope=reader.scope(table, path, label),
                channels=tuple(dict.fromkeys(targets)),
                after_s=after,
                repeat_s=repeat,
                notify_recovery=reader.boolean(
                    table.get("notify_recovery", True),
                    (*path, "notify_recovery"),
                    f"{label}.notify_recovery",
                ),
            )
        )
    return tuple(rules)


def _tickets(reader: _Reader, tables: list[Mapping[str, Any]]) -> tuple[TicketRule, ...]:
    tickets: list[TicketRule] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        path: tuple[str | int, ...] = ("tickets", i)
        label = f"tickets[{i}]"
        reader.only(table, TICKET_FIELDS, path, label)
        scope = reader.scope(table, path, label)
        if "name" in table:
            name = reader.name(table["name"], (*path, "name"), f"{label}.name")
        else:  # stable across reordering: derived from what the entry is about
            name = "tickets-" + ("+".join(sorted(scope.clients)) or "all")
            name = name[:64]
        _unique(reader, seen, name, path, f"{label}.name", hint=" (give each entry a name)")
        try:
            priority = clean_priority(str(table.get("priority", "P2")))
        except TicketError as exc:
            raise reader.fail((*path, "priority"), f"{label}.priority", str(exc)) from None
        tickets.append(
            TicketRule(
                name=name,
                scope=scope,
                priority=priority,
                auto_resolve=reader.boolean(
                    table.get("auto_resolve", False),
                    (*path, "auto_resolve"),
                    f"{label}.auto_resolve",
                ),
            )
        )
    return tuple(tickets)


def _unique(
    reader: _Reader,
    seen: set[str],
    name: str,
    path: tuple[str | int, ...],
    label: str,
    hint: str = "",
) -> None:
    if name in seen:
        raise reader.fail(path, label, f"{name!r} is used twice{hint}")
    seen.add(name)


class RulesFile:
    """The rules, read again whenever the file changes, so that editing them needs no restart.

    A first read that fails raises; a later edit that breaks the file keeps the last good rules
    (a notifier must not go silent because of a typo) and reports the error once per change.
    """

    def __init__(self, path: str | Path | None, on_error: Callable[[str], None] | None = None):
        self.path = Path(path).expanduser() if path else None
        self._on_error = on_error
        self._stamp: tuple[float, int] | None = None
        self._rules = load_rules(self.path)
        self._stamp = self._stat()

    def _stat(self) -> tuple[float, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def current(self) -> RuleSet:
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._rules = load_rules(self.path)
            except RulesError as exc:
                if self._on_error is not None:
                    self._on_error(f"{exc} (keeping the rules read before)")
        return self._rules
