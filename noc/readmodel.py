"""What the console shows, read from the store: immutable rows built by a few wide queries.

The console never holds ORM objects: a snapshot of 10,000 devices is a handful of column
selects (devices with their site and client, the check states, the open alerts, maintenance,
recent samples) turned into frozen dataclasses, so that the UI can compare, cache and share them
freely. After the snapshot, ``EventTail`` follows the store's event bus and ``fetch_changes``
turns a batch of events into the new rows to apply, reading the store once per batch.

Events the console understands (any other kind is ignored, never an error):

- an event with ``check_id`` whose ``data`` has ``state`` (and optionally ``output``,
  ``since``) is a new check state as it stands; a ``check*``/``state*`` event without one makes
  the console read that check's state row back;
- an event with ``alert_id`` makes it read that alert back (opened, updated, acknowledged,
  resolved: the row says which);
- ``ticket.created`` reads back the alert it links; ``ticket.updated`` the open alerts linked to
  that ticket (its assignee decides whose alert it is, its status the SLA clock);
- kinds starting ``device.``, ``inventory.``, ``maintenance.``, ``client.``, ``site.`` or
  ``check.added`` reload the snapshot.

Device state is the worst of its checks' states by ``STATE_RANK``. A device with no evaluated
check yet is ``PENDING``. ``UNREACHABLE`` (a parent is down) ranks below the states that need
someone's hands so that the cause sorts above its consequences.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from noc.storage.models import (
    Alert,
    Check,
    CheckState,
    Client,
    Device,
    Event,
    MaintenanceWindow,
    Sample,
    SampleRollup,
    Series,
    Site,
    Technician,
    Ticket,
)
from noc.storage.store import Store

STATE_RANK: dict[str, int] = {
    "PENDING": 0,
    "OK": 1,
    "UNREACHABLE": 2,
    "UNKNOWN": 3,
    "WARNING": 4,
    "CRITICAL": 5,
    "DOWN": 6,
}
STATES: tuple[str, ...] = tuple(sorted(STATE_RANK, key=STATE_RANK.__getitem__, reverse=True))
"""Worst first."""
PROBLEM_RANK = STATE_RANK["UNREACHABLE"]
"""A device at or above this rank is a problem ("problems only" shows it)."""

SEVERITY_RANK: dict[str, int] = {
    "disaster": 6,
    "down": 6,
    "critical": 5,
    "high": 5,
    "major": 5,
    "warning": 4,
    "average": 4,
    "minor": 3,
    "unknown": 3,
    "unreachable": 2,
    "info": 1,
    "information": 1,
    "ok": 0,
}

LATENCY_METRICS = ("rtt", "rtt_ms", "latency", "icmp.rtt", "rtt.avg", "http.rtt")
CPU_METRICS = ("cpu", "cpu.load", "cpu.util", "cpu.used_pct", "cpu.usage", "cpu.percent")
SPARK_POINTS = 16
HISTORY_WINDOW_S = 3600.0
OUTPUT_CHARS = 400
"""Check output kept per state in the snapshot: enough for a line, bounded for 50,000 checks."""

IDENTITY_KEYS = {
    "descr": ("sys.descr", "sysDescr", "descr", "os.descr"),
    "name": ("sys.name", "sysName", "hostname"),
    "vendor": ("vendor", "sys.vendor", "hw.vendor"),
    "model": ("model", "hw.model", "sys.model"),
    "os": ("os", "os.name", "sys.os", "os.version", "platform"),
    "object_id": ("sys.object_id", "sysObjectID"),
    "location": ("sys.location", "sysLocation"),
    "contact": ("sys.contact", "sysContact"),
    "uptime": ("sys.uptime", "uptime", "uptime_s", "sysUpTime"),
}
"""Where a device's identity may sit in its checks' values, most specific first."""


def state_rank(state: str) -> int:
    return STATE_RANK.get(state.upper(), STATE_RANK["UNKNOWN"])


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), 3)


def worst_state(states: Iterable[str]) -> str:
    worst = "PENDING"
    for state in states:
        if state_rank(state) > state_rank(worst):
            worst = state.upper()
    return worst


def is_problem(state: str) -> bool:
    return state_rank(state) >= PROBLEM_RANK


# rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckBrief:
    """The part of a check state the grid needs to recompute its device's state."""

    check_id: int
    device_id: int
    name: str
    state: str
    since: float
    output: str


