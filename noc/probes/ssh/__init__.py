"""Agentless Linux/BSD metrics over pooled SSH connections, and remote commands on the same pool.

    async with SshPool() as pool:
        result = await pool.poll(SshTarget("127.0.0.1", "monitor", client_keys=("~/.ssh/id",)))

Host keys are always checked against the target's known_hosts file before any credential is
sent; an unknown or changed key is a ``ProbeStatus.ERROR`` that says which.
"""

from noc.probes.ssh.collect import Collected, Filesystem, parse
from noc.probes.ssh.errors import (
    SshAuthError,
    SshConnectError,
    SshError,
    SshHostKeyError,
    SshTimeoutError,
)
from noc.probes.ssh.pool import CommandResult, SshPool
from noc.probes.ssh.target import SshTarget, SshTimeouts

__all__ = [
    "Collected",
    "CommandResult",
    "Filesystem",
    "SshAuthError",
    "SshConnectError",
    "SshError",
    "SshHostKeyError",
    "SshPool",
    "SshTarget",
    "SshTimeoutError",
    "SshTimeouts",
    "parse",
]
