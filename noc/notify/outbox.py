"""Planning: which notifications are due, written to the outbox with their events.

The planner is level-triggered: it looks at the alerts as they are now and at what the outbox
already holds, and adds what is missing. That one rule gives everything else:

* escalation by age needs no timer of its own: a pass at any time after ``after`` finds the
  stage due and, if the outbox lacks it, adds it — so a clock injected into ``plan`` is all a
  test needs;
* a crash between an alert change and its notification loses nothing: the next pass sees the
  alert and plans what is missing (the evaluator may also call ``plan`` inside its own write
  transaction, for the row and the alert change to commit together);
* re-running never duplicates: a (alert, rule, channel, stage) already queued or sent is never
  added again. Planners are serialised (SQLite's ``BEGIN IMMEDIATE``; the events advisory lock
  on PostgreSQL), so two processes cannot both see it missing.

A notification the gate refuses (acknowledged, snoozed, in maintenance) is written as a
``suppressed`` row with the reason, once per stage: the log shows what was not sent and why.
If the gate opens again while the stage is still current (a snooze ran out on an alert still
open) the stage is queued then.

A recovery goes to the (rule, channel) pairs that were told of the problem (a row ``sent``),
and only if the rule asks for it; it is not gated, because acknowledging or snoozing hides a
problem, not its end, from whoever was already paged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from noc.notify.formats import RESOLVED, Message
from noc.notify.gate import Gate, GateLoader, alerting_gate
from noc.notify.rules import TICKET_CHANNEL, RuleSet, Scope, due_stage
from noc.storage.models import Alert, Client, Device, Notification, Site
from noc.storage.store import EVENTS_LOCK_KEY, EventRecord, Store

OPENED = "alert.opened"
ESCALATED = "alert.escalated"
REPEATED = "alert.repeated"

QUEUED_EVENT = "notification.queued"
SUPPRESSED_EVENT = "notification.suppressed"
SENT_EVENT = "notification.sent"
FAILED_EVENT = "notification.failed"
ACTOR = "notifier"

PENDING, SENT, SUPPRESSED, FAILED = "pending", "sent", "suppressed", "failed"

RECOVERY_HORIZON_S = 86_400.0
"""A recovery older than this is not announced any more (the planner was away too long)."""
IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Target:
    """One destination of one rule: a channel of a ``[[rules]]`` entry, or ticket automation."""

    rule: str
    channel: str
    scope: Scope
    after_s: float = 0.0
    repeat_s: float | None = None
    recovery: bool = True
    needs_device: bool = False


def targets(rules: RuleSet) -> list[Target]:
    found = [
        Target(r.name, channel, r.scope, r.after_s, r.repeat_s, r.notify_recovery)
        for r in rules.rules
        for channel in r.channels
    ]
    found += [Target(t.name, TICKET_CHANNEL, t.scope, needs_device=True) for t in rules.tickets]
    return found


@dataclass(frozen=True, slots=True)
class Placed:
    """An alert with where it lives, read in one join."""

    alert: Alert
    device: str | None
    client: str | None
    site: str | None

    def message(self, event: str, rule: str, stage: int) -> Message:
        a = self.alert
        return Message(
            event=event,
            severity=a.severity,
            condition=a.condition,
            summary=a.summary,
            alert_id=a.id,
            device=self.device,
            client=self.client,
            site=self.site,
            first_seen=a.first_seen,
            resolved_at=a.resolved_at,
            rule=rule,
            stage=stage,
        )


@dataclass(slots=True)
class History:
    """What the outbox holds for one (alert, rule, channel)."""

    announced: int = -1
    """The highest stage queued, sent or given up on; -1 when none."""
    suppressed: set[int] = field(default_factory=set)


@dataclass(slots=True)
class PlanReport:
    queued: int = 0
    suppressed: int = 0
    rows: list[Notification] = field(default_factory=list)


async def lock_planners(store: Store, session: AsyncSession) -> None:
    """On PostgreSQL take the event writers' lock now (re-entrant, so the events appended later
    in the same transaction do not wait); SQLite's write transaction already excludes others."""
    if not store.sqlite:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK_KEY})


