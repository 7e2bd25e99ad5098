"""Parent/child suppression: a router and the 50 devices behind it fail together.

One alert, the router's, with the 50 listed under it, whatever order the results arrive in;
but a parent whose own check is disabled or UNKNOWN never silently mutes its children."""

from __future__ import annotations

from sqlalchemy import update

from noc.alerting.dependencies import DeviceNode, Evidence, Topology, Verdict, judge_path
from noc.alerting.states import State
from noc.storage import Store
from noc.storage.models import Check

from .conftest import (
    Inventory,
    ManualClock,
    alerts,
    errored,
    events,
    failed,
    feed,
    ok,
    started,
    stored_state,
)

PING = ("ping", "icmp", {"retries": 2})
CHILDREN = [f"pc{n:02d}" for n in range(50)]


async def _branch(inv: Inventory) -> tuple[int, list[int]]:
    await inv.device("core-rtr", kind="router", checks=[PING])
    await inv.devices_named(CHILDREN, kind="workstation", parent="core-rtr", checks=[PING])
    return inv.checks["core-rtr/ping"], [inv.checks[f"{c}/ping"] for c in CHILDREN]


async def test_parent_and_50_children_down_together_give_one_alert(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in [router, *children]], after=30)
    # The whole branch fails in one batch, each run having made its 3 attempts; the children
    # come first, as they might from a scheduler that finishes them first.
    await feed(ev, clock, [(c, failed(), 3) for c in [*children, router]], after=60)
    (alert,) = await alerts(store)
    assert (alert.device_id, alert.condition, alert.severity) == (
        inv.devices["core-rtr"],
        "down",
        "down",
    )
    assert alert.data["children_count"] == 50
    assert [c["name"] for c in alert.data["children"]] == CHILDREN
    assert (await stored_state(store, router)).state == "DOWN"
    for child in children:
        assert (await stored_state(store, child)).state == "UNREACHABLE"
    # Still one alert while the outage lasts.
    await feed(ev, clock, [(c, failed(), 1) for c in [router, *children]], after=60)
    assert len(await alerts(store)) == 1
    assert (await alerts(store))[0].count == 2


async def test_children_reported_before_their_parent_wait_for_its_verdict(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in [router, *children]], after=30)
    report = await feed(ev, clock, [(c, failed(), 3) for c in children], after=60)
    assert report.held == 50
    assert report.recheck == {router}, "the poller may check the router now"
    assert await alerts(store) == [], "no alert while the parent has not spoken"
    assert (await stored_state(store, children[0])).state == "DOWN"
    await feed(ev, clock, [(router, failed(), 3)], after=8)
    (alert,) = await alerts(store)
    assert alert.device_id == inv.devices["core-rtr"]
    assert alert.data["children_count"] == 50
    for child in children:
        assert (await stored_state(store, child)).state == "UNREACHABLE"
    moves = [e for e in await events(store, "check.state") if e.check_id == children[0]]
    assert [(e.data["from"], e.data["to"]) for e in moves][-2:] == [
        ("OK", "DOWN"),
        ("DOWN", "UNREACHABLE"),
    ]


async def test_children_alert_for_themselves_when_the_parent_answers(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in [router, *children]], after=30)
    await feed(ev, clock, [(c, failed(), 3) for c in children[:3]], after=60)
    assert await alerts(store) == []
    await feed(ev, clock, [(router, ok(rtt=0.001))], after=10)
    rows = await alerts(store)
    assert sorted(a.device_id for a in rows) == sorted(inv.devices[c] for c in CHILDREN[:3])


async def test_a_held_failure_alerts_when_the_parent_never_speaks(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in [router, *children]], after=30)
    await feed(ev, clock, [(children[0], failed(), 3)], after=60)
    await feed(ev, clock, [], after=119)
    assert await alerts(store) == [], "within 2 router intervals it still waits"
    await feed(ev, clock, [], after=2)
    (alert,) = [a for a in await alerts(store) if a.condition == "down"]
    assert alert.device_id == inv.devices[CHILDREN[0]]


