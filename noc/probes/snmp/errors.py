"""Why an SNMP exchange failed, as exceptions the poller turns into a ``ProbeResult``.

    NocError
    └── SnmpError              any SNMP failure; ``str()`` is the line a person reads
        ├── SnmpConfigError    the target itself is unusable (bad port, v3 without a user ...)
        ├── SnmpTimeout        no answer: the host is down, unreachable, or drops our community
        ├── SnmpAuthError      the agent answered but refused our credentials (v3 reports,
        │                      authorizationError): retrying will not help
        ├── SnmpAgentError     the agent answered with an error status (genErr, tooBig ...)
        └── SnmpBusy           not polled: the poller itself had no room in time (UNKNOWN,
                               not down: the agent was never asked)

``poll()`` never raises them; ``get()`` does, for callers that want the raw exchange.
"""

from __future__ import annotations

from noc.errors import ConfigError, NocError


class SnmpError(NocError):
    pass


class SnmpConfigError(SnmpError, ConfigError):
    pass


class SnmpTimeout(SnmpError):
    pass


class SnmpAuthError(SnmpError):
    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        """What the agent reported, in RFC 3414 words (``wrongDigest``, ``unknownUserName``,
        ``authorizationError`` ...); empty when noc inferred the failure."""

    def __reduce__(self) -> tuple[type[SnmpAuthError], tuple[str, str]]:
        return (type(self), (str(self), self.reason))


class SnmpAgentError(SnmpError):
    pass


class SnmpBusy(SnmpError):
    pass