@dataclass(frozen=True, slots=True)
class DeviceTile:
    id: int
    name: str
    client_id: int
    client: str
    site_id: int
    site: str
    kind: str
    address: str
    parent_id: int | None
    state: str
    worst_check: str
    """Name of the check that makes ``state``; empty when all are OK."""
    worst_output: str
    since: float
    """When the worst check entered its state."""
    latency: tuple[float, ...] = ()
    cpu: tuple[float, ...] = ()
    tags: tuple[str, ...] = ()
    in_maintenance: bool = False


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    device_id: int | None
    device: str
    client_id: int | None
    client: str
    check: str
    condition: str
    severity: str
    summary: str
    first_seen: float
    last_seen: float
    count: int
    ack_by: str | None
    ack_note: str
    ack_at: float | None
    ack_expires: float | None
    snoozed_until: float | None
    ticket_id: int | None
    ticket_number: int | None
    sla_due: float | None
    """The ticket's next SLA deadline: response until responded to, then resolution."""
    resolved_at: float | None = None
    ticket_assignee: str | None = None
    """The login the alert's ticket is assigned to; ``None`` without a ticket or an assignee."""
    maintenance: bool = False
    """The evaluator recorded a maintenance window over the alert (notifications held)."""
    maintenance_until: float | None = None
    """When that window ends; ``None``: until someone ends it."""

    def acked(self, now: float) -> bool:
        return self.ack_by is not None and (self.ack_expires is None or self.ack_expires > now)

    def snoozed(self, now: float) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > now

    def in_maintenance(self, now: float) -> bool:
        return self.maintenance and (self.maintenance_until is None or self.maintenance_until > now)

    def sort_key(self) -> tuple[int, float, int]:
        """Worst severity first, then oldest first: the longest-burning fire on top."""
        return (-severity_rank(self.severity), self.first_seen, self.id)


@dataclass(frozen=True, slots=True)
class ClientSummary:
    id: int
    code: str
    name: str
    devices: int
    counts: dict[str, int]
    """Devices per state."""
    open_alerts: int

    @property
    def worst(self) -> str:
        return worst_state(state for state, n in self.counts.items() if n)

    @property
    def problems(self) -> int:
        return sum(n for state, n in self.counts.items() if is_problem(state))


@dataclass(frozen=True, slots=True)
class Snapshot:
    devices: tuple[DeviceTile, ...]
    """Grouped: by client name, site name, device name."""
    checks: dict[int, CheckBrief]
    alerts: tuple[AlertRow, ...]
    """Open alerts, worst and oldest first."""
    clients: tuple[ClientSummary, ...]
    last_event_id: int
    loaded_at: float
    disabled: int = 0
    """Devices not polled and so not shown."""


@dataclass(frozen=True, slots=True)
class CheckDetail:
    id: int
    name: str
    type: str
    state: str
    since: float
    last_ts: float
    output: str
    values: dict[str, Any]
    interval_s: float | None
    flapping: bool
    enabled: bool


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    ts: float
    kind: str
    actor: str
    check: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    tile: DeviceTile
    description: str
    parent: str
    children: tuple[str, ...]
    identity: dict[str, Any]
    """descr, vendor, os, model, uptime (seconds) ... from the latest check values."""
    checks: tuple[CheckDetail, ...]
    history: dict[str, tuple[float, ...]]
    """``check/metric`` -> recent values, oldest first."""
    interfaces: dict[str, dict[str, Any]]
    filesystems: dict[str, dict[str, Any]]
    alerts: tuple[AlertRow, ...]
    events: tuple[EventRow, ...]
    """Newest first."""
    maintenance: tuple[MaintenanceWindow, ...] = field(default=())


# queries --------------------------------------------------------------------------------------


def _device_query() -> Select[Any]:
    return (
        select(
            Device.id,
            Device.name,
            Device.kind,
            Device.address,
            Device.parent_id,
            Device.tags,
            Device.enabled,
            Site.id,
            Site.name,
            Client.id,
            Client.name,
        )
        .join(Site, Device.site_id == Site.id)
        .join(Client, Site.client_id == Client.id)
    )


