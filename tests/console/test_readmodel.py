"""The read model over a real seeded store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from noc.readmodel import (
    EventTail,
    device_detail,
    events_after,
    fetch_changes,
    is_problem,
    load_snapshot,
    worst_state,
)
from noc.storage.store import Store
from tests.console.seed import NOW, Demo, open_store, seed_bulk, set_state


def test_worst_state_order() -> None:
    assert worst_state([]) == "PENDING"
    assert worst_state(["OK", "WARNING", "UNREACHABLE"]) == "WARNING"
    assert worst_state(["OK", "DOWN", "CRITICAL"]) == "DOWN"
    assert worst_state(["ok", "unknown"]) == "UNKNOWN"
    assert not is_problem("OK") and not is_problem("PENDING")
    assert is_problem("UNREACHABLE") and is_problem("WARNING")


async def test_snapshot_devices_states_and_grouping(store: Store, demo: Demo) -> None:
    snap = await load_snapshot(store, now=NOW)
    by_name = {t.name: t for t in snap.devices}
    assert len(by_name) == 9
    assert by_name["acme-fw"].state == "DOWN"
    assert by_name["acme-srv-02"].state == "CRITICAL"
    assert by_name["acme-srv-02"].worst_check == "cpu"
    assert by_name["acme-srv-01"].state == "WARNING"
    assert by_name["acme-sw-01"].state == "UNREACHABLE"
    assert by_name["globex-nas"].state == "UNKNOWN"
    assert by_name["globex-db-01"].state == "OK"
    assert by_name["globex-db-01"].worst_check == ""
    assert by_name["acme-sw-01"].parent_id == demo.devices["acme-core-rtr"]
    # grouped by client name, then site name, then device name
    order = [(t.client, t.site) for t in snap.devices]
    assert order == sorted(order, key=lambda cs: (cs[0].lower(), cs[1].lower()))
    assert [t.name for t in snap.devices[:4]] == [
        "acme-fw",
        "acme-core-rtr",
        "acme-srv-01",
        "acme-srv-02",
    ]  # Branch sorts before Head office


async def test_snapshot_sparklines_from_samples(store: Store, demo: Demo) -> None:
    snap = await load_snapshot(store, now=NOW)
    rtr = next(t for t in snap.devices if t.name == "acme-core-rtr")
    assert len(rtr.latency) == 16 and len(rtr.cpu) == 16
    assert min(rtr.latency) > 0 and max(rtr.cpu) > min(rtr.cpu)
    fw = next(t for t in snap.devices if t.name == "acme-fw")
    assert fw.cpu == ()


async def test_snapshot_alerts_sorted_by_severity_then_age(store: Store, demo: Demo) -> None:
    snap = await load_snapshot(store, now=NOW)
    assert [a.id for a in snap.alerts] == [
        demo.alerts["fw-down"],
        demo.alerts["cpu"],
        demo.alerts["disk"],
        demo.alerts["nas"],
    ]
    cpu = snap.alerts[1]
    assert cpu.ticket_number == 1042
    assert cpu.sla_due == NOW + 7200  # responded: the resolution deadline counts
    assert cpu.count == 3 and cpu.device == "acme-srv-02" and cpu.client == "Acme Corp"
    disk = snap.alerts[2]
    assert disk.acked(NOW) and disk.ack_by == "alice" and disk.ack_note == "cleaning logs"


async def test_snapshot_client_counts(store: Store, demo: Demo) -> None:
    snap = await load_snapshot(store, now=NOW)
    acme = next(c for c in snap.clients if c.code == "acme")
    assert acme.devices == 5
    assert acme.counts["DOWN"] == 1 and acme.counts["OK"] == 1
    assert acme.problems == 4 and acme.worst == "DOWN" and acme.open_alerts == 3
    initech = next(c for c in snap.clients if c.code == "initech")
    assert initech.worst == "OK" and initech.problems == 0


async def test_device_detail(store: Store, demo: Demo) -> None:
    detail = await device_detail(store, demo.devices["acme-core-rtr"], now=NOW)
    assert detail is not None
    assert detail.identity["vendor"] == "Cisco"
    assert detail.identity["uptime"] == 3_542_400
    assert detail.identity["descr"].startswith("Cisco IOS Software")
    assert set(detail.interfaces) == {"Gi0/1", "Gi0/2"}
    assert detail.interfaces["Gi0/2"]["oper_status"] == "down"
    assert detail.children == ("acme-srv-01", "acme-srv-02", "acme-sw-01")
    assert {c.name for c in detail.checks} == {"ping", "snmp"}
    assert "ping/rtt" in detail.history and "snmp/cpu.load" in detail.history
    srv = await device_detail(store, demo.devices["acme-srv-01"], now=NOW)
    assert srv is not None
    assert srv.filesystems["/var"]["used_pct"] == 88.0
    assert srv.parent == "acme-core-rtr"
    assert [a.id for a in srv.alerts] == [demo.alerts["disk"]]
    fw = await device_detail(store, demo.devices["acme-fw"], now=NOW)
    assert fw is not None and fw.events and fw.events[0].kind == "check.state"
    assert await device_detail(store, 999_999, now=NOW) is None


async def test_event_tail_and_changes(store: Store, demo: Demo) -> None:
    snap = await load_snapshot(store, now=NOW)
    tail = EventTail(store, snap.last_event_id)
    assert await tail.poll() == []
    check = demo.checks[("globex-db-01", "ping")]
    await set_state(store, check, "CRITICAL", now=NOW + 1, output="loss 60%")
    other = demo.checks[("initech-ap-01", "ping")]
    await set_state(store, other, "WARNING", now=NOW + 2, in_event=False)
    events = await tail.poll()
    assert [e.check_id for e in events] == [check, other]
    assert await tail.poll() == []
    changes = await fetch_changes(store, events, snap.checks)
    assert changes.checks[check].state == "CRITICAL"
    assert changes.checks[check].output == "loss 60%"
    assert changes.checks[other].state == "WARNING"  # read back from the store
    assert not changes.reload
    assert changes.last_event_id == events[-1].id


async def test_snapshot_of_ten_thousand_devices(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "big.db")
    try:
        await seed_bulk(store, 10_000)
        snap = await load_snapshot(store, now=NOW)  # bench/bench_console.py times it
        assert len(snap.devices) == 10_000
        assert sum(c.devices for c in snap.clients) == 10_000
        assert sum(c.counts["DOWN"] for c in snap.clients) == 500
    finally:
        await store.close()


async def test_tail_reads_what_the_store_reads(store: Store, demo: Demo) -> None:
    for n in range(3):
        await set_state(store, demo.checks[("globex-db-01", "ping")], "WARNING", now=NOW + n)
    mine = await events_after(store, 0, 100)
    theirs = await store.events_after(0, 100)
    assert [(e.id, e.kind, e.device_id, e.check_id, e.alert_id, e.data) for e in mine] == [
        (e.id, e.kind, e.device_id, e.check_id, e.alert_id, e.data) for e in theirs
    ]
    assert [e.id for e in await events_after(store, mine[1].id, 100)] == [e.id for e in mine[2:]]


async def test_tail_pages_through_a_backlog_and_follow_stops(store: Store, demo: Demo) -> None:
    start = await store.last_event_id()
    for n in range(7):
        await set_state(store, demo.checks[("globex-db-01", "ping")], "OK", now=NOW + n)
    tail = EventTail(store, start, batch=2, max_batches=3)
    assert len(await tail.poll()) == 6  # bounded per call
    assert len(await tail.poll()) == 1
    stop = asyncio.Event()
    tail = EventTail(store, start)
    batches = []
    async for batch in tail.follow(0.01, stop=stop):
        batches.append(batch)
        stop.set()
    assert [len(b) for b in batches] == [7]


async def test_alert_rows_know_the_ticket_holder_and_the_maintenance(db_url: str) -> None:
    """On every backend: the assignee's login comes with the alert, and a ticket's update reads
    its alerts back; the maintenance window recorded on the alert is read, not its history."""
    from sqlalchemy import update

    from noc.psa import ensure_technician, update_ticket
    from noc.storage.models import Alert
    from tests.console.seed import seed_demo

    store = await Store.open(db_url)
    try:
        demo = await seed_demo(store)
        window = {"maintenance": {"until": NOW + 600, "text": "firmware"}, "history": [1] * 50}
        async with store.write() as session:
            await session.execute(
                update(Alert).where(Alert.id == demo.alerts["nas"]).values(data=window)
            )
        snap = await load_snapshot(store, now=NOW, history=False)
        rows = {a.id: a for a in snap.alerts}
        nas, cpu = rows[demo.alerts["nas"]], rows[demo.alerts["cpu"]]
        assert nas.in_maintenance(NOW) and not nas.in_maintenance(NOW + 600)
        assert nas.maintenance_until == NOW + 600
        assert not cpu.maintenance and cpu.ticket_assignee is None
        tail = EventTail(store, snap.last_event_id)
        await ensure_technician(store, "tech-bob")
        await update_ticket(store, demo.tickets[1042], 1, "alice", assignee="tech-bob", now=NOW)
        changes = await fetch_changes(store, await tail.poll(), snap.checks)
        assert list(changes.alerts) == [demo.alerts["cpu"]]
        assert changes.alerts[demo.alerts["cpu"]].ticket_assignee == "tech-bob"
    finally:
        await store.close()
