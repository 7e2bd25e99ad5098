"""Notifier delivery rate against a bare httpx loop, and a poller's pace while an endpoint hangs.

1. ``--rows`` pending notifications are delivered by the ``Notifier`` (claim with a lease,
   render, POST, record the attempt and its event) to a webhook server on loopback; the peer
   posts the same rendered payloads with a bare ``httpx.AsyncClient`` at the same concurrency
   and records nothing. The ratio is the price of the outbox's bookkeeping.
2. A fake poller (one store write and a 10 ms sleep per cycle) runs beside the notifier, first
   with a healthy endpoint, then with one that accepts connections and never answers; the ratio
   of the median cycle times shows whether delivery holds a poller up (1.0 means not at all).

    python bench/bench_notify.py [--rows 500] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

from noc.config import NotifySettings
from noc.notify.delivery import Notifier
from noc.notify.formats import Message, render
from noc.notify.gate import Gate
from noc.notify.rules import parse_rules
from noc.storage import EventRecord, Store
from noc.storage.models import Notification
from tests.notify.webhook_server import WebhookServer

MAX_ROWS = 5000
PHASE_LIMIT_S = 120.0
CONCURRENCY = 16


async def _open_gate(*_: object) -> Gate:
    return lambda alert, now: (True, "")


def _message(i: int) -> Message:
    return Message(
        event="alert.opened",
        severity="critical",
        condition="cpu",
        summary=f"cpu 97% on bench device {i}",
        alert_id=None,
        device=f"bench-{i}",
        client="bench",
        first_seen=time.time(),
        rule="bench",
    )


async def _queue(store: Store, rows: int) -> None:
    now = time.time()
    async with store.write() as session:
        await session.execute(
            insert(Notification),
            [
                {
                    "created_at": now,
                    "rule": "bench",
                    "channel": "hook",
                    "kind": "alert.opened",
                    "payload": _message(i).as_payload(),
                    "status": "pending",
                    "next_attempt_at": now,
                }
                for i in range(rows)
            ],
        )


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + PHASE_LIMIT_S
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {PHASE_LIMIT_S:g} s")
        await asyncio.sleep(0.05)


async def _pending(store: Store) -> int:
    async with store.read() as session:
        query = select(func.count()).where(Notification.status == "pending")
        return int(await session.scalar(query) or 0)


async def _none_pending(store: Store) -> bool:
    return await _pending(store) == 0


async def notifier_rate(store: Store, server: WebhookServer, rows: int) -> float:
    rules = parse_rules(
        f'[channels.hook]\nkind = "webhook"\nurl = "{server.url()}"\n'
        '[[rules]]\nname = "bench"\nchannels = ["hook"]\n',
        "bench",
    )
    await _queue(store, rows)
    notifier = Notifier(
        store,
        NotifySettings(),
        rules=rules,
        gate=_open_gate,
        tick_s=0.5,
        plan_every_s=3600,
        concurrency=CONCURRENCY,
        per_channel=CONCURRENCY,
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(notifier.run(stop))
    await until(lambda: _none_pending(store))
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    await notifier.close()
    return rows / elapsed


async def httpx_rate(server: WebhookServer, rows: int) -> float:
    payloads = [render("webhook", _message(i), i) for i in range(rows)]
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as http:

        async def post(i: int) -> None:
            async with limit:
                response = await http.post(
                    server.url(), content=payloads[i].content, headers=payloads[i].headers
                )
                response.raise_for_status()

        started = time.perf_counter()
        async with asyncio.timeout(PHASE_LIMIT_S):
            await asyncio.gather(*(post(i) for i in range(rows)))
        return rows / (time.perf_counter() - started)


async def poller_cycles(store: Store, cycles: int) -> list[float]:
    times = []
    for i in range(cycles):
        started = time.perf_counter()
        async with store.write() as session:
            await store.append_events(session, [EventRecord("bench.cycle", data={"i": i})])
        await asyncio.sleep(0.01)
        times.append(time.perf_counter() - started)
    return times


async def _busy(notifier: Notifier) -> bool:
    return notifier.inflight > 0


async def poller_ratio(store: Store, server: WebhookServer) -> tuple[float, float]:
    rules = parse_rules(
        f'[channels.hook]\nkind = "webhook"\nurl = "{server.url()}"\ntimeout = "5s"\n'
        '[[rules]]\nname = "bench"\nchannels = ["hook"]\n',
        "bench",
    )
    notifier = Notifier(store, NotifySettings(), rules=rules, gate=_open_gate, tick_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    async with asyncio.timeout(PHASE_LIMIT_S):
        healthy = statistics.median(await poller_cycles(store, 100))
        server.hang = True
        await _queue(store, 64)
        await until(lambda: _busy(notifier))
        hanging = statistics.median(await poller_cycles(store, 100))
    stop.set()
    await server.stop()  # lets the hanging attempts end
    await task
    await notifier.close()
    return healthy, hanging


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--db", help="database URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args(argv)
    rows = max(1, min(args.rows, MAX_ROWS))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        store = await Store.open(url)
        server = WebhookServer()
        await server.start()
        try:
            peer = await httpx_rate(server, rows)
            ours = await notifier_rate(store, server, rows)
            print(f"delivery of {rows} webhooks, concurrency {CONCURRENCY}, {store.engine.name}:")
            print(f"  bare httpx    {peer:8.0f} /s")
            print(f"  noc notifier  {ours:8.0f} /s   ratio {ours / peer:.2f}")
            healthy, hanging = await poller_ratio(store, server)
            print("fake poller cycle (store write + 10 ms sleep), median:")
            print(f"  endpoint healthy  {healthy * 1000:6.1f} ms")
            print(f"  endpoint hanging  {hanging * 1000:6.1f} ms   ratio {hanging / healthy:.2f}")
        finally:
            await server.stop()
            await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