def _alert_query() -> Select[Any]:
    return (
        select(
            Alert.id,
            Alert.device_id,
            Device.name,
            Client.id,
            Client.name,
            Check.name,
            Alert.condition,
            Alert.severity,
            func.substr(Alert.summary, 1, OUTPUT_CHARS),
            Alert.first_seen,
            Alert.last_seen,
            Alert.count,
            Alert.ack_by,
            Alert.ack_note,
            Alert.ack_at,
            Alert.ack_expires,
            Alert.snoozed_until,
            Alert.ticket_id,
            Ticket.number,
            Ticket.responded_at,
            Ticket.sla_response_due,
            Ticket.sla_resolve_due,
            Alert.resolved_at,
            Technician.login,
            Alert.data["maintenance"],  # only the window, not the whole severity history
        )
        .outerjoin(Device, Alert.device_id == Device.id)
        .outerjoin(Site, Device.site_id == Site.id)
        .outerjoin(Client, Site.client_id == Client.id)
        .outerjoin(Check, Alert.check_id == Check.id)
        .outerjoin(Ticket, Alert.ticket_id == Ticket.id)
        .outerjoin(Technician, Ticket.assignee_id == Technician.id)
    )


def _alert_row(row: Sequence[Any]) -> AlertRow:
    (
        aid, device_id, device, client_id, client, check, condition, severity, summary,
        first_seen, last_seen, count, ack_by, ack_note, ack_at, ack_expires, snoozed_until,
        ticket_id, ticket_number, responded_at, response_due, resolve_due, resolved_at,
        assignee, maintenance,
    ) = row  # fmt: skip
    sla_due = resolve_due if responded_at is not None or response_due is None else response_due
    until = maintenance.get("until") if isinstance(maintenance, dict) else None
    return AlertRow(
        id=aid,
        device_id=device_id,
        device=device or "",
        client_id=client_id,
        client=client or "",
        check=check or "",
        condition=condition,
        severity=severity,
        summary=summary or "",
        first_seen=first_seen,
        last_seen=last_seen,
        count=count,
        ack_by=ack_by,
        ack_note=ack_note or "",
        ack_at=ack_at,
        ack_expires=ack_expires,
        snoozed_until=snoozed_until,
        ticket_id=ticket_id,
        ticket_number=ticket_number,
        sla_due=sla_due,
        resolved_at=resolved_at,
        ticket_assignee=assignee,
        maintenance=isinstance(maintenance, dict),
        maintenance_until=float(until) if isinstance(until, int | float) else None,
    )


def _check_query() -> Select[Any]:
    return select(
        CheckState.check_id,
        CheckState.device_id,
        Check.name,
        CheckState.state,
        CheckState.since,
        func.substr(CheckState.output, 1, OUTPUT_CHARS),
    ).join(Check, CheckState.check_id == Check.id)


