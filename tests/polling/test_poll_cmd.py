"""``noc poll --once`` on an imported inventory of loopback targets, on every backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_noc
from tests.polling.inventory import device, write_inventory
from tests.polling.peers import ClosedPort, HttpSite, PeerThread


def needs(*modules: str) -> None:
    for module in modules:
        pytest.importorskip(module, reason=f"{module} is not merged into this tree yet")


@pytest.fixture
def peers() -> Iterator[PeerThread]:
    thread = PeerThread()
    yield thread
    thread.close()


@pytest.fixture
def site() -> Iterator[HttpSite]:
    server = HttpSite()
    yield server
    server.close()


@pytest.fixture
def closed() -> Iterator[ClosedPort]:
    port = ClosedPort("127.0.0.3")
    yield port
    port.close()


def icmp_works() -> bool:
    try:
        from noc.probes.icmp import icmp_capability
    except ModuleNotFoundError:
        return False
    return bool(icmp_capability().ok)


def test_poll_once_reports_and_stores_every_state(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    clean_env: Path,
    peers: PeerThread,
    site: HttpSite,
    closed: ClosedPort,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needs("noc.probes.tcp", "noc.probes.http")
    banner = peers.listen("banner", host="127.0.0.2")
    hung = peers.listen("hang", host="127.0.0.4")
    inventory = write_inventory(
        clean_env,
        device(
            "talker",
            "127.0.0.2",
            f'[{{ type = "tcp", port = {banner.port}, expect = "hello", retries = 0 }}]',
        ),
        device(
            "refuser",
            "127.0.0.3",
            f'[{{ type = "tcp", port = {closed.port}, retries = 1 }}]',
        ),
        device(
            "mute",
            "127.0.0.4",
            f'[{{ type = "tcp", port = {hung.port}, expect = "SSH-", timeout = 0.5, '
            "retries = 0 }]",
        ),
        device(
            "website",
            "127.0.0.1",
            f'[{{ type = "http", url = "{site.url}/", keyword = "Welcome", retries = 0 }}, '
            f'{{ type = "http", name = "broken", url = "{site.url}/broken", retries = 0 }}]',
        ),
        device("pinged", "127.0.0.6", '["icmp"]'),
    )
    assert run_noc(capsys, "--db", db_url, "import", str(inventory)).code == 0

    result = run_noc(capsys, "--db", db_url, "poll", "--once", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    by_check = {(r["device"], r["check"]): r for r in report["results"]}
    states = {key: r["state"] for key, r in by_check.items()}
    assert states[("talker", "tcp")] == "OK"
    assert states[("refuser", "tcp")] == "CRITICAL"
    assert states[("mute", "tcp")] == "CRITICAL"
    assert states[("website", "http")] == "OK"
    assert states[("website", "broken")] == "CRITICAL"
    assert states[("pinged", "icmp")] == ("OK" if icmp_works() else "UNKNOWN")

    refused: dict[str, Any] = by_check[("refuser", "tcp")]
    assert refused["attempts"] == 2 and "refused" in refused["error"].lower()
    assert by_check[("talker", "tcp")]["values"]["tcp.banner_ok"] == 1
    assert "0.5" in by_check[("mute", "tcp")]["error"]  # its own deadline
    assert by_check[("website", "broken")]["value"] == 500
    assert hung.current == 0  # the probe closed the connection it gave up on
    assert report["writer"]["outcomes"] == 6 and report["writer"]["dropped"] == 0
    assert report["scheduler"]["retries"] == 1

    # the same cycle as a table for people
    table = run_noc(capsys, "--db", db_url, "poll", "--once")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split() == ["DEVICE", "CHECK", "STATE", "RTT", "VALUE", "ERROR"]
    assert any(line.startswith("refuser") and "CRITICAL" in line for line in lines)
    assert lines[-1].startswith("6 checks:")


def test_poll_once_by_zone_and_on_an_empty_store(
    capsys: pytest.CaptureFixture[str], db_url: str, clean_env: Path, site: HttpSite
) -> None:
    needs("noc.probes.http")
    inventory = write_inventory(
        clean_env,
        device("a", "127.0.0.1", f'[{{ type = "http", url = "{site.url}/" }}]', zone='"east"'),
        device("b", "127.0.0.2", f'[{{ type = "http", url = "{site.url}/" }}]', zone='"west"'),
    )
    empty = run_noc(capsys, "--db", db_url, "poll", "--once", "--json")
    assert empty.code == 0 and json.loads(empty.out)["results"] == []
    assert run_noc(capsys, "--db", db_url, "import", str(inventory)).code == 0
    east = run_noc(capsys, "--db", db_url, "poll", "--once", "--json", "--zone", "east")
    assert [r["device"] for r in json.loads(east.out)["results"]] == ["a"]


def test_poll_once_pings_and_stores(
    capsys: pytest.CaptureFixture[str], db_url: str, clean_env: Path
) -> None:
    needs("noc.probes.icmp")
    if not icmp_works():
        pytest.skip("this process cannot open an ICMP socket")
    inventory = write_inventory(
        clean_env,
        device("gw", "127.0.0.1", '["icmp"]'),
        device("sw", "127.0.0.2", '[{ type = "icmp", count = 2, packet_interval = 0.05 }]'),
        device("by-name", "localhost", '["icmp"]'),
    )
    assert run_noc(capsys, "--db", db_url, "import", str(inventory)).code == 0
    result = run_noc(capsys, "--db", db_url, "poll", "--once", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    rows = {r["device"]: r for r in report["results"]}
    assert {name: r["state"] for name, r in rows.items()} == dict.fromkeys(
        ("gw", "sw", "by-name"), "OK"
    )
    assert rows["sw"]["values"]["sent"] == 2 and rows["gw"]["values"]["sent"] == 3
    assert rows["gw"]["key"] == "loss_pct" and rows["gw"]["rtt_ms"] is not None
    assert report["writer"]["outcomes"] == 3 and report["writer"]["state_changes"] == 3
    again = json.loads(run_noc(capsys, "--db", db_url, "poll", "--once", "--json").out)
    assert again["writer"]["state_changes"] == 0  # still OK: no new events


def test_a_bad_database_is_one_line(capsys: pytest.CaptureFixture[str], clean_env: Path) -> None:
    result = run_noc(capsys, "--db", "postgresql+asyncpg://u@127.0.0.1:1/x", "poll", "--once")
    assert result.code == 2
    assert result.err.startswith("noc: error: database") and len(result.err.splitlines()) == 1
