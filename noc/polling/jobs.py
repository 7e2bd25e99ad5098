"""What to poll: the enabled checks of enabled devices, read from the store as frozen jobs.

A job is a snapshot: the scheduler never touches the ORM, and a re-import cannot change a job
under a probe that is running it. The credential profile travels with the job as *references*
only; secrets are resolved by the adapter at the moment it polls, so a rotated password is
picked up by the next poll and no secret sits in the scheduler's memory between polls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select

from noc.config import PollerSettings
from noc.storage import Store
from noc.storage.models import Check, CredentialProfile, Device, Event

INVENTORY_EVENT = "inventory.imported"

CREDENTIAL_KIND = {"snmp": "snmp", "ssh": "ssh", "http": "http"}
"""The credential kind each check type logs in with; other types need none."""


@dataclass(frozen=True, slots=True)
class Credential:
    name: str
    kind: str
    params: Mapping[str, Any]
    secret_refs: Mapping[str, str]
    """Role (``community``, ``password``, ``auth_key``...) to a reference such as ``env:VAR``."""


@dataclass(frozen=True, slots=True)
class CheckJob:
    device_id: int
    device_name: str
    address: str
    check_id: int
    check_name: str
    check_type: str
    params: Mapping[str, Any]
    interval: float
    timeout: float
    """The whole budget of one attempt (connect, exchange, close); adapters fit the probe's
    inner timeouts into it and the scheduler enforces it as a hard deadline."""
    retries: int
    credential_name: str = ""
    credential: Credential | None = None
    """None when the check needs none, or when the named profile does not exist (the adapter
    then reports it as an ERROR rather than polling without credentials)."""
    thresholds: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """As imported (``{"cpu.used_pct": {"warning": 80.0, "critical": 95.0, "for_s": 300.0}}``):
    not used here, carried for the evaluator that sits between the scheduler and the writer."""
    parent_id: int | None = None
    """The device this one depends on, for the evaluator's parent/child suppression."""

    @property
    def label(self) -> str:
        return f"{self.device_name}/{self.check_name}"


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _credential_name(check: Check) -> str:
    named = (check.params or {}).get("credential")
    return named if isinstance(named, str) else ""


def build_job(
    check: Check,
    device: Device,
    profiles: Mapping[str, CredentialProfile],
    defaults: PollerSettings,
) -> CheckJob:
    name = _credential_name(check)
    kind = CREDENTIAL_KIND.get(check.type)
    if not name and kind is not None:
        # No explicit profile: the first of the device's profiles of the right kind.
        name = next(
            (n for n in device.credentials if n in profiles and profiles[n].kind == kind), ""
        )
    profile = profiles.get(name) if name else None
    credential = (
        Credential(
            name=profile.name,
            kind=profile.kind,
            params=_frozen(profile.params or {}),
            secret_refs=MappingProxyType({str(k): str(v) for k, v in profile.secret_refs.items()}),
        )
        if profile is not None
        else None
    )
    return CheckJob(
        device_id=device.id,
        device_name=device.name,
        address=device.address,
        check_id=check.id,
        check_name=check.name,
        check_type=check.type,
        params=_frozen({k: v for k, v in (check.params or {}).items() if k != "credential"}),
        interval=float(check.interval_s or defaults.interval_s),
        timeout=float(check.timeout_s or defaults.timeout_s),
        retries=int(check.retries if check.retries is not None else defaults.retries),
        credential_name=name,
        credential=credential,
        thresholds=_frozen(check.thresholds or {}),
        parent_id=device.parent_id,
    )


async def load_jobs(
    store: Store, defaults: PollerSettings, zone: str | None = None
) -> list[CheckJob]:
    """Every enabled check of every enabled device, of one zone when given, in id order.

    ``zone=None`` uses ``defaults.zone`` (empty: every zone); ``zone=""`` means every zone.
    """
    wanted = defaults.zone if zone is None else zone
    query = (
        select(Check, Device)
        .join(Device, Device.id == Check.device_id)
        .where(Check.enabled.is_(True), Device.enabled.is_(True))
        .order_by(Check.id)
    )
    if wanted:
        query = query.where(Device.zone == wanted)
    async with store.read() as session:
        rows = (await session.execute(query)).all()
        profiles = {p.name: p for p in await session.scalars(select(CredentialProfile))}
    return [build_job(check, device, profiles, defaults) for check, device in rows]


class InventoryWatch:
    """Notices ``inventory.imported`` events, so a running poller reloads its jobs.

    It asks for the newest such event directly instead of reading the whole bus, which also
    carries every state change.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._seen = 0

    async def _latest(self) -> int:
        async with self._store.read() as session:
            value = await session.scalar(
                select(func.coalesce(func.max(Event.id), 0)).where(Event.kind == INVENTORY_EVENT)
            )
        return int(value or 0)

    async def start(self) -> None:
        """Remember the newest import now: jobs loaded after this already include it."""
        self._seen = await self._latest()

    async def changed(self) -> bool:
        latest = await self._latest()
        if latest > self._seen:
            self._seen = latest
            return True
        return False