def _chunks(ids: Sequence[int], size: int = 900) -> Iterable[Sequence[int]]:
    """Parameter lists below SQLite's limit however many ids a batch names."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def _maintenance_devices(session: AsyncSession, now: float) -> set[int]:
    """Devices covered right now by a window on themselves, their site or their client."""
    windows = (
        await session.execute(
            select(MaintenanceWindow.scope, MaintenanceWindow.scope_id).where(
                MaintenanceWindow.ended_at.is_(None),
                MaintenanceWindow.starts_at <= now,
                or_(MaintenanceWindow.ends_at.is_(None), MaintenanceWindow.ends_at > now),
            )
        )
    ).all()
    by_scope: dict[str, set[int]] = defaultdict(set)
    for scope, scope_id in windows:
        by_scope[scope].add(scope_id)
    devices = set(by_scope["device"])
    if by_scope["site"]:
        devices.update(
            await session.scalars(select(Device.id).where(Device.site_id.in_(by_scope["site"])))
        )
    if by_scope["client"]:
        devices.update(
            await session.scalars(
                select(Device.id)
                .join(Site, Device.site_id == Site.id)
                .where(Site.client_id.in_(by_scope["client"]))
            )
        )
    return devices


def _metric_kind(metric: str) -> str | None:
    lowered = metric.lower()
    if lowered in LATENCY_METRICS or lowered.endswith((".rtt", "_rtt", ".latency")):
        return "latency"
    if lowered in CPU_METRICS or lowered.startswith("cpu.") and lowered.endswith(("pct", "load")):
        return "cpu"
    return None


def _buckets(
    points: list[tuple[float, float]], start: float, end: float, n: int
) -> tuple[float, ...]:
    """Average ``(ts, value)`` points into ``n`` equal time buckets; empty buckets are skipped."""
    if not points:
        return ()
    width = max((end - start) / n, 1e-9)
    sums = [0.0] * n
    counts = [0] * n
    for ts, value in points:
        index = min(max(int((ts - start) / width), 0), n - 1)
        sums[index] += value
        counts[index] += 1
    return tuple(s / c for s, c in zip(sums, counts, strict=True) if c)


async def load_history(
    store: Store,
    now: float,
    *,
    device_ids: Sequence[int] | None = None,
    window_s: float = HISTORY_WINDOW_S,
    points: int = SPARK_POINTS,
) -> dict[int, dict[str, tuple[float, ...]]]:
    """Latency and CPU sparklines per device: ``{device: {"latency": (...), "cpu": (...)}}``.

    One query over the series table picks the metrics that make sparklines, one over the
    samples index reads the window; a device with several such series keeps the first found.
    """
    start = now - window_s
    async with store.read() as session:
        query = select(Series.id, Series.device_id, Series.metric)
        if device_ids is not None:
            query = query.where(Series.device_id.in_(device_ids))
        wanted: dict[int, tuple[int, str]] = {}
        taken: set[tuple[int, str]] = set()
        for sid, device_id, metric in (await session.execute(query.order_by(Series.id))).all():
            kind = _metric_kind(metric)
            if kind is None or (device_id, kind) in taken:
                continue
            taken.add((device_id, kind))
            wanted[sid] = (device_id, kind)
        if not wanted:
            return {}
        raw: dict[int, list[tuple[float, float]]] = defaultdict(list)
        sample_query = select(Sample.series_id, Sample.ts, Sample.value).where(
            Sample.ts >= start, Sample.ts <= now
        )
        if len(wanted) <= 900:
            sample_query = sample_query.where(Sample.series_id.in_(list(wanted)))
        for sid, ts, value in (await session.execute(sample_query)).all():
            if sid in wanted:
                raw[sid].append((ts, value))
        if not raw:  # raw samples pruned: fall back to the 5-minute roll-ups
            rollups = select(
                SampleRollup.series_id, SampleRollup.bucket, SampleRollup.sum, SampleRollup.count
            ).where(SampleRollup.resolution == 300, SampleRollup.bucket >= start)
            for sid, bucket, total, count in (await session.execute(rollups)).all():
                if sid in wanted and count:
                    raw[sid].append((float(bucket), total / count))
    out: dict[int, dict[str, tuple[float, ...]]] = defaultdict(dict)
    for sid, pts in raw.items():
        device_id, kind = wanted[sid]
        out[device_id][kind] = _buckets(pts, start, now, points)
    return dict(out)


async def load_snapshot(
    store: Store, *, now: float | None = None, history: bool = True
) -> Snapshot:
    """Everything the dashboard draws, in one read transaction plus the history read."""
    now = time.time() if now is None else now
    last_event_id = await store.last_event_id()  # before the reads: replays, never gaps
    async with store.read() as session:
        device_rows = (await session.execute(_device_query())).all()
        check_rows = (await session.execute(_check_query())).all()
        alert_rows = (
            await session.execute(_alert_query().where(Alert.resolved_at.is_(None)))
        ).all()
        clients = (await session.execute(select(Client.id, Client.code, Client.name))).all()
        maintenance = await _maintenance_devices(session, now)
    sparks = await load_history(store, now) if history else {}

    checks = {row[0]: CheckBrief(*row) for row in check_rows}
    by_device: dict[int, list[CheckBrief]] = defaultdict(list)
    for brief in checks.values():
        by_device[brief.device_id].append(brief)

    tiles: list[DeviceTile] = []
    disabled = 0
    for row in device_rows:
        did, enabled = row[0], row[6]
        if not enabled:
            disabled += 1
            continue
        spark = sparks.get(did, {})
        tiles.append(_tile(row, worst_check(by_device.get(did, ())), spark, did in maintenance))
    tiles.sort(key=lambda t: (t.client.lower(), t.client_id, t.site.lower(), t.site_id, t.name))
    alerts = tuple(sorted((_alert_row(r) for r in alert_rows), key=AlertRow.sort_key))
    return Snapshot(
        devices=tuple(tiles),
        checks=checks,
        alerts=alerts,
        clients=summarise_clients(clients, tiles, alerts),
        last_event_id=last_event_id,
        loaded_at=now,
        disabled=disabled,
    )


def _tile(
    row: Sequence[Any],
    worst: CheckBrief | None,
    spark: dict[str, tuple[float, ...]],
    in_maintenance: bool,
) -> DeviceTile:
    """A tile from a ``_device_query`` row and the check that decides its state."""
    did, name, kind, address, parent_id, tags, _enabled, site_id, site, client_id, client = row
    bad = worst is not None and worst.state != "OK"
    return DeviceTile(
        id=did,
        name=name,
        client_id=client_id,
        client=client,
        site_id=site_id,
        site=site,
        kind=kind,
        address=address,
        parent_id=parent_id,
        state=worst.state if worst else "PENDING",
        worst_check=worst.name if worst and bad else "",
        worst_output=worst.output if worst and bad else "",
        since=worst.since if worst else 0.0,
        latency=spark.get("latency", ()),
        cpu=spark.get("cpu", ()),
        tags=tuple(str(t) for t in tags or ()),
        in_maintenance=in_maintenance,
    )


def worst_check(checks: Iterable[CheckBrief]) -> CheckBrief | None:
    """The check that decides a device's state: worst state, then the longest in it."""
    worst: CheckBrief | None = None
    for brief in checks:
        if worst is None:
            worst = brief
            continue
        a, b = state_rank(brief.state), state_rank(worst.state)
        if a > b or (a == b and brief.since < worst.since):
            worst = brief
    return worst


