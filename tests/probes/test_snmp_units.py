"""Pure logic of the SNMP probe: counter wraps and resets, reboot detection, decoding of
device strings, vendor identification and target validation. No network."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from noc.errors import ConfigError
from noc.probes.snmp import (
    AuthProtocol,
    Collect,
    PrivProtocol,
    SecurityLevel,
    SnmpAuthError,
    SnmpConfigError,
    SnmpTarget,
    SnmpVersion,
)
from noc.probes.snmp.client import Walk
from noc.probes.snmp.counters import CounterState, counter_delta, rebooted
from noc.probes.snmp.decode import mac_address, to_raw, to_text
from noc.probes.snmp.mibs import IfColumn, IfStatus, StorageKind, parse_oid
from noc.probes.snmp.model import Storage
from noc.probes.snmp.normalise import interfaces, memory
from noc.probes.snmp.params import target_from_params
from noc.probes.snmp.vendors import identify

W32 = 2**32
W64 = 2**64


# -- counter deltas ----------------------------------------------------------------------------


def test_counter_grows() -> None:
    assert counter_delta(1_000, 5_000, 32) == 4_000
    assert counter_delta(7, 7, 64) == 0


def test_counter32_wrap_is_a_delta() -> None:
    assert counter_delta(W32 - 100, 50, 32) == 150


def test_counter32_wrap_beyond_the_speed_is_a_reset() -> None:
    # 150 bytes fit; a "wrap" implying 4 GB in the interval does not.
    assert counter_delta(W32 - 100, 50, 32, max_delta=1_000) == 150
    assert counter_delta(3_000_000, 10, 32, max_delta=1_000_000) is None


def test_counter64_going_down_is_always_a_reset() -> None:
    assert counter_delta(W64 - 100, 50, 64) is None
    assert counter_delta(10**12, 10, 64) is None


def test_rate_over_a_32bit_wrap() -> None:
    state = CounterState()
    assert state.rate(("if1", "in"), W32 - 1_000, at=100.0, bits=32) is None  # first reading
    assert state.rate(("if1", "in"), 9_000, at=110.0, bits=32) == pytest.approx(1_000.0)


def test_rate_over_a_64bit_wrap_point_is_not_a_spike() -> None:
    state = CounterState()
    state.rate(("if1", "in"), 5 * 10**12, at=100.0, bits=64)
    assert state.rate(("if1", "in"), 1_000, at=160.0, bits=64) is None
    # ... and the reset value is the new base.
    assert state.rate(("if1", "in"), 61_000, at=220.0, bits=64) == pytest.approx(1_000.0)


def test_rate_reset_detected_by_speed() -> None:
    """A 100 Mb/s port cannot move 4 GB in a minute: a drop is a reset, not a wrap."""
    state = CounterState()
    state.rate(("if1", "in"), 3_000_000_000, at=0.0, bits=32, max_per_second=12_500_000)
    assert state.rate(("if1", "in"), 500, at=60.0, bits=32, max_per_second=12_500_000) is None


def test_widths_never_mix() -> None:
    state = CounterState()
    state.rate(("if1", "in"), 10, at=0.0, bits=32)
    assert state.rate(("if1", "in"), 10**15, at=10.0, bits=64) is None


def test_discontinuity_forgets_only_that_interface() -> None:
    state = CounterState()
    state.observe_discontinuity(1, 0)
    state.rate((1, "in"), 100, at=0.0, bits=64)
    state.rate((2, "in"), 100, at=0.0, bits=64)
    state.observe_discontinuity(1, 5_000)  # ifCounterDiscontinuityTime moved
    assert state.rate((1, "in"), 200, at=10.0, bits=64) is None
    assert state.rate((2, "in"), 200, at=10.0, bits=64) == pytest.approx(10.0)


# -- reboots ------------------------------------------------------------------------------------


def test_uptime_going_forward_is_no_reboot() -> None:
    assert not rebooted(100_000, 0.0, 106_000, 60.0)


def test_uptime_going_back_is_a_reboot() -> None:
    assert rebooted(100_000, 0.0, 3_000, 60.0)


def test_timeticks_wrap_after_497_days_is_no_reboot() -> None:
    assert not rebooted(W32 - 1_000, 0.0, 5_000, 60.0)


def test_restart_then_long_uptime_within_a_long_gap_is_a_reboot() -> None:
    """Up 10 minutes, polled again 2 hours later with 1 hour of uptime: it restarted, even
    though sysUpTime went up."""
    assert rebooted(60_000, 0.0, 360_000, 7_200.0)


def test_reboot_clears_every_counter_so_no_spike() -> None:
    state = CounterState()
    assert not state.observe_uptime(500_000, at=0.0)
    state.rate((1, "in"), 4_000_000_000, at=0.0, bits=32)
    assert state.observe_uptime(1_000, at=60.0)
    assert state.rate((1, "in"), 20, at=60.0, bits=32) is None
    assert not state.observe_uptime(7_000, at=120.0)
    assert state.rate((1, "in"), 620, at=120.0, bits=32) == pytest.approx(10.0)


def test_interfaces_rates_end_to_end() -> None:
    """Two walks of an ifTable row through the normaliser: 64-bit counters preferred,
    bits a second, errors a second, utilisation against ifHighSpeed."""
    state = CounterState()

    def walk(hc_in: int, in_errors: int, at: float) -> Walk:
        w = Walk(tuple(c.value for c in IfColumn))
        rows = {
            IfColumn.DESCR: b"eth0",
            IfColumn.OPER_STATUS: 1,
            IfColumn.ADMIN_STATUS: 1,
            IfColumn.SPEED: W32 - 1,
            IfColumn.HIGH_SPEED: 10_000,
            IfColumn.IN_OCTETS: hc_in % W32,
            IfColumn.OUT_OCTETS: 0,
            IfColumn.HC_IN_OCTETS: hc_in,
            IfColumn.HC_OUT_OCTETS: 0,
            IfColumn.IN_ERRORS: in_errors,
        }
        for column, value in rows.items():
            w.rows[column.value][(7,)] = value
            w.at[column.value] = at
        return w

    (first,) = interfaces(walk(W32 * 3, 10, at=0.0), state, now=0.0)
    assert first.in_bps is None and first.counters_64bit
    (second,) = interfaces(walk(W32 * 3 + 125_000_000, 70, at=10.0), state, now=10.0)
    assert second.speed_bps == 10_000_000_000
    assert second.in_bps == pytest.approx(100_000_000.0)
    assert second.in_util_pct == pytest.approx(1.0)
    assert second.in_errors_ps == pytest.approx(6.0)
    assert second.oper_status is IfStatus.UP and not second.is_down


def test_memory_prefers_available_then_buffers_and_cache() -> None:
    def row(index: int, descr: str, kind: StorageKind, size: int, used: int) -> Storage:
        return Storage(index, descr, kind, 1024, size * 1024, used * 1024)

    ram = row(1, "Physical memory", StorageKind.RAM, 1000, 900)
    buffers = row(6, "Memory buffers", StorageKind.OTHER, 1000, 100)
    cached = row(7, "Cached memory", StorageKind.OTHER, 300, 300)
    available = row(11, "Available memory", StorageKind.OTHER, 450, 0)
    assert memory((ram, buffers, cached, available)).used_bytes == 550 * 1024  # type: ignore[union-attr]
    assert memory((ram, buffers, cached)).used_bytes == 500 * 1024  # type: ignore[union-attr]
    assert memory((ram,)).used_bytes == 900 * 1024  # type: ignore[union-attr]
    assert memory((buffers,)) is None


# -- decoding -----------------------------------------------------------------------------------


def test_text_decoding() -> None:
    assert to_text(b"MS TCP Loopback interface\x00") == "MS TCP Loopback interface"
    assert to_text("caf\u00e9".encode()) == "caf\u00e9"
    assert to_text("caf\u00e9".encode("latin-1")) == "caf\u00e9"
    assert to_text(b"line one\r\nline two") == "line one\nline two"
    assert to_text(b"\x00\x12\x79\x62\xf9\x40") == "00:12:79:62:f9:40"
    assert to_text(b"evil\x1b[31mred") == "65:76:69:6c:1b:5b:33:31:6d:72:65:64"
    assert to_text("a\u202eb".encode()) == "61:e2:80:ae:62"  # a bidi override is not text
    assert to_text(b"") == ""
    assert to_text((1, 3, 6, 1)) == "1.3.6.1"


def test_mac_addresses_are_always_hex() -> None:
    assert mac_address(b"ABCDEF") == "41:42:43:44:45:46"  # printable bytes, still a MAC
    assert mac_address(b"") == ""
    assert mac_address(None) == ""


def test_pysnmp_values_to_python() -> None:
    assert to_raw(rfc1902.Counter64(2**40)) == 2**40
    assert to_raw(rfc1902.TimeTicks(12345)) == 12345
    assert to_raw(rfc1902.IpAddress("127.0.0.1")) == "127.0.0.1"
    assert to_raw(rfc1902.ObjectIdentifier("1.3.6.1.2.1.25.2.1.4")) == (
        1,
        3,
        6,
        1,
        2,
        1,
        25,
        2,
        1,
        4,
    )
    assert to_raw(rfc1902.OctetString(b"\x01\x02")) == b"\x01\x02"
    assert to_raw(rfc1902.Opaque(bytes.fromhex("9f780441200000"))) == 10.0  # net-snmp float
    for absent in (rfc1905.NoSuchObject(""), rfc1905.NoSuchInstance(""), rfc1905.EndOfMibView("")):
        assert to_raw(absent) is None
    assert to_raw(univ.Null("")) is None


def test_oid_parsing() -> None:
    assert parse_oid(".1.3.6.1.2.1.1.1.0") == (1, 3, 6, 1, 2, 1, 1, 1, 0)
    for bad in ("", "1", "1.3.x", "1..3", "sysDescr.0"):
        with pytest.raises(ValueError, match="not a numeric OID"):
            parse_oid(bad)


# -- vendors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("object_id", "descr", "vendor", "os", "version", "model"),
    [
        (
            "1.3.6.1.4.1.9.1.617",
            "Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), Version 12.2(55)SE3, "
            "RELEASE SOFTWARE (fc1)",
            "Cisco",
            "IOS",
            "12.2(55)SE3",
            "C3560",
        ),
        (
            "1.3.6.1.4.1.9.1.2494",
            "Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software (CAT9K_IOSXE), "
            "Version 17.3.4, RELEASE SOFTWARE (fc3)",
            "Cisco",
            "IOS XE",
            "17.3.4",
            "",
        ),
        (
            "1.3.6.1.4.1.2636.1.1.1.2.29",
            "Juniper Networks, Inc. mx240 internet router, kernel JUNOS 15.1R7.9, Build date: x",
            "Juniper",
            "Junos",
            "15.1R7.9",
            "mx240",
        ),
        (
            "1.3.6.1.4.1.8072.3.2.10",
            "Linux web01 5.15.0-91-generic #101-Ubuntu SMP x86_64",
            "",
            "Linux",
            "5.15.0-91-generic",
            "",
        ),
        (
            "1.3.6.1.4.1.14988.1",
            "RouterOS CCR1009-7G-1C-1S+",
            "MikroTik",
            "RouterOS",
            "",
            "CCR1009-7G-1C-1S+",
        ),
        ("1.3.6.1.4.1.3955.1.1", "BEFSX41", "Linksys", "", "", "BEFSX41"),
        ("1.3.6.1.4.1.705.1", None, "Eaton", "", "", ""),
        (None, None, "", "", "", ""),
        ("1.3.6.1.4.1.99999.1", "Some Unknown Box with a long description", "", "", "", ""),
    ],
)
def test_identify(
    object_id: str | None, descr: str | None, vendor: str, os: str, version: str, model: str
) -> None:
    found = identify(object_id, descr)
    assert (found.vendor, found.os, found.version, found.model) == (vendor, os, version, model)


# -- targets ------------------------------------------------------------------------------------


def test_target_hides_secrets_and_knows_its_level() -> None:
    target = SnmpTarget(
        "127.0.0.1",
        version=SnmpVersion.V3,
        user="ops",
        auth_protocol=AuthProtocol.SHA,
        auth_key="secret-auth",
        priv_protocol=PrivProtocol.AES,
        priv_key="secret-priv",
    )
    assert "secret" not in repr(target)
    assert target.security_level is SecurityLevel.AUTH_PRIV
    assert SnmpTarget("::1").endpoint == "[::1]:161"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"address": ""}, "address is empty"),
        ({"port": 0}, "port must be"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"retries": -1}, "retries cannot be negative"),
        ({"deadline": 0}, "deadline must be positive"),
        ({"community": ""}, "needs a community"),
        ({"version": SnmpVersion.V3}, "needs a user"),
        (
            {
                "version": SnmpVersion.V3,
                "user": "u",
                "priv_protocol": PrivProtocol.AES,
                "priv_key": "12345678",
            },
            "privacy needs an authentication",
        ),
        (
            {
                "version": SnmpVersion.V3,
                "user": "u",
                "auth_protocol": AuthProtocol.SHA,
                "auth_key": "short",
            },
            "at least 8 characters",
        ),
    ],
)
def test_bad_targets_say_what_is_wrong(kwargs: dict[str, object], words: str) -> None:
    params: dict[str, object] = {"address": "127.0.0.1"}
    params.update(kwargs)
    with pytest.raises(SnmpConfigError, match=words) as caught:
        SnmpTarget(**params)  # type: ignore[arg-type]
    assert isinstance(caught.value, ConfigError)


def test_auth_errors_survive_pickling() -> None:
    """Worker processes send errors back pickled; the reason must come along."""
    error = pickle.loads(pickle.dumps(SnmpAuthError("bad key", "wrongDigest")))
    assert str(error) == "bad key" and error.reason == "wrongDigest"


def test_the_probe_never_imports_textual() -> None:
    """The poller runs in processes with no UI: importing it must not drag Textual in."""
    code = (
        "import sys, noc.probes.snmp, noc.probes.snmp.command, noc.probes.snmp.worker\n"
        "assert 'textual' not in sys.modules, 'textual imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- targets from inventory data ----------------------------------------------------------------


def test_target_from_inventory_params() -> None:
    target = target_from_params(
        "127.0.0.1",
        {"version": "3", "user": "ops", "auth_protocol": "SHA-256", "priv_protocol": "AES-256-C"},
        {"auth": "auth-secret", "priv": "priv-secret"},
        {"port": "1161", "collect": ["interfaces", "cpu"], "deadline": 30},
        timeout=3.0,
        retries=2,
    )
    assert target.version is SnmpVersion.V3 and target.port == 1161
    assert target.auth_protocol is AuthProtocol.SHA256
    assert target.priv_protocol is PrivProtocol.AES256C
    assert target.collect == frozenset({Collect.INTERFACES, Collect.CPU})
    assert (target.timeout, target.retries, target.deadline) == (3.0, 2, 30.0)
    v2 = target_from_params("127.0.0.1", {"version": "v2c"}, {"community": "public"})
    assert v2.version is SnmpVersion.V2C and v2.community == "public"


@pytest.mark.parametrize(
    ("credential", "secrets", "check", "message"),
    [
        ({"version": "4"}, {}, {}, "inv: version: '4' is not one of 1, 2c, 3"),
        ({}, {}, {}, "inv: SNMPv2c needs a community secret"),
        ({"verison": "2c"}, {"community": "c"}, {}, "inv: credential: unknown setting 'verison'"),
        ({}, {"community": "c"}, {"port": "x"}, "inv: port: 'x' is not a number"),
        ({}, {"community": "c"}, {"port": 70000}, "inv: port must be 1-65535"),
        ({}, {"community": "c"}, {"collect": "cpu"}, "inv: collect: expected a list"),
        ({}, {"community": "c"}, {"collect": ["disk"]}, "inv: collect: 'disk' is not one of"),
        (
            {"version": "3", "user": "u", "auth_protocol": "sha"},
            {"auth": "short"},
            {},
            "inv: SNMPv3 auth key must be at least 8 characters",
        ),
    ],
)
def test_bad_inventory_params_name_the_field(
    credential: dict[str, object], secrets: dict[str, str], check: dict[str, object], message: str
) -> None:
    with pytest.raises(SnmpConfigError) as caught:
        target_from_params("127.0.0.1", credential, secrets, check, where="inv")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
