"""The rules file: what it accepts, and for what it refuses one line naming file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from noc.notify.errors import RulesError
from noc.notify.rules import RulesFile, load_rules, parse_rules

GOOD = """\
# where notifications go
[channels.oncall]
kind = "webhook"
url = "env:ONCALL_URL"
headers = { Authorization = "env:ONCALL_TOKEN", X-Team = "noc" }
timeout = "5s"

[channels.chat]
kind = "slack"
url = "https://hooks.slack.test/services/T0000/B0000/abcdefghijklmnopqrstuvwx"

[[rules]]
name = "critical-oncall"
min_severity = "critical"
after = "10m"
channels = ["oncall"]
repeat = "30m"

[[rules]]
name = "acme-chat"
clients = ["acme"]
min_severity = "warning"
channels = ["chat", "oncall"]
notify_recovery = false

[[tickets]]
clients = ["acme"]
priority = "p2"
auto_resolve = true
"""


def test_a_full_file_reads() -> None:
    rules = parse_rules(GOOD, "rules.toml")
    oncall, chat = rules.channels["oncall"], rules.channels["chat"]
    assert (oncall.kind, str(oncall.url.ref), oncall.timeout_s) == ("webhook", "env:ONCALL_URL", 5)
    assert str(oncall.headers["Authorization"].ref) == "env:ONCALL_TOKEN"
    assert oncall.headers["X-Team"].literal == "noc"
    assert chat.url.is_literal
    assert "abcdefghijklmnop" not in chat.shown_url  # a literal URL is shown masked
    first, second = rules.rules
    assert (first.after_s, first.repeat_s, first.notify_recovery) == (600, 1800, True)
    assert first.scope.clients == frozenset() and first.scope.min_severity == "critical"
    assert (second.after_s, second.channels, second.notify_recovery) == (
        0,
        ("chat", "oncall"),
        False,
    )
    (ticket,) = rules.tickets
    assert (ticket.name, ticket.priority, ticket.auto_resolve) == ("tickets-acme", "P2", True)
    assert ticket.scope.min_severity == "critical"


def test_scopes_match_client_and_least_severity() -> None:
    rules = parse_rules(GOOD, "rules.toml")
    everyone, acme_only = rules.rules[0].scope, rules.rules[1].scope
    assert everyone.matches("globex", "critical") and everyone.matches(None, "down")
    assert not everyone.matches("acme", "warning")
    assert acme_only.matches("acme", "warning") and not acme_only.matches("globex", "down")
    assert not acme_only.matches("acme", "unknown")


def test_stages_of_escalation_and_repeat() -> None:
    rule = parse_rules(GOOD, "rules.toml").rules[0]
    assert [rule.stage_at(age) for age in (0, 599, 600, 2399, 2400, 7200)] == [
        None,
        None,
        0,
        0,
        1,
        3,
    ]


def _broken(tmp_path: Path, old: str, new: str) -> str:
    assert old in GOOD
    path = tmp_path / "rules.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.replace(str(path), "FILE")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('kind = "webhook"', 'kind = "pager"', "FILE:3: channels.oncall.kind: 'pager' is not one"),
        ('url = "env:ONCALL_URL"', 'url = "env:1BAD"', "FILE:4: channels.oncall.url: secret ref"),
        (
            'url = "env:ONCALL_URL"',
            'url = "ftp://files.test/x"',
            "FILE:4: channels.oncall.url: a 'ftp' URL: expected an http(s) URL, env:VAR",
        ),
        ('timeout = "5s"', 'timeout = "soon"', "FILE:6: channels.oncall.timeout: 'soon' is not"),
        ('X-Team = "noc"', '"X Team" = "noc"', "FILE:5: channels.oncall.headers: 'X Team' is not"),
        ('after = "10m"', 'after = "ten"', "FILE:15: rules[0].after: 'ten' is not a duration"),
        ('repeat = "30m"', 'repeat = "0m"', "FILE:17: rules[0].repeat: must be greater than zero"),
        (
            'channels = ["oncall"]',
            'channels = ["pager"]',
            "FILE:16: rules[0].channels: no channel 'pager' (channels: chat, oncall)",
        ),
        ('channels = ["oncall"]', "channels = []", "FILE:16: rules[0].channels: name at least"),
        (
            'min_severity = "warning"',
            'min_severity = "bad"',
            "FILE:22: rules[1].min_severity: 'bad' is not one of unknown, warning, critical, down",
        ),
        ('clients = ["acme"]\nmin', 'clients = "acme"\nmin', "FILE:21: rules[1].clients: expected"),
        ("notify_recovery = false", 'notify_recovery = "no"', "FILE:24: rules[1].notify_recov"),
        ('name = "acme-chat"', 'name = "critical-oncall"', "FILE:20: rules[1].name: 'critical-on"),
        ('name = "acme-chat"', 'name = "has space"', "FILE:20: rules[1].name: expected a name"),
        ('name = "acme-chat"\n', "", "FILE:19: rules[1].name: a rule needs a name"),
        ('repeat = "30m"', 'repeats = "30m"', "FILE:17: rules[0].repeats: unknown field"),
        ('priority = "p2"', 'priority = "P9"', "FILE:28: tickets[0].priority: priority 'P9'"),
        ("auto_resolve = true", "auto_resolve = 1", "FILE:29: tickets[0].auto_resolve: expected"),
        ("[[tickets]]", "[[ticket]]", "FILE:26: ticket: unknown section"),
        ('kind = "webhook"', 'kind = "webhook', "FILE:3: not valid TOML"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert _broken(tmp_path, old, new).startswith(expected)


def test_a_literal_url_is_never_shown_in_an_error(tmp_path: Path) -> None:
    secret = "sXcr3tT0kenValue99"
    message = _broken(tmp_path, 'url = "env:ONCALL_URL"', f'url = "gopher://hooks.test/{secret}"')
    assert secret not in message and "hooks.test" not in message and "'gopher' URL" in message


def test_duplicate_ticket_entries_need_names(tmp_path: Path) -> None:
    extra = '\n[[tickets]]\nclients = ["acme"]\n'
    path = tmp_path / "rules.toml"
    path.write_text(GOOD + extra)
    with pytest.raises(RulesError, match=r":31: tickets\[1\]\.name: .*give each entry a name"):
        load_rules(path)


def test_no_file_means_no_rules_and_a_missing_file_is_one_line(tmp_path: Path) -> None:
    assert not load_rules("")
    with pytest.raises(RulesError, match=r"missing\.toml: cannot read the rules file"):
        load_rules(tmp_path / "missing.toml")


def test_an_edit_is_picked_up_and_a_broken_edit_keeps_the_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    errors: list[str] = []
    watched = RulesFile(path, on_error=errors.append)
    assert len(watched.current().rules) == 2
    path.write_text(GOOD.replace('name = "acme-chat"', 'name = "globex-chat"'))
    assert watched.current().rules[1].name == "globex-chat"
    path.write_text(GOOD + "\n[[rules]]\nname = 3\n")
    assert watched.current().rules[1].name == "globex-chat"
    assert len(errors) == 1 and "rules[2].name" in errors[0] and "keeping" in errors[0]
