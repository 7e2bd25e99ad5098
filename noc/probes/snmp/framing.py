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


class FrameDecoder:
    """Messages out of a byte stream that arrives in arbitrary pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            messages.append(pickle.loads(buffer[start + HEADER.size : end]))
            start = end
        del buffer[:start]
        return messages


class FrameProtocol(asyncio.Protocol):
    """A pipe of frames: each message to ``on_message``, end of input to ``on_eof``."""

    def __init__(self, on_message: Callable[[Any], None], on_eof: Callable[[], None]) -> None:
        self._decoder = FrameDecoder()
        self._on_message = on_message
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        for message in self._decoder.feed(data):
            self._on_message(message)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


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
