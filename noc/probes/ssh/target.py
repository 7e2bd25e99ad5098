"""Where and how to log in: immutable, hashable, so a target doubles as its pool key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from noc.config import SshSettings


@dataclass(frozen=True, slots=True)
class SshTimeouts:
    """Deadlines in seconds; none of them is ever "wait forever".

    ``connect`` bounds TCP, key exchange and authentication together, ``login`` bounds the
    authentication alone (a server that stalls after the banner), ``command`` is the hard overall
    deadline of one ``run()``/``poll()``, connecting included.
    """

    connect: float = SshSettings.connect_timeout_s
    login: float = SshSettings.login_timeout_s
    command: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "login", "command"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ssh timeout {name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_settings(cls, settings: SshSettings, command: float = 30.0) -> SshTimeouts:
        return cls(settings.connect_timeout_s, settings.login_timeout_s, command)


@dataclass(frozen=True, slots=True)
class SshTarget:
    """One account on one host, optionally reached through a jump host.

    Secrets arrive already resolved (``noc.secrets``); they are left out of ``repr`` so a target
    can be logged. Equality and hashing ignore the timeouts: two checks of the same account with
    different deadlines share one pooled connection, while a different credential gets its own
    (a rotated password must not ride on a session the old one opened).
    """

    host: str
    username: str
    port: int = 22
    password: str | None = field(default=None, repr=False)
    client_keys: tuple[str, ...] = ()
    """Private key files; an empty tuple means no key file is offered."""
    passphrase: str | None = field(default=None, repr=False)
    agent: bool | str = False
    """``True`` uses ``$SSH_AUTH_SOCK``, a string is the agent's socket path."""
    known_hosts: str = SshSettings.known_hosts
    """The OpenSSH known_hosts file the server's key must be in; there is no way to skip it."""
    jump: SshTarget | None = None
    timeouts: SshTimeouts = field(default_factory=SshTimeouts, compare=False)

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("ssh target needs a host")
        if not self.username:
            raise ValueError(f"ssh target {self.host}: username is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"ssh target {self.host}: port {self.port} is out of range")
        if not self.known_hosts:
            raise ValueError(f"ssh target {self.host}: known_hosts path is empty")

    @classmethod
    def configured(
        cls, settings: SshSettings, host: str, username: str, **options: Any
    ) -> SshTarget:
        """A target whose known_hosts file and connect/login timeouts come from ``[ssh]``."""
        options.setdefault("known_hosts", settings.known_hosts)
        options.setdefault("timeouts", SshTimeouts.from_settings(settings))
        return cls(host, username, **options)

    @property
    def address(self) -> str:
        """``host:port`` as people write it (brackets around an IPv6 literal)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        via = f" via {self.jump}" if self.jump else ""
        return f"{self.username}@{self.address}{via}"
