"""Alerts: one open alert per (device, check, condition), and whether to tell anyone about it.

An alert is opened the first time a condition shows; while it is open every result that still
shows it raises ``count`` and ``last_seen`` on the same row (no new alert, no event). A change
of severity is kept in ``data["history"]`` and announced with an ``alert.severity`` event. An
alert resolves after ``recover_after`` consecutive results that prove the condition fine; a
result that proves nothing (stale data, a failed or erroring probe) never resolves it and
restarts the count.

Changes are staged in an ``AlertTxn`` and reach the in-memory book only after the store has
committed them, so a refused write leaves memory and database agreeing.

``should_notify`` is the single gate the notifier asks before sending anything: alerts in
maintenance, snoozed, acknowledged or held by flapping are recorded but not notified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from noc.alerting.judge import FLAPPING, Condition
from noc.alerting.maintenance import MaintenanceIndex, stamp
from noc.alerting.states import SEVERITY
from noc.storage.models import Alert
from noc.storage.store import EventRecord

OPENED = "alert.opened"
UPDATED = "alert.updated"
SEVERITY_CHANGED = "alert.severity"
RESOLVED = "alert.resolved"
FLAPPING_EVENT = "alert.flapping"
STATE_EVENT = "check.state"

HISTORY_KEPT = 50
"""Severity changes kept in an alert's data; the events keep them all."""
CONDITION_CHARS = 64
KEY_CHARS = 255


def dedup_key(device_id: int | None, check_id: int | None, condition: str) -> str:
    """``device:check:condition``; a key too long for the column ends in a digest instead."""
    key = f"{device_id if device_id is not None else '-'}:{check_id or '-'}:{condition}"
    if len(key) <= KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: KEY_CHARS - 17]}#{digest}"


@dataclass(frozen=True, slots=True)
class AlertMemo:
    id: int | None
    """None until the insert that opens it is written."""
    key: str
    device_id: int | None
    check_id: int | None
    condition: str
    severity: str
    summary: str
    first_seen: float
    last_seen: float
    count: int = 1
    good: int = 0
    """Consecutive results proving the condition fine (memory only: a restart starts again)."""
    data: Mapping[str, Any] = field(default_factory=dict)
    resolved_at: float | None = None


@dataclass(slots=True, eq=False)
class Slot:
    """One alert as this batch leaves it, and how much of its row must be written."""

    memo: AlertMemo
    write: str | None
    """``new`` (insert), ``full``, ``light`` (count, last seen, summary), or None: memory only."""
    id: int | None


_WRITE_RANK = {None: 0, "light": 1, "full": 2, "new": 3}


@dataclass(slots=True)
class StagedEvent:
    slot: Slot | None
    """The alert it belongs to, whose id is known only once a new alert is inserted."""
    record: EventRecord
    data: dict[str, Any]


