"""SNMP polls spread over worker processes, for when one core cannot keep up.

pysnmp spends ~2 ms of CPU per request in pure-Python BER coding, so one process tops out at a
few hundred devices a second. ``SnmpWorkerPool`` has ``SnmpPoller``'s interface and runs one
``SnmpPoller`` per worker process. An agent always goes to the same worker (by its counter
key), so its counter state for rates stays in one place.

Every answer is also awaited with a guard of the target's deadline plus a grace period: a
worker starved of CPU or gone costs a FAILED result, never a hung poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from noc.probes.result import ProbeResult, ProbeStatus
from noc.probes.snmp.errors import SnmpError, SnmpTimeout
from noc.probes.snmp.framing import FrameBatcher, FrameDecoder
from noc.probes.snmp.mibs import Oid
from noc.probes.snmp.model import SnmpPoll
from noc.probes.snmp.poller import SnmpValue
from noc.probes.snmp.target import SnmpTarget

log = logging.getLogger(__name__)

GRACE = 5.0
"""Seconds past a target's deadline before the parent stops waiting for its worker."""
_STOP_TIMEOUT = 5.0


class _Worker(asyncio.SubprocessProtocol):
    """One worker process, spoken to over its stdin and stdout pipes."""

    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.target_ids: dict[SnmpTarget, int] = {}
        self._next_tid = itertools.count(1)
        self._decoder = FrameDecoder()
        self._exited = asyncio.get_running_loop().create_future()
        self.transport: asyncio.SubprocessTransport | None = None
        self.out: FrameBatcher | None = None

    @classmethod
    async def start(cls) -> _Worker:
        loop = asyncio.get_running_loop()
        _transport, worker = await loop.subprocess_exec(
            cls,
            sys.executable,
            "-m",
            "noc.probes.snmp.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
        return worker

    # SubprocessProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self.out = FrameBatcher(stdin.write)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        for request_id, ok, value in self._decoder.feed(data):
            future = self.pending.pop(request_id, None)
            if future is None or future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def process_exited(self) -> None:
        code = self.transport.get_returncode() if self.transport else None
        error = SnmpError(f"SNMP worker process exited (code {code})")
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()
        if not self._exited.done():
            self._exited.set_result(code)

    # the pool's side

    @property
    def pid(self) -> int | None:
        return self.transport.get_pid() if self.transport else None

    @property
    def alive(self) -> bool:
        return self.out is not None and not self._exited.done()

    def send(
        self, request_id: int, op: str, target: SnmpTarget, *args: object
    ) -> asyncio.Future[Any]:
        if not self.alive or self.out is None:
            raise SnmpError("SNMP worker process is not running")
        tid = self.target_ids.get(target)
        if tid is None:
            tid = self.target_ids[target] = next(self._next_tid)
            self.out.send(("target", tid, target))
        if op == "forget":
            del self.target_ids[target]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        self.out.send((op, request_id, tid, *args))
        return future

    async def stop(self) -> None:
        if self.transport is None:
            return
        stdin = self.transport.get_pipe_transport(0)
        if stdin is not None and not stdin.is_closing():
            await asyncio.sleep(0)  # the last batch of frames
            stdin.close()  # end of input: the worker finishes what it has and exits
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await asyncio.shield(self._exited)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.transport.kill()
            await self._exited
        self.transport.close()


class SnmpWorkerPool:
    """``SnmpPoller``'s interface over ``workers`` processes (default: one per CPU)."""

    def __init__(self, workers: int | None = None) -> None:
        self._size = max(1, workers or os.cpu_count() or 1)
        self._workers: list[_Worker | None] = [None] * self._size
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> SnmpWorkerPool:
        for slot in range(self._size):
            self._workers[slot] = await _Worker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        workers = [w for w in self._workers if w is not None]
        self._workers = [None] * self._size
        await asyncio.gather(*(w.stop() for w in workers))

    @property
    def size(self) -> int:
        return self._size

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for monitoring their CPU and memory)."""
        return [w.pid for w in self._workers if w is not None and w.alive and w.pid is not None]

    async def _worker_for(self, target: SnmpTarget) -> _Worker:
        if self._closed:
            raise SnmpError("SNMP worker pool is closed")
        slot = hash(target.key) % self._size
        worker = self._workers[slot]
        if worker is not None and worker.alive:
            return worker
        async with self._lock:  # a worker died: start its replacement once
            worker = self._workers[slot]
            if worker is None or not worker.alive:
                if worker is not None:
                    log.warning("restarting SNMP worker %d after it exited", slot)
                worker = self._workers[slot] = await _Worker.start()
            return worker

    async def _call(self, target: SnmpTarget, op: str, *args: object) -> Any:
        worker = await self._worker_for(target)
        request_id = next(self._ids)
        future = worker.send(request_id, op, target, *args)
        try:
            async with asyncio.timeout(target.deadline + GRACE):
                return await future
        except TimeoutError:
            worker.pending.pop(request_id, None)
            raise SnmpTimeout(
                f"{target.endpoint}: the SNMP worker gave no result within "
                f"{target.deadline + GRACE:g} s"
            ) from None

    async def poll_detail(self, target: SnmpTarget) -> SnmpPoll:
        started, t0 = time.time(), time.monotonic()
        try:
            poll: SnmpPoll = await self._call(target, "poll")
        except SnmpError as exc:
            status = ProbeStatus.FAILED if isinstance(exc, SnmpTimeout) else ProbeStatus.ERROR
            return SnmpPoll(
                ProbeResult(
                    status=status, error=str(exc), started=started, duration=time.monotonic() - t0
                )
            )
        return poll

    async def poll(self, target: SnmpTarget) -> ProbeResult:
        return (await self.poll_detail(target)).result

    async def get(self, target: SnmpTarget, oids: Sequence[str | Oid]) -> dict[str, SnmpValue]:
        values: dict[str, SnmpValue] = await self._call(target, "get", tuple(oids))
        return values

    async def forget(self, target: SnmpTarget) -> None:
        await self._call(target, "forget")
