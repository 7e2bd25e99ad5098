"""The notifier against real HTTP servers on loopback: every format, an endpoint that goes away
and comes back, one that hangs, and secrets that never show."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

from noc.config import NotifySettings
from noc.notify.delivery import Notifier
from noc.notify.outbox import FAILED_EVENT, SENT_EVENT, plan_due
from noc.notify.rules import RuleSet, parse_rules
from noc.storage import EventRecord, Store
from noc.storage.models import Event, Notification
from tests.notify.support import Seed, notifications, open_alert, open_gate_loader
from tests.notify.webhook_server import WebhookServer

TOKEN = "Bearer s3cr3t-t0ken-value-1234"
PATH_SECRET = "T0SECRET/B0SECRET/xoxbsecretpathtoken99"
FAST = NotifySettings(max_attempts=50, backoff_s=0.05, backoff_max_s=0.2)
GATE = open_gate_loader()


def rules_for(
    server: WebhookServer, kinds: tuple[str, ...] = ("webhook",), timeout: str = "5s"
) -> RuleSet:
    channels = "".join(
        f'[channels.{k}]\nkind = "{k}"\nurl = "{server.url("/" + k)}"\ntimeout = "{timeout}"\n'
        for k in kinds
    )
    names = ", ".join(f'"{k}"' for k in kinds)
    return parse_rules(
        channels + f'[[rules]]\nname = "all"\nmin_severity = "warning"\nchannels = [{names}]\n',
        "rules.toml",
    )


async def until(condition: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[Notifier]:
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        yield notifier
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await notifier.close()


def notifier(store: Store, rules: RuleSet, **kwargs: object) -> Notifier:
    options: dict[str, object] = {"gate": GATE, "tick_s": 0.05, "plan_every_s": 0.05}
    options.update(kwargs)
    return Notifier(store, FAST, rules=rules, **options)  # type: ignore[arg-type]


async def statuses(store: Store) -> list[str]:
    return [n.status for n in await notifications(store)]


async def events(store: Store, *kinds: str) -> list[Event]:
    async with store.read() as session:
        return list(
            await session.scalars(select(Event).where(Event.kind.in_(kinds)).order_by(Event.id))
        )


async def test_every_kind_arrives_in_its_format(store: Store, seed: Seed, server: WebhookServer):
    rules = parse_rules(
        "\n".join(
            f'[channels.{k}]\nkind = "{k}"\nurl = "env:HOOK_{k.upper()}"\n'
            f'headers = {{ Authorization = "env:TOKEN" }}'
            for k in ("webhook", "slack", "teams", "ntfy")
        )
        + '\n[[rules]]\nname = "all"\nchannels = ["webhook", "slack", "teams", "ntfy"]\n',
        "rules.toml",
    )
    environ = {f"HOOK_{k.upper()}": server.url(f"/{k}") for k in rules.channels}
    environ["TOKEN"] = TOKEN
    alert = await open_alert(store, seed.fw, summary="<b>&</b> *x*", first_seen=time.time())
    async with running(notifier(store, rules, environ=environ)) as n:
        await until(lambda: _all(store, "sent", 4))
    by_path = {r.path: r for r in server.received}
    assert sorted(by_path) == ["/ntfy", "/slack", "/teams", "/webhook"]
    assert all(r.headers["authorization"] == TOKEN for r in server.received)
    assert by_path["/webhook"].json()["alert_id"] == alert
    assert by_path["/webhook"].json()["summary"] == "<b>&</b> *x*"
    slack = by_path["/slack"].json()
    assert "&lt;b&gt;&amp;&lt;/b&gt; *x*" in slack["blocks"][1]["text"]["text"]
    teams = by_path["/teams"].json()["attachments"][0]["content"]
    assert teams["type"] == "AdaptiveCard"
    ntfy = by_path["/ntfy"]
    assert ntfy.headers["title"] == "[CRITICAL] acme-fw: cpu"
    assert ntfy.headers["priority"] == "high"
    assert b"<b>&</b> *x*" in ntfy.body
    ids = sorted(int(r.headers["x-noc-notification"]) for r in server.received)
    assert ids == [row.id for row in await notifications(store)]
    sent = await events(store, SENT_EVENT)
    assert [e.data["detail"] for e in sent] == ["HTTP 200"] * 4
    assert n.counts.sent == 4 and n.counts.failed == 0


async def _all(store: Store, status: str, count: int) -> bool:
    found = await statuses(store)
    return len(found) == count and set(found) == {status}


async def test_endpoint_down_then_back_delivers_everything(
    store: Store, seed: Seed, server: WebhookServer
) -> None:
    """At least once, none lost: rows queued while the endpoint is gone are retried with
    backoff and all arrive once it is back; every attempt is an event."""
    rules = rules_for(server)
    async with running(notifier(store, rules)):
        await open_alert(store, seed.fw, first_seen=time.time())
        await until(lambda: _all(store, "sent", 1))
        await server.stop()  # killed mid-run
        for device in (seed.sw, seed.gsw):
            for condition in ("cpu", "disk"):
                await open_alert(store, device, condition=condition, first_seen=time.time())

        async def retried() -> bool:
            rows = await notifications(store)
            return len(rows) == 5 and all(r.attempts >= 2 for r in rows if r.status != "sent")

        await until(retried)
        assert (await statuses(store)).count("pending") == 4
        await server.start()  # the same port again
        await until(lambda: _all(store, "sent", 5))
    rows = await notifications(store)
    assert set(server.ids()) == {r.id for r in rows}  # none lost (a repeat would be allowed)
    failed = await events(store, FAILED_EVENT)
    sent = await events(store, SENT_EVENT)
    assert len(sent) == 5
    for row in rows:  # the attempts counted on the row are the attempts in the log
        tries = [e for e in failed if e.data["notification_id"] == row.id]
        assert row.attempts == len(tries) + 1
        assert all(e.data["retry_at"] is not None for e in tries)
    assert sum(r.attempts for r in rows) >= 1 + 4 * 2
    assert all("ConnectError" in e.data["detail"] for e in failed)


async def test_a_hanging_endpoint_delays_only_its_own_rows(
    store: Store, seed: Seed, server: WebhookServer, other_server: WebhookServer
) -> None:
    server.hang = True
    rules = parse_rules(
        f'[channels.slow]\nkind = "webhook"\nurl = "{server.url()}"\ntimeout = "3s"\n'
        f'[channels.fast]\nkind = "webhook"\nurl = "{other_server.url()}"\n'
        '[[rules]]\nname = "slow"\nchannels = ["slow"]\n'
        '[[rules]]\nname = "fast"\nclients = ["globex"]\nchannels = ["fast"]\n',
        "rules.toml",
    )
    for condition in ("cpu", "disk", "mem"):
        await open_alert(store, seed.fw, condition=condition, first_seen=time.time())
    await plan_due(store, rules, time.time(), gate=GATE)
    async with running(notifier(store, rules, per_channel=2)) as n:
        await until(lambda: _inflight(n, 2))
        await open_alert(store, seed.gsw, first_seen=time.time())
        await other_server.arrived.wait()
        rows = {r.channel: r for r in await notifications(store)}
        await until(lambda: _all_channel(store, "fast", "sent"))
        slow = [r for r in await notifications(store) if r.channel == "slow"]
        assert all(r.attempts == 0 for r in slow)  # still waiting on the hanging endpoint
        assert rows["fast"].channel == "fast"
        assert n.inflight <= 2  # the slow channel never had more than its share


async def _inflight(n: Notifier, count: int) -> bool:
    return n.inflight >= count


async def _all_channel(store: Store, channel: str, status: str) -> bool:
    rows = [r for r in await notifications(store) if r.channel == channel]
    return bool(rows) and all(r.status == status for r in rows)


async def test_poller_cycle_unchanged_while_the_endpoint_hangs(
    store: Store, seed: Seed, server: WebhookServer
) -> None:
    """A fake poller (a store write and a short sleep per cycle) keeps its pace while the
    notifier's endpoint accepts connections and never answers."""
    rules = rules_for(server, timeout="2s")

    async def poller(cycles: int) -> list[float]:
        times = []
        for i in range(cycles):
            start = time.perf_counter()
            async with store.write() as session:
                await store.append_events(session, [EventRecord("poll.cycle", data={"i": i})])
            await asyncio.sleep(0.01)
            times.append(time.perf_counter() - start)
        return times

    async with running(notifier(store, rules, per_channel=8)) as n:
        baseline = await poller(40)
        server.hang = True
        for i in range(12):
            await open_alert(store, seed.gsw, condition=f"c{i}", first_seen=time.time())
        await until(lambda: _inflight(n, 8))
        down = await poller(40)
        assert n.inflight >= 1  # the endpoint was hanging for the whole measurement
        server.hang = False
    print(
        f"poller cycle median: healthy {statistics.median(baseline) * 1000:.1f} ms, "
        f"endpoint hanging {statistics.median(down) * 1000:.1f} ms; "
        f"max {max(baseline) * 1000:.1f} / {max(down) * 1000:.1f} ms"
    )
    # A notifier that blocked the loop, or a poller that waited on it, would take the 2 s
    # timeout; generous bounds so that a busy machine does not fail a correct design.
    assert max(down) < 1.0
    assert statistics.median(down) < 3 * statistics.median(baseline) + 0.05


