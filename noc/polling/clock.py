"""Time as the scheduler sees it, so that tests can drive it instead of waiting for it.

The scheduler reads two clocks: a monotonic one for due times and lag (never jumps), and the
wall clock for the timestamps it stores. It only ever waits through ``wait``, which returns when
an event is set or a delay has passed, whichever comes first. ``ManualClock`` moves only when a
test calls ``advance``; probe deadlines still run on the event loop's own clock (they guard
real sockets).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def wait(self, event: asyncio.Event, delay: float | None) -> None:
        """Return when ``event`` is set or ``delay`` seconds have passed (None: no limit)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def wait(self, event: asyncio.Event, delay: float | None) -> None:
        if delay is not None and delay <= 0:
            return
        try:
            async with asyncio.timeout(delay):
                await event.wait()
        except TimeoutError:
            pass

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that stands still until ``advance``; sleepers wake in due order."""

    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    def _timer(self, seconds: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
        else:
            heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        return future

    async def sleep(self, seconds: float) -> None:
        await self._timer(seconds)

    async def wait(self, event: asyncio.Event, delay: float | None) -> None:
        if event.is_set():
            return
        waiter: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
        waiting: list[asyncio.Future[Any]] = [waiter]
        timer = self._timer(delay) if delay is not None else None
        if timer is not None:
            waiting.append(timer)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if timer is not None and not timer.done():
                timer.cancel()

    def jump(self, seconds: float) -> None:
        """Time passes with nobody running: a starved or suspended loop. Nothing wakes until
        the next ``advance``, which then finds everything overdue at once."""
        self._now += seconds

    async def advance(self, seconds: float, *, step: float | None = None) -> None:
        """Move time forward, waking each sleeper at its own moment and letting it run.

        ``step`` also stops at regular points in between, for code that polls the clock.
        """
        target = self._now + seconds
        while True:
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            candidates = [target]
            if self._sleepers:
                candidates.append(self._sleepers[0][0])
            if step is not None:
                candidates.append(self._now + step)
            self._now = max(self._now, min(candidates))
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
            await settle()
            if self._now >= target:
                return


async def settle(rounds: int = 20) -> None:
    """Let every task that is ready run until the loop has nothing left to do right now."""
    for _ in range(rounds):
        await asyncio.sleep(0)
