"""The ICMP echo wire format: checksum, request building and reply parsing.

An echo request carries, after the 8-byte ICMP header, a payload that makes its reply
unmistakable even on a raw socket that sees every ICMP packet reaching the host::

    0      8     16              32                      48
    | type | code |   checksum   | ident | sequence |
    | token (8 bytes, random per pinger)             |
    | serial (8 bytes, big-endian, never reused)      |
    | zero padding up to the payload size             |

The serial is a 64-bit counter shared by everything one pinger sends, so a reply names exactly
one request; the 16-bit sequence is its low half, for tcpdump readers and picky middleboxes.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Final

ECHO_REQUEST_V4: Final = 8
ECHO_REPLY_V4: Final = 0
ECHO_REQUEST_V6: Final = 128
ECHO_REPLY_V6: Final = 129

HEADER_SIZE: Final = 8
TOKEN_SIZE: Final = 8
MIN_PAYLOAD: Final = TOKEN_SIZE + 8
"""Token and serial: the least a payload can hold and still identify its request."""
MAX_PAYLOAD: Final = 65_507 - HEADER_SIZE

_ECHO: Final = struct.Struct("!BBHHH8sQ")
"""type, code, checksum, ident, sequence, token, serial: everything but the padding."""


def _word_sum(data: bytes) -> int:
    """The sum of the buffer's 16-bit words modulo 0xFFFF (odd lengths padded with a zero).

    2**16 is 1 modulo 0xFFFF, so that sum is congruent to the whole buffer read as one big
    integer: one C-level conversion instead of a Python loop per word.
    """
    if len(data) % 2:
        data += b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def checksum(data: bytes) -> int:
    """The RFC 1071 Internet checksum (16-bit ones' complement of the ones' complement sum)."""
    total = _word_sum(data)
    if total == 0 and any(data):
        total = 0xFFFF  # a non-zero sum folds to "negative zero", never to 0
    return ~total & 0xFFFF


@dataclass(frozen=True, slots=True)
class EchoCodec:
    """Builds the requests and recognises the replies of one socket.

    ``ident`` is what a reply must carry: the pinger's own for a raw socket, the socket's port for
    a datagram socket (the kernel rewrites the ident of every request sent on one).
    """

    family: socket.AddressFamily
    ident: int
    token: bytes
    payload_size: int = 56
    ip_header: bool = False
    """Whether received data starts with an IPv4 header (raw IPv4 sockets only)."""
    fill_checksum: bool = False
    """Whether we compute the checksum (raw IPv4); the kernel does it for ICMPv6 and datagram
    sockets, and would overwrite ours."""
    _request_type: int = field(init=False, repr=False)
    _reply_type: int = field(init=False, repr=False)
    _echo: struct.Struct = field(init=False, repr=False)
    """The whole request, zero padding included."""
    _fixed_sum: int = field(init=False, repr=False)
    """The ones' complement sum of everything but the sequence and serial, for the checksum."""

    def __post_init__(self) -> None:
        if len(self.token) != TOKEN_SIZE:
            raise ValueError(f"token must be {TOKEN_SIZE} bytes, not {len(self.token)}")
        if not MIN_PAYLOAD <= self.payload_size <= MAX_PAYLOAD:
            raise ValueError(
                f"payload_size must be {MIN_PAYLOAD}..{MAX_PAYLOAD} bytes, not {self.payload_size}"
            )
        if not 0 <= self.ident <= 0xFFFF:
            raise ValueError(f"ident must fit 16 bits, not {self.ident}")
        v6 = self.family == socket.AF_INET6
        object.__setattr__(self, "_request_type", ECHO_REQUEST_V6 if v6 else ECHO_REQUEST_V4)
        object.__setattr__(self, "_reply_type", ECHO_REPLY_V6 if v6 else ECHO_REPLY_V4)
        echo = struct.Struct(f"{_ECHO.format}{self.payload_size - MIN_PAYLOAD}x")
        fixed = echo.pack(self._request_type, 0, 0, self.ident, 0, self.token, 0)
        object.__setattr__(self, "_echo", echo)
        object.__setattr__(self, "_fixed_sum", _word_sum(fixed))

    def build(self, serial: int) -> bytes:
        """The echo request for ``serial``."""
        seq = serial & 0xFFFF
        if not self.fill_checksum:
            return self._echo.pack(self._request_type, 0, 0, self.ident, seq, self.token, serial)
        # Incremental RFC 1071: the fixed words are summed once; the 64-bit serial's four words
        # sum to the serial itself modulo 0xFFFF, as in _word_sum(). The fixed part
        # holds the non-zero type, so the sum is never zero and folds to 1..0xFFFF.
        total = (self._fixed_sum + seq + serial) % 0xFFFF or 0xFFFF
        checksum = ~total & 0xFFFF
        return self._echo.pack(self._request_type, 0, checksum, self.ident, seq, self.token, serial)

    def parse(self, data: bytes) -> int | None:
        """The serial a received packet answers, or None if it is not a reply to us.

        Anything can arrive here (other pingers' replies on a raw socket, truncated or forged
        packets), so every field that identifies us is checked; nothing raises.
        """
        offset = (data[0] & 0x0F) * 4 if self.ip_header and data else 0
        if len(data) < offset + _ECHO.size:
            return None
        kind, code, _sum, ident, seq, token, serial = _ECHO.unpack_from(data, offset)
        if (
            kind != self._reply_type
            or code != 0
            or ident != self.ident
            or token != self.token
            or seq != serial & 0xFFFF
        ):
            return None
        return int(serial)