async def test_refused_requests_are_not_retried_and_attempts_are_bounded(
    store: Store, seed: Seed, server: WebhookServer
) -> None:
    settings = NotifySettings(max_attempts=3, backoff_s=0.02, backoff_max_s=0.05)
    rules = rules_for(server)
    first = await open_alert(store, seed.fw, condition="a", first_seen=time.time())
    server.statuses.extend([404])
    await plan_due(store, rules, time.time(), gate=GATE)
    n = Notifier(store, settings, rules=rules, gate=GATE, tick_s=0.02, plan_every_s=3600)
    async with running(n):
        await until(lambda: _all(store, "failed", 1))
        server.statuses.extend([503, 503, 503])
        await open_alert(store, seed.fw, condition="b", first_seen=time.time())
        await plan_due(store, rules, time.time(), gate=GATE)
        await until(lambda: _all(store, "failed", 2))
        server.statuses.extend([503])
        await open_alert(store, seed.fw, condition="c", first_seen=time.time())
        await plan_due(store, rules, time.time(), gate=GATE)
        await until(lambda: _count(store, "sent", 1))
    rows = {r.payload["condition"]: r for r in await notifications(store)}
    assert rows["a"].alert_id == first
    assert (rows["a"].attempts, rows["a"].status) == (1, "failed")
    assert "HTTP 404 (not retried" in rows["a"].last_error
    assert (rows["b"].attempts, rows["b"].status) == (3, "failed")
    assert (rows["c"].attempts, rows["c"].status) == (2, "sent")
    assert rows["c"].delivered_at is not None and rows["c"].last_error == ""