def summarise_clients(
    clients: Iterable[Sequence[Any]], tiles: Iterable[DeviceTile], alerts: Iterable[AlertRow]
) -> tuple[ClientSummary, ...]:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    for tile in tiles:
        counts[tile.client_id][tile.state] = counts[tile.client_id].get(tile.state, 0) + 1
    open_alerts: dict[int, int] = defaultdict(int)
    for alert in alerts:
        if alert.client_id is not None:
            open_alerts[alert.client_id] += 1
    out = [
        ClientSummary(
            id=cid,
            code=code,
            name=name,
            devices=sum(counts[cid].values()),
            counts=dict(counts[cid]),
            open_alerts=open_alerts[cid],
        )
        for cid, code, name in clients
    ]
    return tuple(sorted(out, key=lambda c: (c.name.lower(), c.id)))


# live changes ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Changes:
    """What a batch of events changed, read back from the store: ready to apply."""

    checks: dict[int, CheckBrief] = field(default_factory=dict)
    alerts: dict[int, AlertRow] = field(default_factory=dict)
    """Alerts to add or replace; a resolved one has ``resolved_at`` set and leaves the queue."""
    reload: bool = False
    """Something structural changed (devices, maintenance): reload the snapshot."""
    last_event_id: int = 0

    def __bool__(self) -> bool:
        return bool(self.checks or self.alerts or self.reload)


