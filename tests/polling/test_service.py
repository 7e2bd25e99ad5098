"""The poller as a service: it polls, notices an import, and stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from noc.config import Settings
from noc.polling.adapters import Adapters
from noc.polling.service import PollerService
from noc.storage import Store
from noc.storage.models import CheckState, Device
from tests.polling.inventory import device, seed
from tests.polling.peers import Listener, RawTcpAdapter

REPO = Path(__file__).resolve().parents[2]


async def polled_devices(store: Store) -> set[str]:
    async with store.read() as session:
        query = select(Device.name).join(CheckState, CheckState.device_id == Device.id)
        return set(await session.scalars(query))


async def test_the_service_polls_reloads_on_import_and_stops(store: Store, tmp_path: Path) -> None:
    listener = await Listener("close").start()
    checks = f'[{{ type = "tcp", port = {listener.port}, interval = "1s" }}]'
    try:
        await seed(store, tmp_path, device("first", "127.0.0.1", checks))
        adapters = Adapters(factories={})
        adapters.register(RawTcpAdapter())
        service = PollerService(
            store, Settings(), adapters=adapters, reload_every=0.05, flush_interval=0.05
        )
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        found: set[str] = set()

        async def poll_store() -> None:
            nonlocal found
            while True:
                found = await polled_devices(store)
                if found == {"first", "second"}:
                    return
                if found == {"first"} and service.reloads == 0:
                    await seed(
                        store,
                        tmp_path,
                        device("first", "127.0.0.1", checks),
                        device("second", "127.0.0.2", checks.replace("127.0.0.1", "127.0.0.2")),
                    )
                await asyncio.sleep(0.05)

        async with asyncio.timeout(10):
            await poll_store()
        assert service.reloads == 1
        stop.set()
        async with asyncio.timeout(5):
            await runner
        assert service.writer is not None
        assert service.writer.stats.lost == 0 and service.writer.stats.dropped == 0
        assert service.scheduler.stats.in_flight == 0
        assert "runs" in service.status_line()
    finally:
        await listener.close()


def test_noc_poll_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'noc.db'}"

    async def setup() -> None:
        store = await Store.open(url)
        try:
            await seed(store, tmp_path, device("box", "127.0.0.1", checks))
        finally:
            await store.close()

    checks = '[{ type = "tcp", port = 9, interval = "1s" }]'
    asyncio.run(setup())
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOC_DATABASE_URL": url}
    env.pop("NOC_CONFIG", None)
    command = [sys.executable, "-c", "import sys; from noc.cli import main; sys.exit(main())"]
    proc = subprocess.Popen(
        [*command, "poll"], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        seen: set[str] = set()

        async def watch() -> None:
            store = await Store.open(url)
            try:
                deadline = time.monotonic() + 30
                while not seen and proc.poll() is None and time.monotonic() < deadline:
                    seen.update(await polled_devices(store))
                    await asyncio.sleep(0.1)
            finally:
                await store.close()

        asyncio.run(watch())
        assert seen == {"box"}, "the poller never stored a state"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "polling 1 checks" in err and "stopped: runs" in err
    assert "Traceback" not in err
