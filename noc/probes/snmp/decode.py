"""From pysnmp's ASN.1 objects to plain Python values, and from device bytes to safe text.

Agents put anything in an OCTET STRING: plain ASCII, UTF-8, Latin-1, NUL-padded C strings
(Windows' ifDescr) or binary (MAC addresses, the APC card's hex-recorded strings). Text is kept
when every character is printable; otherwise the bytes are shown as ``aa:bb:cc``. Device text is
untrusted: what comes out of here has no control characters other than tab and newline, and no
bidi overrides, but it is still data, never markup.
"""

from __future__ import annotations

import struct
import unicodedata

from pyasn1.type import univ
from pysnmp.proto import rfc1902

from noc.probes.snmp.mibs import Oid

Raw = int | float | bytes | str | Oid
"""A decoded value: integers (all the integer types, TimeTicks in centiseconds), ``bytes`` for
OCTET STRING, ``str`` for IpAddress, ``tuple[int, ...]`` for OBJECT IDENTIFIER, ``float`` for
net-snmp's Opaque-wrapped floats."""

_IP_ADDRESS = rfc1902.IpAddress.tagSet  # [APPLICATION 0], the same in SNMPv1's RFC 1155
_OPAQUE = rfc1902.Opaque.tagSet  # [APPLICATION 4]


def to_raw(value: object) -> Raw | None:
    """None for Null, noSuchObject, noSuchInstance and endOfMibView: "no value here"."""
    if isinstance(value, univ.Null):  # the three exception values derive from Null
        return None
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.ObjectIdentifier):
        return tuple(int(n) for n in value)
    if isinstance(value, univ.OctetString):
        data = value.asOctets()
        if value.tagSet == _IP_ADDRESS:
            return ".".join(str(b) for b in data)
        if value.tagSet == _OPAQUE:
            return _opaque(data)
        return bytes(data)
    if isinstance(value, univ.Choice):  # SNMPv1 NetworkAddress wraps an IpAddress
        return to_raw(value.getComponent())
    return None


def _opaque(data: bytes) -> float | bytes:
    """net-snmp wraps floats in Opaque: 9f 78 04 <float> or 9f 79 08 <double>."""
    if len(data) == 7 and data[:3] == b"\x9f\x78\x04":
        return float(struct.unpack(">f", data[3:])[0])
    if len(data) == 11 and data[:3] == b"\x9f\x79\x08":
        return float(struct.unpack(">d", data[3:])[0])
    return data


def hex_colon(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def mac_address(value: Raw | None) -> str:
    """ifPhysAddress as ``aa:bb:cc:dd:ee:ff``; empty for none (loopbacks, tunnels)."""
    if isinstance(value, bytes):
        return hex_colon(value)
    if isinstance(value, str):
        return value
    return ""


def to_text(value: Raw | None) -> str:
    """A DisplayString-ish value as text: UTF-8, else Latin-1, else ``aa:bb`` hex."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    if not isinstance(value, bytes):
        return str(value)
    body = value.rstrip(b"\x00")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isprintable() or all(_printable(ch) for ch in text):  # the first is the fast path
        return text.strip()
    return hex_colon(value)


def _printable(ch: str) -> bool:
    if ch in "\t\n" or ch.isprintable():
        return True
    return unicodedata.category(ch) == "Zs"  # no-break and other spaces


def to_int(value: Raw | None) -> int | None:
    return value if isinstance(value, int) else None


def to_oid(value: Raw | None) -> Oid | None:
    return value if isinstance(value, tuple) else None
