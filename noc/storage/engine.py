"""Engine creation with the per-dialect settings that keep several processes on one store.

SQLite: WAL (readers never block the writer), ``busy_timeout`` (a writer waits instead of
failing), and ``BEGIN IMMEDIATE`` for write transactions so that two writers queue on the lock
at the start rather than one failing with "database is locked" when it upgrades a read lock.
Read transactions keep the deferred ``BEGIN`` so consoles never wait behind pollers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from noc.errors import StoreError

WRITE_OPTION = "noc_write"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_engine(url: str, *, busy_timeout_ms: int = 10_000, echo: bool = False) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a long text
        raise StoreError(f"database URL {url!r} is not valid: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite(url, busy_timeout_ms, echo)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    return create_async_engine(url, **kwargs)


def _create_sqlite(url: str, busy_timeout_ms: int, echo: bool) -> AsyncEngine:
    path = sqlite_path(url)
    if path is not None and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StoreError(f"database {path}: cannot create {path.parent}: {reason}") from None
    # NullPool: each session gets its own connection, so WAL readers and the writer never share
    # one, and no pooled connection outlives a forked poller process.
    engine = create_async_engine(url, echo=echo, poolclass=NullPool)
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that our BEGIN is the one issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        if path is not None:
            cursor.execute("PRAGMA journal_mode = WAL")
            # A WAL file keeps the size of the largest transaction since the last connection
            # closed (a roll-up pass at 50,000 series: ~200 MB); past 32 MiB it is cut back.
            cursor.execute("PRAGMA journal_size_limit = 33554432")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
