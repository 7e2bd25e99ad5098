"""One SNMP worker process: an ``SnmpPoller`` serving requests framed on stdin/stdout.

Started by ``SnmpWorkerPool`` as ``python -m noc.probes.snmp.worker`` (and so imported by
nothing in the package). Frames are ``framing``'s, exchanged only with that parent. The real
stdout is kept for frames and fd 1 is pointed at stderr, so a stray print cannot corrupt the
stream. End of input means: finish what is in flight, then exit.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from noc.probes.snmp.framing import FrameBatcher, FrameProtocol
from noc.probes.snmp.poller import SnmpPoller
from noc.probes.snmp.target import SnmpTarget


class _Server:
    def __init__(self, poller: SnmpPoller, out: FrameBatcher) -> None:
        self.poller = poller
        self.out = out
        self.targets: dict[int, SnmpTarget] = {}
        self.in_flight: set[asyncio.Task[None]] = set()

    def receive(self, message: tuple[Any, ...]) -> None:
        op, *args = message
        if op == "target":
            tid, target = args
            self.targets[tid] = target
            return
        task = asyncio.create_task(self._answer(op, *args))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _answer(self, op: str, request_id: int, tid: int, *args: Any) -> None:
        try:
            target = self.targets[tid]
            if op == "poll":
                result: Any = await self.poller.poll_detail(target)
            elif op == "get":
                result = await self.poller.get(target, args[0])
            elif op == "forget":
                await self.poller.forget(target)
                del self.targets[tid]
                result = None
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # sent back and raised in the parent
            self.out.send((request_id, False, exc))
        else:
            self.out.send((request_id, True, result))


async def serve(input_fd: int, output_fd: int) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_write_pipe(
        asyncio.Protocol, os.fdopen(output_fd, "wb", buffering=0)
    )
    ended = asyncio.Event()
    async with SnmpPoller() as poller:
        server = _Server(poller, FrameBatcher(transport.write))
        await loop.connect_read_pipe(
            lambda: FrameProtocol(server.receive, ended.set),
            os.fdopen(input_fd, "rb", buffering=0),
        )
        await ended.wait()
        while server.in_flight:
            await asyncio.gather(*server.in_flight)
    await asyncio.sleep(0)  # the last batch of answers
    transport.close()


def main() -> None:
    output_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        asyncio.run(serve(0, output_fd))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
