"""Demo rows written straight into a real store: what a poller and an importer would leave.

Times are fixed (``NOW``) so that ages, SLA clocks and snapshots never change between runs.
Addresses are loopback only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from noc.storage.models import (
    Alert,
    Check,
    CheckState,
    Client,
    Device,
    Site,
    Ticket,
)
from noc.storage.store import EventRecord, Store

NOW = 1_800_000_000.0
HOSTILE_NAME = (
    "\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\r\u202e[/][0][@click=app.quit]quit[/]\x1b[5m"
) * 500
"""10,000+ characters of what a hostile device can put in its name or sysDescr."""


@dataclass
class Demo:
    clients: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    checks: dict[tuple[str, str], int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    tickets: dict[int, int] = field(default_factory=dict)


async def open_store(path: Path) -> Store:
    return await Store.open(f"sqlite+aiosqlite:///{path}")


def _sysdescr(vendor: str) -> dict[str, Any]:
    return {
        "cisco": {
            "sys.descr": "Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), "
            "Version 12.2(55)SE5\r\nTechnical Support: http://www.cisco.com/techsupport",
            "vendor": "Cisco",
            "os": "IOS 12.2(55)SE5",
            "model": "WS-C3560-24PS",
        },
        "linux": {
            "sys.descr": "Linux srv 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64",
            "vendor": "Dell",
            "os": "Debian 12",
            "model": "PowerEdge R650",
        },
    }[vendor]


DEVICES: list[dict[str, Any]] = [
    # client, site, name, kind, address, parent, vendor, {check: (state, output, values)}
    {
        "client": "acme",
        "site": "hq",
        "name": "acme-core-rtr",
        "kind": "router",
        "address": "127.0.10.1",
        "vendor": "cisco",
        "tags": ["core", "cisco"],
        "checks": {
            "ping": ("OK", "rtt 1.2 ms", {"rtt": 0.0012}),
            "snmp": (
                "OK",
                "up 41 days",
                {
                    "sys.uptime": 3_542_400,
                    "cpu.load": 12.0,
                    "if.Gi0/1.oper_status": "up",
                    "if.Gi0/1.in_bps": 1_200_000.0,
                    "if.Gi0/2.oper_status": "down",
                    "if.Gi0/2.in_bps": 0.0,
                },
            ),
        },
    },
    {
        "client": "acme",
        "site": "hq",
        "name": "acme-sw-01",
        "kind": "switch",
        "address": "127.0.10.2",
        "parent": "acme-core-rtr",
        "vendor": "cisco",
        "tags": ["access"],
        "checks": {"ping": ("UNREACHABLE", "parent acme-fw is down", {})},
    },
    {
        "client": "acme",
        "site": "hq",
        "name": "acme-srv-01",
        "kind": "server",
        "address": "127.0.10.3",
        "parent": "acme-core-rtr",
        "vendor": "linux",
        "tags": ["windows", "file"],
        "checks": {
            "ping": ("OK", "rtt 0.4 ms", {"rtt": 0.0004}),
            "disk": (
                "WARNING",
                "/var 88% used",
                {"fs./var.used_pct": 88.0, "fs./.used_pct": 41.0, "fs./var.size_gb": 200.0},
            ),
        },
    },
    {
        "client": "acme",
        "site": "hq",
        "name": "acme-srv-02",
        "kind": "server",
        "address": "127.0.10.4",
        "parent": "acme-core-rtr",
        "vendor": "linux",
        "tags": ["db"],
        "checks": {
            "ping": ("OK", "rtt 0.5 ms", {"rtt": 0.0005}),
            "cpu": ("CRITICAL", "cpu 97% for 10 min", {"cpu.load": 97.0, "sys.uptime": 86_400}),
        },
    },
    {
        "client": "acme",
        "site": "branch",
        "name": "acme-fw",
        "kind": "firewall",
        "address": "127.0.11.1",
        "vendor": "linux",
        "tags": ["edge"],
        "checks": {"ping": ("DOWN", "100% loss", {})},
    },
    {
        "client": "globex",
        "site": "dc1",
        "name": "globex-db-01",
        "kind": "server",
        "address": "127.0.20.1",
        "vendor": "linux",
        "tags": ["db"],
        "checks": {"ping": ("OK", "rtt 2.0 ms", {"rtt": 0.002})},
    },
    {
        "client": "globex",
        "site": "dc1",
        "name": "globex-nas",
        "kind": "storage",
        "address": "127.0.20.2",
        "vendor": "linux",
        "tags": [],
        "checks": {"snmp": ("UNKNOWN", "timeout after 5.0 s", {})},
    },
    {
        "client": "globex",
        "site": "dc1",
        "name": "globex-web-01",
        "kind": "server",
        "address": "127.0.20.3",
        "vendor": "linux",
        "tags": ["web"],
        "checks": {"ping": ("OK", "rtt 1.0 ms", {"rtt": 0.001})},
    },
    {
        "client": "initech",
        "site": "main",
        "name": "initech-ap-01",
        "kind": "ap",
        "address": "127.0.30.1",
        "vendor": "cisco",
        "tags": ["wifi"],
        "checks": {"ping": ("OK", "rtt 3.1 ms", {"rtt": 0.0031})},
    },
]

CLIENTS = {"acme": "Acme Corp", "globex": "Globex", "initech": "Initech"}
SITES = {
    ("acme", "hq"): "Head office",
    ("acme", "branch"): "Branch",
    ("globex", "dc1"): "Data centre 1",
    ("initech", "main"): "Main office",
}


async def seed_demo(store: Store, now: float = NOW) -> Demo:
    """Three clients, four sites, nine devices (a router with children), checks in every state,
    four open alerts (one acknowledged, one with a ticket), samples and events."""
    demo = Demo()
    async with store.write() as session:
        for code, name in CLIENTS.items():
            client = Client(code=code, name=name)
            session.add(client)
            await session.flush()
            demo.clients[code] = client.id
        for (client_code, code), name in SITES.items():
            site = Site(client_id=demo.clients[client_code], code=code, name=name)
            session.add(site)
            await session.flush()
            demo.sites[code] = site.id
        for spec in DEVICES:
            device = Device(
                site_id=demo.sites[spec["site"]],
                name=spec["name"],
                kind=spec["kind"],
                address=spec["address"],
                address_key=spec["address"],
                parent_id=demo.devices.get(spec.get("parent", "")),
                tags=spec["tags"],
                description=f"{spec['kind']} at {SITES[(spec['client'], spec['site'])]}",
            )
            session.add(device)
            await session.flush()
            demo.devices[spec["name"]] = device.id
            first = True
            for check_name, (state, output, values) in spec["checks"].items():
                check = Check(
                    device_id=device.id,
                    name=check_name,
                    type="icmp" if check_name == "ping" else "snmp",
                    interval_s=60.0,
                )
                session.add(check)
                await session.flush()
                demo.checks[(spec["name"], check_name)] = check.id
                merged = dict(values)
                if first:
                    merged.update(_sysdescr(spec["vendor"]))
                    first = False
                session.add(
                    CheckState(
                        check_id=check.id,
                        device_id=device.id,
                        state=state,
                        since=now - 3600 * (1 + len(demo.checks)),
                        last_ts=now - 30,
                        output=output,
                        values=merged,
                    )
                )
        ticket = Ticket(
            number=1042,
            client_id=demo.clients["acme"],
            device_id=demo.devices["acme-srv-02"],
            title="acme-srv-02 CPU pegged",
            priority="P2",
            status="open",
            created_at=now - 5400,
            updated_at=now - 600,
            sla_response_due=now - 3600,
            responded_at=now - 4000,
            sla_resolve_due=now + 7200,
        )
        session.add(ticket)
        await session.flush()
        demo.tickets[1042] = ticket.id
        alerts = [
            ("fw-down", "acme-fw", "ping", "down", "DOWN", "acme-fw is down: 100% loss", 1800, {}),
            ("cpu", "acme-srv-02", "cpu", "cpu", "CRITICAL", "cpu 97% for 10 min", 5400, {}),
            (
                "disk",
                "acme-srv-01",
                "disk",
                "disk",
                "WARNING",
                "/var 88% used",
                86_400,
                {"ack_by": "alice", "ack_at": now - 600, "ack_note": "cleaning logs"},
            ),
            ("nas", "globex-nas", "snmp", "unknown", "UNKNOWN", "snmp timeout", 900, {}),
        ]
        for key, device, check, condition, severity, summary, age, extra in alerts:
            alert = Alert(
                dedup_key=f"{device}:{check}",
                device_id=demo.devices[device],
                check_id=demo.checks[(device, check)],
                condition=condition,
                severity=severity,
                summary=summary,
                first_seen=now - age,
                last_seen=now - 30,
                count=3 if key == "cpu" else 1,
                ticket_id=ticket.id if key == "cpu" else None,
                **extra,
            )
            session.add(alert)
            await session.flush()
            demo.alerts[key] = alert.id
        await store.append_events(
            session,
            [
                EventRecord(
                    "check.state",
                    demo.devices["acme-fw"],
                    demo.checks[("acme-fw", "ping")],
                    demo.alerts["fw-down"],
                    data={"state": "DOWN", "previous": "OK", "output": "100% loss"},
                    ts=now - 1800,
                ),
                EventRecord(
                    "alert.opened",
                    demo.devices["acme-srv-02"],
                    demo.checks[("acme-srv-02", "cpu")],
                    demo.alerts["cpu"],
                    data={"severity": "CRITICAL"},
                    ts=now - 5400,
                ),
            ],
        )
    await seed_samples(store, demo, now)
    return demo


async def seed_samples(store: Store, demo: Demo, now: float) -> None:
    """An hour of per-minute rtt and cpu samples, with a shape that shows in a sparkline."""
    keys: list[tuple[int, int, str]] = []
    for (device, check), check_id in demo.checks.items():
        if check == "ping":
            keys.append((demo.devices[device], check_id, "rtt"))
        if check in ("cpu", "snmp"):
            keys.append((demo.devices[device], check_id, "cpu.load"))
    ids = await store.series_ids(keys)
    rows: list[tuple[int, float, float]] = []
    for (_check_id, metric), sid in sorted(ids.items()):
        for minute in range(60):
            ts = now - 3600 + minute * 60
            wave = (minute % 12) / 12
            value = 0.001 + 0.004 * wave if metric == "rtt" else 20 + 70 * wave
            rows.append((sid, ts, value))
    await store.write_samples(rows)


async def set_state(
    store: Store,
    check_id: int,
    state: str,
    *,
    now: float = NOW,
    output: str = "",
    in_event: bool = True,
) -> None:
    """What the evaluator does on a state change: the state row and an event, together."""
    async with store.write() as session:
        row = await session.get(CheckState, check_id)
        assert row is not None
        row.state, row.since, row.last_ts, row.output = state, now, now, output
        data = {"state": state, "output": output} if in_event else {"changed": True}
        await store.append_events(
            session, [EventRecord("check.state", row.device_id, check_id, data=data, ts=now)]
        )


async def seed_bulk(
    store: Store, devices: int, *, clients: int = 20, sites_per_client: int = 3, now: float = NOW
) -> list[int]:
    """Many devices fast (one insert per table): for scale tests and the benchmark.

    Returns the check ids, one per device, in device order.
    """
    async with store.write() as session:
        await session.execute(
            insert(Client),
            [{"code": f"c{i:03d}", "name": f"Client {i:03d}", "notes": ""} for i in range(clients)],
        )
        await session.execute(
            insert(Site),
            [
                {
                    "client_id": c + 1,
                    "code": f"s{s}",
                    "name": f"Site {s}",
                    "address": "",
                }
                for c in range(clients)
                for s in range(sites_per_client)
            ],
        )
        n_sites = clients * sites_per_client
        await session.execute(
            insert(Device),
            [
                {
                    "site_id": i % n_sites + 1,
                    "name": f"dev-{i:05d}",
                    "kind": "server",
                    "address": f"127.{1 + i // 65536}.{i // 256 % 256}.{i % 256}",
                    "address_key": f"127.{1 + i // 65536}.{i // 256 % 256}.{i % 256}",
                    "tags": [f"t{i % 7}"],
                    "credentials": [],
                    "zone": "",
                    "enabled": True,
                    "description": "",
                }
                for i in range(devices)
            ],
        )
        await session.execute(
            insert(Check),
            [
                {
                    "device_id": i + 1,
                    "name": "ping",
                    "type": "icmp",
                    "params": {},
                    "thresholds": {},
                    "enabled": True,
                }
                for i in range(devices)
            ],
        )
        states = ("OK",) * 17 + ("WARNING", "CRITICAL", "DOWN")
        await session.execute(
            insert(CheckState),
            [
                {
                    "check_id": i + 1,
                    "device_id": i + 1,
                    "state": states[i % len(states)],
                    "since": now - i,
                    "last_ts": now,
                    "attempts": 0,
                    "output": "",
                    "values": {"rtt": 0.001},
                    "flapping": False,
                    "history": [],
                }
                for i in range(devices)
            ],
        )
    return list(range(1, devices + 1))
