"""The console's live state: a snapshot plus every change since, coalesced until the next paint.

Changes arrive far faster than a screen is worth repainting (a storm is 10,000 state changes a
second), so ``queue`` only records the newest state per check in a dict and ``flush`` applies
them all at once, returning which devices, clients and alerts actually changed so that the UI
repaints just those lines. Per-device views are small mutable objects with a revision number:
cheaper to update than rebuilding frozen tiles, and the revision is what the grid's line cache
is keyed on.

No Textual here: the benchmark and the tests drive it directly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from noc.readmodel import (
    STATES,
    AlertRow,
    Changes,
    CheckBrief,
    DeviceTile,
    Snapshot,
    is_problem,
    state_rank,
    worst_check,
)


class DeviceView:
    """A device as drawn now: its static tile and its live state."""

    __slots__ = ("tile", "checks", "state", "worst_check", "worst_output", "since", "rev")

    def __init__(self, tile: DeviceTile, checks: dict[int, CheckBrief]) -> None:
        self.tile = tile
        self.checks = checks
        self.state = tile.state
        self.worst_check = tile.worst_check
        self.worst_output = tile.worst_output
        self.since = tile.since
        self.rev = 0

    def recompute(self) -> bool:
        """Derive the state from the checks again; returns whether anything drawn changed."""
        checks = self.checks
        if len(checks) == 1:  # most devices: no ranking needed
            worst: CheckBrief | None = next(iter(checks.values()))
        else:
            worst = worst_check(checks.values())
        if worst is None:
            state, name, output, since = "PENDING", "", "", 0.0
        elif worst.state == "OK":
            state, name, output, since = "OK", "", "", worst.since
        else:
            state, name, output, since = worst.state, worst.name, worst.output, worst.since
        if (
            state == self.state
            and name == self.worst_check
            and output == self.worst_output
            and since == self.since
        ):
            return False
        self.state, self.worst_check, self.worst_output, self.since = state, name, output, since
        self.rev += 1
        return True

    @property
    def problem(self) -> bool:
        return is_problem(self.state)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    id: int
    code: str
    name: str


@dataclass(slots=True)
class Flushed:
    """What one flush changed: the UI repaints these and nothing else."""

    devices: set[int] = field(default_factory=set)
    clients: set[int] = field(default_factory=set)
    alerts: bool = False

    def __bool__(self) -> bool:
        return bool(self.devices or self.clients or self.alerts)


Group = Literal["needs", "mine", "others"]
GROUPS: tuple[Group, ...] = ("needs", "mine", "others")
"""The on-call view's order: what nobody has taken first, then one's own, then the rest."""


class Duty(NamedTuple):
    """Where an open alert stands for one technician, and why."""

    group: Group
    why: str
    """``ack``/``ticket`` (mine), ``acked``/``ticket``/``snoozed``/``maintenance``/``parent``
    (someone else's or held), empty when it needs someone."""


class LiveModel:
    def __init__(self) -> None:
        self.devices: dict[int, DeviceView] = {}
        self.order: list[int] = []
        """Device ids grouped by client, site and name: the grid's order."""
        self.clients: dict[int, ClientInfo] = {}
        self.counts: dict[int, dict[str, int]] = {}
        """Devices per state per client."""
        self.client_rev: dict[int, int] = {}
        self.alerts: dict[int, AlertRow] = {}
        self.alert_rev = 0
        self.check_device: dict[int, int] = {}
        self.known_checks: dict[int, CheckBrief] = {}
        self.last_event_id = 0
        self.loaded_at = 0.0
        self._pending_checks: dict[int, CheckBrief] = {}
        self._pending_alerts: dict[int, AlertRow] = {}

    # loading ----------------------------------------------------------------------------------

    def reset(self, snapshot: Snapshot) -> None:
        by_device: dict[int, dict[int, CheckBrief]] = defaultdict(dict)
        for brief in snapshot.checks.values():
            by_device[brief.device_id][brief.check_id] = brief
        old_revs = {did: view.rev for did, view in self.devices.items()}
        self.devices = {}
        for tile in snapshot.devices:
            view = DeviceView(tile, by_device.get(tile.id, {}))
            view.rev = old_revs.get(tile.id, -1) + 1  # a reload repaints every line once
            self.devices[tile.id] = view
        self.order = [tile.id for tile in snapshot.devices]
        self.clients = {c.id: ClientInfo(c.id, c.code, c.name) for c in snapshot.clients}
        self.counts = {c.id: dict(c.counts) for c in snapshot.clients}
        self.client_rev = {c.id: self.client_rev.get(c.id, -1) + 1 for c in snapshot.clients}
        self.alerts = {a.id: a for a in snapshot.alerts}
        self.alert_rev += 1
        self.known_checks = dict(snapshot.checks)
        self.check_device = {cid: b.device_id for cid, b in snapshot.checks.items()}
        self.last_event_id = snapshot.last_event_id
        self.loaded_at = snapshot.loaded_at
        self._pending_checks.clear()
        self._pending_alerts.clear()

    # live changes -----------------------------------------------------------------------------

    def queue(self, changes: Changes) -> None:
        """Remember the newest row per check and per alert until the next ``flush``."""
        self._pending_checks.update(changes.checks)
        self._pending_alerts.update(changes.alerts)
        self.last_event_id = max(self.last_event_id, changes.last_event_id)

    def queue_checks(self, briefs: Iterable[CheckBrief]) -> None:
        pending = self._pending_checks
        for brief in briefs:
            pending[brief.check_id] = brief

    @property
    def pending(self) -> int:
        return len(self._pending_checks) + len(self._pending_alerts)

    def flush(self) -> Flushed:
        out = Flushed()
        touched: set[int] = set()
        devices = self.devices
        changed = out.devices
        moved: list[tuple[DeviceView, str]] = []
        find = devices.get
        mark = changed.add
        for check_id, brief in self._pending_checks.items():
            view = find(brief.device_id)
            if view is None:
                continue  # a device the snapshot does not show (disabled, or new: reload)
            checks = view.checks
            if len(checks) != 1 or check_id not in checks:
                checks[check_id] = brief
                touched.add(brief.device_id)
                continue
            # The common case, one check: its state is the device's, decided right here.
            checks[check_id] = brief
            state = brief.state
            if state == "OK":
                name = output = ""
            else:
                name, output = brief.name, brief.output
            was = view.state
            if (
                state == was
                and output == view.worst_output
                and brief.since == view.since
                and name == view.worst_check
            ):
                continue
            if state != was:
                moved.append((view, was))
            view.state = state
            view.worst_check = name
            view.worst_output = output
            view.since = brief.since
            view.rev += 1
            mark(brief.device_id)
        self._pending_checks.clear()
        for did in touched:
            view = devices[did]
            before = view.state
            if view.recompute():
                changed.add(did)
                if before != view.state:
                    moved.append((view, before))
        self._count_moves(moved, out)
        for cid in out.clients:
            self.client_rev[cid] = self.client_rev.get(cid, 0) + 1
        if self._pending_alerts:
            for aid, alert in self._pending_alerts.items():
                if alert.resolved_at is not None:
                    self.alerts.pop(aid, None)
                else:
                    self.alerts[aid] = alert
                if alert.client_id is not None:
                    self.client_rev[alert.client_id] = self.client_rev.get(alert.client_id, 0) + 1
                    out.clients.add(alert.client_id)
            self._pending_alerts.clear()
            self.alert_rev += 1
            out.alerts = True
        return out

    def set_history(self, history: dict[int, dict[str, tuple[float, ...]]]) -> Flushed:
        """New sparklines (read every minute or so); returns the devices whose line changed."""
        out = Flushed()
        for did, view in self.devices.items():
            spark = history.get(did, {})
            latency, cpu = spark.get("latency", ()), spark.get("cpu", ())
            tile = view.tile
            if latency != tile.latency or cpu != tile.cpu:
                view.tile = replace(tile, latency=latency, cpu=cpu)
                view.rev += 1
                out.devices.add(did)
        return out

    def _count_moves(self, moved: list[tuple[DeviceView, str]], out: Flushed) -> None:
        """Move devices between their client's per-state counts."""
        counts = self.counts
        for view, before in moved:
            cid = view.tile.client_id
            per = counts.get(cid)
            if per is None:
                per = counts[cid] = dict.fromkeys(STATES, 0)
            per[before] = per.get(before, 0) - 1
            per[view.state] = per.get(view.state, 0) + 1
            out.clients.add(cid)

    # queries ----------------------------------------------------------------------------------

    def open_alerts(self, client_id: int) -> int:
        return sum(1 for a in self.alerts.values() if a.client_id == client_id)

    def sorted_alerts(self) -> list[AlertRow]:
        return sorted(self.alerts.values(), key=AlertRow.sort_key)

    def device_alerts(self, device_id: int) -> list[AlertRow]:
        return sorted(
            (a for a in self.alerts.values() if a.device_id == device_id), key=AlertRow.sort_key
        )

    def duty(self, alert: AlertRow, login: str, now: float) -> Duty:
        """Whose alert this is for ``login``: noc routes nothing per person, so ownership is
        what people did. Acknowledged by me or its ticket assigned to me: mine. Acknowledged by
        someone else or its ticket assigned to someone else: taken. Otherwise it needs someone,
        unless it is held: snoozed, in maintenance, or a consequence of a parent that is down
        (the device is UNREACHABLE: the parent's alert is the one to answer)."""
        acked = alert.acked(now)
        if acked and alert.ack_by == login:
            return Duty("mine", "ack")
        if alert.ticket_assignee == login:
            return Duty("mine", "ticket")
        if acked:
            return Duty("others", "acked")
        if alert.ticket_assignee is not None:
            return Duty("others", "ticket")
        if alert.snoozed(now):
            return Duty("others", "snoozed")
        view = self.devices.get(alert.device_id) if alert.device_id is not None else None
        if alert.in_maintenance(now) or (view is not None and view.tile.in_maintenance):
            return Duty("others", "maintenance")
        unreachable = view is not None and view.state == "UNREACHABLE"
        if unreachable or alert.severity.lower() == "unreachable":
            return Duty("others", "parent")
        return Duty("needs", "")

    def duties(self, login: str, now: float) -> dict[Group, list[tuple[AlertRow, Duty]]]:
        """Every open alert in its group, each group worst severity first, then oldest."""
        out: dict[Group, list[tuple[AlertRow, Duty]]] = {group: [] for group in GROUPS}
        for alert in self.sorted_alerts():
            duty = self.duty(alert, login, now)
            out[duty.group].append((alert, duty))
        return out

    def worst_first(self, client_id: int | None = None) -> list[DeviceView]:
        """Problems first (worst, then longest), then the rest by name: the wall's order."""
        views = [
            v for v in self.devices.values() if client_id is None or v.tile.client_id == client_id
        ]
        return sorted(views, key=lambda v: (-state_rank(v.state), v.since, v.tile.name))
