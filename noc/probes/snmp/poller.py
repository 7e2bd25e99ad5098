"""The SNMP probe: one poll of one agent under a hard deadline, never an exception.

A poll is a GET of the system scalars (which also proves the agent answers and gives the
sysUpTime reboots are judged by) followed by one multi-column walk of the tables asked for. The
previous poll's counters live here, per agent, so rates can be computed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence

from noc.probes.result import ProbeResult, ProbeStatus
from noc.probes.snmp.client import SnmpClient, Walk
from noc.probes.snmp.counters import CounterState
from noc.probes.snmp.decode import Raw, to_text
from noc.probes.snmp.engines import SnmpEngines
from noc.probes.snmp.errors import SnmpAuthError, SnmpConfigError, SnmpError, SnmpTimeout
from noc.probes.snmp.mibs import SYS_UPTIME, Oid, format_oid, parse_oid
from noc.probes.snmp.model import SnmpPoll, SnmpSnapshot
from noc.probes.snmp.normalise import (
    CPU_COLUMNS,
    STORAGE_COLUMNS,
    V1_IF_COLUMNS,
    cpu_loads,
    flatten,
    interfaces,
    memory,
    missing_system,
    storage,
    system_info,
    system_oids,
    walk_columns,
)
from noc.probes.snmp.target import Collect, PrivProtocol, SecurityLevel, SnmpTarget, SnmpVersion
from noc.probes.snmp.vendors import identify

log = logging.getLogger(__name__)

SnmpValue = int | float | str
"""What ``get`` returns per OID: numbers, text (or ``aa:bb`` hex for binary), dotted OIDs."""

_AREAS: dict[Collect, tuple[Oid, ...]] = {
    Collect.INTERFACES: V1_IF_COLUMNS,  # the v1 set: the HC columns may rightly be absent
    Collect.STORAGE: STORAGE_COLUMNS,
    Collect.CPU: CPU_COLUMNS,
}


class SnmpPoller:
    """Polls any number of agents concurrently through one set of shared engines.

    Use it as ``async with SnmpPoller() as poller`` inside the loop that will run the polls.
    """

    def __init__(self) -> None:
        self._engines = SnmpEngines()
        self._client = SnmpClient(self._engines)
        self._states: dict[tuple[str, int, str], CounterState] = {}

    async def __aenter__(self) -> SnmpPoller:
        await self._engines.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._engines.__aexit__(*exc)

    async def forget(self, target: SnmpTarget) -> None:
        """Drop an agent's counter state (a device removed from the inventory)."""
        self._states.pop(target.key, None)

    async def get(self, target: SnmpTarget, oids: Sequence[str | Oid]) -> dict[str, SnmpValue]:
        """Raw values by dotted OID, for custom checks; absent OIDs are left out.

        Raises ``SnmpError`` (``SnmpTimeout`` when the deadline passes first).
        """
        try:
            wanted = [parse_oid(o) if isinstance(o, str) else tuple(o) for o in oids]
        except ValueError as exc:
            raise SnmpConfigError(f"{target.endpoint}: {exc}") from None
        try:
            async with asyncio.timeout(target.deadline):
                raw = await self._client.get(target, wanted)
        except TimeoutError:
            raise SnmpTimeout(
                f"{target.endpoint}: no complete answer within the {target.deadline:g} s deadline"
            ) from None
        return {format_oid(oid): _plain(value) for oid, value in raw.items()}

    async def poll(self, target: SnmpTarget) -> ProbeResult:
        return (await self.poll_detail(target)).result

    async def poll_detail(self, target: SnmpTarget) -> SnmpPoll:
        started, t0 = time.time(), time.monotonic()
        run = _Run(self._client, target)
        try:
            await run.execute()
            if run.scalars is not None:
                state = self._states.setdefault(target.key, CounterState())
                snapshot = run.snapshot(state)
                values = flatten(snapshot)
        except Exception as exc:  # a bug, or pysnmp failing in a new way: report, never raise
            log.exception("snmp poll of %s failed unexpectedly", target.endpoint)
            run.failure = SnmpError(
                f"{target.endpoint}: internal error: {type(exc).__name__}: {exc}"
            )
            run.scalars = None
        duration = time.monotonic() - t0
        if run.scalars is None:
            return SnmpPoll(run.failed_result(started, duration))
        result = ProbeResult(
            status=ProbeStatus.PARTIAL if snapshot.missing else ProbeStatus.OK,
            values=values,
            rtt=run.rtt,
            error=run.partial_error(snapshot.missing),
            missing=snapshot.missing,
            started=started,
            duration=duration,
        )
        return SnmpPoll(result, snapshot)


