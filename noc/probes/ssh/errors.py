"""Why an SSH exchange failed, each kind carrying the probe status it maps to.

    NocError
    └── SshError               anything that stopped a command from running to its end
        ├── SshHostKeyError    the server's key is unknown, changed or revoked (no login tried)
        ├── SshAuthError       the credentials were refused or a key file cannot be read
        ├── SshConnectError    refused, reset, unreachable, lost, or a channel the server refused
        └── SshTimeoutError    a deadline passed (connect, login or the whole command)

``str()`` is the one line a person reads: it names the target and says what to do when there
is something to do (add the key, fix the credential).
"""

from __future__ import annotations

from typing import ClassVar

from noc.errors import NocError
from noc.probes.result import ProbeStatus


class SshError(NocError):
    status: ClassVar[ProbeStatus] = ProbeStatus.FAILED
    """What a poll that ends with this error reports."""


class SshHostKeyError(SshError):
    status = ProbeStatus.ERROR


class SshAuthError(SshError):
    status = ProbeStatus.ERROR


class SshConnectError(SshError):
    status = ProbeStatus.FAILED


class SshTimeoutError(SshError):
    status = ProbeStatus.FAILED
