"""Is this device, site or client in maintenance now? The read side of maintenance windows.

``actions`` writes the windows; this module answers which one covers a device at a time. A
window covers from ``starts_at`` until the first of ``ends_at`` and ``ended_at`` (either may be
unset). ``until_ok`` windows also end by themselves once everything in their scope is OK
*again*: the evaluator ends such a window when a problem was recorded in scope during it and
no enabled check in scope is anything but OK (``end_recovered_windows``). A window made while
everything is still fine therefore waits for the work it was made for, instead of ending at
once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from noc.storage.models import Alert, Check, CheckState, Device, MaintenanceWindow, Site
from noc.storage.store import EventRecord

ENDED_EVENT = "maintenance.ended"
ACTOR = "evaluator"


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    scope: str
    scope_id: int
    starts_at: float
    ends_at: float | None
    until_ok: bool
    reason: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def describe(self) -> str:
        until = (
            "until OK"
            if self.until_ok and self.ends_at is None
            else (f"until {stamp(self.ends_at)}" if self.ends_at is not None else "until ended")
        )
        text = f"maintenance window {self.id} on {self.scope} {self.scope_id} {until}"
        return f"{text}: {self.reason}" if self.reason else text

    def as_data(self) -> dict[str, object]:
        return {
            "window": self.id,
            "scope": self.scope,
            "scope_id": self.scope_id,
            "until": self.ends_at,
            "until_ok": self.until_ok,
            "reason": self.reason,
        }


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a device sits, for matching site and client windows."""

    site_id: int
    client_id: int


class MaintenanceIndex:
    """The windows not yet ended, and the placement of the devices they may cover."""

    def __init__(
        self, windows: Iterable[Window], placements: Mapping[int, Placement] | None = None
    ) -> None:
        self.windows = tuple(windows)
        self._placements = placements or {}
        self._by_scope: dict[tuple[str, int], list[Window]] = {}
        for window in self.windows:
            self._by_scope.setdefault((window.scope, window.scope_id), []).append(window)

    def __bool__(self) -> bool:
        return bool(self.windows)

    def covering(self, device_id: int | None, now: float) -> Window | None:
        """The window that covers the device now, the longest-lasting one if several do."""
        if device_id is None or not self._by_scope:
            return None
        keys = [("device", device_id)]
        placement = self._placements.get(device_id)
        if placement is not None:
            keys += [("site", placement.site_id), ("client", placement.client_id)]
        found = [w for key in keys for w in self._by_scope.get(key, ()) if w.active(now)]
        if not found:
            return None
        return max(found, key=lambda w: (w.ends_at is None, w.ends_at or 0.0, -w.id))


def _not_ended(now: float) -> ColumnElement[bool]:
    return and_(
        MaintenanceWindow.ended_at.is_(None),
        or_(MaintenanceWindow.ends_at.is_(None), MaintenanceWindow.ends_at > now),
    )


async def load_windows(session: AsyncSession, now: float) -> list[Window]:
    """Windows that are active now or will be (one query, whatever the number of devices)."""
    rows = await session.scalars(
        select(MaintenanceWindow).where(_not_ended(now)).order_by(MaintenanceWindow.id)
    )
    return [
        Window(
            id=w.id,
            scope=w.scope,
            scope_id=w.scope_id,
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            until_ok=w.until_ok,
            reason=w.reason,
        )
        for w in rows
    ]


async def load_maintenance(
    session: AsyncSession, now: float, device_ids: Iterable[int] | None = None
) -> MaintenanceIndex:
    """An index for ``should_notify``; with ``device_ids`` only those devices are placed."""
    windows = await load_windows(session, now)
    if not windows:
        return MaintenanceIndex(())
    query = select(Device.id, Device.site_id, Site.client_id).join(Site, Site.id == Device.site_id)
    if device_ids is not None:
        wanted = sorted(set(device_ids))
        if not wanted:
            return MaintenanceIndex(windows)
        query = query.where(Device.id.in_(wanted))
    placements = {d: Placement(s, c) for d, s, c in await session.execute(query)}
    return MaintenanceIndex(windows, placements)


async def in_maintenance(session: AsyncSession, device_id: int, now: float) -> Window | None:
    """The window covering one device now, if any."""
    index = await load_maintenance(session, now, [device_id])
    return index.covering(device_id, now)


def _scope_devices(window: Window) -> Select[int]:
    """The ids of the devices a window covers, as a subquery."""
    if window.scope == "device":
        return select(Device.id).where(Device.id == window.scope_id)
    if window.scope == "site":
        return select(Device.id).where(Device.site_id == window.scope_id)
    return (
        select(Device.id)
        .join(Site, Site.id == Device.site_id)
        .where(Site.client_id == window.scope_id)
    )


async def end_recovered_windows(
    session: AsyncSession, windows: Sequence[Window], now: float
) -> list[EventRecord]:
    """End the active "until OK" windows whose scope had a problem and is all OK again.

    Runs inside the evaluator's write transaction, after its states are written, so it sees
    them; two queries per such window, and none when there is no such window.
    """
    events: list[EventRecord] = []
    for window in windows:
        if not (window.until_ok and window.active(now)):
            continue
        devices = _scope_devices(window)
        had_problem = await session.scalar(
            select(
                exists().where(
                    Alert.device_id.in_(devices),
                    Alert.last_seen >= window.starts_at,
                )
            )
        )
        if not had_problem:
            continue
        still_bad = await session.scalar(
            select(
                exists().where(
                    and_(
                        CheckState.check_id == Check.id,
                        Check.enabled.is_(True),
                        Check.device_id == Device.id,
                        Device.enabled.is_(True),
                        Device.id.in_(devices),
                        CheckState.state != "OK",
                    )
                )
            )
        )
        if still_bad:
            continue
        result = await session.execute(
            update(MaintenanceWindow)
            .where(MaintenanceWindow.id == window.id, MaintenanceWindow.ended_at.is_(None))
            .values(ended_at=now)
        )
        if getattr(result, "rowcount", 0):
            events.append(
                EventRecord(
                    ENDED_EVENT,
                    device_id=window.scope_id if window.scope == "device" else None,
                    actor=ACTOR,
                    ts=now,
                    data={
                        "window_id": window.id,
                        "scope": window.scope,
                        "scope_id": window.scope_id,
                        "reason": "everything in scope is OK again",
                    },
                )
            )
    return events