async def load_placed(
    session: AsyncSession, *, open_: bool | None, alert_ids: Iterable[int] | None = None
) -> list[Placed]:
    """Alerts with their device, client and site: open, resolved, or (None) both."""
    base: ColumnElement[bool] = (
        Alert.id.is_not(None)
        if open_ is None
        else Alert.resolved_at.is_(None)
        if open_
        else Alert.resolved_at.is_not(None)
    )
    chunks: list[ColumnElement[bool]]
    if alert_ids is None:
        chunks = [base]
    else:
        ids = sorted(set(alert_ids))
        chunks = [
            and_(base, Alert.id.in_(ids[i : i + IN_CHUNK])) for i in range(0, len(ids), IN_CHUNK)
        ]
    found: list[Placed] = []
    for condition in chunks:
        query = (
            select(Alert, Device.name, Client.code, Site.code)
            .outerjoin(Device, Device.id == Alert.device_id)
            .outerjoin(Site, Site.id == Device.site_id)
            .outerjoin(Client, Client.id == Site.client_id)
            .where(condition)
            .order_by(Alert.id)
        )
        for alert, device, client, site in await session.execute(query):
            found.append(Placed(alert, device, client, site))
    return found


async def load_history(
    session: AsyncSession, alert_ids: Sequence[int]
) -> dict[tuple[int, str, str], History]:
    history: dict[tuple[int, str, str], History] = {}
    for i in range(0, len(alert_ids), IN_CHUNK):
        rows = await session.execute(
            select(
                Notification.alert_id,
                Notification.rule,
                Notification.channel,
                Notification.kind,
                Notification.status,
                Notification.payload,
            ).where(Notification.alert_id.in_(alert_ids[i : i + IN_CHUNK]))
        )
        for alert_id, rule, channel, kind, status, payload in rows:
            if alert_id is None or kind == RESOLVED:
                continue
            entry = history.setdefault((alert_id, rule, channel), History())
            stage = int((payload or {}).get("stage", 0))
            if status == SUPPRESSED:
                entry.suppressed.add(stage)
            else:
                entry.announced = max(entry.announced, stage)
    return history


async def recoveries_due(
    session: AsyncSession, names: Iterable[str], now: float, alert_ids: Iterable[int] | None
) -> set[tuple[int, str, str]]:
    """(alert, rule, channel) whose problem was sent and whose alert has resolved since, with no
    recovery queued yet."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    done = aliased(Notification)
    query = (
        select(Notification.alert_id, Notification.rule, Notification.channel)
        .join(Alert, Alert.id == Notification.alert_id)
        .where(
            Notification.status == SENT,
            Notification.kind != RESOLVED,
            Notification.rule.in_(wanted),
            Alert.resolved_at.is_not(None),
            Alert.resolved_at >= now - RECOVERY_HORIZON_S,
            ~exists().where(
                done.alert_id == Notification.alert_id,
                done.rule == Notification.rule,
                done.channel == Notification.channel,
                done.kind == RESOLVED,
            ),
        )
        .distinct()
    )
    if alert_ids is not None:
        query = query.where(Notification.alert_id.in_(sorted(set(alert_ids))))
    return {(a, r, c) for a, r, c in await session.execute(query) if a is not None}


class _Writer:
    """Collects the rows of one pass and writes them, then their events, in the session."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.rows: list[tuple[Notification, int | None]] = []

    def add(
        self, placed: Placed, target: Target, kind: str, stage: int, reason: str | None = None
    ) -> None:
        message = placed.message(kind, target.rule, stage)
        payload = message.as_payload()
        if reason is not None:
            payload["suppressed"] = reason
        row = Notification(
            created_at=self.now,
            alert_id=placed.alert.id,
            rule=target.rule,
            channel=target.channel,
            kind=kind,
            payload=payload,
            status=SUPPRESSED if reason is not None else PENDING,
            attempts=0,
            next_attempt_at=self.now,
            last_error="",
        )
        self.rows.append((row, placed.alert.device_id))

    async def flush(self, store: Store, session: AsyncSession, report: PlanReport) -> None:
        if not self.rows:
            return
        session.add_all([row for row, _ in self.rows])
        await session.flush()
        events = []
        for row, device_id in self.rows:
            suppressed = row.status == SUPPRESSED
            data = {
                "notification_id": row.id,
                "rule": row.rule,
                "channel": row.channel,
                "kind": row.kind,
                "stage": row.payload.get("stage", 0),
            }
            if suppressed:
                data["reason"] = row.payload.get("suppressed", "")
                report.suppressed += 1
            else:
                report.queued += 1
            events.append(
                EventRecord(
                    SUPPRESSED_EVENT if suppressed else QUEUED_EVENT,
                    device_id=device_id,
                    alert_id=row.alert_id,
                    actor=ACTOR,
                    data=data,
                    ts=self.now,
                )
            )
        await store.append_events(session, events)
        report.rows.extend(row for row, _ in self.rows)