async def test_a_disabled_parent_check_does_not_mute_the_children(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    async with store.write() as session:
        await session.execute(update(Check).where(Check.id == router).values(enabled=False))
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in children], after=30)
    await feed(ev, clock, [(c, failed(), 3) for c in children], after=60)
    rows = await alerts(store)
    assert len(rows) == 50
    assert {a.condition for a in rows} == {"down"}
    assert (await stored_state(store, children[7])).state == "DOWN"


async def test_an_unknown_parent_does_not_mute_the_children(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in children], after=30)
    await feed(ev, clock, [(router, errored("echo request not sent before the deadline"))])
    assert (await stored_state(store, router)).state == "UNKNOWN"
    await feed(ev, clock, [(c, failed(), 3) for c in children], after=60)
    down = [a for a in await alerts(store) if a.condition == "down"]
    assert len(down) == 50
    for child in children:
        assert (await stored_state(store, child)).state == "DOWN"


async def test_services_behind_a_down_router_raise_nothing(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("core-rtr", kind="router", checks=[PING])
    await inv.device("web1", parent="core-rtr", checks=[("http", "http", {"retries": 0})])
    await inv.device("db1", parent="core-rtr", checks=[PING, ("ssh", "ssh", {"retries": 0})])
    router, http = inv.checks["core-rtr/ping"], inv.checks["web1/http"]
    db_ping, db_ssh = inv.checks["db1/ping"], inv.checks["db1/ssh"]
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in (router, http, db_ping, db_ssh)])
    await feed(ev, clock, [(router, failed(), 3)], after=60)
    await feed(ev, clock, [(http, failed()), (db_ssh, failed()), (db_ping, failed(), 3)])
    (alert,) = await alerts(store)
    assert alert.check_id == router
    assert sorted(c["name"] for c in alert.data["children"]) == ["db1", "web1"]
    for cid in (http, db_ping, db_ssh):
        assert (await stored_state(store, cid)).state == "UNREACHABLE"


async def test_nested_outage_lists_everything_under_the_top_router(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("core-rtr", kind="router", checks=[PING])
    await inv.device("floor-sw", kind="switch", parent="core-rtr", checks=[PING])
    await inv.devices_named(["pc1", "pc2"], parent="floor-sw", checks=[PING])
    ids = [inv.checks[f"{n}/ping"] for n in ("pc1", "pc2", "floor-sw", "core-rtr")]
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in ids])
    await feed(ev, clock, [(c, failed(), 3) for c in ids], after=60)
    (alert,) = await alerts(store)
    assert alert.device_id == inv.devices["core-rtr"]
    assert [c["name"] for c in alert.data["children"]] == ["floor-sw", "pc1", "pc2"]


async def test_when_the_root_recovers_children_wait_for_their_own_results(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    router, children = await _branch(inv)
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in [router, *children]], after=30)
    await feed(ev, clock, [(c, failed(), 3) for c in [router, *children]], after=60)
    await feed(ev, clock, [(router, ok(rtt=0.001))], after=60)
    assert await alerts(store, open_only=True) == []
    assert (await stored_state(store, children[0])).state == "UNREACHABLE"
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in children[:49]], after=5)
    await feed(ev, clock, [(children[49], failed(), 1)], after=5)
    # pc49 was confirmed down before; with its parent back, a failure now is its own.
    (_, own) = await alerts(store)
    assert own.device_id == inv.devices[CHILDREN[49]] and own.resolved_at is None
    assert (await stored_state(store, children[0])).state == "OK"


def test_a_parent_loop_in_the_inventory_ends_the_walk() -> None:
    nodes = {
        1: DeviceNode(1, "a", 2, 1, 1, reach_check_id=None),
        2: DeviceNode(2, "b", 1, 1, 1, reach_check_id=None),
    }
    topology = Topology(nodes)
    assert [n.id for n in topology.ancestors(1)] == [2]
    assert topology.depth(1) == 1
    judged = judge_path(
        topology, 1, include_self=True, fail_since=0.0, now=1.0, lookup=lambda _: None, wait=2
    )
    assert judged.verdict is Verdict.OWN


