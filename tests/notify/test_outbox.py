"""Planning the outbox with an injected clock: escalation by age, suppression kept on record,
recoveries, and never the same (alert, rule, channel, stage) twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from noc.notify.outbox import QUEUED_EVENT, SUPPRESSED_EVENT, plan, plan_due
from noc.notify.rules import RuleSet, parse_rules
from noc.storage import Store
from noc.storage.models import Event, MaintenanceWindow, Notification
from tests.notify.support import (
    GATE,
    T0,
    Seed,
    change_alert,
    notifications,
    open_alert,
)

RULES = """\
[channels.oncall]
kind = "webhook"
url = "env:ONCALL_URL"

[channels.chat]
kind = "slack"
url = "env:CHAT_URL"

[[rules]]
name = "page"
min_severity = "critical"
after = "10m"
repeat = "30m"
channels = ["oncall"]

[[rules]]
name = "acme-chat"
clients = ["acme"]
min_severity = "warning"
channels = ["chat"]
notify_recovery = false
"""

MINUTE = 60.0


@pytest.fixture
def rules() -> RuleSet:
    return parse_rules(RULES, "rules.toml")


def summary(rows: list[Notification]) -> list[tuple[str, str, str, int, str]]:
    return [(n.rule, n.channel, n.kind, n.payload["stage"], n.status) for n in rows]


async def run(store: Store, rules: RuleSet, now: float) -> tuple[int, int]:
    report = await plan_due(store, rules, now, gate=GATE)
    return report.queued, report.suppressed


async def test_immediate_rule_and_escalation_by_age(store: Store, seed: Seed, rules: RuleSet):
    alert = await open_alert(store, seed.fw)
    assert await run(store, rules, T0) == (1, 0)  # acme-chat at once; page waits 10 minutes
    assert await run(store, rules, T0 + 9 * MINUTE) == (0, 0)
    assert await run(store, rules, T0 + 10 * MINUTE) == (1, 0)
    assert await run(store, rules, T0 + 11 * MINUTE) == (0, 0)
    assert await run(store, rules, T0 + 40 * MINUTE) == (1, 0)  # the first repeat
    assert await run(store, rules, T0 + 40 * MINUTE) == (0, 0)
    assert await run(store, rules, T0 + 160 * MINUTE) == (1, 0)  # away for a while: one, not three
    rows = await notifications(store)
    assert summary(rows) == [
        ("acme-chat", "chat", "alert.opened", 0, "pending"),
        ("page", "oncall", "alert.escalated", 0, "pending"),
        ("page", "oncall", "alert.repeated", 1, "pending"),
        ("page", "oncall", "alert.repeated", 5, "pending"),
    ]
    assert {n.alert_id for n in rows} == {alert}
    assert rows[0].payload["device"] == "acme-fw" and rows[0].payload["client"] == "acme"
    assert rows[1].next_attempt_at == T0 + 10 * MINUTE


async def test_scope_by_client_and_severity(store: Store, seed: Seed, rules: RuleSet) -> None:
    await open_alert(store, seed.gsw, condition="disk")  # globex: page only
    await open_alert(store, seed.sw, severity="warning", condition="temp")  # acme: chat only
    await open_alert(store, seed.sw, severity="unknown", condition="snmp")  # nobody
    await run(store, rules, T0 + 10 * MINUTE)
    assert {(n.payload["device"], n.rule) for n in await notifications(store)} == {
        ("globex-sw", "page"),
        ("acme-sw", "acme-chat"),
    }


async def test_each_row_is_written_with_its_event(store: Store, seed: Seed, rules: RuleSet):
    alert = await open_alert(store, seed.fw)
    await run(store, rules, T0 + 10 * MINUTE)
    async with store.read() as session:
        events = list(await session.scalars(select(Event).where(Event.kind == QUEUED_EVENT)))
    rows = await notifications(store)
    assert sorted(e.data["notification_id"] for e in events) == [n.id for n in rows]
    assert all(e.alert_id == alert and e.device_id == seed.fw for e in events)


async def test_rows_and_events_roll_back_together(store: Store, seed: Seed, rules: RuleSet):
    """Planned inside someone else's transaction (the evaluator's), nothing stays if it fails."""
    await open_alert(store, seed.fw)
    with pytest.raises(RuntimeError):
        async with store.write() as session:
            report = await plan(store, session, rules, T0 + 10 * MINUTE, gate=GATE)
            assert report.queued == 2
            raise RuntimeError("the evaluator's batch failed")
    async with store.read() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == 0
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_limited_to_the_alerts_a_batch_changed(store: Store, seed: Seed, rules: RuleSet):
    first = await open_alert(store, seed.fw)
    await open_alert(store, seed.sw)
    async with store.write() as session:
        report = await plan(store, session, rules, T0, gate=GATE, alert_ids=[first])
    assert [n.alert_id for n in report.rows] == [first]


async def test_acknowledged_alert_is_recorded_not_sent(store: Store, seed: Seed, rules: RuleSet):
    alert = await open_alert(store, seed.fw)
    await change_alert(store, alert, ack_by="bob", ack_at=T0 + MINUTE)
    assert await run(store, rules, T0 + 10 * MINUTE) == (0, 2)
    assert await run(store, rules, T0 + 20 * MINUTE) == (0, 0)  # recorded once per stage
    rows = await notifications(store)
    assert {n.status for n in rows} == {"suppressed"}
    assert all("acknowledged by bob" in n.payload["suppressed"] for n in rows)
    async with store.read() as session:
        reasons = list(
            await session.scalars(select(Event.data).where(Event.kind == SUPPRESSED_EVENT))
        )
    assert len(reasons) == 2 and all("bob" in r["reason"] for r in reasons)
    # Given back to the queue while the stage is still current: it goes out now.
    await change_alert(store, alert, ack_by=None, ack_at=None)
    assert await run(store, rules, T0 + 21 * MINUTE) == (2, 0)
    assert sorted(summary(await notifications(store))[2:]) == [
        ("acme-chat", "chat", "alert.opened", 0, "pending"),
        ("page", "oncall", "alert.escalated", 0, "pending"),
    ]


async def test_snoozed_alert_is_recorded_until_the_snooze_ends(
    store: Store, seed: Seed, rules: RuleSet
) -> None:
    alert = await open_alert(store, seed.gsw)
    await change_alert(store, alert, snoozed_until=T0 + 30 * MINUTE)
    assert await run(store, rules, T0 + 10 * MINUTE) == (0, 1)
    assert await run(store, rules, T0 + 29 * MINUTE) == (0, 0)
    assert await run(store, rules, T0 + 31 * MINUTE) == (1, 0)
    rows = await notifications(store)
    assert [n.status for n in rows] == ["suppressed", "pending"]
    assert "snoozed" in rows[0].payload["suppressed"]


async def test_maintenance_of_the_site_suppresses(store: Store, seed: Seed, rules: RuleSet):
    await open_alert(store, seed.fw)
    await open_alert(store, seed.gsw)
    async with store.write() as session:
        session.add(
            MaintenanceWindow(
                scope="site",
                scope_id=seed.hq,
                starts_at=T0 - MINUTE,
                ends_at=T0 + 60 * MINUTE,
                reason="firmware upgrade",
                created_by="bob",
            )
        )
    await run(store, rules, T0 + 10 * MINUTE)
    by_device = {(n.payload["device"], n.rule): n for n in await notifications(store)}
    assert by_device[("globex-sw", "page")].status == "pending"
    for key in (("acme-fw", "page"), ("acme-fw", "acme-chat")):
        assert by_device[key].status == "suppressed"
        assert "maintenance" in by_device[key].payload["suppressed"]
        assert "firmware upgrade" in by_device[key].payload["suppressed"]


async def test_recovery_only_where_the_problem_was_sent(store: Store, seed: Seed, rules: RuleSet):
    told = await open_alert(store, seed.gsw)
    never_told = await open_alert(store, seed.gsw, condition="disk")
    await change_alert(store, never_told, ack_by="bob")
    await run(store, rules, T0 + 10 * MINUTE)
    async with store.write() as session:  # what the notifier does after a 2xx
        await session.execute(
            update(Notification).where(Notification.status == "pending").values(status="sent")
        )
    for alert in (told, never_told):
        await change_alert(store, alert, resolved_at=T0 + 15 * MINUTE)
    assert await run(store, rules, T0 + 16 * MINUTE) == (1, 0)
    assert await run(store, rules, T0 + 17 * MINUTE) == (0, 0)
    last = (await notifications(store))[-1]
    assert (last.alert_id, last.kind, last.rule, last.status) == (
        told,
        "alert.resolved",
        "page",
        "pending",
    )
    assert last.payload["resolved_at"] == T0 + 15 * MINUTE


async def test_no_recovery_when_the_rule_says_so_or_before_the_problem_went_out(
    store: Store, seed: Seed, rules: RuleSet
) -> None:
    alert = await open_alert(store, seed.fw)
    await run(store, rules, T0 + 10 * MINUTE)
    await change_alert(store, alert, resolved_at=T0 + 12 * MINUTE)
    assert await run(store, rules, T0 + 13 * MINUTE) == (0, 0)  # problem rows still pending
    async with store.write() as session:
        await session.execute(update(Notification).values(status="sent"))
    assert await run(store, rules, T0 + 14 * MINUTE) == (1, 0)  # page only: acme-chat said no
    assert [n.rule for n in await notifications(store) if n.kind == "alert.resolved"] == ["page"]


async def test_two_planners_at_once_add_each_row_once(
    store: Store, db_url: str, seed: Seed, rules: RuleSet
) -> None:
    import asyncio

    for device in (seed.fw, seed.sw, seed.gsw):
        await open_alert(store, device)
    other = await Store.open(db_url)
    try:
        await asyncio.gather(
            *(plan_due(s, rules, T0 + 10 * MINUTE, gate=GATE) for s in (store, other, store, other))
        )
    finally:
        await other.close()
    rows = await notifications(store)
    keys = [(n.alert_id, n.rule, n.channel, n.payload["stage"]) for n in rows]
    assert len(keys) == len(set(keys)) == 5


async def test_nothing_without_rules(store: Store, seed: Seed) -> None:
    await open_alert(store, seed.fw)
    assert (await plan_due(store, RuleSet(), T0 + 3600, gate=GATE)).queued == 0
    assert await notifications(store) == []


async def test_an_alert_that_worsens_meets_the_stricter_rule(
    store: Store, seed: Seed, rules: RuleSet
) -> None:
    alert = await open_alert(store, seed.fw, severity="warning")
    assert await run(store, rules, T0 + 10 * MINUTE) == (1, 0)  # acme-chat only
    await change_alert(store, alert, severity="critical")
    assert await run(store, rules, T0 + 12 * MINUTE) == (1, 0)
    rows = await notifications(store)
    assert [(n.rule, n.kind, n.payload["severity"]) for n in rows] == [
        ("acme-chat", "alert.opened", "warning"),
        ("page", "alert.escalated", "critical"),
    ]
