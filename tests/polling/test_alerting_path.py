"""Probe results flow through the evaluator into alerts: the poller and alerting, end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from noc.config import Settings
from noc.polling.service import poll_once
from noc.storage import Store
from noc.storage.models import Alert, CheckState, Device, Event
from tests.polling.inventory import device, seed
from tests.support.ports import free_port


async def test_a_refused_service_raises_one_alert_across_cycles(
    store: Store, tmp_path: Path
) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    open_port = server.sockets[0].getsockname()[1]
    closed_port = free_port()
    await seed(
        store,
        tmp_path,
        device("good", "127.0.0.1", f'[{{ type = "tcp", name = "svc", port = {open_port} }}]'),
        device(
            "bad",
            "127.0.0.2",
            f'[{{ type = "tcp", name = "svc", port = {closed_port}, retries = 1 }}]',
        ),
    )
    settings = Settings()
    settings.poller.retry_delay_s = 0.01
    try:
        report = await poll_once(store, settings)
        again = await poll_once(store, settings)
    finally:
        server.close()
        await server.wait_closed()
    assert report.writer.dropped == 0 and again.writer.lost == 0
    async with store.read() as session:
        names = {d.id: d.name for d in await session.scalars(select(Device))}
        states = {names[s.device_id]: s.state for s in await session.scalars(select(CheckState))}
        alerts = list(await session.scalars(select(Alert)))
        kinds = [e.kind for e in await session.scalars(select(Event).order_by(Event.id))]
    assert states == {"good": "OK", "bad": "CRITICAL"}
    assert [(names[a.device_id], a.severity, a.count, a.resolved_at) for a in alerts] == [
        ("bad", "critical", 2, None)  # the second cycle repeats the alert, it does not add one
    ]
    assert kinds.count("alert.opened") == 1
