"""One call that writes both traces of a service-desk change: the event and the audit row.

They go in the caller's write transaction, so a change, its event (what consoles tail) and its
audit row (who did what, kept for billing disputes) are committed together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from noc.storage.models import AuditLog
from noc.storage.store import EventRecord, Store


async def record(
    store: Store,
    session: AsyncSession,
    *,
    kind: str,
    actor: str,
    object_type: str,
    object_id: int,
    ticket_id: int | None,
    data: dict[str, Any],
    now: float,
) -> None:
    await store.append_events(
        session,
        [EventRecord(kind=kind, ticket_id=ticket_id, actor=actor, data=data, ts=now)],
    )
    session.add(
        AuditLog(
            ts=now,
            actor=actor,
            action=kind,
            object_type=object_type,
            object_id=str(object_id),
            detail=data,
        )
    )