class EventLike(Protocol):
    """What the console reads of an event: ``Event`` rows and ``TailEvent`` tuples alike."""

    @property
    def id(self) -> int: ...
    @property
    def ts(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def device_id(self) -> int | None: ...
    @property
    def check_id(self) -> int | None: ...
    @property
    def alert_id(self) -> int | None: ...
    @property
    def ticket_id(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


class TailEvent(NamedTuple):
    """An event as the tail reads it: a plain tuple, four times cheaper than an ORM row when
    10,000 arrive in a second (measured: 67 ms against 287 ms for 10,000 on SQLite)."""

    id: int
    ts: float
    kind: str
    device_id: int | None
    check_id: int | None
    alert_id: int | None
    ticket_id: int | None
    actor: str
    data: dict[str, Any]


async def events_after(store: Store, after_id: int, limit: int = 1000) -> list[TailEvent]:
    """``Store.events_after`` as column tuples: the same rows, the same order."""
    query = (
        select(
            Event.id,
            Event.ts,
            Event.kind,
            Event.device_id,
            Event.check_id,
            Event.alert_id,
            Event.ticket_id,
            Event.actor,
            Event.data,
        )
        .where(Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    )
    async with store.read() as session:
        return [TailEvent(*row) for row in (await session.execute(query)).all()]


STRUCTURAL_PREFIXES = ("device.", "inventory.", "maintenance.", "client.", "site.", "check.added")


def _event_state(event: EventLike, names: dict[int, str]) -> CheckBrief | None:
    """A check state carried by the event itself, when the poller put it there."""
    data = event.data or {}
    state = data.get("state")
    if not isinstance(state, str) or event.check_id is None or event.device_id is None:
        return None
    if event.check_id not in names:
        return None
    output = data.get("output", "")
    since = data.get("since", event.ts)
    return CheckBrief(
        check_id=event.check_id,
        device_id=event.device_id,
        name=names[event.check_id],
        state=state.upper(),
        since=float(since) if isinstance(since, int | float) else event.ts,
        output=str(output)[:OUTPUT_CHARS],
    )


async def fetch_changes(
    store: Store, events: Sequence[EventLike], known_checks: dict[int, CheckBrief]
) -> Changes:
    """Turn events into rows: states from the event when it carries one, else from the store.

    Events are pointers and the store is the truth, so a console never depends on how much a
    poller chose to put in an event's payload; reading per batch keeps a storm to two queries.
    """
    changes = Changes(last_event_id=events[-1].id if events else 0)
    names = {cid: brief.name for cid, brief in known_checks.items()}
    refetch_checks: set[int] = set()
    alert_ids: set[int] = set()
    tickets: set[int] = set()
    for event in events:
        if event.kind.startswith(STRUCTURAL_PREFIXES):
            changes.reload = True
        if event.alert_id is not None:
            alert_ids.add(event.alert_id)
        linked = (event.data or {}).get("alert_id") if event.kind == "ticket.created" else None
        if isinstance(linked, int):
            alert_ids.add(linked)  # the alert now shows its ticket's number
        if event.kind == "ticket.updated" and event.ticket_id is not None:
            tickets.add(event.ticket_id)  # its alerts show the new assignee and SLA clock
        if event.check_id is not None:
            brief = _event_state(event, names)
            if brief is not None:
                changes.checks[brief.check_id] = brief
                refetch_checks.discard(brief.check_id)
            elif event.kind.startswith(("check", "state")):
                refetch_checks.add(event.check_id)
    if refetch_checks or alert_ids or tickets:
        async with store.read() as session:
            for chunk in _chunks(sorted(refetch_checks)):
                rows = await session.execute(_check_query().where(CheckState.check_id.in_(chunk)))
                for row in rows.all():
                    changes.checks[row[0]] = CheckBrief(*row)
            queries: list[ColumnElement[bool]] = [
                Alert.id.in_(chunk) for chunk in _chunks(sorted(alert_ids))
            ]
            queries += [
                Alert.ticket_id.in_(chunk) & Alert.resolved_at.is_(None)
                for chunk in _chunks(sorted(tickets))
            ]
            for where in queries:
                for row in (await session.execute(_alert_query().where(where))).all():
                    alert = _alert_row(row)
                    changes.alerts[alert.id] = alert
    return changes


class EventTail:
    """Follows the event bus from an id: ``poll()`` returns what is new, in order, once."""

    def __init__(self, store: Store, after_id: int, *, batch: int = 5000, max_batches: int = 10):
        self.store = store
        self.last_id = after_id
        self.batch = batch
        self.max_batches = max_batches

    async def poll(self) -> list[TailEvent]:
        """Everything after ``last_id``, up to ``batch * max_batches`` events a call so that one
        poll after a long pause cannot hold the caller for long."""
        out: list[TailEvent] = []
        for _ in range(self.max_batches):
            events = await events_after(self.store, self.last_id, self.batch)
            if not events:
                break
            out.extend(events)
            self.last_id = events[-1].id
            if len(events) < self.batch:
                break
        return out

    async def follow(
        self, interval_s: float, *, stop: asyncio.Event
    ) -> AsyncIterator[list[TailEvent]]:
        """Batches until ``stop`` is set, waiting ``interval_s`` after each empty poll."""
        while not stop.is_set():
            events = await self.poll()
            if events:
                yield events
                continue
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass


# device detail --------------------------------------------------------------------------------


def _identity(checks: Sequence[CheckDetail]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for check in sorted(checks, key=lambda c: c.last_ts):  # newest wins
        merged.update(check.values)
    identity: dict[str, Any] = {}
    for field_name, keys in IDENTITY_KEYS.items():
        for key in keys:
            if key in merged and merged[key] not in (None, ""):
                identity[field_name] = merged[key]
                break
    return identity


def _grouped(checks: Sequence[CheckDetail], prefix: str) -> dict[str, dict[str, Any]]:
    """``if.Gi0/1.in_bps`` -> ``{"Gi0/1": {"in_bps": ...}}``: names may hold dots, metrics not."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for check in sorted(checks, key=lambda c: c.last_ts):
        for key, value in check.values.items():
            if not key.startswith(prefix):
                continue
            name, dot, metric = key[len(prefix) :].rpartition(".")
            if dot and name:
                out[name][metric] = value
    return {name: out[name] for name in sorted(out)}


async def device_detail(
    store: Store,
    device_id: int,
    *,
    now: float | None = None,
    window_s: float = 6 * 3600.0,
    points: int = 60,
    events: int = 50,
) -> DeviceDetail | None:
    """Everything about one device, or ``None`` when it no longer exists."""
    now = time.time() if now is None else now
    async with store.read() as session:
        row = (await session.execute(_device_query().where(Device.id == device_id))).first()
        if row is None:
            return None
        device = await session.get(Device, device_id)
        assert device is not None
        parent = (
            await session.scalar(select(Device.name).where(Device.id == device.parent_id))
            if device.parent_id is not None
            else None
        )
        children = tuple(
            await session.scalars(
                select(Device.name).where(Device.parent_id == device_id).order_by(Device.name)
            )
        )
        check_rows = (
            await session.execute(
                select(Check, CheckState)
                .outerjoin(CheckState, CheckState.check_id == Check.id)
                .where(Check.device_id == device_id)
                .order_by(Check.name)
            )
        ).all()
        alert_rows = (
            await session.execute(
                _alert_query().where(Alert.device_id == device_id, Alert.resolved_at.is_(None))
            )
        ).all()
        series = {
            sid: (check, metric)
            for sid, check, metric in (
                await session.execute(
                    select(Series.id, Check.name, Series.metric)
                    .join(Check, Series.check_id == Check.id)
                    .where(Series.device_id == device_id)
                )
            ).all()
        }
        samples: dict[int, list[tuple[float, float]]] = defaultdict(list)
        if series:
            for sid, ts, value in (
                await session.execute(
                    select(Sample.series_id, Sample.ts, Sample.value)
                    .where(Sample.series_id.in_(list(series)), Sample.ts >= now - window_s)
                    .order_by(Sample.ts)
                )
            ).all():
                samples[sid].append((ts, value))
        event_rows = list(
            await session.scalars(
                select(Event)
                .where(Event.device_id == device_id)
                .order_by(Event.id.desc())
                .limit(events)
            )
        )
        maintenance = await _maintenance_devices(session, now)
        windows = tuple(
            await session.scalars(
                select(MaintenanceWindow).where(
                    MaintenanceWindow.ended_at.is_(None),
                    or_(
                        (MaintenanceWindow.scope == "device")
                        & (MaintenanceWindow.scope_id == device_id),
                        (MaintenanceWindow.scope == "site")
                        & (MaintenanceWindow.scope_id == device.site_id),
                        (MaintenanceWindow.scope == "client")
                        & (MaintenanceWindow.scope_id == row[9]),
                    ),
                )
            )
        )

    checks = tuple(
        CheckDetail(
            id=check.id,
            name=check.name,
            type=check.type,
            state=state.state if state else "PENDING",
            since=state.since if state else 0.0,
            last_ts=state.last_ts if state else 0.0,
            output=state.output if state else "",
            values=dict(state.values) if state else {},
            interval_s=check.interval_s,
            flapping=state.flapping if state else False,
            enabled=check.enabled,
        )
        for check, state in check_rows
    )
    names = {c.id: c.name for c in checks}
    briefs = [
        CheckBrief(c.id, device_id, c.name, c.state, c.since, c.output)
        for c in checks
        if c.state != "PENDING"
    ]
    history = {
        f"{series[sid][0]}/{series[sid][1]}": _buckets(pts, now - window_s, now, points)
        for sid, pts in samples.items()
    }
    spark = {
        kind: values
        for key, values in history.items()
        if (kind := _metric_kind(key.split("/", 1)[1])) is not None
    }
    tile = _tile(row, worst_check(briefs), spark, device_id in maintenance)
    return DeviceDetail(
        tile=tile,
        description=device.description,
        parent=parent or "",
        children=children,
        identity=_identity(checks),
        checks=checks,
        history=history,
        interfaces=_grouped(checks, "if."),
        filesystems=_grouped(checks, "fs."),
        alerts=tuple(sorted((_alert_row(r) for r in alert_rows), key=AlertRow.sort_key)),
        events=tuple(
            EventRow(e.id, e.ts, e.kind, e.actor, names.get(e.check_id or -1, ""), dict(e.data))
            for e in event_rows
        ),
        maintenance=windows,
    )