async def plan(
    store: Store,
    session: AsyncSession,
    rules: RuleSet,
    now: float,
    *,
    gate: GateLoader = alerting_gate,
    alert_ids: Iterable[int] | None = None,
) -> PlanReport:
    """Add the due notifications to the outbox, inside the caller's write transaction.

    ``alert_ids`` limits the pass to those alerts (the evaluator passes the ones its batch
    changed); without it every open alert, and every recently resolved one that was
    announced, is looked at.
    """
    report = PlanReport()
    wanted = targets(rules)
    if not wanted:
        return report
    ids = None if alert_ids is None else list(alert_ids)
    await lock_planners(store, session)
    writer = _Writer(now)
    await _plan_open(session, wanted, now, gate, ids, writer)
    await _plan_recoveries(session, wanted, now, ids, writer)
    await writer.flush(store, session, report)
    return report


async def _plan_open(
    session: AsyncSession,
    wanted: list[Target],
    now: float,
    gate: GateLoader,
    ids: list[int] | None,
    writer: _Writer,
) -> None:
    """The stage due for each open alert and target, unless the outbox has it already."""
    open_alerts = await load_placed(session, open_=True, alert_ids=ids)
    if not open_alerts:
        return
    history = await load_history(session, [p.alert.id for p in open_alerts])
    device_ids = {p.alert.device_id for p in open_alerts if p.alert.device_id is not None}
    allow: Gate = await gate(session, now, device_ids)
    for placed in open_alerts:
        verdict: tuple[bool, str] | None = None
        for target in wanted:
            stage = _due(placed, target, now)
            if stage is None:
                continue
            entry = history.get((placed.alert.id, target.rule, target.channel), History())
            if entry.announced >= stage:
                continue
            if verdict is None:
                verdict = allow(placed.alert, now)
            allowed, reason = verdict
            if not allowed and stage in entry.suppressed:
                continue
            if entry.announced >= 0:
                kind = REPEATED
            else:
                kind = ESCALATED if target.after_s > 0 else OPENED
            writer.add(placed, target, kind, stage, None if allowed else reason or "held")


async def _plan_recoveries(
    session: AsyncSession,
    wanted: list[Target],
    now: float,
    ids: list[int] | None,
    writer: _Writer,
) -> None:
    due = await recoveries_due(session, {t.rule for t in wanted if t.recovery}, now, ids)
    if not due:
        return
    resolved = await load_placed(session, open_=False, alert_ids={a for a, _, _ in due})
    by_alert = {p.alert.id: p for p in resolved}
    by_key = {(t.rule, t.channel): t for t in wanted}
    for alert_id, rule, channel in sorted(due):
        target = by_key.get((rule, channel))
        placed = by_alert.get(alert_id)
        if target is not None and placed is not None and target.recovery:
            writer.add(placed, target, RESOLVED, 0)


