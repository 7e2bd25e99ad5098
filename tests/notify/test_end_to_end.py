"""From probe results to a webhook: the real evaluator opens and resolves an alert, the notifier
sees it on the event bus, plans it and delivers the problem and the recovery."""

from __future__ import annotations

from noc.config import NotifySettings
from noc.notify.delivery import Notifier
from noc.notify.rules import parse_rules
from noc.storage import Store
from tests.alerting.conftest import Inventory, ManualClock, failed, feed, ok, started
from tests.notify.support import notifications
from tests.notify.webhook_server import WebhookServer

PING = ("ping", "icmp", {"retries": 0})


async def cycle(notifier: Notifier) -> None:
    await notifier.step()
    await notifier.drain()


async def test_a_device_going_down_and_up_is_announced_twice(
    store: Store, server: WebhookServer
) -> None:
    inv = Inventory(store)
    await inv.site(code="hq", client="acme")
    await inv.device("acme-fw", kind="firewall", checks=[PING])
    clock = ManualClock()
    evaluator = await started(store, clock)
    rules = parse_rules(
        f'[channels.oncall]\nkind = "webhook"\nurl = "{server.url()}"\n'
        '[[rules]]\nname = "down"\nmin_severity = "down"\nchannels = ["oncall"]\n',
        "rules.toml",
    )
    notifier = Notifier(store, NotifySettings(), rules=rules, clock=clock, plan_every_s=3600)
    async with notifier:
        await cycle(notifier)  # the first pass plans; nothing is open yet
        await feed(evaluator, clock, [(inv.checks["acme-fw/ping"], failed())], after=60)
        await cycle(notifier)  # the alert.opened event wakes the planner before its hour
        (problem,) = server.received
        body = problem.json()
        assert (body["event"], body["severity"], body["device"], body["client"]) == (
            "alert.opened",
            "down",
            "acme-fw",
            "acme",
        )
        await feed(evaluator, clock, [(inv.checks["acme-fw/ping"], ok(rtt=0.001))], after=60)
        await cycle(notifier)
    recovery = server.received[-1].json()
    assert (recovery["event"], recovery["alert_id"]) == ("alert.resolved", body["alert_id"])
    assert recovery["resolved_at"] == clock.now
    assert [(n.kind, n.status) for n in await notifications(store)] == [
        ("alert.opened", "sent"),
        ("alert.resolved", "sent"),
    ]
