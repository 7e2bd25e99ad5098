"""Messages between ``SnmpWorkerPool`` and its workers: a 4-byte big-endian length, then a
pickle. Only ever exchanged between a parent and the child it started over the child's pipes.

Parent to worker: ``("target", tid, SnmpTarget)`` once per target, then ``("poll", rid, tid)``,
``("get", rid, tid, oids)`` or ``("forget", rid, tid)``. Worker to parent:
``(rid, ok, result_or_exception)``. Targets travel once: a pickled ``SnmpTarget`` costs more
than the rest of a request.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">I")


def frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Any | None:
    """The next message, or None at end of input."""
    try:
        header = await reader.readexactly(HEADER.size)
        body = await reader.readexactly(HEADER.unpack(header)[0])
    except asyncio.IncompleteReadError:
        return None
    return pickle.loads(body)


class FrameBatcher:
    """Frames sent during one turn of the event loop leave in one write: at a few thousand
    requests a second a system call per frame costs more than the pickling."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._buffer = bytearray()
        self._scheduled = False

    def send(self, message: Any) -> None:
        self._buffer += frame(message)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            self._write(data)
