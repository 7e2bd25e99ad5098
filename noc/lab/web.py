"""HTTP endpoints and plain TCP services for simulated devices.

The HTTP side speaks just enough HTTP/1.1 for a monitoring probe (a status line, a body, a
redirect, keep-alive off): a lab stand-in, not a web server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from noc.lab.model import LabDevice, Scenario

PAGE = (
    "<!doctype html><title>{name}</title><h1>Welcome to {name}</h1><p>Served by the noc lab.</p>\n"
)


def _response(status: str, body: str, extra: str = "") -> bytes:
    data = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n{extra}\r\n"
    )
    return head.encode() + data


async def _http(
    device: LabDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        now = time.time()
        if not device.up(now):
            return  # accepted and dropped: the probe sees the connection close
        if device.delay():
            await asyncio.sleep(device.delay())
        path = request.split(b" ", 2)[1].decode(errors="replace") if b" " in request else "/"
        if path == "/old":
            reply = _response("301 Moved Permanently", "", "Location: /\r\n")
        elif device.scenario is Scenario.IF_ERRORS and int(now) % 3 == 0:
            reply = _response("500 Internal Server Error", "<h1>Internal Server Error</h1>\n")
        else:
            reply = _response("200 OK", PAGE.format(name=device.name))
        writer.write(reply)
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _tcp(
    device: LabDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    if not device.up(time.time()):
        writer.close()
        return
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(reader.read(1024), 5)
    writer.close()


async def serve_http(device: LabDevice) -> asyncio.Server:
    return await asyncio.start_server(
        lambda r, w: _http(device, r, w), device.address, device.http_port
    )


async def serve_tcp(device: LabDevice, port: int) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: _tcp(device, r, w), device.address, port)
