"""Follow the event bus: catch up from the table, then wait for more.

The table is the truth: a reader always asks for ``id > last_seen``, so nothing is skipped
whatever woke it. On SQLite it polls the tail. On PostgreSQL it also LISTENs, on a dedicated
asyncpg connection (a LISTEN on a pooled connection would stay attached to whoever borrows it
next), so that a NOTIFY on ``noc_events`` wakes it at once; a ``SELECT 1`` heartbeat under a
deadline notices a server that froze without closing the socket, and a lost connection only
falls back to polling until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy.engine import make_url

from noc.storage.models import Event
from noc.storage.store import EVENTS_CHANNEL, Store

log = logging.getLogger(__name__)

CHANNEL = EVENTS_CHANNEL
BATCH = 1000


def kind_matches(kind: str, wanted: Iterable[str]) -> bool:
    """``alert`` matches ``alert.opened``; ``alert.opened`` matches only itself."""
    patterns = list(wanted)
    return not patterns or any(kind == p or kind.startswith(p.rstrip(".*") + ".") for p in patterns)


class PgWaker:
    """A LISTEN on its own connection; ``wait`` returns on a NOTIFY or after ``timeout``."""

    def __init__(self, url: str, *, heartbeat_s: float = 10.0, deadline_s: float = 5.0) -> None:
        self.url = url
        self.heartbeat_s = heartbeat_s
        self.deadline_s = deadline_s
        self._event = asyncio.Event()
        self._conn: Any = None
        self._last_beat = 0.0

    async def connect(self) -> bool:
        import asyncpg

        args = make_url(self.url).translate_connect_args(username="user")
        try:
            conn = await asyncio.wait_for(asyncpg.connect(**args), self.deadline_s)
            await conn.add_listener(CHANNEL, self._notified)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("event listener: cannot connect, polling instead: %s", exc)
            return False
        self._conn = conn
        self._last_beat = asyncio.get_running_loop().time()
        return True

    def _notified(self, *_: object) -> None:
        self._event.set()

    async def wait(self, longest: float) -> None:
        if self._conn is None and not await self.connect():
            await asyncio.sleep(longest)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), longest)
        self._event.clear()
        now = asyncio.get_running_loop().time()
        if now - self._last_beat >= self.heartbeat_s:
            self._last_beat = now
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        try:
            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.deadline_s)
        except Exception as exc:  # any failure means the same: reconnect next time
            log.warning("event listener: heartbeat failed, reconnecting: %s", exc)
            await self.close()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self.deadline_s)
            if not conn.is_closed():
                conn.terminate()


async def follow(
    store: Store,
    after_id: int,
    *,
    kinds: Iterable[str] = (),
    poll_s: float = 0.5,
    listen: bool = True,
) -> AsyncIterator[Event]:
    """Every event after ``after_id`` of the given kinds, forever (cancel to stop)."""
    wanted = list(kinds)
    waker = PgWaker(store.url) if listen and not store.sqlite else None
    last = after_id
    try:
        while True:
            batch = await store.events_after(last, BATCH)
            for event in batch:
                last = event.id
                if kind_matches(event.kind, wanted):
                    yield event
            if len(batch) == BATCH:
                continue
            if waker is not None:
                await waker.wait(poll_s)
            else:
                await asyncio.sleep(poll_s)
    finally:
        if waker is not None:
            await waker.close()
