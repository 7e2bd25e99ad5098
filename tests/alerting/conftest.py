"""Builders for the evaluator tests: an inventory in the store, a clock that moves only when told,
and probe results. The `store` fixture (SQLite, and PostgreSQL with NOC_TEST_PG_URL) comes from
tests/conftest.py. Addresses are loopback ones and are only stored: nothing is probed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from noc.alerting.evaluator import BatchReport, Evaluator, Observation, Policy
from noc.probes.result import ProbeResult, ProbeStatus
from noc.storage import Store
from noc.storage.models import Alert, Check, CheckState, Client, Device, Event, Site

T0 = 1_700_000_000.0

CheckSpec = tuple[str, str] | tuple[str, str, dict[str, Any]]


class ManualClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Inventory:
    store: Store
    client_id: int = 0
    site_id: int = 0
    devices: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    """``device/check`` to check id."""
    _address: int = 0

    async def site(self, code: str = "hq", client: str = "acme") -> int:
        async with self.store.write() as session:
            owner = Client(code=client, name=client.title())
            session.add(owner)
            await session.flush()
            site = Site(client_id=owner.id, code=code, name=code.upper())
            session.add(site)
            await session.flush()
            self.client_id, self.site_id = owner.id, site.id
        return self.site_id

    async def device(
        self,
        name: str,
        *,
        kind: str = "server",
        parent: str | None = None,
        site_id: int | None = None,
        zone: str = "",
        checks: Sequence[CheckSpec] = (),
    ) -> int:
        """A device with checks given as ``(name, type[, {column: value}])``."""
        await self.devices_named(
            [name], kind=kind, parent=parent, site_id=site_id, zone=zone, checks=checks
        )
        return self.devices[name]

    async def devices_named(
        self,
        names: Sequence[str],
        *,
        kind: str = "server",
        parent: str | None = None,
        site_id: int | None = None,
        zone: str = "",
        checks: Sequence[CheckSpec] = (),
    ) -> list[int]:
        """Several alike devices in one transaction."""
        async with self.store.write() as session:
            for name in names:
                self._address += 1
                address = f"127.1.{self._address // 250}.{self._address % 250 + 1}"
                device = Device(
                    site_id=site_id or self.site_id,
                    name=name,
                    kind=kind,
                    address=address,
                    address_key=address,
                    parent_id=self.devices[parent] if parent else None,
                    zone=zone,
                )
                session.add(device)
                await session.flush()
                self.devices[name] = device.id
                for spec in checks:
                    extra: dict[str, Any] = dict(spec[2]) if len(spec) == 3 else {}
                    extra.setdefault("interval_s", 60.0)
                    extra.setdefault("retries", 2)
                    check = Check(device_id=device.id, name=spec[0], type=spec[1], **extra)
                    session.add(check)
                    await session.flush()
                    self.checks[f"{name}/{spec[0]}"] = check.id
        return [self.devices[n] for n in names]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def inv(store: Store) -> Inventory:
    inventory = Inventory(store)
    await inventory.site()
    return inventory


async def started(
    store: Store, clock: ManualClock, *, zone: str = "", **policy: Any
) -> Evaluator:
    evaluator = Evaluator(store, clock=clock, policy=Policy(**policy), zone=zone)
    await evaluator.start()
    return evaluator


def ok(rtt: float | None = None, **values: Any) -> ProbeResult:
    return ProbeResult(ProbeStatus.OK, dict(values), rtt=rtt)


def metrics(**values: Any) -> ProbeResult:
    """An answer whose values have dotted names: ``metrics(cpu__used_pct=5)``."""
    return ProbeResult(ProbeStatus.OK, {k.replace("__", "."): v for k, v in values.items()})


def failed(error: str = "no echo reply") -> ProbeResult:
    return ProbeResult(ProbeStatus.FAILED, {"loss_pct": 100.0}, error=error)


def errored(error: str = "authentication failed") -> ProbeResult:
    return ProbeResult(ProbeStatus.ERROR, {}, error=error)


async def feed(
    evaluator: Evaluator,
    clock: ManualClock,
    results: Sequence[tuple[int, ProbeResult]] | Sequence[tuple[int, ProbeResult, int]],
    *,
    after: float = 0.0,
) -> BatchReport:
    """One batch measured ``after`` seconds from the clock's last reading."""
    ts = clock.advance(after)
    observations = [
        Observation(r[0], r[1], r[2] if len(r) == 3 else 1, ts)  # type: ignore[misc]
        for r in results
    ]
    return await evaluator.process(observations)


async def alerts(store: Store, *, open_only: bool = False) -> list[Alert]:
    query = select(Alert).order_by(Alert.id)
    if open_only:
        query = query.where(Alert.resolved_at.is_(None))
    async with store.read() as session:
        return list(await session.scalars(query))


async def events(store: Store, kind: str | None = None) -> list[Event]:
    query = select(Event).order_by(Event.id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    async with store.read() as session:
        return list(await session.scalars(query))


async def stored_state(store: Store, check_id: int) -> CheckState:
    async with store.read() as session:
        row = await session.get(CheckState, check_id)
    assert row is not None, f"no stored state for check {check_id}"
    return row
