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
from collections.abc import Coroutine, Sequence

from noc.probes.result import ProbeResult, ProbeStatus
from noc.probes.snmp.client import SnmpClient, Walk
from noc.probes.snmp.decode import Raw, to_text
from noc.probes.snmp.discovery import MEASURED_SCALARS, AgentMemory, Discovery
from noc.probes.snmp.engines import SnmpEngines
from noc.probes.snmp.errors import (
    SnmpAuthError,
    SnmpBusy,
    SnmpConfigError,
    SnmpError,
    SnmpTimeout,
)
from noc.probes.snmp.mibs import IF_NUMBER, SYS_UPTIME, Oid, format_oid, parse_oid
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

DISCOVERY_SLOTS = 8
"""Full polls (``discovery``) one poller runs at once. A full poll costs two or three times
the CPU of the polls between, so when many agents need one together — a poller starting, an
inventory imported — the rest wait for a slot instead of all decoding at once: polls already
discovered keep their answers on time, and the queue drains at what the CPU can do. Without
the bound a cold start past the CPU's means never recovered: answers came late, late answers
were sent for again, and agents that failed stayed undiscovered."""
SLOT_WAIT_SHARE = 0.5
"""The part of a poll's deadline it may spend waiting for a slot; the rest is for the poll."""

_AREAS: dict[Collect, tuple[Oid, ...]] = {
    Collect.INTERFACES: V1_IF_COLUMNS,  # the v1 set: the HC columns may rightly be absent
    Collect.STORAGE: STORAGE_COLUMNS,
    Collect.CPU: CPU_COLUMNS,
}


class SnmpPoller:
    """Polls any number of agents concurrently through one set of shared engines.

    Use it as ``async with SnmpPoller() as poller`` inside the loop that will run the polls.
    """

    def __init__(self, *, discovery_slots: int = DISCOVERY_SLOTS) -> None:
        self._engines = SnmpEngines()
        self._client = SnmpClient(self._engines)
        self._memory: dict[tuple[str, int, str], AgentMemory] = {}
        self._full_polls = asyncio.Semaphore(discovery_slots)

    async def __aenter__(self) -> SnmpPoller:
        await self._engines.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._engines.__aexit__(*exc)

    async def forget(self, target: SnmpTarget) -> None:
        """Drop what an agent's polls left (a device removed from the inventory)."""
        self._memory.pop(target.key, None)

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
        memory = self._memory.setdefault(target.key, AgentMemory())
        run = _Run(self._client, target, memory, self._full_polls)
        try:
            await run.execute()
            if run.scalars is not None:
                snapshot = run.snapshot()
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
        return SnmpPoll(result, snapshot, full=run.full)


def _plain(value: Raw) -> SnmpValue:
    if isinstance(value, int | float | str):
        return value
    return to_text(value)


class _Run:
    """The state of one poll as it goes; what it could not finish stays ``None``/undone."""

    def __init__(
        self,
        client: SnmpClient,
        target: SnmpTarget,
        memory: AgentMemory,
        full_polls: asyncio.Semaphore,
    ) -> None:
        self.client = client
        self.target = target
        self.memory = memory
        self.full_polls = full_polls
        self.walk = Walk(walk_columns(target.collect, target.version))
        self.full = True
        """Whether this poll reads everything (and so refreshes the discovery)."""
        self.scalars: dict[Oid, Raw] | None = None
        self.rtt: float | None = None
        self.scalars_at = 0.0
        self.failure: SnmpError | None = None
        self.deadline_hit = False

    async def execute(self) -> None:
        target = self.target
        known = self.memory.discovery_for(target.rediscover, time.monotonic())
        if known is not None:
            await self._bounded(self._lean(known))
            return
        patience = target.deadline * SLOT_WAIT_SHARE
        queued = time.monotonic()
        try:
            async with asyncio.timeout(patience):
                await self.full_polls.acquire()
        except TimeoutError:
            self.failure = SnmpBusy(
                f"{target.endpoint}: not polled: the poller spent {patience:g} s waiting to read "
                f"it in full while it discovers other agents (it catches up by itself)"
            )
            return
        try:
            await self._bounded(self._full(), target.deadline - (time.monotonic() - queued))
        finally:
            self.full_polls.release()

    async def _bounded(
        self, steps: Coroutine[None, None, None], deadline: float | None = None
    ) -> None:
        try:
            async with asyncio.timeout(self.target.deadline if deadline is None else deadline):
                await steps
        except TimeoutError:
            self.deadline_hit = True
        except SnmpError as exc:
            self.failure = exc

    async def _scalars(self, oids: Sequence[Oid]) -> bool:
        """The first request; False (with the reason kept) when the agent stays silent."""
        t0 = time.monotonic()
        try:
            scalars = await self.client.get(self.target, oids)
        except SnmpTimeout as silence:
            self.failure = await self._diagnose(silence)
            return False
        self.scalars_at = time.monotonic()
        self.rtt = self.scalars_at - t0
        self.scalars = scalars
        return True

    async def _lean(self, known: Discovery) -> None:
        """sysUpTime and the measured columns; in full after all if the rows changed."""
        self.full = False
        if not await self._scalars(MEASURED_SCALARS):
            return
        assert self.scalars is not None
        known.fill_scalars(self.scalars)
        if await self._measure(known):
            return
        self.scalars.update(await self.client.get(self.target, self._full_scalars()))
        await self._walk_all()

    async def _full(self) -> None:
        if await self._scalars(self._full_scalars()):
            await self._walk_all()

    async def _walk_all(self) -> None:
        self.full = True
        if self.walk.columns:
            await self.client.walk(self.target, self.walk, self._rows_hint())
        self._learn()

    async def _measure(self, known: Discovery) -> bool:
        """Walk only the measured columns; False when the agent's rows changed since
        discovery, and the poll must read everything after all."""
        measuring = Walk(known.poll_columns)
        if measuring.columns:
            await self.client.walk(self.target, measuring, known.row_count)
        if known.fill_walk(measuring):
            self.walk, self.full = measuring, False
            return True
        self.memory.discovery = None
        return False

    def _full_scalars(self) -> tuple[Oid, ...]:
        oids = system_oids(self.target.collect)
        return (*oids, IF_NUMBER) if Collect.INTERFACES in self.target.collect else oids

    def _rows_hint(self) -> int | None:
        """The rows the tables had at the last discovery, or else ifNumber; None: unknown."""
        before = self.memory.discovery
        if before is not None:
            return before.row_count
        count = (self.scalars or {}).get(IF_NUMBER)
        return count if isinstance(count, int) and 0 < count <= self.target.max_rows else None

    def _learn(self) -> None:
        """A full poll that ended with every table finished is the new discovery."""
        if self.scalars is None or not self.walk.complete(self.walk.columns):
            return
        self.memory.discovery = Discovery.learn(
            self.scalars, self.walk, self.target.rediscover, time.monotonic()
        )

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

    def snapshot(self) -> SnmpSnapshot:
        scalars = self.scalars or {}
        info = system_info(scalars)
        collect = self.target.collect
        state = self.memory.counters
        rebooted = state.observe_uptime(
            None if info.uptime_s is None else int(round(info.uptime_s * 100)), self.scalars_at
        )
        if rebooted and not self.full:
            self.memory.discovery = None  # interfaces may come back renumbered: look again
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
