"""The evaluator end to end on the store: synthetic result sequences replayed with a manual clock
(on SQLite, and on PostgreSQL when NOC_TEST_PG_URL is set)."""

from __future__ import annotations

from sqlalchemy import event

from noc.alerting.alerts import should_notify
from noc.alerting.evaluator import Evaluator, Observation
from noc.alerting.flapping import FLAP_HIGH, flap_percent
from noc.alerting.judge import FLAPPING
from noc.storage import Store

from .conftest import (
    Inventory,
    ManualClock,
    alerts,
    errored,
    events,
    failed,
    feed,
    metrics,
    ok,
    started,
    stored_state,
)

CPU = {"cpu.used_pct": {"warning": 80.0, "critical": 90.0, "clear": 70.0}}


async def test_cpu_must_stay_above_the_level_for_its_duration(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    rule = {"cpu.used_pct": {"warning": 80.0, "critical": 90.0, "for_s": 300.0}}
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": rule})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    for _ in range(5):  # t = 0, 60, 120, 180, 240: above critical, not for 5 minutes yet
        await feed(ev, clock, [(cid, metrics(cpu__used_pct=95))], after=60)
        assert (await stored_state(store, cid)).state == "OK"
    assert await alerts(store) == []
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=95))], after=60)  # t = 300
    row = await stored_state(store, cid)
    assert row.state == "CRITICAL"
    assert "cpu.used_pct 95 >= 90 (critical for 5m)" in row.output
    (alert,) = await alerts(store)
    assert (alert.condition, alert.severity, alert.count) == ("cpu.used_pct", "critical", 1)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=96))], after=60)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=97))], after=60)
    (alert,) = await alerts(store)
    assert alert.count == 3, "repeats raise the count of the one open alert"
    assert alert.last_seen == clock.now
    assert len(await events(store, "alert.opened")) == 1


async def test_hysteresis_returns_to_ok_only_past_the_clear_level(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": CPU})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=85))], after=60)
    assert (await stored_state(store, cid)).state == "WARNING"
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=75))], after=60)
    row = await stored_state(store, cid)
    assert row.state == "WARNING", "below warning but not yet below clear"
    assert "until < 70" in row.output
    assert len(await alerts(store, open_only=True)) == 1
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=69))], after=60)
    assert (await stored_state(store, cid)).state == "OK"
    assert await alerts(store, open_only=True) == []
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=75))], after=60)
    assert (await stored_state(store, cid)).state == "OK", "75 from OK is no problem"


async def test_severity_changes_are_recorded_on_the_same_alert(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": CPU})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=85))], after=60)
    t_crit = clock.now + 60
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=95))], after=60)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=85))], after=60)
    (alert,) = await alerts(store)
    assert alert.severity == "warning" and alert.count == 3
    assert [(h["from"], h["to"]) for h in alert.data["history"]] == [
        ("warning", "critical"),
        ("critical", "warning"),
    ]
    assert alert.data["history"][0]["ts"] == t_crit
    changes = await events(store, "alert.severity")
    assert [(e.data["from"], e.data["to"], e.alert_id) for e in changes] == [
        ("warning", "critical", alert.id),
        ("critical", "warning", alert.id),
    ]


