"""Opening one authenticated connection, with every asyncssh failure turned into an ``SshError``.

Nothing here is implicit: no ``~/.ssh/config``, no default identity files, no agent unless the
target asks for one, and the known_hosts file the target names (never a fallback), so a poll
behaves the same under systemd, in a container and in a technician's shell.
"""

from __future__ import annotations

import os

import asyncssh

from noc.probes.ssh.errors import SshAuthError, SshConnectError, SshError, SshTimeoutError
from noc.probes.ssh.hostkeys import KnownHostsCache, RecordingClient, explain_refusal
from noc.probes.ssh.target import SshTarget

KEEPALIVE_COUNT_MAX = 3
PREFERRED_CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
"""AES-GCM before asyncssh's default chacha20-poly1305, which builds several cipher contexts
per packet: with AES-NI this cut the client's CPU per pooled command by a third (1.7 -> 1.1 ms
measured with bench/bench_ssh.py's workload), and a busy pool is bound by exactly that."""


def _load_key_files(target: SshTarget) -> list[asyncssh.SSHKeyPair]:
    keys: list[asyncssh.SSHKeyPair] = []
    for path in target.client_keys:
        try:
            keys.extend(asyncssh.load_keypairs([path], target.passphrase))
        except OSError as exc:
            raise SshAuthError(f"{target}: cannot read client key {path}: {exc.strerror}") from None
        except (ValueError, asyncssh.KeyEncryptionError) as exc:
            raise SshAuthError(f"{target}: cannot use client key {path}: {exc}") from None
    return keys


async def _agent_keys(target: SshTarget) -> tuple[asyncssh.SSHAgentClient | None, list[object]]:
    """The agent's keys, fetched by us so that asyncssh never goes looking for default files."""
    if target.agent is False:
        return None, []
    path = target.agent if isinstance(target.agent, str) else ""
    try:
        agent = await asyncssh.connect_agent(path)
        keys: list[object] = list(await agent.get_keys())
    except (OSError, asyncssh.Error, ValueError) as exc:
        where = path or "$SSH_AUTH_SOCK"
        raise SshAuthError(f"{target}: cannot use the ssh-agent at {where}: {exc}") from None
    return agent, keys


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()  # asyncio's text repeats the address
    return str(exc) or type(exc).__name__


async def open_connection(
    target: SshTarget,
    known_hosts: KnownHostsCache,
    client: RecordingClient,
    *,
    tunnel: asyncssh.SSHClientConnection | None = None,
    keepalive_s: float = 30.0,
) -> asyncssh.SSHClientConnection:
    """Connect and authenticate, or raise the ``SshError`` a person can act on."""
    known = known_hosts.get(target.known_hosts)
    keys: list[object] = list(_load_key_files(target))
    agent, agent_keys = await _agent_keys(target)
    keys.extend(agent_keys)
    try:
        return await asyncssh.connect(
            target.host,
            target.port,
            tunnel=tunnel if tunnel is not None else (),
            config=None,
            username=target.username,
            password=target.password,
            client_keys=keys or None,
            agent_path=None,
            known_hosts=known,
            gss_host=None,
            encryption_algs=PREFERRED_CIPHERS,
            client_factory=lambda: client,
            connect_timeout=target.timeouts.connect,
            login_timeout=target.timeouts.login,
            keepalive_interval=keepalive_s,
            keepalive_count_max=KEEPALIVE_COUNT_MAX,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise explain_refusal(target, known, client, exc) from None
    except asyncssh.PermissionDenied:
        offered = ", ".join(_offered(target, bool(keys)))
        raise SshAuthError(f"{target}: login refused (tried {offered})") from None
    except TimeoutError:
        raise SshTimeoutError(
            f"{target}: no SSH session within the {target.timeouts.connect:g}s connect timeout"
        ) from None
    except asyncssh.ConnectionLost as exc:
        if "login timeout" in str(exc).lower():
            raise SshTimeoutError(
                f"{target}: login not done within the {target.timeouts.login:g}s login timeout"
            ) from None
        raise SshConnectError(f"{target}: connection lost while logging in: {exc}") from None
    except SshError:
        raise
    except (OSError, asyncssh.Error) as exc:
        raise SshConnectError(f"{target}: {_describe(exc)}") from None
    finally:
        if agent is not None:
            agent.close()
            await agent.wait_closed()


def _offered(target: SshTarget, with_keys: bool) -> list[str]:
    methods = ["publickey"] if with_keys else []
    if target.password is not None:
        methods.append("password")
    return methods or ["no credentials"]
