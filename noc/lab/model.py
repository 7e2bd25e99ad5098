"""Simulated devices: what each one reports at time ``t``, as pure functions of its scenario.

Every figure is derived from the clock and the device's seed, never from state that a request
mutates, so a hundred pollers asking at once see one consistent device, and a test can compute
the expected answer for any instant.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from dataclasses import dataclass, field


class Scenario(enum.StrEnum):
    HEALTHY = "healthy"
    DOWN = "down"
    """Answers nothing on any service."""
    FLAPPING = "flapping"
    """Up and down in turn, every ``FLAP_PERIOD_S``."""
    SLOW = "slow"
    """Every answer comes ``SLOW_DELAY_S`` late."""
    LOSS = "loss"
    """Drops ``LOSS_RATE`` of requests."""
    DISK_FILLING = "disk-filling"
    CPU_PEGGED = "cpu-pegged"
    IF_ERRORS = "if-errors"
    REBOOT = "reboot"
    """Reboots every ``REBOOT_PERIOD_S``: sysUpTime goes back."""


FLAP_PERIOD_S = 45.0
SLOW_DELAY_S = 2.0
LOSS_RATE = 0.3
REBOOT_PERIOD_S = 600.0
DISK_FILL_PCT_PER_MIN = 1.0
IF_SPEED_BPS = 1_000_000_000

KIND_DESCR = {
    "router": ("Cisco IOS Software, ISR4331 Software, Version 17.9.4a", "1.3.6.1.4.1.9.1.2068"),
    "switch": ("Cisco IOS Software, C3560 Software, Version 15.0(2)SE11", "1.3.6.1.4.1.9.1.1226"),
    "firewall": ("FortiGate-60F v7.2.8,build1639", "1.3.6.1.4.1.12356.101.1.10004"),
    "ups": (
        "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.9.6 AN1:apc_hw05)",
        "1.3.6.1.4.1.318.1.3.27",
    ),
    "server": ("Linux lab 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64", "1.3.6.1.4.1.8072.3.2.10"),
    "nas": ("Linux nas 5.10.60 #64570 SMP Synology x86_64", "1.3.6.1.4.1.6574.1"),
}
DEFAULT_DESCR = ("Linux lab 6.1.0 x86_64", "1.3.6.1.4.1.8072.3.2.10")


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class Interface:
    index: int
    name: str
    rate_bps: float
    admin_up: bool = True


@dataclass(frozen=True, slots=True)
class Volume:
    index: int
    mount: str
    size_bytes: int
    base_used_pct: float


@dataclass
class LabDevice:
    name: str
    address: str
    kind: str = "server"
    scenario: Scenario = Scenario.HEALTHY
    epoch: float = 0.0
    """When the lab started: scenarios that evolve (disk filling, reboots) count from here."""
    snmp_port: int | None = None
    ssh_port: int | None = None
    http_port: int | None = None
    tcp_ports: tuple[int, ...] = ()
    interfaces: tuple[Interface, ...] = field(default=())
    volumes: tuple[Volume, ...] = field(default=())

    def __post_init__(self) -> None:
        rng = random.Random(_seed(self.name))
        if not self.interfaces:
            count = {"switch": 24, "router": 4, "firewall": 6}.get(self.kind, 2)
            self.interfaces = tuple(
                Interface(
                    i, f"eth{i - 1}", rng.uniform(1e6, 80e6), admin_up=i <= count - 1 or i == 1
                )
                for i in range(1, count + 1)
            )
        if not self.volumes:
            self.volumes = (
                Volume(1, "/", 64 * 2**30, rng.uniform(25, 60)),
                Volume(2, "/var", 200 * 2**30, rng.uniform(20, 70)),
            )

    @property
    def seed(self) -> int:
        return _seed(self.name)

    def descr(self) -> tuple[str, str]:
        """(sysDescr, sysObjectID) by kind."""
        return KIND_DESCR.get(self.kind, DEFAULT_DESCR)

    # reachability -------------------------------------------------------------------------

    def up(self, t: float) -> bool:
        if self.scenario is Scenario.DOWN:
            return False
        if self.scenario is Scenario.FLAPPING:
            return int((t - self.epoch) // FLAP_PERIOD_S) % 2 == 0
        return True

    def delay(self) -> float:
        return SLOW_DELAY_S if self.scenario is Scenario.SLOW else 0.0

    def drops(self, rng: random.Random) -> bool:
        return self.scenario is Scenario.LOSS and rng.random() < LOSS_RATE

    # metrics ------------------------------------------------------------------------------

    def uptime_s(self, t: float) -> float:
        since = t - self.epoch
        if self.scenario is Scenario.REBOOT:
            return since % REBOOT_PERIOD_S
        return since + 86_400 * (1 + self.seed % 90)

    def cpu_pct(self, t: float) -> float:
        if self.scenario is Scenario.CPU_PEGGED:
            return 97.0 + 2.0 * math.sin(t / 7.0)
        phase = (self.seed % 1000) / 1000 * math.tau
        return 18.0 + 12.0 * math.sin(t / 300.0 + phase)

    def mem_used_pct(self, t: float) -> float:
        return 45.0 + 10.0 * math.sin(t / 900.0 + self.seed % 7)

    def volume_used_pct(self, volume: Volume, t: float) -> float:
        if self.scenario is Scenario.DISK_FILLING and volume.index == 1:
            minutes = (t - self.epoch) / 60.0
            return min(99.9, 80.0 + DISK_FILL_PCT_PER_MIN * minutes)
        return volume.base_used_pct

    def if_oper_up(self, interface: Interface) -> bool:
        return interface.admin_up

    def if_octets(self, interface: Interface, t: float, *, out: bool) -> int:
        """Counters since the (simulated) boot: they restart at zero after a reboot."""
        factor = 0.6 if out else 1.0
        return int(interface.rate_bps / 8 * factor * self.uptime_s(t))

    def if_errors(self, interface: Interface, t: float) -> int:
        if self.scenario is Scenario.IF_ERRORS and interface.index == 1:
            return int(50 * (t - self.epoch))
        return 0
