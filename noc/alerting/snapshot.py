"""What the evaluator reads from the store when it starts: checks, devices, states and alerts.

A handful of wide selects, never one query per check. Check settings that the evaluator
understands beyond ``thresholds`` live in ``Check.params``: ``recover_after`` (consecutive good
results that resolve an alert), ``flapping`` (false turns flap detection off), ``flap_low`` and
``flap_high`` (percentages). A value that cannot be used makes the check UNKNOWN with a line
saying why, rather than silently falling back to a default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from noc.alerting import flapping
from noc.alerting.alerts import AlertMemo, from_row
from noc.alerting.dependencies import DeviceNode, Topology
from noc.alerting.judge import RESERVED, CheckConfig, CheckMemo, failure_state
from noc.alerting.policy import Policy
from noc.alerting.states import REACHABILITY_TYPES, State, parse_state, severity_state
from noc.alerting.thresholds import MetricMemo, RuleSet, ThresholdError
from noc.storage.models import Alert, Check, CheckState, Device, Site


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: int
    name: str
    kind: str
    parent_id: int | None
    site_id: int
    client_id: int
    enabled: bool
    zone: str


async def load_devices(session: AsyncSession) -> dict[int, DeviceRow]:
    rows = await session.execute(
        select(
            Device.id,
            Device.name,
            Device.kind,
            Device.parent_id,
            Device.site_id,
            Site.client_id,
            Device.enabled,
            Device.zone,
        ).join(Site, Site.id == Device.site_id)
    )
    return {r[0]: DeviceRow(*r) for r in rows}


async def load_checks(session: AsyncSession, ids: Iterable[int] | None = None) -> list[Check]:
    """Enabled checks of enabled devices (of ``ids`` only, when given)."""
    query = (
        select(Check)
        .join(Device, Device.id == Check.device_id)
        .where(Check.enabled.is_(True), Device.enabled.is_(True))
        .order_by(Check.id)
    )
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        query = query.where(Check.id.in_(wanted))
    return list(await session.scalars(query))


def build_config(check: Check, device: DeviceRow, defaults: Policy, zone: str) -> CheckConfig:
    where = f"check {device.name}/{check.name}"
    errors: list[str] = []
    try:
        rules = RuleSet.build(device.kind, check.thresholds or {}, f"{where}: thresholds")
    except ThresholdError as exc:
        rules = RuleSet.defaults(device.kind)
        errors.append(str(exc))
    params: Mapping[str, Any] = check.params or {}
    recover_after = _whole(params, "recover_after", defaults.recover_after, where, errors)
    low = _percent(params, "flap_low", defaults.flap_low, where, errors)
    high = _percent(params, "flap_high", defaults.flap_high, where, errors)
    if low > high:
        errors.append(f"{where}: flap_low {low:g} is above flap_high {high:g}")
        low, high = defaults.flap_low, defaults.flap_high
    enabled = params.get("flapping", defaults.flapping)
    if not isinstance(enabled, bool):
        errors.append(f"{where}: flapping must be true or false, got {enabled!r}")
        enabled = defaults.flapping
    return CheckConfig(
        check_id=check.id,
        device_id=device.id,
        device_name=device.name,
        check_name=check.name,
        check_type=check.type,
        interval=float(check.interval_s or defaults.interval),
        retries=int(check.retries if check.retries is not None else defaults.retries),
        rules=rules,
        config_error="; ".join(errors),
        recover_after=recover_after,
        flap_enabled=enabled,
        flap_low=low,
        flap_high=high,
        owned=not zone or device.zone == zone,
    )


def _whole(params: Mapping[str, Any], key: str, default: int, where: str, errors: list[str]) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.append(f"{where}: {key} must be a whole number of 1 or more, got {value!r}")
        return default
    return value


def _percent(
    params: Mapping[str, Any], key: str, default: float, where: str, errors: list[str]
) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        errors.append(f"{where}: {key} must be a percentage from 0 to 100, got {value!r}")
        return default
    return float(value)


def build_topology(
    devices: Mapping[int, DeviceRow], configs: Mapping[int, CheckConfig]
) -> Topology:
    reach: dict[int, int] = {}
    for config in sorted(configs.values(), key=lambda c: c.check_id):
        if config.check_type in REACHABILITY_TYPES:
            reach.setdefault(config.device_id, config.check_id)
    return Topology(
        {
            d.id: DeviceNode(
                id=d.id,
                name=d.name,
                parent_id=d.parent_id,
                site_id=d.site_id,
                client_id=d.client_id,
                reach_check_id=reach.get(d.id),
            )
            for d in devices.values()
        }
    )


async def load_states(session: AsyncSession) -> dict[int, CheckState]:
    return {row.check_id: row for row in await session.scalars(select(CheckState))}


def memo_from_row(config: CheckConfig, row: CheckState | None) -> CheckMemo:
    """A check's memory from its stored state: what a restart can know.

    Pending durations and good-result streaks are not stored, so after a restart a "for 5
    minutes" waits its full time again and recovery counts from zero: slower, never noisier.
    """
    if row is None:
        return CheckMemo()
    state = parse_state(row.state)
    failure = state is State.DOWN or (
        state in (State.CRITICAL, State.UNREACHABLE) and row.attempts > 0
    )
    own = failure_state(config) if state is State.UNREACHABLE or failure else state
    history = tuple(str(s) for s in (row.history or ()))[-flapping.HISTORY :]
    return CheckMemo(
        state=state,
        own=own,
        since=row.since,
        last_ts=row.last_ts,
        last_answer=row.last_ts if row.attempts == 0 else 0.0,
        attempts=row.attempts,
        fail_since=row.since if failure else None,
        failure=failure,
        output=row.output,
        values=dict(row.values or {}),
        history=history,
        flapping=row.flapping,
        flap_pct=flapping.flap_percent(history),
        seen=True,
    )


def with_metric_levels(memo: CheckMemo, alerts: Iterable[AlertMemo]) -> CheckMemo:
    """Metric levels from the open metric alerts, so hysteresis holds across a restart."""
    metrics = dict(memo.metrics)
    for alert in alerts:
        if alert.condition in RESERVED:
            continue
        metric = str(alert.data.get("metric") or alert.condition)
        level = severity_state(alert.severity)
        if level in (State.WARNING, State.CRITICAL):
            metrics[metric] = MetricMemo(
                level=level,
                warn_since=alert.first_seen,
                crit_since=alert.first_seen if level is State.CRITICAL else None,
            )
    return replace(memo, metrics=metrics)


async def load_open_alerts(session: AsyncSession) -> list[AlertMemo]:
    rows = await session.scalars(select(Alert).where(Alert.resolved_at.is_(None)))
    return [from_row(row) for row in rows]
