"""Maintenance, snooze and acknowledgement: alerts are recorded, but ``should_notify`` says no
and why. Windows and acks are written here as ``alerting.actions`` writes them (the rows)."""

from __future__ import annotations

from sqlalchemy import select, update

from noc.alerting.alerts import should_notify
from noc.alerting.maintenance import in_maintenance, load_maintenance
from noc.storage import Store
from noc.storage.models import Alert, Client, Device, MaintenanceWindow, Site

from .conftest import Inventory, ManualClock, alerts, events, failed, feed, ok, started

PING = ("ping", "icmp", {"retries": 0})


async def _window(store: Store, scope: str, scope_id: int, starts: float, ends: float | None,
                  *, until_ok: bool = False, reason: str = "firmware upgrade") -> int:
    async with store.write() as session:
        window = MaintenanceWindow(
            scope=scope,
            scope_id=scope_id,
            starts_at=starts,
            ends_at=ends,
            until_ok=until_ok,
            reason=reason,
            created_by="alice",
        )
        session.add(window)
        await session.flush()
        return window.id


async def test_device_maintenance_records_but_does_not_notify(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("fw1", kind="firewall", checks=[PING])
    cid = inv.checks["fw1/ping"]
    wid = await _window(store, "device", inv.devices["fw1"], clock.now, clock.now + 3600)
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed())], after=60)
    (alert,) = await alerts(store)
    assert alert.resolved_at is None, "recorded all the same"
    allowed, reason = should_notify(alert, clock.now)
    assert not allowed
    assert reason.startswith(f"maintenance window {wid} on device {inv.devices['fw1']} until ")
    assert reason.endswith(": firmware upgrade")
    async with store.read() as session:
        index = await load_maintenance(session, clock.now, [inv.devices["fw1"]])
        assert (await in_maintenance(session, inv.devices["fw1"], clock.now)) is not None
    assert should_notify(alert, clock.now, index) == (False, reason)
    (opened,) = await events(store, "alert.opened")
    assert opened.data["suppressed"] == reason
    # After the window, the recorded end is enough for the answer to change.
    assert should_notify(alert, clock.now + 3600) == (True, "")


async def test_site_and_client_windows_cover_their_devices(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("sw1", kind="switch", checks=[PING])
    async with store.write() as session:
        other = Client(code="globex", name="Globex")
        session.add(other)
        await session.flush()
        plant = Site(client_id=other.id, code="plant", name="Plant")
        session.add(plant)
        await session.flush()
        other_site, other_client = plant.id, other.id
    await inv.device("sw2", kind="switch", site_id=other_site, checks=[PING])
    site_window = await _window(store, "site", inv.site_id, clock.now, None, reason="")
    await _window(store, "client", other_client, clock.now + 600, clock.now + 1200)
    ev = await started(store, clock)
    await feed(ev, clock, [(inv.checks["sw1/ping"], failed()), (inv.checks["sw2/ping"], failed())],
               after=60)
    by_device = {a.device_id: a for a in await alerts(store)}
    sw1, sw2 = by_device[inv.devices["sw1"]], by_device[inv.devices["sw2"]]
    assert should_notify(sw1, clock.now) == (
        False,
        f"maintenance window {site_window} on site {inv.site_id} until ended",
    )
    assert should_notify(sw2, clock.now) == (True, ""), "the client window starts later"
    await feed(ev, clock, [(inv.checks["sw2/ping"], failed())], after=600)
    (sw2,) = [a for a in await alerts(store) if a.device_id == inv.devices["sw2"]]
    allowed, reason = should_notify(sw2, clock.now)
    assert not allowed and f"on client {other_client}" in reason
    updated = await events(store, "alert.updated")
    assert any(e.alert_id == sw2.id and e.data["changed"] == "maintenance started" for e in updated)


async def test_a_window_ended_early_is_noticed_by_the_next_batch(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("fw1", kind="firewall", checks=[PING])
    cid = inv.checks["fw1/ping"]
    wid = await _window(store, "device", inv.devices["fw1"], clock.now, None)
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed())], after=60)
    (alert,) = await alerts(store)
    assert not should_notify(alert, clock.now)[0]
    async with store.write() as session:
        await session.execute(
            update(MaintenanceWindow).where(MaintenanceWindow.id == wid).values(ended_at=clock.now)
        )
    async with store.read() as session:
        index = await load_maintenance(session, clock.now)
    assert should_notify(alert, clock.now, index) == (True, ""), "exact with an index"
    await feed(ev, clock, [(cid, failed())], after=30)
    (alert,) = await alerts(store)
    assert "maintenance" not in alert.data
    assert should_notify(alert, clock.now) == (True, "")