def _due(placed: Placed, target: Target, now: float) -> int | None:
    if target.needs_device and placed.alert.device_id is None:
        return None
    if not target.scope.matches(placed.client, placed.alert.severity):
        return None
    return due_stage(now - placed.alert.first_seen, target.after_s, target.repeat_s)


async def plan_due(
    store: Store, rules: RuleSet, now: float, *, gate: GateLoader = alerting_gate
) -> PlanReport:
    """One planning pass in a write transaction of its own (the notifier's timer)."""
    if not targets(rules):
        return PlanReport()
    async with store.write() as session:
        return await plan(store, session, rules, now, gate=gate)


# the delivery side of the outbox ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row taken for one delivery attempt; the lease keeps other workers off it meanwhile."""

    id: int
    alert_id: int | None
    rule: str
    channel: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    """Attempts made before this one."""


async def claim(
    store: Store,
    now: float,
    *,
    limit: int,
    room: Callable[[str], int],
    lease_s: float,
) -> list[Claimed]:
    """Take up to ``limit`` due rows, at most ``room(channel)`` more of each channel, by pushing
    their next attempt ``lease_s`` ahead: if this worker dies mid-attempt the row is due again
    after the lease, which is what makes delivery at least once."""
    if limit <= 0:
        return []
    async with store.write() as session:
        query = (
            select(Notification.id, Notification.channel)
            .where(Notification.status == PENDING, Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit * 4)
        )
        if not store.sqlite:
            query = query.with_for_update(skip_locked=True)
        taken: dict[str, int] = {}
        chosen: list[int] = []
        for row_id, channel in await session.execute(query):
            if len(chosen) >= limit:
                break
            if taken.get(channel, 0) < room(channel):
                taken[channel] = taken.get(channel, 0) + 1
                chosen.append(row_id)
        if not chosen:
            return []
        result = await session.execute(
            update(Notification)
            .where(
                Notification.id.in_(chosen),
                Notification.status == PENDING,
                Notification.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + lease_s)
            .returning(
                Notification.id,
                Notification.alert_id,
                Notification.rule,
                Notification.channel,
                Notification.kind,
                Notification.payload,
                Notification.attempts,
            ),
            execution_options={"synchronize_session": False},
        )
        rows = [Claimed(*row) for row in result]
    return sorted(rows, key=lambda c: c.id)


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went, for ``record_attempts``."""

    ok: bool
    detail: str
    """``HTTP 200``, or the error with every URL masked."""
    at: float
    next_attempt_at: float | None = None
    """When to try again; None when this attempt settles the row (sent, or given up)."""


async def record_attempts(store: Store, done: Sequence[tuple[Claimed, Attempt]]) -> None:
    """The rows' new states and one event per attempt, in one transaction: attempts that end
    together are committed together, so a busy outbox pays one commit, not one per row."""
    events: list[EventRecord] = []
    changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, attempt in done:
        attempts = row.attempts + 1
        values: dict[str, Any] = {"id": row.id, "attempts": attempts}
        if attempt.ok:
            values.update(status=SENT, delivered_at=attempt.at, last_error="")
        elif attempt.next_attempt_at is None:
            values.update(status=FAILED, last_error=attempt.detail)
        else:
            values.update(next_attempt_at=attempt.next_attempt_at, last_error=attempt.detail)
        changes.setdefault(tuple(sorted(values)), []).append(values)
        data: dict[str, Any] = {
            "notification_id": row.id,
            "rule": row.rule,
            "channel": row.channel,
            "kind": row.kind,
            "attempt": attempts,
            "detail": attempt.detail,
        }
        if not attempt.ok:
            data["retry_at"] = attempt.next_attempt_at
        events.append(
            EventRecord(
                SENT_EVENT if attempt.ok else FAILED_EVENT,
                alert_id=row.alert_id,
                actor=ACTOR,
                data=data,
                ts=attempt.at,
            )
        )
    async with store.write() as session:
        for rows in changes.values():  # one executemany per shape of change
            await session.execute(update(Notification), rows)
        await store.append_events(session, events)
