"""What a technician does to alerts and maintenance windows, from the console or a script.

Each action changes its row, appends an ``Event`` (so every console following the store sees it
at once) and an ``AuditLog`` row (who did what, when, and why) in one write transaction: either
all three happen or none does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from noc.errors import NocError
from noc.storage.models import Alert, AuditLog, Client, Device, MaintenanceWindow, Site
from noc.storage.store import EventRecord, Store

Scope = Literal["device", "site", "client"]
SCOPES: dict[str, type[Client] | type[Site] | type[Device]] = {
    "device": Device,
    "site": Site,
    "client": Client,
}

MAX_NOTE = 2000


class AlertingError(NocError):
    """An alert action that cannot be done: unknown alert, a time in the past, a bad scope."""


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _check_who(who: str) -> str:
    who = who.strip()
    if not who:
        raise AlertingError("a technician is needed: actions are recorded under a name")
    return who[:64]


def _check_note(note: str, field: str) -> str:
    if len(note) > MAX_NOTE:
        raise AlertingError(f"{field}: {len(note)} characters, at most {MAX_NOTE}")
    return note


async def _record(
    store: Store,
    session: AsyncSession,
    *,
    ts: float,
    who: str,
    action: str,
    object_type: str,
    object_id: int,
    detail: dict[str, Any],
    event: EventRecord,
) -> None:
    await session.execute(
        insert(AuditLog),
        [
            {
                "ts": ts,
                "actor": who,
                "action": action,
                "object_type": object_type,
                "object_id": str(object_id),
                "detail": detail,
            }
        ],
    )
    await store.append_events(session, [event])


async def _open_alert(session: AsyncSession, alert_id: int) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise AlertingError(f"alert {alert_id}: no such alert")
    if alert.resolved_at is not None:
        raise AlertingError(f"alert {alert_id}: already resolved")
    return alert


async def acknowledge(
    store: Store,
    alert_id: int,
    who: str,
    note: str = "",
    expires_at: float | None = None,
    *,
    now: float | None = None,
) -> Alert:
    """Someone owns this alert now; with ``expires_at`` it comes back unowned at that time."""
    ts = _now(now)
    who = _check_who(who)
    note = _check_note(note, "note")
    if expires_at is not None and expires_at <= ts:
        raise AlertingError(f"alert {alert_id}: the acknowledgement would expire in the past")
    async with store.write() as session:
        alert = await _open_alert(session, alert_id)
        alert.ack_by, alert.ack_at, alert.ack_note, alert.ack_expires = who, ts, note, expires_at
        detail = {"note": note, "expires_at": expires_at}
        await _record(
            store,
            session,
            ts=ts,
            who=who,
            action="alert.ack",
            object_type="alert",
            object_id=alert_id,
            detail=detail,
            event=EventRecord(
                "alert.acked", alert.device_id, alert.check_id, alert_id, None, who, detail, ts
            ),
        )
    return alert


async def unacknowledge(
    store: Store, alert_id: int, who: str, *, now: float | None = None
) -> Alert:
    """Give an alert back to the queue (the previous owner is kept in the audit log)."""
    ts = _now(now)
    who = _check_who(who)
    async with store.write() as session:
        alert = await _open_alert(session, alert_id)
        if alert.ack_by is None:
            raise AlertingError(f"alert {alert_id}: not acknowledged")
        detail = {"previous": alert.ack_by, "note": alert.ack_note}
        alert.ack_by, alert.ack_at, alert.ack_note, alert.ack_expires = None, None, "", None
        await _record(
            store,
            session,
            ts=ts,
            who=who,
            action="alert.unack",
            object_type="alert",
            object_id=alert_id,
            detail=detail,
            event=EventRecord(
                "alert.unacked", alert.device_id, alert.check_id, alert_id, None, who, detail, ts
            ),
        )
    return alert


async def snooze(
    store: Store, alert_id: int, who: str, until: float, *, now: float | None = None
) -> Alert:
    """Hide an alert from the queue and from notifications until ``until``."""
    ts = _now(now)
    who = _check_who(who)
    if until <= ts:
        raise AlertingError(f"alert {alert_id}: snooze must end in the future")
    async with store.write() as session:
        alert = await _open_alert(session, alert_id)
        alert.snoozed_until = until
        detail = {"until": until}
        await _record(
            store,
            session,
            ts=ts,
            who=who,
            action="alert.snooze",
            object_type="alert",
            object_id=alert_id,
            detail=detail,
            event=EventRecord(
                "alert.snoozed", alert.device_id, alert.check_id, alert_id, None, who, detail, ts
            ),
        )
    return alert


async def add_maintenance(
    store: Store,
    scope: Scope,
    scope_id: int,
    starts_at: float,
    ends_at: float | None,
    until_ok: bool,
    reason: str,
    who: str,
    *,
    now: float | None = None,
) -> MaintenanceWindow:
    """A window in which a device, site or client raises no alerts.

    ``ends_at=None`` with ``until_ok`` ends it when everything in scope is OK again; with
    neither it lasts until ``end_maintenance``.
    """
    ts = _now(now)
    who = _check_who(who)
    reason = _check_note(reason, "reason")
    model = SCOPES.get(scope)
    if model is None:
        raise AlertingError(f"maintenance scope {scope!r}: expected one of {', '.join(SCOPES)}")
    if ends_at is not None and ends_at <= starts_at:
        raise AlertingError("maintenance must end after it starts")
    if ends_at is not None and ends_at <= ts:
        raise AlertingError("maintenance would end in the past")
    async with store.write() as session:
        if await session.get(model, scope_id) is None:
            raise AlertingError(f"maintenance scope {scope} {scope_id}: no such {scope}")
        window = MaintenanceWindow(
            scope=scope,
            scope_id=scope_id,
            starts_at=starts_at,
            ends_at=ends_at,
            until_ok=until_ok,
            reason=reason,
            created_by=who,
        )
        session.add(window)
        await session.flush()
        detail = {
            "scope": scope,
            "scope_id": scope_id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "until_ok": until_ok,
            "reason": reason,
            "window_id": window.id,
        }
        await _record(
            store,
            session,
            ts=ts,
            who=who,
            action="maintenance.add",
            object_type="maintenance",
            object_id=window.id,
            detail=detail,
            event=EventRecord(
                "maintenance.added",
                device_id=scope_id if scope == "device" else None,
                actor=who,
                data=detail,
                ts=ts,
            ),
        )
    return window


async def end_maintenance(
    store: Store, window_id: int, who: str, *, now: float | None = None
) -> MaintenanceWindow:
    """Close a window now: alerts in its scope count again from this moment."""
    ts = _now(now)
    who = _check_who(who)
    async with store.write() as session:
        window = await session.get(MaintenanceWindow, window_id)
        if window is None:
            raise AlertingError(f"maintenance {window_id}: no such window")
        if window.ended_at is not None:
            raise AlertingError(f"maintenance {window_id}: already ended")
        window.ended_at = ts
        detail = {"scope": window.scope, "scope_id": window.scope_id, "window_id": window_id}
        await _record(
            store,
            session,
            ts=ts,
            who=who,
            action="maintenance.end",
            object_type="maintenance",
            object_id=window_id,
            detail=detail,
            event=EventRecord(
                "maintenance.ended",
                device_id=window.scope_id if window.scope == "device" else None,
                actor=who,
                data=detail,
                ts=ts,
            ),
        )
    return window


async def list_maintenance(
    store: Store, *, active_at: float | None = None, include_ended: bool = False
) -> Sequence[MaintenanceWindow]:
    """Windows not yet ended (or all with ``include_ended``); ``active_at`` keeps only those in
    force at that time."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
    if not include_ended:
        query = query.where(MaintenanceWindow.ended_at.is_(None))
    if active_at is not None:
        query = query.where(
            MaintenanceWindow.starts_at <= active_at,
            or_(MaintenanceWindow.ends_at.is_(None), MaintenanceWindow.ends_at > active_at),
            or_(MaintenanceWindow.ended_at.is_(None), MaintenanceWindow.ended_at > active_at),
        )
    async with store.read() as session:
        return list(await session.scalars(query))