async def test_snoozed_and_acknowledged_alerts_are_not_notified(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[PING])
    cid = inv.checks["srv/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed())], after=60)
    (alert,) = await alerts(store)
    assert should_notify(alert, clock.now) == (True, "")
    async with store.write() as session:
        await session.execute(
            update(Alert).where(Alert.id == alert.id).values(snoozed_until=clock.now + 1800)
        )
    (alert,) = await alerts(store)
    allowed, reason = should_notify(alert, clock.now)
    assert not allowed and reason.startswith("snoozed until ")
    assert should_notify(alert, clock.now + 1800) == (True, "")
    async with store.write() as session:
        await session.execute(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(snoozed_until=None, ack_by="alice", ack_at=clock.now,
                    ack_expires=clock.now + 600)
        )
    # The evaluator goes on recording; it never touches the acknowledgement.
    await feed(ev, clock, [(cid, failed())], after=60)
    (alert,) = await alerts(store)
    assert (alert.count, alert.ack_by) == (2, "alice")
    assert should_notify(alert, clock.now) == (False, "acknowledged by alice")
    assert should_notify(alert, clock.now + 600) == (True, ""), "the acknowledgement expired"


async def test_until_ok_window_ends_once_everything_in_scope_is_ok_again(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("nas1", kind="nas", checks=[PING, ("http", "http", {"retries": 0})])
    ping, http = inv.checks["nas1/ping"], inv.checks["nas1/http"]
    device = inv.devices["nas1"]
    wid = await _window(store, "device", device, clock.now, None, until_ok=True)
    ev = await started(store, clock)
    await feed(ev, clock, [(ping, ok(rtt=0.001)), (http, ok())], after=60)
    async with store.read() as session:
        assert await in_maintenance(session, device, clock.now) is not None, (
            "no problem yet: the window waits for the work it was made for"
        )
    await feed(ev, clock, [(ping, failed()), (http, failed())], after=60)
    assert all(not should_notify(a, clock.now)[0] for a in await alerts(store))
    await feed(ev, clock, [(ping, ok(rtt=0.001)), (http, failed())], after=60)
    async with store.read() as session:
        assert await in_maintenance(session, device, clock.now) is not None, "http still down"
    await feed(ev, clock, [(ping, ok(rtt=0.001)), (http, ok())], after=60)
    async with store.read() as session:
        window = (
            await session.scalars(select(MaintenanceWindow).where(MaintenanceWindow.id == wid))
        ).one()
        assert window.ended_at == clock.now
        assert await in_maintenance(session, device, clock.now) is None
    (ended,) = await events(store, "maintenance.ended")
    assert ended.actor == "evaluator" and ended.data["window_id"] == wid
    # A new problem after the window is notified.
    await feed(ev, clock, [(ping, failed())], after=60)
    latest = (await alerts(store))[-1]
    assert should_notify(latest, clock.now) == (True, "")


async def test_placement_comes_from_the_device_site_and_client(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("ap1", kind="access-point")
    await _window(store, "client", inv.client_id, clock.now - 10, clock.now + 10)
    async with store.read() as session:
        window = await in_maintenance(session, inv.devices["ap1"], clock.now)
        device = await session.get(Device, inv.devices["ap1"])
    assert window is not None and window.scope == "client"
    assert device is not None
    async with store.read() as session:
        assert await in_maintenance(session, inv.devices["ap1"], clock.now + 10) is None
