"""One batch of evaluation into the store: a fixed number of statements, whatever its size.

Check states are one multi-row upsert, new alerts one multi-row insert that returns their ids,
changed alerts at most two
``executemany`` updates by primary key (the light one touches only the counters and the
summary), and the events one insert.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from noc.alerting.alerts import AlertMemo, AlertTxn, Slot
from noc.storage.jsoncol import json_safe
from noc.storage.models import Alert, CheckState
from noc.storage.store import EventRecord, Store

STATE_COLUMNS = (
    "device_id",
    "state",
    "since",
    "last_ts",
    "attempts",
    "output",
    "values",
    "flapping",
    "history",
)


async def upsert_states(
    store: Store, session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> None:
    if not rows:
        return
    table = (sqlite_insert if store.sqlite else pg_insert)(CheckState)
    statement = table.on_conflict_do_update(
        index_elements=[CheckState.check_id],
        set_={column: table.excluded[column] for column in STATE_COLUMNS},
    )
    await session.execute(statement, list(rows))


def _row(memo: AlertMemo) -> dict[str, Any]:
    return {
        "dedup_key": memo.key,
        "device_id": memo.device_id,
        "check_id": memo.check_id,
        "condition": memo.condition,
        "severity": memo.severity,
        "summary": memo.summary,
        "first_seen": memo.first_seen,
        "last_seen": memo.last_seen,
        "count": memo.count,
        "data": json_safe(memo.data),
        "resolved_at": memo.resolved_at,
    }


def _signature(memo: AlertMemo) -> tuple[str, float, float | None]:
    return memo.key, memo.first_seen, memo.resolved_at


async def _insert(session: AsyncSession, slots: Sequence[Slot]) -> None:
    """Insert new alerts and give each slot its id.

    The ids come back from one multi-row ``INSERT ... RETURNING`` matched on (key, first
    seen, resolved at): asking SQLAlchemy to return them in parameter order instead costs one
    statement per row on SQLite. Two new rows alike in all three (a key opened, resolved and
    opened again at the same instant) are inserted one by one.
    """
    alike = Counter(_signature(s.memo) for s in slots)
    bulk = [s for s in slots if alike[_signature(s.memo)] == 1]
    if bulk:
        result = await session.execute(
            insert(Alert).returning(Alert.id, Alert.dedup_key, Alert.first_seen, Alert.resolved_at),
            [_row(s.memo) for s in bulk],
        )
        ids = {(key, first, resolved): int(i) for i, key, first, resolved in result}
        for slot in bulk:
            slot.id = ids[_signature(slot.memo)]
    for slot in slots:
        if alike[_signature(slot.memo)] > 1:
            inserted = await session.execute(
                insert(Alert).values(**_row(slot.memo)).returning(Alert.id)
            )
            slot.id = int(inserted.scalar_one())


async def write_alerts(session: AsyncSession, txn: AlertTxn) -> None:
    """Insert the new alerts (their slots get their ids) and update the changed ones."""
    slots = txn.all_slots()
    new = [s for s in slots if s.write == "new"]
    if new:
        await _insert(session, new)
    light = [
        {
            "id": s.id,
            "count": s.memo.count,
            "last_seen": s.memo.last_seen,
            "summary": s.memo.summary,
        }
        for s in slots
        if s.write == "light"
    ]
    full = [
        {
            "id": s.id,
            "count": s.memo.count,
            "last_seen": s.memo.last_seen,
            "summary": s.memo.summary,
            "severity": s.memo.severity,
            "data": json_safe(s.memo.data),
            "resolved_at": s.memo.resolved_at,
        }
        for s in slots
        if s.write == "full"
    ]
    for rows in (light, full):
        if rows:
            await session.execute(update(Alert), rows)


def alert_events(txn: AlertTxn) -> list[EventRecord]:
    """The batch's events with the alert ids filled in (call after ``write_alerts``).

    Check state changes come first, then the alert events, each in the order they happened.
    ``Store.append_events`` sends consecutive rows of the same shape as one ``executemany``
    (the ORM leaves out None values, so a state event and an alert event differ in shape):
    interleaved, a batch would cost one statement per event.
    """
    records = [
        replace(
            staged.record,
            alert_id=staged.slot.id if staged.slot is not None else staged.record.alert_id,
            data=json_safe(staged.data),
        )
        for staged in txn.events
    ]
    return sorted(records, key=lambda r: r.alert_id is not None)


async def append(store: Store, session: AsyncSession, events: Iterable[EventRecord]) -> int:
    records = list(events)
    await store.append_events(session, records)
    return len(records)
