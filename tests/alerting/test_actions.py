"""Alert actions on a real SQLite store: the row, the event and the audit entry, together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from noc.alerting import (
    AlertingError,
    acknowledge,
    add_maintenance,
    end_maintenance,
    list_maintenance,
    snooze,
    unacknowledge,
)
from noc.storage.models import Alert, AuditLog, Event
from noc.storage.store import Store
from tests.console.seed import NOW, Demo, open_store, seed_demo


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(tmp_path / "noc.db")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def demo(store: Store) -> Demo:
    return await seed_demo(store)


async def _trail(store: Store, after: int) -> tuple[list[Event], list[AuditLog]]:
    async with store.read() as session:
        events = list(await session.scalars(select(Event).where(Event.id > after)))
        audit = list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))
    return events, audit


async def _alert(store: Store, alert_id: int) -> Alert:
    async with store.read() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        return alert


async def test_acknowledge_writes_row_event_and_audit(store: Store, demo: Demo) -> None:
    before = await store.last_event_id()
    alert_id = demo.alerts["cpu"]
    await acknowledge(store, alert_id, "bob", "looking at it", NOW + 3600, now=NOW)
    alert = await _alert(store, alert_id)
    assert (alert.ack_by, alert.ack_at, alert.ack_note, alert.ack_expires) == (
        "bob",
        NOW,
        "looking at it",
        NOW + 3600,
    )
    events, audit = await _trail(store, before)
    assert [(e.kind, e.alert_id, e.actor, e.device_id) for e in events] == [
        ("alert.acked", alert_id, "bob", demo.devices["acme-srv-02"])
    ]
    assert events[0].data["note"] == "looking at it"
    assert [(a.action, a.actor, a.object_id) for a in audit] == [
        ("alert.ack", "bob", str(alert_id))
    ]


async def test_unacknowledge_keeps_previous_owner_in_audit(store: Store, demo: Demo) -> None:
    alert_id = demo.alerts["disk"]
    await unacknowledge(store, alert_id, "bob", now=NOW)
    alert = await _alert(store, alert_id)
    assert alert.ack_by is None and alert.ack_note == ""
    _, audit = await _trail(store, 0)
    assert audit[-1].detail == {"previous": "alice", "note": "cleaning logs"}
    with pytest.raises(AlertingError, match="not acknowledged"):
        await unacknowledge(store, alert_id, "bob", now=NOW)


async def test_snooze(store: Store, demo: Demo) -> None:
    before = await store.last_event_id()
    await snooze(store, demo.alerts["nas"], "carol", NOW + 1800, now=NOW)
    assert (await _alert(store, demo.alerts["nas"])).snoozed_until == NOW + 1800
    events, _ = await _trail(store, before)
    assert [e.kind for e in events] == ["alert.snoozed"]
    with pytest.raises(AlertingError, match="future"):
        await snooze(store, demo.alerts["nas"], "carol", NOW - 1, now=NOW)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: acknowledge(s, 999_999, "bob", now=NOW), "no such alert"),
        (lambda s: acknowledge(s, 1, "  ", now=NOW), "technician"),
        (lambda s: acknowledge(s, 1, "bob", "x" * 5000, now=NOW), "at most"),
        (lambda s: acknowledge(s, 1, "bob", "", NOW - 5, now=NOW), "past"),
        (lambda s: add_maintenance(s, "rack", 1, NOW, None, False, "", "bob"), "scope"),  # type: ignore[arg-type]
        (lambda s: add_maintenance(s, "device", 999, NOW, None, False, "", "bob"), "no such"),
        (lambda s: add_maintenance(s, "site", 1, NOW, NOW - 1, False, "", "bob"), "after"),
        (lambda s: end_maintenance(s, 999, "bob"), "no such window"),
    ],
)
async def test_refusals_are_one_line_errors_and_write_nothing(
    store: Store,
    demo: Demo,
    call,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    before = await store.last_event_id()
    with pytest.raises(AlertingError, match=message) as info:
        await call(store)
    assert "\n" not in str(info.value)
    events, audit = await _trail(store, before)
    assert events == [] and audit == []


async def test_resolved_alert_cannot_be_acked(store: Store, demo: Demo) -> None:
    async with store.write() as session:
        alert = await session.get(Alert, demo.alerts["nas"])
        assert alert is not None
        alert.resolved_at = NOW
    with pytest.raises(AlertingError, match="resolved"):
        await acknowledge(store, demo.alerts["nas"], "bob", now=NOW)


async def test_maintenance_lifecycle(store: Store, demo: Demo) -> None:
    before = await store.last_event_id()
    site = await add_maintenance(
        store, "site", demo.sites["hq"], NOW, NOW + 7200, False, "switch swap", "dave", now=NOW
    )
    device = await add_maintenance(
        store,
        "device",
        demo.devices["acme-fw"],
        NOW + 600,
        None,
        True,
        "firmware",
        "dave",
        now=NOW,
    )
    assert [w.id for w in await list_maintenance(store)] == [site.id, device.id]
    assert [w.id for w in await list_maintenance(store, active_at=NOW + 60)] == [site.id]
    assert [w.id for w in await list_maintenance(store, active_at=NOW + 7300)] == [device.id]
    ended = await end_maintenance(store, site.id, "erin", now=NOW + 100)
    assert ended.ended_at == NOW + 100
    assert [w.id for w in await list_maintenance(store)] == [device.id]
    assert len(await list_maintenance(store, include_ended=True)) == 2
    with pytest.raises(AlertingError, match="already ended"):
        await end_maintenance(store, site.id, "erin")
    events, audit = await _trail(store, before)
    assert [e.kind for e in events] == [
        "maintenance.added",
        "maintenance.added",
        "maintenance.ended",
    ]
    assert events[1].device_id == demo.devices["acme-fw"]
    assert events[0].data["reason"] == "switch swap"
    assert [a.action for a in audit] == ["maintenance.add", "maintenance.add", "maintenance.end"]
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(AuditLog)) == 3