async def test_down_only_after_the_retries_fail(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[("ping", "icmp", {"retries": 2})])
    cid = inv.checks["srv/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=60)
    # The scheduler reports each attempt on its own: attempts 1 and 2 are soft failures.
    await feed(ev, clock, [(cid, failed(), 1)], after=60)
    row = await stored_state(store, cid)
    assert (row.state, row.attempts) == ("OK", 1)
    assert "attempt 1 of 3" in row.output
    await feed(ev, clock, [(cid, failed(), 1)], after=5)
    assert (await stored_state(store, cid)).state == "OK"
    assert await alerts(store) == []
    await feed(ev, clock, [(cid, failed(), 1)], after=5)
    row = await stored_state(store, cid)
    assert (row.state, row.attempts) == ("DOWN", 3)
    (alert,) = await alerts(store)
    assert (alert.condition, alert.severity) == ("down", "down")
    # Once DOWN, the scheduler's single-attempt runs keep it DOWN and repeat the alert.
    await feed(ev, clock, [(cid, failed(), 1)], after=60)
    assert (await alerts(store))[0].count == 2


async def test_a_run_that_made_all_its_attempts_is_down_at_once(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[("ping", "icmp", {"retries": 2})])
    cid = inv.checks["srv/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed(), 2)], after=60)
    assert (await stored_state(store, cid)).state == "UNKNOWN", "2 of 3 attempts: not yet"
    await feed(ev, clock, [(cid, ok(rtt=0.002))], after=60)
    assert (await stored_state(store, cid)).attempts == 0, "an answer forgets soft failures"
    await feed(ev, clock, [(cid, failed(), 3)], after=60)
    assert (await stored_state(store, cid)).state == "DOWN"
    assert len(await alerts(store)) == 1


async def test_service_failure_is_critical_not_down(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("web1", checks=[("http", "http", {"retries": 0})])
    cid = inv.checks["web1/http"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed("connection refused"))], after=60)
    row = await stored_state(store, cid)
    assert (row.state, row.output) == ("CRITICAL", "connection refused")
    (alert,) = await alerts(store)
    assert (alert.condition, alert.severity) == ("failed", "critical")


async def test_recovery_needs_consecutive_good_results(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    params = {"retries": 0, "params": {"recover_after": 3}}
    await inv.device("srv", checks=[("ping", "icmp", params)])
    cid = inv.checks["srv/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed())], after=60)
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=60)
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=60)
    assert len(await alerts(store, open_only=True)) == 1, "2 of 3 good results"
    await feed(ev, clock, [(cid, errored("rate limited"))], after=60)  # proves nothing
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=60)
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=60)
    down = [a for a in await alerts(store) if a.condition == "down"]
    assert down[0].resolved_at is None, "the error restarted the count"
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=60)
    down = [a for a in await alerts(store) if a.condition == "down"]
    assert down[0].resolved_at == clock.now
    assert down[0].data["resolved_by"] == "3 good results in a row"
    (resolved,) = [e for e in await events(store, "alert.resolved") if e.alert_id == down[0].id]
    assert resolved.data["why"] == "3 good results in a row"


async def test_stale_data_is_unknown_and_resolves_nothing(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[("ping", "icmp", {"retries": 0})])
    await inv.device("db", checks=[("ping", "icmp", {"retries": 0})])
    cid, other = inv.checks["srv/ping"], inv.checks["db/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, failed()), (other, ok(rtt=0.001))], after=60)
    (down,) = await alerts(store)
    await feed(ev, clock, [(other, ok(rtt=0.001))], after=170)
    assert (await stored_state(store, cid)).state == "DOWN", "170 s is under 3 intervals"
    await feed(ev, clock, [(other, ok(rtt=0.001))], after=20)
    row = await stored_state(store, cid)
    assert row.state == "UNKNOWN"
    assert row.output == "no result for 190 s (expected every 60 s)"
    by_condition = {a.condition: a for a in await alerts(store, open_only=True)}
    assert by_condition["down"].id == down.id, "stale data never resolves an open alert"
    stale = by_condition["stale"]
    assert (stale.device_id, stale.check_id, stale.severity) == (None, None, "unknown")
    assert stale.data["checks"] == [{"id": cid, "label": "srv/ping"}]
    # Many stale checks still make one alert, and fresh results resolve it.
    await feed(ev, clock, [(cid, ok(rtt=0.001)), (other, ok(rtt=0.001))], after=60)
    assert await alerts(store, open_only=True) == []
    assert len([a for a in await alerts(store) if a.condition == "stale"]) == 1


async def test_an_empty_batch_is_a_tick_for_staleness(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[("ping", "icmp")])
    cid = inv.checks["srv/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, ok(rtt=0.001))], after=1)
    await feed(ev, clock, [], after=181)
    assert (await stored_state(store, cid)).state == "UNKNOWN"
    changes = await events(store, "check.state")
    assert [(e.data["from"], e.data["to"]) for e in changes] == [(None, "OK"), ("OK", "UNKNOWN")]


async def test_failed_or_erroring_probes_never_resolve_a_threshold_alert(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("web1", checks=[("ssh", "ssh", {"thresholds": CPU, "retries": 0})])
    cid = inv.checks["web1/ssh"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=95))], after=60)
    await feed(ev, clock, [(cid, errored("host key changed"))], after=60)
    await feed(ev, clock, [(cid, failed("connection timed out"))], after=60)
    opened = {a.condition: a for a in await alerts(store, open_only=True)}
    assert set(opened) == {"cpu.used_pct", "unknown", "failed"}
    assert opened["unknown"].summary == "host key changed"
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=10))], after=60)
    assert await alerts(store, open_only=True) == []


