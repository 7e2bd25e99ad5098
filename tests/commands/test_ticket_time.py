"""The service desk from a shell: tickets, notes, timers and quick entries, with --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import run_noc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.toml"


@pytest.fixture
def desk(capsys, db_url, clean_env) -> str:
    assert run_noc(capsys, "--db", db_url, "import", str(EXAMPLE)).code == 0
    return db_url


def noc_json(capsys, db_url: str, *args: str, who: str = "ann") -> object:
    out = run_noc(capsys, "--db", db_url, "--as", who, *args, "--json")
    assert out.code == 0, out.err
    return json.loads(out.out)


def test_ticket_lifecycle(capsys, desk: str) -> None:
    made = noc_json(
        capsys,
        desk,
        "ticket",
        "new",
        "--client",
        "acme",
        "--title",
        "Printer jam",
        "--device",
        "acme-hq-fs1",
        "--priority",
        "P2",
    )
    assert made["number"] == 1 and made["status"] == "new" and made["version"] == 1
    second = noc_json(
        capsys,
        desk,
        "ticket",
        "new",
        "--client",
        "corvid",
        "--title",
        "VPN down",
        "--priority",
        "P1",
    )
    queue = noc_json(capsys, desk, "ticket", "list")
    assert [t["number"] for t in queue] == [second["number"], 1]  # P1 first
    updated = noc_json(
        capsys,
        desk,
        "ticket",
        "set",
        "1",
        "--version",
        "1",
        "--status",
        "in_progress",
        "--assign",
        "ann",
    )
    assert updated["status"] == "in_progress" and updated["version"] == 2
    mine = noc_json(capsys, desk, "ticket", "list", "--mine")
    assert [t["number"] for t in mine] == [1]
    noc_json(capsys, desk, "ticket", "note", "1", "Replaced the fuser", "--public")
    shown = noc_json(capsys, desk, "ticket", "show", "1")
    assert shown["client"] == "acme" and shown["device"] == "acme-hq-fs1"
    assert shown["notes"] == [
        {
            "author": "ann",
            "at": shown["notes"][0]["at"],
            "internal": False,
            "body": "Replaced the fuser",
        }
    ]


def test_stale_version_is_a_one_line_conflict(capsys, desk: str) -> None:
    noc_json(capsys, desk, "ticket", "new", "--client", "acme", "--title", "Slow PC")
    noc_json(capsys, desk, "ticket", "set", "1", "--version", "1", "--priority", "P2")
    out = run_noc(capsys, "--db", desk, "ticket", "set", "1", "--version", "1", "--status", "open")
    assert out.code == 2 and out.err.count("\n") == 1
    assert "ticket #1 was changed by someone else (you read version 1, it is now 2)" in out.err


def test_timer_and_quick_entries(capsys, desk: str) -> None:
    noc_json(capsys, desk, "ticket", "new", "--client", "acme", "--title", "Backup failed")
    assert noc_json(capsys, desk, "time", "status") is None
    started = noc_json(capsys, desk, "time", "start", "1", "--work-type", "remote")
    assert started["running"] is True and started["ticket"] == 1
    assert noc_json(capsys, desk, "time", "status")["id"] == started["id"]
    stopped = noc_json(capsys, desk, "time", "stop")
    assert stopped["running"] is False and stopped["minutes"] >= 1
    logged = noc_json(capsys, desk, "time", "log", "1", "1h30m onsite install, non-billable")
    assert (logged["minutes"], logged["billable"], logged["work_type"]) == (90, False, "onsite")
    fixed = noc_json(
        capsys, desk, "time", "edit", str(logged["id"]), "--minutes", "75", "--billable"
    )
    assert (fixed["minutes"], fixed["billable"]) == (75, True)
    total = noc_json(capsys, desk, "ticket", "show", "1")["minutes"]
    assert total == stopped["minutes"] + 75


def test_bad_input_is_one_line(capsys, desk: str) -> None:
    for args, message in [
        (("ticket", "new", "--client", "nope", "--title", "x"), "no client with code 'nope'"),
        (("ticket", "show", "99"), "no ticket #99"),
        (("time", "log", "99", "25m"), "no ticket #99"),
    ]:
        out = run_noc(capsys, "--db", desk, *args)
        assert out.code == 2 and out.err.count("\n") == 1 and message in out.err, out.err
    noc_json(capsys, desk, "ticket", "new", "--client", "acme", "--title", "x")
    out = run_noc(capsys, "--db", desk, "time", "log", "1", "remote fix")
    assert out.code == 2 and out.err.count("\n") == 1 and "Traceback" not in out.err