async def _count(store: Store, status: str, count: int) -> bool:
    return (await statuses(store)).count(status) == count


async def test_secrets_never_reach_events_rows_or_logs(
    store: Store, seed: Seed, server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await server.stop()  # every attempt fails, with the URL in hand
    url = server.url(f"/services/{PATH_SECRET}") + "?token=querysecret777"
    rules = parse_rules(
        f'[channels.chat]\nkind = "slack"\nurl = "{url}"\n'
        'headers = { Authorization = "env:TOKEN" }\n'
        '[[rules]]\nname = "all"\nchannels = ["chat"]\n',
        "rules.toml",
    )
    await open_alert(store, seed.fw, first_seen=time.time())
    n = notifier(store, rules, environ={"TOKEN": TOKEN})
    async with running(n):
        await until(lambda: _attempted(store, 3))
    async with store.read() as session:
        everything = json.dumps([e.data for e in await session.scalars(select(Event))])
        everything += json.dumps(
            [(r.last_error, r.payload) for r in await session.scalars(select(Notification))]
        )
    everything += caplog.text
    for secret in ("T0SECRET", "xoxbsecretpathtoken99", "querysecret777", "s3cr3t-t0ken"):
        assert secret not in everything
    assert "****" in everything and "channel chat" in everything


async def _attempted(store: Store, count: int) -> bool:
    rows = await notifications(store)
    return bool(rows) and rows[0].attempts >= count


async def test_a_worker_that_died_mid_attempt_leaves_the_row_due_again(
    store: Store, seed: Seed, server: WebhookServer
) -> None:
    """The lease: a claimed row whose worker never reports is due again after it runs out."""
    from noc.notify.outbox import claim

    rules = rules_for(server)
    await open_alert(store, seed.fw, first_seen=time.time())
    now = time.time()
    await plan_due(store, rules, now, gate=GATE)
    taken = await claim(store, now, limit=10, room=lambda c: 10, lease_s=60)
    assert len(taken) == 1
    assert await claim(store, now + 59, limit=10, room=lambda c: 10, lease_s=60) == []
    again = await claim(store, now + 61, limit=10, room=lambda c: 10, lease_s=60)
    assert [c.id for c in again] == [taken[0].id]


class Broken:
    """A sender with a bug: the notifier must count it as a failed attempt, not loop."""

    async def send(self, row: object, rules: RuleSet) -> str:
        raise KeyError("https://hooks.test/services/leakedsecret123")


async def test_a_sender_bug_costs_attempts_and_leaks_nothing(
    store: Store, seed: Seed, server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    rules = rules_for(server)
    await open_alert(store, seed.fw, first_seen=time.time())
    settings = NotifySettings(max_attempts=2, backoff_s=0.01, backoff_max_s=0.02)
    n = Notifier(
        store, settings, rules=rules, gate=GATE, tick_s=0.02, senders={"webhook": Broken()}
    )
    async with running(n):
        await until(lambda: _all(store, "failed", 1))
    (row,) = await notifications(store)
    assert row.attempts == 2
    assert row.last_error == "channel webhook: unexpected KeyError (see the notifier's log)"
    assert "leakedsecret123" not in caplog.text