async def test_bad_thresholds_make_the_check_unknown_with_a_reason(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    bad = {"cpu.used_pct": {"warning": 95.0, "critical": 90.0}}
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": bad})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=10))], after=60)
    row = await stored_state(store, cid)
    assert row.state == "UNKNOWN"
    assert row.output == (
        "check web1/snmp: thresholds.cpu.used_pct: warning 95 is past critical 90"
    )
    (alert,) = await alerts(store)
    assert alert.condition == "unknown"


async def test_a_metric_the_check_set_a_rule_for_must_be_reported(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    rule = {"mem.used_pct": {"warning": 90.0}}
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": rule})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=10))], after=60)
    assert (await stored_state(store, cid)).output == "mem.used_pct not reported"
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=10, mem__used_pct=20))], after=60)
    assert (await stored_state(store, cid)).state == "OK"
    assert await alerts(store, open_only=True) == []


async def test_default_thresholds_apply_by_device_kind(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("files", kind="nas", checks=[("snmp", "snmp")])
    cid = inv.checks["files/snmp"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, metrics(**{"fs./data.used_pct": 97.0}))], after=60)
    (alert,) = await alerts(store)
    assert (alert.condition, alert.severity) == ("fs./data.used_pct", "critical")


async def test_a_flapping_check_raises_one_flapping_alert_and_holds_the_rest(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    rule = {"cpu.used_pct": {"critical": 90.0}}
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": rule})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    states: list[str] = []
    started_at = None
    for i in range(30):
        value = 95 if i % 2 else 10
        await feed(ev, clock, [(cid, metrics(cpu__used_pct=value))], after=60)
        states.append("CRITICAL" if value == 95 else "OK")
        memo = ev.memo(cid)
        assert memo is not None
        if memo.flapping and started_at is None:
            started_at = i
    # It starts on the first result whose weighted percentage exceeds 30 %: the 7th (6 changes).
    assert started_at == 6
    assert flap_percent(states[:6]) <= FLAP_HIGH < flap_percent(states[:7])
    cpu = [a for a in await alerts(store) if a.condition == "cpu.used_pct"]
    assert len(cpu) == 3, "results 2, 4 and 6 opened alerts; nothing opened while flapping"
    (flap,) = [a for a in await alerts(store) if a.condition == FLAPPING]
    assert flap.resolved_at is None and flap.count == 30 - started_at
    held = cpu[-1]
    assert held.resolved_at is None and held.data["flapping"] is True
    assert should_notify(held, clock.now) == (
        False,
        "the check is flapping: its flapping alert stands for this one",
    )
    assert should_notify(flap, clock.now) == (True, "")
    (start,) = await events(store, "alert.flapping")
    assert start.data["flapping"] is True and start.alert_id == flap.id
    # Steady results: the percentage decays and flapping stops at 25 % or under.
    for _ in range(21):
        await feed(ev, clock, [(cid, metrics(cpu__used_pct=10))], after=60)
        memo = ev.memo(cid)
        assert memo is not None
        if not memo.flapping:
            break
    assert memo.flap_pct <= 25.0
    assert await alerts(store, open_only=True) == [], "flapping and the held alert both end"
    stop = (await events(store, "alert.flapping"))[-1]
    assert stop.data["flapping"] is False
    assert (await stored_state(store, cid)).flapping is False


async def test_every_state_change_and_alert_change_is_an_event(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": CPU})])
    cid = inv.checks["web1/snmp"]
    ev = await started(store, clock)
    for value in (10, 85, 85, 95, 10):
        await feed(ev, clock, [(cid, metrics(cpu__used_pct=value))], after=60)
    kinds = [e.kind for e in await events(store)]
    assert kinds == [
        "check.state",  # None -> OK
        "check.state",  # OK -> WARNING
        "alert.opened",
        "check.state",  # WARNING -> CRITICAL
        "alert.severity",
        "check.state",  # CRITICAL -> OK
        "alert.resolved",
    ]
    opened = (await events(store, "alert.opened"))[0]
    assert opened.data["device"] == "web1" and opened.data["check"] == "snmp"
    assert opened.device_id == inv.devices["web1"] and opened.check_id == cid


async def test_a_restart_keeps_states_alerts_and_hysteresis(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("web1", checks=[("snmp", "snmp", {"thresholds": CPU})])
    await inv.device("srv", checks=[("ping", "icmp", {"retries": 0})])
    cpu, ping = inv.checks["web1/snmp"], inv.checks["srv/ping"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cpu, metrics(cpu__used_pct=85)), (ping, failed())], after=60)
    before = {a.condition: a.id for a in await alerts(store)}

    again = await started(store, clock)
    memo = again.memo(ping)
    assert memo is not None and memo.state.value == "DOWN" and memo.failure
    assert len(memo.history) == 1
    await feed(again, clock, [(cpu, metrics(cpu__used_pct=75)), (ping, failed())], after=60)
    rows = await alerts(store)
    assert {a.condition: a.id for a in rows} == before, "no duplicate alerts after a restart"
    assert all(a.resolved_at is None for a in rows), "75 is above clear 70: still WARNING"
    assert (await stored_state(store, cpu)).state == "WARNING"
    await feed(again, clock, [(cpu, metrics(cpu__used_pct=60)), (ping, ok(rtt=0.001))], after=60)
    assert await alerts(store, open_only=True) == []


async def test_a_check_added_after_start_is_learned_and_a_removed_one_resolves(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[("ping", "icmp", {"retries": 0})])
    ev = await started(store, clock)
    await inv.device("new", checks=[("ping", "icmp", {"retries": 0})])
    fresh = inv.checks["new/ping"]
    await feed(ev, clock, [(fresh, failed())], after=60)
    (alert,) = await alerts(store)
    assert alert.check_id == fresh
    async with store.write() as session:
        from noc.storage.models import Check

        check = await session.get(Check, fresh)
        assert check is not None
        check.enabled = False
    await ev.reload()
    report = await feed(ev, clock, [(fresh, failed())], after=60)
    assert report.orphans == 1
    (alert,) = await alerts(store)
    assert alert.resolved_at is not None
    assert alert.data["resolved_by"] == "the check was removed or disabled"


async def test_two_results_of_one_check_in_one_batch_are_both_judged(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("srv", checks=[("ping", "icmp", {"retries": 0})])
    cid = inv.checks["srv/ping"]
    ev = await started(store, clock)
    t = clock.advance(60)
    await ev.process(
        [
            Observation(cid, failed(), 1, t),
            Observation(cid, ok(rtt=0.001), 1, t + 30),
            Observation(cid, failed(), 1, t + 60),
        ]
    )
    rows = await alerts(store)
    assert [(a.resolved_at is None) for a in rows] == [False, True]
    assert rows[0].resolved_at == t + 30
    resolved = await events(store, "alert.resolved")
    assert [e.alert_id for e in resolved] == [rows[0].id]


async def test_a_batch_costs_the_same_statements_for_50_or_250_checks(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    names = [f"d{n}" for n in range(300)]
    await inv.devices_named(names, checks=[("ping", "icmp", {"retries": 0})])
    ids = [inv.checks[f"d{n}/ping"] for n in range(300)]
    ev = await started(store, clock)
    counted: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        counted.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        await feed(ev, clock, [(cid, failed()) for cid in ids[:50]], after=60)
        small = len(counted)
        counted.clear()
        await feed(ev, clock, [(cid, failed()) for cid in ids[50:]], after=60)
        large = len(counted)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert large == small, f"{small} statements for 50 checks, {large} for 250"
    assert large <= 10
    assert len(await alerts(store, open_only=True)) == 300


async def test_start_is_required(store: Store, clock: ManualClock) -> None:
    ev = Evaluator(store, clock=clock)
    try:
        await ev.process([])
    except RuntimeError as exc:
        assert "start()" in str(exc)
    else:
        raise AssertionError("process() before start() must fail")


async def test_a_passing_error_shows_unknown_but_raises_nothing(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("sw1", kind="switch", checks=[("snmp", "snmp", {"retries": 2})])
    cid = inv.checks["sw1/snmp"]
    ev = await started(store, clock)
    await feed(ev, clock, [(cid, errored("agent busy"))], after=60)
    assert (await stored_state(store, cid)).state == "UNKNOWN"
    await feed(ev, clock, [(cid, metrics(cpu__used_pct=5))], after=60)
    await feed(ev, clock, [(cid, errored("agent busy"))], after=60)
    await feed(ev, clock, [(cid, errored("agent busy"))], after=60)
    assert await alerts(store) == [], "2 errors in a row, 3 needed with 2 retries"
    await feed(ev, clock, [(cid, errored("authentication failed"))], after=60)
    (alert,) = await alerts(store)
    assert (alert.condition, alert.summary) == ("unknown", "authentication failed")