class AlertBook:
    """The open alerts of the checks one evaluator owns, by dedup key."""

    def __init__(self) -> None:
        self.open: dict[str, AlertMemo] = {}
        self._by_check: dict[int, set[str]] = {}

    def add(self, memo: AlertMemo) -> None:
        self.open[memo.key] = memo
        if memo.check_id is not None:
            self._by_check.setdefault(memo.check_id, set()).add(memo.key)

    def drop(self, key: str) -> None:
        memo = self.open.pop(key, None)
        if memo is not None and memo.check_id is not None:
            keys = self._by_check.get(memo.check_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_check[memo.check_id]

    def keys_of(self, check_id: int) -> set[str]:
        return set(self._by_check.get(check_id, ()))

    def begin(self) -> AlertTxn:
        return AlertTxn(self)

    def commit(self, txn: AlertTxn) -> None:
        """Apply a batch the store has committed (inserted slots carry their ids by now)."""
        for slot in txn.all_slots():
            if slot.memo.resolved_at is not None:
                self.drop(slot.memo.key)
            else:
                assert slot.id is not None, "an open alert must have been inserted"
                self.add(replace(slot.memo, id=slot.id))


class AlertTxn:
    """Alert changes of one batch, and their events, until the store commits them."""

    def __init__(self, book: AlertBook) -> None:
        self.book = book
        self.slots: dict[str, Slot] = {}
        self.retired: list[Slot] = []
        """Alerts resolved earlier in this batch whose key was opened again after."""
        self.events: list[StagedEvent] = []

    def all_slots(self) -> list[Slot]:
        return [*self.retired, *self.slots.values()]

    def get(self, key: str) -> AlertMemo | None:
        slot = self.slots.get(key)
        if slot is None:
            return self.book.open.get(key)
        return None if slot.memo.resolved_at is not None else slot.memo

    def keys_of(self, check_id: int) -> set[str]:
        keys = self.book.keys_of(check_id)
        for key, slot in self.slots.items():
            if slot.memo.check_id == check_id:
                if slot.memo.resolved_at is None:
                    keys.add(key)
                else:
                    keys.discard(key)
        return keys

    def open_alerts(self) -> Iterator[AlertMemo]:
        for key in self.book.open.keys() | self.slots.keys():
            memo = self.get(key)
            if memo is not None:
                yield memo

    def _stage(self, memo: AlertMemo, write: str | None) -> Slot:
        slot = self.slots.get(memo.key)
        if slot is not None and slot.memo.resolved_at is not None and memo.resolved_at is None:
            self.retired.append(slot)  # reopened within the batch: a new row
            slot = None
        if slot is None:
            slot = Slot(memo, write, memo.id)
            self.slots[memo.key] = slot
        else:
            slot.memo = memo
            if _WRITE_RANK[write] > _WRITE_RANK[slot.write]:
                slot.write = write
        return slot

    def event(self, kind: str, slot: Slot, ts: float, data: dict[str, Any]) -> None:
        memo = slot.memo
        record = EventRecord(kind, device_id=memo.device_id, check_id=memo.check_id, ts=ts)
        self.events.append(StagedEvent(slot, record, data))

    def announce(self, kind: str, key: str, ts: float, data: dict[str, Any]) -> None:
        """An event about the alert ``key`` (open, or resolved in this batch)."""
        slot = self.slots.get(key)
        if slot is None:
            memo = self.book.open.get(key)
            if memo is None:
                return
            slot = self._stage(memo, None)
        self.event(kind, slot, ts, data)

    def note(self, record: EventRecord) -> None:
        """An event that belongs to no alert (a check's state change)."""
        self.events.append(StagedEvent(None, record, dict(record.data or {})))

    def show(
        self,
        key: str,
        condition: Condition,
        *,
        device_id: int | None,
        check_id: int | None,
        name: str,
        ts: float,
        may_open: bool = True,
        repeat: bool = True,
        labels: Mapping[str, Any] | None = None,
    ) -> AlertMemo | None:
        """The condition shows in this result: open its alert, or repeat it (unless not
        ``repeat``: a verdict reached again without a new result is not a repeat)."""
        severity = SEVERITY.get(condition.state, "unknown")
        current = self.get(key)
        if current is not None and not repeat:
            return current
        if current is None:
            if not may_open:
                return None
            data = dict(condition.data)
            if len(name) > CONDITION_CHARS:
                data["condition"] = name
            memo = AlertMemo(
                id=None,
                key=key,
                device_id=device_id,
                check_id=check_id,
                condition=name[:CONDITION_CHARS],
                severity=severity,
                summary=condition.summary,
                first_seen=ts,
                last_seen=ts,
                data=data,
            )
            slot = self._stage(memo, "new")
            self.event(
                OPENED,
                slot,
                ts,
                {
                    "condition": memo.condition,
                    "severity": severity,
                    "summary": memo.summary,
                    **(labels or {}),
                },
            )
            return memo
        memo = replace(
            current,
            count=current.count + 1,
            last_seen=max(current.last_seen, ts),
            summary=condition.summary,
            good=0,
        )
        if severity == current.severity:
            self._stage(memo, "light")
            return memo
        change = {"ts": ts, "from": current.severity, "to": severity}
        history = [*current.data.get("history", ()), change][-HISTORY_KEPT:]
        memo = replace(memo, severity=severity, data={**current.data, "history": history})
        slot = self._stage(memo, "full")
        self.event(
            SEVERITY_CHANGED,
            slot,
            ts,
            {"from": current.severity, "to": severity, "summary": memo.summary, **(labels or {})},
        )
        return memo

    def proven_good(self, key: str, ts: float, recover_after: int) -> None:
        """One more result shows the condition fine; enough of them in a row resolve it."""
        current = self.get(key)
        if current is None:
            return
        good = current.good + 1
        if good >= recover_after:
            plural = "s" if good > 1 else ""
            self.resolve(key, ts, f"{good} good result{plural} in a row")
        else:
            self._stage(replace(current, good=good), None)

    def not_judged(self, key: str) -> None:
        """A result that proves nothing about the condition: the good streak starts again."""
        current = self.get(key)
        if current is not None and current.good:
            self._stage(replace(current, good=0), None)

    def resolve(self, key: str, ts: float, why: str) -> None:
        current = self.get(key)
        if current is None:
            return
        memo = replace(current, resolved_at=ts, data={**current.data, "resolved_by": why})
        slot = self._stage(memo, "full")
        self.event(
            RESOLVED,
            slot,
            ts,
            {"severity": memo.severity, "why": why, "duration_s": round(ts - memo.first_seen, 3)},
        )

    def annotate(
        self, key: str, ts: float, changes: Mapping[str, Any], why: str, *, announce: bool = True
    ) -> None:
        """Set (or, with a None value, remove) keys of an open alert's data."""
        current = self.get(key)
        if current is None:
            return
        data = dict(current.data)
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        if data == dict(current.data):
            return
        slot = self._stage(replace(current, data=data), "full")
        if announce and slot.write != "new":
            self.event(UPDATED, slot, ts, {"changed": why})


def from_row(row: Alert) -> AlertMemo:
    return AlertMemo(
        id=row.id,
        key=row.dedup_key,
        device_id=row.device_id,
        check_id=row.check_id,
        condition=row.condition,
        severity=row.severity,
        summary=row.summary,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        count=row.count,
        data=dict(row.data or {}),
        resolved_at=row.resolved_at,
    )


def should_notify(
    alert: Alert, now: float, maintenance: MaintenanceIndex | None = None
) -> tuple[bool, str]:
    """May a notification about this alert go out now? If not, the reason, for the log.

    ``maintenance`` (from ``maintenance.load_maintenance``) gives the exact answer; without it
    the maintenance window the evaluator last recorded on the alert is used, which trails a
    window ended early by at most one evaluator batch.
    """
    data: Mapping[str, Any] = alert.data or {}
    if maintenance is not None:
        window = maintenance.covering(alert.device_id, now)
        if window is not None:
            return False, window.describe()
    else:
        recorded = data.get("maintenance")
        if isinstance(recorded, Mapping):
            until = recorded.get("until")
            if until is None or (isinstance(until, int | float) and until > now):
                return False, str(recorded.get("text") or "maintenance")
    if data.get("flapping") and alert.condition != FLAPPING:
        return False, "the check is flapping: its flapping alert stands for this one"
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        return False, f"snoozed until {stamp(alert.snoozed_until)}"
    if alert.ack_by and (alert.ack_expires is None or alert.ack_expires > now):
        return False, f"acknowledged by {alert.ack_by}"
    return True, ""