def test_a_stale_parent_does_not_mute() -> None:
    nodes = {1: DeviceNode(1, "rtr", None, 1, 1, 10), 2: DeviceNode(2, "pc", 1, 1, 1, 20)}
    stale = Evidence(State.DOWN, True, False, 0.0, 60.0, stale=True)
    judged = judge_path(
        Topology(nodes), 2, include_self=False, fail_since=100.0, now=101.0,
        lookup=lambda cid: stale if cid == 10 else None, wait=2,
    )
    assert judged.verdict is Verdict.OWN


async def test_a_root_whose_alert_waited_lists_its_children_when_it_opens(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("isp-gw", kind="router", checks=[PING])
    await inv.device("core-rtr", kind="router", parent="isp-gw", checks=[PING])
    await inv.devices_named(["pc1", "pc2", "pc3"], parent="core-rtr", checks=[PING])
    gw, core = inv.checks["isp-gw/ping"], inv.checks["core-rtr/ping"]
    pcs = [inv.checks[f"pc{n}/ping"] for n in (1, 2, 3)]
    ev = await started(store, clock)
    await feed(ev, clock, [(c, ok(rtt=0.001)) for c in [gw, core, *pcs]], after=30)
    report = await feed(ev, clock, [(c, failed(), 3) for c in [core, *pcs]], after=60)
    assert report.recheck == {gw}, "the router waits for the gateway above it"
    assert await alerts(store) == []
    assert (await stored_state(store, pcs[0])).state == "UNREACHABLE"
    await feed(ev, clock, [(gw, ok(rtt=0.001))], after=5)
    (alert,) = await alerts(store)
    assert alert.check_id == core
    assert [c["name"] for c in alert.data["children"]] == ["pc1", "pc2", "pc3"]


def test_the_wait_for_a_rarely_polled_parent_is_capped() -> None:
    nodes = {1: DeviceNode(1, "rtr", None, 1, 1, 10), 2: DeviceNode(2, "pc", 1, 1, 1, 20)}
    quiet = Evidence(State.OK, False, False, last_answer=0.0, interval=600.0, stale=False)

    def judged(now: float, max_wait: float) -> Verdict:
        return judge_path(
            Topology(nodes), 2, include_self=False, fail_since=100.0, now=now,
            lookup=lambda cid: quiet if cid == 10 else None, wait=2, max_wait=max_wait,
        ).verdict

    assert judged(1000.0, float("inf")) is Verdict.HOLD  # 2 x 600 s would wait till 1300
    assert judged(399.0, 300.0) is Verdict.HOLD
    assert judged(401.0, 300.0) is Verdict.OWN


async def test_a_parent_polled_in_another_zone_still_explains_its_children(
    store: Store, inv: Inventory, clock: ManualClock
) -> None:
    await inv.device("core-rtr", kind="router", zone="core", checks=[PING])
    await inv.devices_named(["pc1", "pc2"], parent="core-rtr", zone="branch", checks=[PING])
    router = inv.checks["core-rtr/ping"]
    pcs = [inv.checks["pc1/ping"], inv.checks["pc2/ping"]]
    core = await started(store, clock, zone="core")
    branch = await started(store, clock, zone="branch")
    await feed(core, clock, [(router, ok(rtt=0.001))], after=30)
    await feed(branch, clock, [(c, ok(rtt=0.001)) for c in pcs])
    await feed(core, clock, [(router, failed(), 3)], after=60)
    await feed(branch, clock, [(c, failed(), 3) for c in pcs], after=2)
    (alert,) = await alerts(store)
    assert alert.check_id == router
    for cid in pcs:
        assert (await stored_state(store, cid)).state == "UNREACHABLE"
    # Each evaluator watches only its own zone for staleness.
    config = branch.config(router)
    assert config is not None and not config.owned
    await feed(branch, clock, [(c, failed(), 1) for c in pcs], after=170)
    assert [a.condition for a in await alerts(store)] == ["down"]
