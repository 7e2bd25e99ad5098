"""What to poll and how: an immutable, validated description of one SNMP agent.

The secrets in a target are resolved values (the caller resolves the credential profile's
``SecretRef`` just before polling); they are left out of ``repr()`` so a target can be logged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from noc.probes.snmp.errors import SnmpConfigError


class SnmpVersion(enum.StrEnum):
    V1 = "1"
    V2C = "2c"
    V3 = "3"


class AuthProtocol(enum.StrEnum):
    NONE = "none"
    MD5 = "md5"
    SHA = "sha"
    SHA224 = "sha224"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


class PrivProtocol(enum.StrEnum):
    NONE = "none"
    DES = "des"
    AES = "aes"
    """AES-128 (RFC 3826), what net-snmp and most devices call plain "AES"."""
    AES192 = "aes192"
    """AES-192 with the key extension of draft-blumenthal-aes-usm (net-snmp's "AES-192")."""
    AES256 = "aes256"
    AES192C = "aes192c"
    """AES-192 with the Reeder key extension Cisco uses (net-snmp's "AES-192-C")."""
    AES256C = "aes256c"


class SecurityLevel(enum.StrEnum):
    NO_AUTH_NO_PRIV = "noAuthNoPriv"
    AUTH_NO_PRIV = "authNoPriv"
    AUTH_PRIV = "authPriv"


class Collect(enum.StrEnum):
    """The parts of a device a poll reads; each missing one makes the result PARTIAL."""

    SYSTEM = "system"
    INTERFACES = "interfaces"
    STORAGE = "storage"
    CPU = "cpu"


ALL_COLLECT = frozenset(Collect)

REDISCOVER_S = 1800.0
"""Half an hour: an interface renamed or a disk added shows within that, or at once when the
rows themselves change (see ``discovery``)."""
_MIN_KEY_LENGTH = 8  # RFC 3414 password-to-key needs at least 8 characters


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    address: str
    """An IPv4/IPv6 literal or a host name (resolved at each poll, cached for a few minutes)."""
    port: int = 161
    version: SnmpVersion = SnmpVersion.V2C
    community: str = field(default="public", repr=False)
    user: str = ""
    auth_protocol: AuthProtocol = AuthProtocol.NONE
    auth_key: str = field(default="", repr=False)
    priv_protocol: PrivProtocol = PrivProtocol.NONE
    priv_key: str = field(default="", repr=False)
    context: str = ""
    """SNMPv3 context name; empty for the default context."""
    timeout: float = 2.0
    """Seconds to wait for each answer before sending the request again."""
    retries: int = 1
    deadline: float = 10.0
    """Seconds for the whole poll, every request and retry included; a hard stop."""
    collect: frozenset[Collect] = ALL_COLLECT
    max_repetitions: int = 25
    """GETBULK rows per request (v2c/v3); lower it for agents that answer tooBig or slowly."""
    max_rows: int = 10_000
    """Rows per table a poll reads at most, so a runaway agent cannot keep a walk going."""
    rediscover: float = REDISCOVER_S
    """Seconds between full polls that read names, descriptions and types again (``discovery``);
    the polls between read only what changes. 0 reads everything at every poll."""

    def __post_init__(self) -> None:
        where = f"snmp target {self.address or '?'}:{self.port}"
        if not self.address:
            raise SnmpConfigError(f"{where}: address is empty")
        if not 0 < self.port < 65536:
            raise SnmpConfigError(f"{where}: port must be 1-65535")
        if not self.timeout > 0:
            raise SnmpConfigError(f"{where}: timeout must be positive")
        if self.retries < 0:
            raise SnmpConfigError(f"{where}: retries cannot be negative")
        if not self.deadline > 0:
            raise SnmpConfigError(f"{where}: deadline must be positive")
        if not 1 <= self.max_repetitions <= 200:
            raise SnmpConfigError(f"{where}: max_repetitions must be 1-200")
        if self.max_rows < 1:
            raise SnmpConfigError(f"{where}: max_rows must be at least 1")
        if self.rediscover < 0:
            raise SnmpConfigError(f"{where}: rediscover cannot be negative")
        if self.version is SnmpVersion.V3:
            self._check_v3(where)
        elif not self.community:
            raise SnmpConfigError(f"{where}: SNMPv{self.version} needs a community")

    def _check_v3(self, where: str) -> None:
        if not self.user:
            raise SnmpConfigError(f"{where}: SNMPv3 needs a user")
        has_auth = self.auth_protocol is not AuthProtocol.NONE
        has_priv = self.priv_protocol is not PrivProtocol.NONE
        if has_priv and not has_auth:
            raise SnmpConfigError(f"{where}: SNMPv3 privacy needs an authentication protocol")
        if has_auth and len(self.auth_key) < _MIN_KEY_LENGTH:
            raise SnmpConfigError(f"{where}: SNMPv3 auth key must be at least 8 characters")
        if has_priv and len(self.priv_key) < _MIN_KEY_LENGTH:
            raise SnmpConfigError(f"{where}: SNMPv3 priv key must be at least 8 characters")

    @property
    def security_level(self) -> SecurityLevel:
        if self.priv_protocol is not PrivProtocol.NONE:
            return SecurityLevel.AUTH_PRIV
        if self.auth_protocol is not AuthProtocol.NONE:
            return SecurityLevel.AUTH_NO_PRIV
        return SecurityLevel.NO_AUTH_NO_PRIV

    @property
    def endpoint(self) -> str:
        """``host:port`` (IPv6 in brackets) for messages."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def key(self) -> tuple[str, int, str]:
        """Identity for counter state: the agent, and the view of it (some agents serve several
        devices or VLAN contexts on one port, told apart by community or v3 context)."""
        view = self.context if self.version is SnmpVersion.V3 else self.community
        return (self.address, self.port, view)
