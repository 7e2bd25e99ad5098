"""The batch writer on a thread and event loop of its own, with its own store connection.

Turning a batch into SQL costs CPU in the calling loop: SQLAlchemy builds parameters row by
row, JSON-encodes each state's values, and so on — about a tenth of a second per thousand
results on a busy 2-core machine. On the probes' loop that is a tenth of a second in which no
run starts and no reply is read, and it shows as scheduler lag. On a thread of its own, the
same work is cut by the interpreter into slices of a few milliseconds, so the probes' loop
keeps its timing. ``submit`` stays a deque append from the probes' side; nothing else crosses.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol

from noc.polling.outcome import CheckOutcome
from noc.polling.writer import ResultWriter, WriterStats
from noc.storage import Store
from noc.storage.engine import sqlite_path


class Writer(Protocol):
    """What a poller needs of its writer, wherever it runs."""

    @property
    def stats(self) -> WriterStats: ...

    def submit(self, outcome: CheckOutcome) -> None: ...

    @property
    def queued(self) -> int: ...

    async def aclose(self, grace: float = 10.0) -> None: ...

    def request_reload(self) -> None: ...


class WriterThread:
    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000, **options: Any) -> None:
        self.url = url
        self._busy_timeout_ms = busy_timeout_ms
        self._options = options
        self._writer: ResultWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._grace = 10.0
        self._thread = threading.Thread(target=self._main, name="noc-writer", daemon=True)

    @property
    def writer(self) -> ResultWriter:
        if self._writer is None:
            raise RuntimeError("the writer thread is not started")
        return self._writer

    @property
    def stats(self) -> WriterStats:
        return self.writer.stats

    @property
    def queued(self) -> int:
        return self.writer.queued

    def submit(self, outcome: CheckOutcome) -> None:
        self.writer.submit(outcome)

    def request_reload(self) -> None:
        self.writer.request_reload()  # sets a flag and wakes the loop thread-safely

    async def start(self) -> None:
        """Open the store on the writer's thread; its errors (``StoreError``) surface here."""
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        try:
            store = await Store.open(
                self.url, busy_timeout_ms=self._busy_timeout_ms, migrate_=False
            )
        except BaseException as exc:  # handed to start() in the other thread
            self._error = exc
            self._ready.set()
            return
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._writer = ResultWriter(store, **self._options)
            self._writer.start()
            self._ready.set()
            await self._stop.wait()
            await self._writer.aclose(self._grace)
        finally:
            await store.close()

    async def aclose(self, grace: float = 10.0) -> None:
        """Write what is queued (within ``grace``), close the store and end the thread."""
        if not self._thread.is_alive():
            return
        self._grace = grace
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, grace + 5.0)


async def start_writer(store: Store, *, busy_timeout_ms: int = 10_000, **options: Any) -> Writer:
    """A writer on its own thread — or, for an in-memory SQLite store that a second
    connection could not see, on the caller's loop."""
    if store.sqlite and sqlite_path(store.url) is None:
        writer = ResultWriter(store, **options)
        writer.start()
        return writer
    threaded = WriterThread(store.url, busy_timeout_ms=busy_timeout_ms, **options)
    await threaded.start()
    return threaded
