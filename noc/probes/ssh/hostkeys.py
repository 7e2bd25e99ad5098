"""known_hosts: read once per change, and a refusal explained as unknown, changed or revoked.

asyncssh checks the server's key right after key exchange, before any authentication request,
so a refused key means no password or signature ever left this process. What asyncssh does not
say is *why* the key was refused; a person needs to know whether to add a new host or to worry
about a changed one, so the offered key is captured and compared with the file here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncssh

from noc.probes.ssh.errors import SshHostKeyError
from noc.probes.ssh.target import SshTarget

_Signature = tuple[int, int, int]


class KnownHostsCache:
    """Parsed known_hosts files, re-read when their size, inode or mtime changes.

    A missing file is an empty one (every key is then unknown) rather than a reason for asyncssh
    to fall back to some other default file.
    """

    def __init__(self) -> None:
        self._files: dict[Path, tuple[_Signature, asyncssh.SSHKnownHosts]] = {}

    def get(self, path: str) -> asyncssh.SSHKnownHosts:
        file = Path(path).expanduser()
        try:
            st = file.stat()
        except FileNotFoundError:
            return asyncssh.SSHKnownHosts()
        except OSError as exc:
            raise SshHostKeyError(f"cannot read known_hosts {path}: {exc.strerror}") from None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._files.get(file)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            known = asyncssh.read_known_hosts(str(file))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise SshHostKeyError(f"cannot read known_hosts {path}: {reason}") from None
        self._files[file] = (signature, known)
        return known


class RecordingClient(asyncssh.SSHClient):
    """Remembers the key a server offered that known_hosts did not vouch for, and reports loss.

    ``validate_host_public_key`` is only consulted after the known_hosts lookup failed; answering
    ``False`` keeps asyncssh's verdict while letting the refusal be explained.
    """

    def __init__(self, on_lost: Callable[[], None] | None = None) -> None:
        self.on_lost = on_lost
        self.offered: asyncssh.SSHKey | None = None
        self.offered_addr = ""

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = key
        self.offered_addr = addr
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_lost is not None:
            self.on_lost()


def _describe(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {key.get_fingerprint()}"


def explain_refusal(
    target: SshTarget,
    known: asyncssh.SSHKnownHosts,
    client: RecordingClient,
    exc: asyncssh.HostKeyNotVerifiable,
) -> SshHostKeyError:
    """Turn asyncssh's bare refusal into "not in", "CHANGED" or "revoked" for this target."""
    where = target.known_hosts
    if "revoked" in str(exc).lower():
        return SshHostKeyError(f"host key for {target.address} is revoked in {where}")
    offered = client.offered
    if offered is None:
        return SshHostKeyError(f"host key for {target.address} not verifiable with {where}: {exc}")
    port = None if target.port == 22 else target.port
    expected = known.match(target.host, client.offered_addr, port)[0]
    if not expected:
        return SshHostKeyError(
            f"host key for {target.address} not in {where} (server offers {_describe(offered)});"
            " verify it and add it to that file"
        )
    listed = ", ".join(dict.fromkeys(_describe(key) for key in expected))
    return SshHostKeyError(
        f"host key CHANGED for {target.address}: server offers {_describe(offered)} but {where}"
        f" has {listed}; not logging in (reinstalled host, or someone in between)"
    )