def _plain(value: Raw) -> SnmpValue:
    if isinstance(value, int | float | str):
        return value
    return to_text(value)


class _Run:
    """The state of one poll as it goes; what it could not finish stays ``None``/undone."""

    def __init__(self, client: SnmpClient, target: SnmpTarget) -> None:
        self.client = client
        self.target = target
        self.walk = Walk(walk_columns(target.collect, target.version))
        self.scalars: dict[Oid, Raw] | None = None
        self.rtt: float | None = None
        self.scalars_at = 0.0
        self.failure: SnmpError | None = None
        self.deadline_hit = False

    async def execute(self) -> None:
        target = self.target
        try:
            async with asyncio.timeout(target.deadline):
                t0 = time.monotonic()
                try:
                    scalars = await self.client.get(target, system_oids(target.collect))
                except SnmpTimeout as silence:
                    self.failure = await self._diagnose(silence)
                    return
                self.scalars_at = time.monotonic()
                self.rtt = self.scalars_at - t0
                self.scalars = scalars
                if self.walk.columns:
                    await self.client.walk(target, self.walk)
        except TimeoutError:
            self.deadline_hit = True
        except SnmpError as exc:
            self.failure = exc

    async def _diagnose(self, silence: SnmpTimeout) -> SnmpError:
        """An authPriv agent silently drops what it cannot decrypt, so a wrong priv key looks
        like a dead host. If the same user and auth key get an authenticated answer without
        privacy, the agent is alive and the priv key or protocol is what is wrong."""
        target = self.target
        if target.security_level is not SecurityLevel.AUTH_PRIV:
            return silence
        probe = dataclasses.replace(target, priv_protocol=PrivProtocol.NONE, priv_key="", retries=0)
        try:
            await self.client.get(probe, [SYS_UPTIME])
        except SnmpAuthError as exc:
            if exc.reason in ("wrongDigest", "unknownUserName"):
                return exc
        except SnmpError:
            return silence
        return SnmpAuthError(
            f"{target.endpoint}: SNMPv3 user {target.user!r}: the auth key is accepted but "
            f"authPriv requests go unanswered: wrong priv key or priv protocol "
            f"({target.priv_protocol.upper()})",
            "decryptionError",
        )

    def failed_result(self, started: float, duration: float) -> ProbeResult:
        target = self.target
        if self.failure is None or self.deadline_hit:
            status = ProbeStatus.FAILED
            error = f"{target.endpoint}: no SNMP answer within the {target.deadline:g} s deadline"
        elif isinstance(self.failure, SnmpTimeout):
            status, error = ProbeStatus.FAILED, str(self.failure)
        else:
            status, error = ProbeStatus.ERROR, str(self.failure)
        if target.version is not SnmpVersion.V3 and status is ProbeStatus.FAILED:
            error = error if "community" in error else error + " (host down or wrong community?)"
        return ProbeResult(status=status, error=error, started=started, duration=duration)

    def snapshot(self, state: CounterState) -> SnmpSnapshot:
        scalars = self.scalars or {}
        info = system_info(scalars)
        collect = self.target.collect
        rebooted = state.observe_uptime(
            None if info.uptime_s is None else int(round(info.uptime_s * 100)), self.scalars_at
        )
        missing = missing_system(info) if Collect.SYSTEM in collect else []
        complete = {
            area: self.walk.complete(columns) and self.walk.has_rows(columns)
            for area, columns in _AREAS.items()
            if area in collect
        }
        missing += [str(area) for area, ok in complete.items() if not ok]
        now = time.monotonic()
        found_if = interfaces(self.walk, state, now) if complete.get(Collect.INTERFACES) else ()
        found_storage = storage(self.walk) if complete.get(Collect.STORAGE) else ()
        return SnmpSnapshot(
            system=info,
            vendor=identify(info.object_id, info.descr),
            interfaces=found_if,
            storage=found_storage,
            memory=memory(found_storage),
            cpu_loads=cpu_loads(self.walk) if complete.get(Collect.CPU) else (),
            rebooted=rebooted,
            missing=tuple(missing),
        )

    def partial_error(self, missing: tuple[str, ...]) -> str:
        if not missing:
            return ""
        why = ""
        if self.deadline_hit:
            why = f"; the {self.target.deadline:g} s deadline passed during the walk"
        elif self.failure is not None:
            why = f"; {self.failure}"
        return f"missing: {', '.join(missing)}{why}"
