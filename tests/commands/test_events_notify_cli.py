"""``noc events`` (and ``--follow`` as a real process), ``noc notifications``, ``noc notify
test`` and ``noc notify run --once`` against a real webhook server, on every backend."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import update

from noc.notify.outbox import plan_due
from noc.notify.rules import load_rules
from noc.storage import EventRecord, Store
from noc.storage.models import Notification
from tests.cli import run_noc
from tests.conftest import REPO
from tests.notify.support import GATE, T0, open_alert, seed_inventory
from tests.notify.webhook_server import WebhookServer

SECRET = "T0SECRET/B0SECRET/xoxbsecretpathtoken99"
WAIT = 30.0


@pytest.fixture
async def server() -> AsyncIterator[WebhookServer]:
    started = WebhookServer()
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def append(db_url: str, *records: EventRecord) -> None:
    async def run() -> None:
        store = await Store.open(db_url)
        try:
            async with store.write() as session:
                await store.append_events(session, records)
        finally:
            await store.close()

    asyncio.run(run())


def test_events_last_ones_and_kinds(capsys, db_url, clean_env) -> None:
    append(
        db_url,
        EventRecord("alert.opened", alert_id=1, data={"summary": "x\x1b[2Jy"}),
        EventRecord("ticket.created", ticket_id=3, actor="bob"),
        EventRecord("alert.resolved", alert_id=1),
        EventRecord("alerting.other"),
    )
    out = run_noc(capsys, "--db", db_url, "events", "--kind", "alert", "--json")
    assert out.code == 0, out.err
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [e["kind"] for e in lines] == ["alert.opened", "alert.resolved"]
    assert lines[0]["data"] == {"summary": "x\x1b[2Jy"}  # JSON carries it as it is
    text = run_noc(capsys, "--db", db_url, "events", "--limit", "3").out.splitlines()
    assert [line.split()[3] for line in text] == [
        "ticket.created",
        "alert.resolved",
        "alerting.other",
    ]
    assert "by bob ticket=3" in text[0]
    everything = run_noc(capsys, "--db", db_url, "events").out
    assert "\x1b" not in everything


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@asynccontextmanager
async def noc_process(*args: str, **env: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "noc.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(**env),
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _line(process: asyncio.subprocess.Process) -> dict[str, object]:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), WAIT)
    assert raw, "the follower ended"
    return json.loads(raw)


async def test_follow_prints_an_event_appended_after_it_started(
    store: Store, db_url: str, clean_env: Path
) -> None:
    async with store.write() as session:
        await store.append_events(session, [EventRecord("test.before")])
    async with noc_process("--db", db_url, "events", "--follow", "--json", "--limit", "1") as p:
        assert (await _line(p))["kind"] == "test.before"  # it has started and read the table
        async with store.write() as session:
            await store.append_events(
                session, [EventRecord("test.after", data={"marker": "appended later"})]
            )
        after = await _line(p)
        assert (after["kind"], after["data"]) == ("test.after", {"marker": "appended later"})


async def test_postgres_listener_wakes_at_once(store: Store) -> None:
    if store.sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    from sqlalchemy import text

    from noc.notify.tail import CHANNEL, PgWaker

    waker = PgWaker(store.url)
    try:
        assert await waker.connect()
        started = time.monotonic()
        waiting = asyncio.create_task(waker.wait(60))
        await asyncio.sleep(0.2)
        async with store.write() as session:
            await session.execute(text(f"NOTIFY {CHANNEL}"))
        await asyncio.wait_for(waiting, WAIT)
        assert time.monotonic() - started < 30  # woken, not timed out at 60
    finally:
        await waker.close()


def _rules_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(
        f'[channels.chat]\nkind = "slack"\nurl = "{url}"\n'
        '[channels.hook]\nkind = "webhook"\nurl = "env:HOOK_URL"\n'
        '[[rules]]\nname = "all"\nchannels = ["chat", "hook"]\n'
    )
    return path


def test_notifications_log_masks_urls(capsys, db_url, clean_env, monkeypatch) -> None:
    literal = f"https://hooks.slack.test/services/{SECRET}"
    rules_path = _rules_file(clean_env, literal)
    monkeypatch.setenv("NOC_NOTIFY_RULES_FILE", str(rules_path))

    async def seed() -> None:
        store = await Store.open(db_url)
        try:
            inventory = await seed_inventory(store)
            acked = await open_alert(store, inventory.fw, condition="disk")
            async with store.write() as session:
                from noc.storage.models import Alert

                await session.execute(update(Alert).where(Alert.id == acked).values(ack_by="bob"))
            await open_alert(store, inventory.gsw)
            await plan_due(store, load_rules(rules_path), T0, gate=GATE)
            async with store.write() as session:
                await session.execute(
                    update(Notification)
                    .where(Notification.status == "pending", Notification.channel == "chat")
                    .values(status="failed", attempts=12, last_error="channel chat: HTTP 500")
                )
        finally:
            await store.close()

    asyncio.run(seed())
    out = run_noc(capsys, "--db", db_url, "notifications", "--json")
    assert out.code == 0, out.err
    rows = json.loads(out.out)
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"suppressed", "failed", "pending"}
    chat = [r for r in rows if r["channel"] == "chat"]
    assert all(r["url"].startswith("https://hooks.slack.test/services/****") for r in chat)
    assert {r["url"] for r in rows if r["channel"] == "hook"} == {"env:HOOK_URL"}
    assert all("bob" in r["reason"] for r in rows if r["status"] == "suppressed")
    text = run_noc(capsys, "--db", db_url, "notifications").out
    assert "suppressed: acknowledged by bob" in text and "after 12 attempt(s)" in text
    for shown in (out.out, text):
        assert "xoxbsecretpathtoken99" not in shown and "B0SECRET" not in shown
    failed = run_noc(capsys, "--db", db_url, "notifications", "--status", "failed", "--json")
    assert [r["status"] for r in json.loads(failed.out)] == ["failed"]


async def test_notify_test_posts_and_a_failure_is_one_masked_line(
    clean_env: Path, server: WebhookServer
) -> None:
    rules_path = _rules_file(clean_env, server.url(f"/services/{SECRET}"))
    env = {"NOC_NOTIFY_RULES_FILE": str(rules_path), "HOOK_URL": server.url("/hook")}
    async with noc_process("notify", "test", "hook", **env) as p:
        out, err = await asyncio.wait_for(p.communicate(), WAIT)
    assert p.returncode == 0, err
    assert out.decode() == "channel hook (env:HOOK_URL): HTTP 200\n"
    (received,) = server.received
    body = received.json()
    assert received.path == "/hook" and body["title"] == "[TEST] noc: test notification"
    await server.stop()
    async with noc_process("notify", "test", "chat", **env) as p:
        out, err = await asyncio.wait_for(p.communicate(), WAIT)
    assert p.returncode == 2
    line = err.decode()
    assert line.startswith("noc: error: channel chat (http://127.0.0.1:") and line.count("\n") == 1
    assert "xoxbsecretpathtoken99" not in line and "/services/****" in line
    async with noc_process("notify", "test", "pager", **env) as p:
        _, err = await asyncio.wait_for(p.communicate(), WAIT)
    assert p.returncode == 2 and "no channel 'pager' (channels: chat, hook)" in err.decode()


async def test_notify_run_once_delivers_the_outbox(
    store: Store, db_url: str, clean_env: Path, server: WebhookServer
) -> None:
    rules_path = _rules_file(clean_env, server.url("/chat"))
    inventory = await seed_inventory(store)
    await open_alert(store, inventory.fw, first_seen=time.time())
    await plan_due(store, load_rules(rules_path), time.time(), gate=GATE)
    env = {"NOC_NOTIFY_RULES_FILE": str(rules_path), "HOOK_URL": server.url("/hook")}
    async with noc_process("--db", db_url, "notify", "run", "--once", **env) as p:
        out, err = await asyncio.wait_for(p.communicate(), WAIT)
    assert p.returncode == 0, err
    assert out.decode() == "2 sent, 0 failed attempts\n"
    assert sorted(server.paths()) == ["/chat", "/hook"]
