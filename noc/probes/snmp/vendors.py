"""Vendor and OS from sysObjectID and sysDescr, the two facts every agent volunteers.

The enterprise number inside sysObjectID (1.3.6.1.4.1.N...) names the maker; sysDescr, in a form
each vendor keeps stable, names the OS, its version and often the model. A generic agent
(net-snmp on a Linux host) names no maker: the vendor is left empty rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from noc.probes.snmp.mibs import ENTERPRISES
from noc.probes.snmp.model import VendorInfo

ENTERPRISE_VENDORS: Final[dict[int, str]] = {
    9: "Cisco",
    11: "HP",
    42: "Sun",
    43: "3Com",
    171: "D-Link",
    207: "Allied Telesis",
    232: "HPE",
    311: "Microsoft",
    318: "APC",
    476: "Vertiv",
    534: "Eaton",
    674: "Dell",
    705: "Eaton",  # MGE UPS Systems, now part of Eaton
    789: "NetApp",
    850: "Tripp Lite",
    1916: "Extreme Networks",
    1991: "Brocade",
    2011: "Huawei",
    2620: "Check Point",
    2636: "Juniper",
    3375: "F5",
    3808: "CyberPower",
    3955: "Linksys",
    4526: "Netgear",
    6027: "Dell",  # Force10
    6486: "Alcatel-Lucent",
    6527: "Nokia",
    6574: "Synology",
    6876: "VMware",
    8741: "SonicWall",
    11863: "TP-Link",
    12356: "Fortinet",
    14179: "Cisco",  # Airespace wireless controllers
    14823: "Aruba",
    14988: "MikroTik",
    17713: "Cambium",
    21239: "Geist",
    24681: "QNAP",
    25461: "Palo Alto Networks",
    25506: "H3C",
    30065: "Arista",
    41112: "Ubiquiti",
}
"""IANA private enterprise numbers of makers an MSP meets; net-snmp (8072, 2021) is absent on
purpose: it is an agent, not a maker."""


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    os: str
    vendor: str = ""


def _rule(pattern: str, os: str, vendor: str = "") -> _Rule:
    return _Rule(re.compile(pattern, re.DOTALL), os, vendor)


# Each pattern may capture ``version`` and ``model``. First match wins: specific before generic.
_RULES: Final = (
    _rule(
        r"^Cisco NX-OS.*?Software \((?P<model>[^)]+)\).*?Version (?P<version>[^\s,]+)",
        "NX-OS",
        "Cisco",
    ),
    _rule(r"^Cisco IOS XE Software.*?Version (?P<version>[^\s,]+)", "IOS XE", "Cisco"),
    _rule(r"^Cisco IOS Software.*?IOSXE.*?Version (?P<version>[^\s,]+)", "IOS XE", "Cisco"),
    _rule(
        r"^Cisco IOS Software, (?P<model>\S+) Software.*?Version (?P<version>[^\s,]+)",
        "IOS",
        "Cisco",
    ),
    _rule(r"^Cisco Internetwork Operating System.*?Version (?P<version>[^\s,]+)", "IOS", "Cisco"),
    _rule(r"^Cisco Adaptive Security Appliance Version (?P<version>\S+)", "ASA", "Cisco"),
    _rule(
        r"Juniper Networks, Inc\. (?P<model>\S+).*?JUNOS (?P<version>[^\s,]+)", "Junos", "Juniper"
    ),
    _rule(r"^RouterOS (?P<model>.+)$", "RouterOS", "MikroTik"),
    _rule(
        r"^APC Web/SNMP Management Card.*?PF:(?P<version>v[\w.]+).*?MN:(?P<model>\S+)", "AOS", "APC"
    ),
    _rule(r"^VMware ESXi (?P<version>\S+)", "ESXi", "VMware"),
    _rule(r"Software: Windows.*?Version (?P<version>[\d.]+ \(Build \d+)", "Windows", "Microsoft"),
    _rule(r"^Linux \S+ (?P<version>\S+)", "Linux"),
    _rule(r"^FreeBSD \S+ (?P<version>\S+)", "FreeBSD"),
    _rule(r"^OpenBSD \S+ (?P<version>\S+)", "OpenBSD"),
    _rule(r"^Darwin \S+ (?P<version>\S+)", "macOS", "Apple"),
    _rule(r"^SunOS \S+ (?P<version>\S+)", "Solaris", "Sun"),
    _rule(r"^Sun SNMP Agent, (?P<model>\S+)", "Solaris", "Sun"),
    _rule(r"^HP \S+ (?P<model>.+?) Switch, revision (?P<version>[^\s,]+)", "ArubaOS-Switch", "HP"),
)
_SINGLE_WORD: Final = re.compile(r"^[\w.+/-]{1,32}$")


def enterprise_of(object_id: str | None) -> int | None:
    if not object_id:
        return None
    prefix = ".".join(map(str, ENTERPRISES)) + "."
    head, _, _ = object_id.removeprefix(prefix).partition(".")
    if not object_id.startswith(prefix) or not head.isdigit():
        return None
    return int(head)


def identify(object_id: str | None, descr: str | None) -> VendorInfo:
    enterprise = enterprise_of(object_id)
    vendor = ENTERPRISE_VENDORS.get(enterprise, "") if enterprise is not None else ""
    text = (descr or "").strip()
    for rule in _RULES:
        match = rule.pattern.search(text)
        if match is None:
            continue
        groups = match.groupdict()
        version = (groups.get("version") or "").replace(" (Build ", ".")
        return VendorInfo(
            vendor=vendor or rule.vendor,
            os=rule.os,
            version=version,
            model=(groups.get("model") or "").strip(),
        )
    # Small devices often put just their model in sysDescr ("BEFSX41").
    model = text if vendor and _SINGLE_WORD.match(text) else ""
    return VendorInfo(vendor=vendor, model=model)
