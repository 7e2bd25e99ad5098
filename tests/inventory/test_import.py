"""Importing inventories through the ``noc import`` command, on every store backend."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from noc.storage import Store
from noc.storage.models import Check, Device, Site
from tests.cli import inventory_counts, run_noc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.toml"

BASE = """
[credentials.snmp-ro]
kind = "snmp"
version = "2c"
community = "env:SNMP_COMMUNITY"

[[clients]]
code = "acme"
name = "Acme"

[[sites]]
client = "acme"
code = "hq"
name = "HQ"

[[devices]]
name = "gw"
client = "acme"
site = "hq"
kind = "router"
address = "127.0.0.1"
checks = ["icmp", { type = "snmp", credential = "snmp-ro" }]

[[devices]]
name = "pc1"
client = "acme"
site = "hq"
kind = "workstation"
address = "127.0.0.2"
parent = "gw"
"""


def write(tmp_path: Path, text: str, name: str = "inv.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_example_imports_then_reimport_changes_nothing(capsys, db_url, clean_env) -> None:
    first = run_noc(capsys, "--db", db_url, "import", str(EXAMPLE))
    assert first.code == 0, first.err
    assert "applied: 44 to add, 0 to update" in first.out
    counts = inventory_counts(db_url)
    again = run_noc(capsys, "--db", db_url, "import", str(EXAMPLE))
    assert again.code == 0
    assert "0 to add, 0 to update, 0 to remove, 44 unchanged" in again.out
    assert inventory_counts(db_url) == counts
    assert counts == {
        "clients": 3,
        "sites": 4,
        "devices": 13,
        "checks": 22,
        "credential_profiles": 2,
    }


def test_example_addresses_are_all_loopback() -> None:
    import ipaddress
    import tomllib

    doc = tomllib.loads(EXAMPLE.read_text())
    for device in doc["devices"]:
        assert ipaddress.ip_address(device["address"]).is_loopback, device["name"]


def test_dry_run_prints_changes_and_writes_nothing(capsys, db_url, clean_env, tmp_path) -> None:
    path = write(tmp_path, BASE)
    dry = run_noc(capsys, "--db", db_url, "import", str(path), "--dry-run")
    assert dry.code == 0, dry.err
    assert "+ device gw" in dry.out and "+ check pc1/icmp" in dry.out
    assert "would apply (dry run): 8 to add" in dry.out
    assert inventory_counts(db_url)["devices"] == 0

    assert run_noc(capsys, "--db", db_url, "import", str(path)).code == 0
    changed = write(
        tmp_path,
        BASE.replace("127.0.0.2", "127.0.0.3").replace(
            '"icmp", { type = "snmp", credential = "snmp-ro" }', '"icmp"'
        ),
    )
    dry = run_noc(capsys, "--db", db_url, "import", str(changed), "--dry-run")
    assert "~ device pc1: address '127.0.0.2' -> '127.0.0.3'" in dry.out
    assert "- check gw/snmp" in dry.out
    assert inventory_counts(db_url)["checks"] == 3  # still the old set


def test_reimport_updates_in_place(capsys, db_url, clean_env, tmp_path) -> None:
    assert run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, BASE))).code == 0
    moved = BASE.replace('address = "127.0.0.2"', 'address = "127.0.0.9"\ntags = ["x"]')
    out = run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, moved)))
    assert out.code == 0, out.err
    assert "1 to update" in out.out

    async def fetch() -> tuple[list[str], list[Device]]:
        store = await Store.open(db_url)
        try:
            async with store.read() as s:
                devices = list(await s.scalars(select(Device).order_by(Device.name)))
                parent = {d.id: d.name for d in devices}
                return [parent.get(d.parent_id, "") for d in devices], devices
        finally:
            await store.close()

    parents, devices = asyncio.run(fetch())
    assert [(d.name, d.address, d.tags) for d in devices] == [
        ("gw", "127.0.0.1", []),
        ("pc1", "127.0.0.9", ["x"]),
    ]
    assert parents == ["", "gw"]


def test_two_devices_can_swap_addresses(capsys, db_url, clean_env, tmp_path) -> None:
    assert run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, BASE))).code == 0
    swapped = (
        BASE.replace("127.0.0.1", "TMP")
        .replace("127.0.0.2", "127.0.0.1")
        .replace("TMP", "127.0.0.2")
    )
    out = run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, swapped)))
    assert out.code == 0, out.err
    assert "2 to update" in out.out


def test_csv_export_imports_and_reimports(capsys, db_url, clean_env, tmp_path) -> None:
    csv_text = (
        "\ufeffCompany,Site,Configuration Name,Configuration Type,IP Address,Parent,Tags,Checks\n"
        "Acme Dental,Head Office,acme-gw,Router,127.0.0.1,,core,icmp;snmp\n"
        "Acme Dental,Head Office,acme-sw,Managed Switch,127.0.0.2,acme-gw,,icmp\n"
        "Brightside,,bright-web,Web Site,127.0.0.3,,,http:https://127.0.0.3:8443/;tcp:443\n"
    )
    path = write(tmp_path, csv_text, "export.csv")
    first = run_noc(capsys, "--db", db_url, "import", str(path))
    assert first.code == 0, first.err
    assert "+ client acme-dental" in first.out and "+ site acme-dental/head-office" in first.out
    assert "+ site brightside/main" in first.out and "+ check bright-web/tcp-443" in first.out
    again = run_noc(capsys, "--db", db_url, "import", str(path))
    assert "0 to add, 0 to update, 0 to remove" in again.out

    async def kinds() -> dict[str, str]:
        store = await Store.open(db_url)
        try:
            async with store.read() as s:
                return {d.name: d.kind for d in await s.scalars(select(Device))}
        finally:
            await store.close()

    assert asyncio.run(kinds()) == {
        "acme-gw": "router",
        "acme-sw": "switch",
        "bright-web": "website",
    }


# Each bad input: exit 2, one line naming file, line and field, and nothing written.
BAD_TOML = [
    ("syntax", BASE.replace('name = "HQ"', 'name = "HQ'), 14, "not valid TOML"),
    (
        "unknown field",
        BASE.replace('kind = "workstation"', 'kind = "workstation"\ncolour = 1'),
        29,
        "devices[1].colour: unknown field",
    ),
    ("unknown section", BASE + "\n[printers]\nx = 1\n", 32, "printers: unknown section"),
    (
        "same address twice",
        BASE.replace("127.0.0.2", "127.0.0.1"),
        29,
        "devices[1].address: '127.0.0.1' is the same address as device 'gw' (line 17)",
    ),
    (
        "two spellings of one address",
        BASE.replace("127.0.0.2", "127.000.000.001"),
        29,
        "devices[1].address: '127.000.000.001' is the same address as device 'gw'",
    ),
    (
        "two spellings of one IPv6 address",
        BASE.replace("127.0.0.1", "::1").replace("127.0.0.2", "0:0:0:0:0:0:0:1"),
        29,
        "devices[1].address: '0:0:0:0:0:0:0:1' is the same address as device 'gw'",
    ),
    (
        "missing credential profile",
        BASE.replace('credential = "snmp-ro"', 'credential = "nope"'),
        22,
        "devices[0].checks[1].credential: no credential profile named 'nope'",
    ),
    (
        "unknown parent",
        BASE.replace('parent = "gw"', 'parent = "gateway"'),
        30,
        "devices[1].parent: no device named 'gateway'",
    ),
    (
        "secret in the file",
        BASE.replace('"env:SNMP_COMMUNITY"', '"public"'),
        5,
        "credentials.snmp-ro.community: must be a reference",
    ),
    (
        "bad address",
        BASE.replace("127.0.0.2", "127.0.0.300"),
        29,
        "devices[1].address: '127.0.0.300' is not an IPv4 address",
    ),
    (
        "unknown check type",
        BASE.replace('["icmp", {', '["icmpp", {'),
        22,
        "devices[0].checks[0].type: 'icmpp' is not one of",
    ),
    (
        "bad rediscover",
        BASE.replace('credential = "snmp-ro" }', 'credential = "snmp-ro", rediscover = "soon" }'),
        22,
        "devices[0].checks[1].rediscover: 'soon' is not a duration",
    ),
    (
        "unknown client",
        BASE.replace(
            'client = "acme"\nsite = "hq"\nkind = "workstation"',
            'client = "acne"\nsite = "hq"\nkind = "workstation"',
        ),
        26,
        "devices[1].client: unknown client 'acne'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "message"), [b[1:] for b in BAD_TOML], ids=[b[0] for b in BAD_TOML]
)
def test_bad_toml_is_one_line_and_changes_nothing(
    capsys, db_url, clean_env, tmp_path, text, line, message
) -> None:
    good = run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, BASE, "good.toml")))
    assert good.code == 0
    before = inventory_counts(db_url)
    path = write(tmp_path, text)
    out = run_noc(capsys, "--db", db_url, "import", str(path))
    assert out.code == 2
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert out.err.startswith(f"noc: error: {path}:{line}: "), out.err
    assert message in out.err
    assert inventory_counts(db_url) == before


def test_duplicate_against_the_store_is_refused(capsys, db_url, clean_env, tmp_path) -> None:
    assert run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, BASE))).code == 0
    other = write(tmp_path, BASE.replace('name = "pc1"', 'name = "pc9"'), "other.toml")
    out = run_noc(capsys, "--db", db_url, "import", str(other))
    assert out.code == 2
    assert f"{other}:29: devices[1].address: '127.0.0.2' already belongs to device 'pc1'" in out.err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Company,Name,Colour\nA,b,c\n", ":1: Colour: unknown column"),
        ("Company,Name\nA,b\n", ":1: address: missing column"),
        (
            "Company,Name,IP\nA,b,127.0.0.1\nA,c,127.0.0.01\n",
            ":3: address: '127.0.0.01' is the same address as device 'b' (line 2)",
        ),
        ("Company,Name,IP,Type\nA,b,127.0.0.1,Toaster\n", ":2: kind: 'toaster' is not one of"),
        ("Company,Name,IP\nA,b,not an address\n", ":2: address: 'not an address' is neither"),
    ],
)
def test_bad_csv(capsys, db_url, clean_env, tmp_path, text, message) -> None:
    path = write(tmp_path, text, "export.csv")
    out = run_noc(capsys, "--db", db_url, "import", str(path))
    assert out.code == 2
    assert out.err.strip() == out.err.strip().splitlines()[0]
    assert f"{path}{message}" in out.err, out.err
    assert inventory_counts(db_url)["devices"] == 0


def test_unreadable_and_unknown_files(capsys, clean_env, tmp_path) -> None:
    out = run_noc(capsys, "import", str(tmp_path / "missing.toml"))
    assert out.code == 2 and "missing.toml: cannot read: No such file or directory" in out.err
    out = run_noc(capsys, "import", str(write(tmp_path, "x", "inv.yaml")))
    assert out.code == 2 and "unknown inventory format '.yaml'" in out.err


def test_unreachable_database_is_one_line(capsys, clean_env) -> None:
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    url = "postgresql+asyncpg://noc:secret@127.0.0.1:9/noc"
    out = run_noc(capsys, "--db", url, "import", str(EXAMPLE))
    assert out.code == 2
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert out.err.startswith("noc: error: database postgresql+asyncpg://noc:****@127.0.0.1:9/noc")
    assert "secret" not in out.err


def test_read_only_database_is_one_line_and_unchanged(capsys, clean_env, tmp_path) -> None:
    db = tmp_path / "ro.db"
    url = f"sqlite+aiosqlite:///{db}"
    assert run_noc(capsys, "--db", url, "import", str(write(tmp_path, BASE))).code == 0
    before = inventory_counts(url)
    ro_url = f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true"
    more = BASE + '\n[[devices]]\nname = "pc2"\nclient = "acme"\naddress = "127.0.0.4"\n'
    out = run_noc(capsys, "--db", ro_url, "import", str(write(tmp_path, more, "more.toml")))
    assert out.code == 2
    assert out.err.count("\n") == 1 and "readonly database" in out.err
    assert inventory_counts(url) == before


def test_sites_and_checks_are_linked(capsys, db_url, clean_env, tmp_path) -> None:
    assert run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, BASE))).code == 0

    async def fetch() -> list[tuple[str, str, str, dict[str, object]]]:
        store = await Store.open(db_url)
        try:
            async with store.read() as s:
                rows = await s.execute(
                    select(Device.name, Site.code, Check.name, Check.params)
                    .join(Site, Site.id == Device.site_id)
                    .join(Check, Check.device_id == Device.id)
                    .order_by(Device.name, Check.name)
                )
                return [tuple(r) for r in rows]  # type: ignore[misc]
        finally:
            await store.close()

    assert asyncio.run(fetch()) == [
        ("gw", "hq", "icmp", {}),
        ("gw", "hq", "snmp", {"credential": "snmp-ro"}),
        ("pc1", "hq", "icmp", {}),
    ]


@pytest.mark.parametrize(("given", "seconds"), [('"10m"', 600.0), ("90", 90.0), ("0", 0.0)])
def test_snmp_rediscover_is_kept_in_seconds(
    capsys, db_url, clean_env, tmp_path, given, seconds
) -> None:
    text = BASE.replace(
        'credential = "snmp-ro" }', f'credential = "snmp-ro", rediscover = {given} }}'
    )
    assert run_noc(capsys, "--db", db_url, "import", str(write(tmp_path, text))).code == 0

    async def params() -> dict[str, object]:
        store = await Store.open(db_url)
        try:
            async with store.read() as s:
                found = await s.scalar(select(Check.params).where(Check.type == "snmp"))
                assert found is not None
                return dict(found)
        finally:
            await store.close()

    assert asyncio.run(params()) == {"credential": "snmp-ro", "rediscover": seconds}
