"""``noc alerts``, ``noc ack``, ``noc snooze`` and ``noc maintenance`` on every backend."""

from __future__ import annotations

import asyncio
import json
import time

from noc.storage import Store
from tests.cli import run_noc
from tests.notify.support import Seed, change_alert, open_alert, seed_inventory

HOSTILE = "core\x1b]52;c;cGF5bG9hZA==\x07-sw"


def seeded(db_url: str) -> tuple[Seed, dict[str, int]]:
    async def run() -> tuple[Seed, dict[str, int]]:
        store = await Store.open(db_url)
        try:
            seed = await seed_inventory(store)
            now = time.time()
            ids = {
                "fw": await open_alert(store, seed.fw, first_seen=now - 600),
                "sw": await open_alert(
                    store, seed.sw, severity="warning", condition="temp", first_seen=now - 60
                ),
                "gsw": await open_alert(
                    store, seed.gsw, severity="down", condition="ping", summary=HOSTILE
                ),
                "old": await open_alert(store, seed.fw, condition="disk", first_seen=now - 9000),
            }
            await change_alert(store, ids["old"], resolved_at=now - 3000)
            await change_alert(store, ids["sw"], ack_by="bob", ack_at=now)
            return seed, ids
        finally:
            await store.close()

    return asyncio.run(run())


def test_alerts_lists_open_ones_most_severe_first(capsys, db_url, clean_env) -> None:
    _, ids = seeded(db_url)
    out = run_noc(capsys, "--db", db_url, "alerts")
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [ids["gsw"], ids["fw"], ids["sw"]]
    assert "acme-fw" in lines[1] and "10m" in lines[1]
    assert "[ack:bob]" in lines[2]
    assert "\x1b" not in out.out and "\x07" not in out.out  # a device cannot drive the terminal


def test_alerts_json_all_and_client(capsys, db_url, clean_env) -> None:
    _, ids = seeded(db_url)
    everything = json.loads(run_noc(capsys, "--db", db_url, "alerts", "--all", "--json").out)
    assert {a["id"] for a in everything} == set(ids.values())
    assert everything[-1]["id"] == ids["old"] and everything[-1]["resolved_at"] is not None
    assert next(a for a in everything if a["id"] == ids["gsw"])["summary"] == HOSTILE
    globex = json.loads(
        run_noc(capsys, "--db", db_url, "alerts", "--client", "globex", "--json").out
    )
    assert [(a["device"], a["client"], a["site"]) for a in globex] == [
        ("globex-sw", "globex", "plant")
    ]
    unknown = run_noc(capsys, "--db", db_url, "alerts", "--client", "nope")
    assert unknown.code == 2 and unknown.err.strip() == "noc: error: no client with code 'nope'"


def test_bad_durations_are_one_line(capsys, db_url, clean_env) -> None:
    _, ids = seeded(db_url)
    out = run_noc(capsys, "--db", db_url, "snooze", str(ids["fw"]), "soon")
    assert out.code == 2
    assert out.err.startswith("noc: error: duration: 'soon' is not a duration")
    assert out.err.count("\n") == 1


def test_ack_and_snooze(capsys, db_url, clean_env) -> None:
    _, ids = seeded(db_url)
    out = run_noc(
        capsys,
        "--db",
        db_url,
        "--as",
        "alice",
        "ack",
        str(ids["fw"]),
        "--note",
        "on it",
        "--expires",
        "2h",
        "--json",
    )
    assert out.code == 0, out.err
    acked = json.loads(out.out)
    assert acked["ack_by"] == "alice" and acked["ack_expires"] > time.time() + 7000
    out = run_noc(capsys, "--db", db_url, "--as", "alice", "snooze", str(ids["gsw"]), "30m")
    assert out.code == 0 and out.out.startswith(f"alert {ids['gsw']} snoozed until ")
    listed = json.loads(run_noc(capsys, "--db", db_url, "alerts", "--json").out)
    by_id = {a["id"]: a for a in listed}
    assert by_id[ids["fw"]]["ack_note"] == "on it"
    assert by_id[ids["gsw"]]["snoozed_until"] > time.time() + 1700
    gone = run_noc(capsys, "--db", db_url, "ack", "99999")
    assert gone.code == 2 and gone.err.count("\n") == 1


def test_maintenance_add_list_end(capsys, db_url, clean_env) -> None:
    seed, _ = seeded(db_url)
    args = ("--db", db_url, "--as", "bob", "maintenance")
    device = run_noc(
        capsys, *args, "add", "--device", "acme-fw", "--until", "2h", "--reason", "swap", "--json"
    )
    assert device.code == 0, device.err
    window = json.loads(device.out)
    assert (window["scope"], window["scope_id"], window["created_by"]) == ("device", seed.fw, "bob")
    assert 7100 < window["ends_at"] - window["starts_at"] < 7300
    site = run_noc(capsys, *args, "add", "--site", "globex/plant", "--until-ok", "--reason", "fw")
    assert site.code == 0 and "site" in site.out and "until OK" in site.out
    later = run_noc(
        capsys,
        *args,
        "add",
        "--client",
        "acme",
        "--start",
        "2099-01-01T22:00",
        "--until",
        "1h",
        "--reason",
        "move",
    )
    assert later.code == 0, later.err
    listed = json.loads(run_noc(capsys, *args, "list", "--json").out)
    assert [w["scope"] for w in listed] == ["device", "site", "client"]
    ended = run_noc(capsys, *args, "end", str(window["id"]))
    assert ended.code == 0 and ended.out.startswith("ended ")
    assert len(json.loads(run_noc(capsys, *args, "list", "--json").out)) == 2
    assert len(json.loads(run_noc(capsys, *args, "list", "--all", "--json").out)) == 3
    bad_site = run_noc(capsys, *args, "add", "--site", "globex", "--reason", "x")
    assert bad_site.code == 2 and "expected CLIENT/SITE" in bad_site.err
    bad_start = run_noc(
        capsys, *args, "add", "--client", "acme", "--start", "tonight", "--reason", "x"
    )
    assert bad_start.code == 2 and "--start 'tonight'" in bad_start.err
