"""The evaluator: probe results in; check states, alerts and events out, one transaction a batch.

For each batch of observations (a check id, its ``ProbeResult``, the attempts the scheduler
made, the measurement time):

1. ``judge`` each result against its check (thresholds with durations and hysteresis,
   retries, the 21-state flap history);
2. settle each check's state against its path (``dependencies``), parents before children, so
   that a router and the devices behind it, failing together, give one alert;
3. raise, repeat and resolve alerts (``alerts``); a flapping check raises one flapping alert
   and holds the rest;
4. look for stale checks (UNKNOWN, one alert for all of them) and for maintenance windows
   (recorded on each open alert, so ``should_notify`` can answer from the row);
5. write it all — states, alerts, events, "until OK" windows that ended — in one write
   transaction, and only then make it the evaluator's memory.

The evaluator keeps every check's state in memory (restored from ``check_states`` and the open
alerts at start) and reads the store a fixed number of times a batch, so 10,000 checks a
minute cost a few statements a second, not one round trip per check. One evaluator owns each
check (pollers split the inventory by zone, and each runs its own evaluator).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from noc.alerting import alerts as alerting
from noc.alerting.alerts import AlertBook, AlertMemo, AlertTxn, dedup_key
from noc.alerting.dependencies import (
    Evidence,
    Topology,
    Verdict,
    find_root,
    judge_path,
)
from noc.alerting.flapping import HISTORY
from noc.alerting.judge import (
    DOWN,
    FAILED,
    FLAPPING,
    RESERVED,
    STALE,
    CheckConfig,
    CheckMemo,
    Condition,
    Judgement,
    failure_conditions,
    go_stale,
    judge,
)
from noc.alerting.maintenance import (
    MaintenanceIndex,
    Placement,
    Window,
    end_recovered_windows,
    load_windows,
)
from noc.alerting.policy import Policy
from noc.alerting.snapshot import (
    DeviceRow,
    build_config,
    build_topology,
    load_checks,
    load_devices,
    load_open_alerts,
    load_states,
    memo_from_row,
    with_metric_levels,
)
from noc.alerting.states import State
from noc.alerting.writing import alert_events, append, upsert_states, write_alerts
from noc.probes.result import ProbeResult
from noc.storage.jsoncol import json_safe
from noc.storage.models import Check, CheckState
from noc.storage.store import EVENTS_LOCK_KEY, EventRecord, Store

__all__ = ["BatchReport", "Evaluator", "Observation", "Policy"]

IN_CHUNK = 5000
"""Ids per ``IN (...)``: well under SQLite's and asyncpg's bound-parameter limits."""


class _JobLike(Protocol):
    @property
    def check_id(self) -> int: ...


class OutcomeLike(Protocol):
    """What the poller's ``CheckOutcome`` offers (read structurally, no import of the poller)."""

    @property
    def job(self) -> _JobLike: ...
    @property
    def result(self) -> ProbeResult: ...
    @property
    def attempts(self) -> int: ...
    @property
    def ts(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Observation:
    check_id: int
    result: ProbeResult
    attempts: int = 1
    """Attempts the run made: 1, or more when the scheduler retried before giving up."""
    ts: float = 0.0
    """When the result was measured (wall clock, epoch seconds)."""

    @classmethod
    def of(cls, outcome: OutcomeLike) -> Observation:
        return cls(outcome.job.check_id, outcome.result, outcome.attempts, outcome.ts)


@dataclass(slots=True)
class BatchReport:
    observations: int = 0
    orphans: int = 0
    """Results of checks no longer in the inventory (or disabled): dropped."""
    state_changes: int = 0
    opened: int = 0
    resolved: int = 0
    events: int = 0
    held: int = 0
    """Failures waiting for a parent's verdict before they may alert."""
    recheck: set[int] = field(default_factory=set)
    """Reachability checks whose verdict held failures wait for: poll them now if you can."""


@dataclass(slots=True)
class _Batch:
    now: float
    txn: AlertTxn
    memos: Mapping[int, CheckMemo]
    configs: Mapping[int, CheckConfig]
    staged: dict[int, CheckMemo] = field(default_factory=dict)
    """Checks this batch changed: their memory after the commit, and their stored rows."""
    report: BatchReport = field(default_factory=BatchReport)
    reach_changed: bool = False
    stale_changed: bool = False
    swept: bool = False
    next_sweep: float = float("-inf")
    removed: set[int] = field(default_factory=set)

    def memo(self, check_id: int) -> CheckMemo:
        staged = self.staged.get(check_id)
        if staged is not None:
            return staged
        return self.memos.get(check_id) or CheckMemo()

    def evidence(self, check_id: int) -> Evidence | None:
        config = self.configs.get(check_id)
        if config is None:
            return None
        memo = self.memo(check_id)
        return Evidence(
            state=memo.state,
            failure=memo.failure,
            soft_failing=memo.attempts > 0 and not memo.failure,
            last_answer=memo.last_answer,
            interval=config.interval,
            stale=memo.stale,
        )


class Evaluator:
    def __init__(
        self,
        store: Store,
        *,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
        zone: str = "",
    ) -> None:
        """``clock`` gives wall-clock epoch seconds (the poller's ``clock.time`` fits);
        ``zone`` limits the checks this evaluator owns to one zone ("" owns every check)."""
        self.store = store
        self.policy = policy or Policy()
        self.clock = clock
        self.zone = zone
        self.book = AlertBook()
        self._configs: dict[int, CheckConfig] = {}
        self._memos: dict[int, CheckMemo] = {}
        self._devices: dict[int, DeviceRow] = {}
        self._topology = Topology({})
        self._placements: dict[int, Placement] = {}
        self._held: set[int] = set()
        self._rejudge: set[int] = set()
        self._removed: set[int] = set()
        self._started: float | None = None
        self._first = True
        self._next_sweep = float("-inf")
        self._unreachable: set[int] = set()
        self._lock = asyncio.Lock()
        self.stale_key = dedup_key(None, None, f"{STALE}:{zone or '*'}")

    # state ------------------------------------------------------------------------------------

    def memo(self, check_id: int) -> CheckMemo | None:
        return self._memos.get(check_id)

    def config(self, check_id: int) -> CheckConfig | None:
        return self._configs.get(check_id)

    @property
    def open_alerts(self) -> Mapping[str, AlertMemo]:
        return self.book.open

    # loading ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read checks, devices, stored states and open alerts: the memory a restart keeps."""
        async with self._lock:
            async with self.store.read() as session:
                await self._load(session, alerts=await load_open_alerts(session))
            self._started = self.clock()
            self._rejudge = {
                cid
                for cid, memo in self._memos.items()
                if self._configs[cid].owned and memo.failure and memo.state is not State.UNREACHABLE
            }

    async def reload(self) -> None:
        """Pick up an inventory change; alerts of checks that went away resolve next batch."""
        async with self._lock:
            before = {cid for cid, c in self._configs.items() if c.owned}
            async with self.store.read() as session:
                await self._load(session, alerts=None)
            self._removed |= before - {cid for cid, c in self._configs.items() if c.owned}

    async def _load(self, session: AsyncSession, alerts: list[AlertMemo] | None) -> None:
        self._devices = await load_devices(session)
        checks = await load_checks(session)
        rows = await load_states(session)
        configs = {
            c.id: build_config(c, self._devices[c.device_id], self.policy, self.zone)
            for c in checks
            if c.device_id in self._devices
        }
        by_check: dict[int, list[AlertMemo]] = {}
        if alerts is not None:
            self.book = AlertBook()
            for alert in alerts:
                owned = alert.check_id in configs and configs[alert.check_id].owned
                if owned or alert.key == self.stale_key:
                    self.book.add(alert)
                    if alert.check_id is not None:
                        by_check.setdefault(alert.check_id, []).append(alert)
        memos: dict[int, CheckMemo] = {}
        for cid, config in configs.items():
            kept = self._memos.get(cid)
            if kept is not None and config.owned and cid in self._configs:
                memos[cid] = kept  # memory is newer than the row for a check we evaluate
            else:
                memo = memo_from_row(config, rows.get(cid))
                memos[cid] = with_metric_levels(memo, by_check.get(cid, ()))
        self._configs, self._memos = configs, memos
        self._topology = build_topology(self._devices, configs)
        self._placements = _placements(self._devices)
        self._held = {cid for cid, m in memos.items() if m.hold_until is not None}
        self._unreachable = {cid for cid, m in memos.items() if m.state is State.UNREACHABLE}
        self._next_sweep = float("-inf")

    # the batch --------------------------------------------------------------------------------

    async def process(self, observations: Iterable[Observation]) -> BatchReport:
        """Evaluate a batch (possibly empty: stale checks and held failures still move) and
        write it in one transaction; memory changes only once the store has committed."""
        async with self._lock:
            async with self.store.write() as session:
                if not self.store.sqlite:
                    # The lock event writers take, taken first: a ticket linking an alert takes
                    # it before the alert's row, so taking it after our row updates could
                    # deadlock with it (SQLite's BEGIN IMMEDIATE already serialises writers).
                    await session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK_KEY}
                    )
                batch = await self._stage(session, list(observations))
            self._commit(batch)
            return batch.report

    async def _stage(self, session: AsyncSession, observations: list[Observation]) -> _Batch:
        if self._started is None:
            raise RuntimeError("Evaluator.start() must run before the first batch")
        batch = _Batch(self.clock(), self.book.begin(), self._memos, self._configs)
        batch.report.observations = len(observations)
        observations = await self._known(session, observations, batch)
        self._retire_removed(batch)
        extra = self._held | self._rejudge
        for round_ in _rounds(observations):
            judged: dict[int, tuple[Judgement, float, CheckMemo]] = {}
            for obs in round_:
                before = batch.memo(obs.check_id)
                memo, judgement = judge(
                    self._configs[obs.check_id], before, obs.result, obs.attempts, obs.ts
                )
                batch.staged[obs.check_id] = memo
                judged[obs.check_id] = (judgement, obs.ts, before)
            await self._refresh_foreign(session, batch, judged.keys() | extra)
            self._settle(batch, judged, extra)
            extra = set()
        if extra:
            await self._refresh_foreign(session, batch, extra)
            self._settle(batch, {}, extra)
        self._sweep(batch)
        self._list_children(batch)
        self._stale_alert(batch)
        windows = await load_windows(session, batch.now)
        self._mark_maintenance(batch, windows)
        await self._write(session, batch, windows)
        return batch

    def _commit(self, batch: _Batch) -> None:
        self._memos.update(batch.staged)
        for cid, memo in batch.staged.items():
            if memo.hold_until is not None:
                self._held.add(cid)
            else:
                self._held.discard(cid)
        self.book.commit(batch.txn)
        self._removed -= batch.removed
        self._rejudge.clear()
        self._first = False
        if batch.swept:
            self._next_sweep = batch.next_sweep
        for cid, memo in batch.staged.items():
            if memo.state is State.UNREACHABLE:
                self._unreachable.add(cid)
            else:
                self._unreachable.discard(cid)

    async def _known(
        self, session: AsyncSession, observations: list[Observation], batch: _Batch
    ) -> list[Observation]:
        """Drop results of checks deleted or disabled meanwhile; learn checks added meanwhile."""
        ids = {o.check_id for o in observations}
        if not ids:
            return observations
        existing: set[int] = set()
        wanted = sorted(ids)
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            existing.update(await session.scalars(select(Check.id).where(Check.id.in_(chunk))))
        new = (ids & existing) - self._configs.keys()
        if new:
            await self._learn(session, new)
        kept = [o for o in observations if o.check_id in self._configs and o.check_id in existing]
        batch.report.orphans = len(observations) - len(kept)
        for cid in ids - existing:
            if cid in self._configs:
                self._removed.add(cid)
        return kept

    async def _learn(self, session: AsyncSession, ids: set[int]) -> None:
        checks = await load_checks(session, ids)
        if not checks:
            return
        self._devices = await load_devices(session)
        rows = {
            r.check_id: r
            for r in await session.scalars(
                select(CheckState).where(CheckState.check_id.in_(sorted(ids)))
            )
        }
        for check in checks:
            device = self._devices.get(check.device_id)
            if device is None:
                continue
            config = build_config(check, device, self.policy, self.zone)
            self._configs[check.id] = config
            self._memos[check.id] = memo_from_row(config, rows.get(check.id))
        self._topology = build_topology(self._devices, self._configs)
        self._placements = _placements(self._devices)
        self._next_sweep = float("-inf")

    def _retire_removed(self, batch: _Batch) -> None:
        for cid in self._removed:
            for key in batch.txn.keys_of(cid):
                batch.txn.resolve(key, batch.now, "the check was removed or disabled")
            batch.removed.add(cid)
            self._configs.pop(cid, None)
            self._memos.pop(cid, None)
            self._held.discard(cid)
            self._unreachable.discard(cid)
        if batch.removed:
            self._topology = build_topology(self._devices, self._configs)
            batch.reach_changed = True

    async def _refresh_foreign(
        self, session: AsyncSession, batch: _Batch, candidates: Iterable[int]
    ) -> None:
        """Reachability checks of other zones on the paths of failures: read their state now."""
        if not self.zone:
            return
        wanted: set[int] = set()
        for cid in candidates:
            config = self._configs.get(cid)
            if config is None or not batch.memo(cid).failure:
                continue
            for node in self._topology.path(config.device_id):
                reach = node.reach_check_id
                if reach is not None and reach in self._configs and not self._configs[reach].owned:
                    wanted.add(reach)
        if not wanted:
            return
        rows = await session.scalars(
            select(CheckState).where(CheckState.check_id.in_(sorted(wanted)))
        )
        for row in rows:
            self._memos[row.check_id] = memo_from_row(self._configs[row.check_id], row)

    # settling states --------------------------------------------------------------------------

    def _settle(
        self,
        batch: _Batch,
        judged: Mapping[int, tuple[Judgement, float, CheckMemo]],
        extra: Iterable[int],
    ) -> None:
        candidates = set(judged) | {cid for cid in extra if cid in self._configs}

        def order(cid: int) -> tuple[int, int, int]:
            config = self._configs[cid]
            return (self._topology.depth(config.device_id), 0 if config.reachability else 1, cid)

        for cid in sorted(candidates, key=order):
            config = self._configs[cid]
            judgement, ts, before = judged.get(cid, (None, batch.now, batch.memo(cid)))
            memo = batch.memo(cid)
            final, verdict, hold = memo.own, Verdict.OWN, None
            if memo.stale:
                final = State.UNKNOWN
            elif memo.failure:
                path = judge_path(
                    self._topology,
                    config.device_id,
                    include_self=not config.reachability,
                    fail_since=memo.fail_since if memo.fail_since is not None else memo.since,
                    now=batch.now,
                    lookup=batch.evidence,
                    wait=self.policy.dependency_wait,
                    max_wait=self.policy.dependency_max_wait,
                )
                verdict = path.verdict
                if verdict is Verdict.UNREACHABLE:
                    final = State.UNREACHABLE
                elif verdict is Verdict.HOLD:
                    hold = path.until
                    if path.wait_on is not None:
                        batch.report.recheck.add(path.wait_on)
                    batch.report.held += 1
            if judgement is None and memo.state is State.UNREACHABLE:
                # Without a new result a consequence stays one until the check speaks again.
                final, verdict, hold = State.UNREACHABLE, Verdict.UNREACHABLE, None
            if before.stale and not memo.stale:
                batch.stale_changed = True
            memo = self._transition(batch, config, before, memo, final, ts, hold)
            self._alerts(batch, config, memo, judgement, verdict, ts)

    def _transition(
        self,
        batch: _Batch,
        config: CheckConfig,
        before: CheckMemo,
        memo: CheckMemo,
        final: State,
        ts: float,
        hold: float | None,
    ) -> CheckMemo:
        changed = final is not before.state or not before.seen
        memo = replace(memo, state=final, hold_until=hold, since=ts if changed else memo.since)
        batch.staged[config.check_id] = memo
        if changed:
            batch.report.state_changes += 1
            if config.reachability:
                batch.reach_changed = True
            batch.txn.note(
                EventRecord(
                    alerting.STATE_EVENT,
                    device_id=config.device_id,
                    check_id=config.check_id,
                    ts=ts,
                    data={
                        "from": str(before.state) if before.seen else None,
                        "to": str(final),
                        "device": config.device_name,
                        "check": config.check_name,
                        "output": memo.output,
                    },
                )
            )
        return memo

    # alerts -----------------------------------------------------------------------------------

    def _alerts(
        self,
        batch: _Batch,
        config: CheckConfig,
        memo: CheckMemo,
        judgement: Judgement | None,
        verdict: Verdict,
        ts: float,
    ) -> None:
        txn = batch.txn
        labels = {"device": config.device_name, "check": config.check_name}

        def show(name: str, condition: Condition, **kwargs: Any) -> None:
            txn.show(
                dedup_key(config.device_id, config.check_id, name),
                condition,
                device_id=config.device_id,
                check_id=config.check_id,
                name=name,
                ts=ts,
                labels=labels,
                **kwargs,
            )

        if judgement is None:
            # Re-judged without a new result: a held failure may now open (never repeat).
            if memo.failure and verdict is Verdict.OWN and not memo.flapping and not memo.stale:
                for name, condition in failure_conditions(config, memo.output).items():
                    show(name, condition, repeat=False)
            return
        if judgement.flap_started or judgement.flap_stopped or memo.flapping:
            self._flapping(batch, config, memo, judgement, ts, labels)
            if memo.flapping:
                return  # the flapping alert stands for the underlying conditions
        for name, condition in judgement.conditions.items():
            failure = name in (DOWN, FAILED)
            if failure and verdict is Verdict.UNREACHABLE:
                continue
            show(name, condition, may_open=not (failure and verdict is Verdict.HOLD))
        for key in txn.keys_of(config.check_id):
            alert = txn.get(key)
            if alert is None:
                continue
            name = str(alert.data.get("condition") or alert.condition)
            if name == FLAPPING or name in judgement.conditions:
                continue
            rule_gone = name not in RESERVED and config.rules.rule_for(name) is None
            if name in judgement.good or (judgement.answered and rule_gone):
                txn.proven_good(key, ts, config.recover_after)
            else:
                txn.not_judged(key)

    def _flapping(
        self,
        batch: _Batch,
        config: CheckConfig,
        memo: CheckMemo,
        judgement: Judgement,
        ts: float,
        labels: Mapping[str, str],
    ) -> None:
        txn = batch.txn
        key = dedup_key(config.device_id, config.check_id, FLAPPING)
        pct = memo.flap_pct
        others = [k for k in txn.keys_of(config.check_id) if k != key]
        if memo.flapping:
            summary = f"flapping: the state changed in {pct:.1f} % of the last {HISTORY} results"
            txn.show(
                key,
                Condition(State.WARNING, summary, {"percent": pct}),
                device_id=config.device_id,
                check_id=config.check_id,
                name=FLAPPING,
                ts=ts,
                labels=labels,
            )
        if judgement.flap_started:
            txn.announce(
                alerting.FLAPPING_EVENT, key, ts, {"flapping": True, "percent": pct, **labels}
            )
            for other in others:
                txn.annotate(other, ts, {"flapping": True}, "held while the check flaps")
        if judgement.flap_stopped:
            txn.resolve(key, ts, f"flapping stopped at {pct:.1f} %")
            txn.announce(
                alerting.FLAPPING_EVENT, key, ts, {"flapping": False, "percent": pct, **labels}
            )
            for other in others:
                txn.annotate(other, ts, {"flapping": None}, "no longer held: flapping stopped")

    def _list_children(self, batch: _Batch) -> None:
        """Under each root's DOWN alert, the devices unreachable because of it."""
        root_opened = any(
            s.write == "new" and s.memo.condition == DOWN for s in batch.txn.slots.values()
        )
        if not (batch.reach_changed or root_opened or self._first):
            return
        behind: dict[int, set[int]] = {}
        for cid in self._unreachable | batch.staged.keys():
            config = self._configs.get(cid)
            if config is None or batch.memo(cid).state is not State.UNREACHABLE:
                continue
            node = self._topology.nodes.get(config.device_id)
            if node is None:
                continue
            root = find_root(self._topology, node, batch.evidence)
            if root != config.device_id:
                behind.setdefault(root, set()).add(config.device_id)
        limit = self.policy.children_listed
        for root, devices in behind.items():
            node = self._topology.nodes.get(root)
            if node is None or node.reach_check_id is None:
                continue
            key = dedup_key(root, node.reach_check_id, DOWN)
            listed = [
                {"id": d, "name": self._devices[d].name if d in self._devices else str(d)}
                for d in sorted(devices)[:limit]
            ]
            batch.txn.annotate(
                key,
                batch.now,
                {"children": listed, "children_count": len(devices)},
                f"{len(devices)} devices behind it unreachable",
            )

    # stale checks -----------------------------------------------------------------------------

    def _sweep(self, batch: _Batch) -> None:
        """Mark checks without a result for ``stale_after`` intervals; between two looks it
        only waits for the earliest moment one could go stale (results only push that later)."""
        if batch.now < self._next_sweep:
            return
        batch.swept = True
        started = self._started or 0.0
        factor = self.policy.stale_after
        next_due = float("inf")
        for cid, config in self._configs.items():
            if not config.owned:
                continue
            memo = batch.memo(cid)
            if memo.stale:
                continue
            seen_from = max(memo.last_ts, started)
            due = seen_from + factor * config.interval
            if batch.now <= due:
                next_due = min(next_due, due)
                continue
            stale = go_stale(config, memo, batch.now, seen_from)
            self._transition(batch, config, memo, stale, State.UNKNOWN, batch.now, None)
            batch.stale_changed = True
        batch.next_sweep = max(next_due, batch.now + self.policy.sweep_every)

    def _stale_alert(self, batch: _Batch) -> None:
        """One alert for every owned check without fresh results, never one per check."""
        if not (batch.stale_changed or self._first):
            return
        stale = sorted(cid for cid, c in self._configs.items() if c.owned and batch.memo(cid).stale)
        txn = batch.txn
        if not stale:
            txn.resolve(self.stale_key, batch.now, "every check has fresh results again")
            return
        plural = "s" if len(stale) > 1 else ""
        summary = (
            f"{len(stale)} check{plural} without a result for over "
            f"{self.policy.stale_after:g} intervals"
        )
        txn.show(
            self.stale_key,
            Condition(State.UNKNOWN, summary),
            device_id=None,
            check_id=None,
            name=STALE,
            ts=batch.now,
            labels={"zone": self.zone},
        )
        listed = [
            {"id": cid, "label": self._configs[cid].label}
            for cid in stale[: self.policy.stale_listed]
        ]
        txn.annotate(self.stale_key, batch.now, {"checks": listed, "count": len(stale)}, summary)

    # maintenance ------------------------------------------------------------------------------

    def _mark_maintenance(self, batch: _Batch, windows: list[Window]) -> None:
        """Record on every open alert the window covering it (or that none does any more)."""
        index = MaintenanceIndex(windows, self._placements if windows else None)
        txn = batch.txn
        for alert in list(txn.open_alerts()):
            window = index.covering(alert.device_id, batch.now)
            wanted = {**window.as_data(), "text": window.describe()} if window else None
            if alert.data.get("maintenance") != wanted:
                why = "maintenance started" if wanted else "maintenance over"
                txn.annotate(alert.key, batch.now, {"maintenance": wanted}, why)
        for staged in txn.events:
            if staged.slot is None or staged.record.kind not in (
                alerting.OPENED,
                alerting.SEVERITY_CHANGED,
            ):
                continue
            reason = _suppressed(staged.slot.memo)
            if reason:
                staged.data["suppressed"] = reason

    # writing ----------------------------------------------------------------------------------

    async def _write(self, session: AsyncSession, batch: _Batch, windows: list[Window]) -> None:
        rows = [
            {
                "check_id": cid,
                "device_id": self._configs[cid].device_id,
                "state": str(memo.state),
                "since": memo.since,
                "last_ts": memo.last_ts,
                "attempts": memo.attempts,
                "output": memo.output,
                "values": json_safe(memo.values),
                "flapping": memo.flapping,
                "history": list(memo.history),
            }
            for cid, memo in batch.staged.items()
            if cid in self._configs
        ]
        await upsert_states(self.store, session, rows)
        await write_alerts(session, batch.txn)
        events = alert_events(batch.txn)
        events += await end_recovered_windows(session, windows, batch.now)
        batch.report.events = await append(self.store, session, events)
        batch.report.opened = sum(e.kind == alerting.OPENED for e in events)
        batch.report.resolved = sum(e.kind == alerting.RESOLVED for e in events)


def _placements(devices: Mapping[int, DeviceRow]) -> dict[int, Placement]:
    return {d.id: Placement(d.site_id, d.client_id) for d in devices.values()}


def _suppressed(memo: AlertMemo) -> str:
    maintenance = memo.data.get("maintenance")
    if isinstance(maintenance, Mapping):
        return str(maintenance.get("text") or "maintenance")
    if memo.data.get("flapping"):
        return "the check is flapping"
    return ""


def _rounds(observations: list[Observation]) -> list[list[Observation]]:
    """Split a batch so that each round holds at most one result per check, in order."""
    rounds: list[list[Observation]] = []
    seen: dict[int, int] = {}
    for obs in observations:
        n = seen.get(obs.check_id, 0)
        seen[obs.check_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(obs)
    return rounds
