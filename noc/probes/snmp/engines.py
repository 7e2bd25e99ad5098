"""One PDU to one target through the shared pysnmp stacks, pysnmp's answer turned into a
``Response`` or an ``SnmpError``.

v1/v2c go through the v1arch dispatcher (``community``), v3 through v3arch engines (``usm``):
each is created on first use inside the running loop and lives until ``aclose``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from pysnmp.error import PySnmpError
from pysnmp.proto import errind
from pysnmp.proto.rfc1905 import EndOfMibView

from noc.probes.snmp.community import CommunityStack
from noc.probes.snmp.errors import SnmpAgentError, SnmpAuthError, SnmpError, SnmpTimeout
from noc.probes.snmp.mibs import Oid, format_oid
from noc.probes.snmp.stack import PduKind, Stack
from noc.probes.snmp.target import SnmpTarget, SnmpVersion
from noc.probes.snmp.usm import UsmStack

__all__ = ["PduKind", "Response", "SnmpEngines", "agent_error_text"]


@dataclass(frozen=True, slots=True)
class Response:
    varbinds: list[tuple[Oid, Any]]
    """The agent's OIDs with pysnmp's value objects, in wire order."""
    error_status: int = 0
    error_index: int = 0
    """1-based position of the request varbind the error is about (0: none)."""

    @staticmethod
    def is_end(value: Any) -> bool:
        return isinstance(value, EndOfMibView)


_AUTH_FAILURES: dict[type[errind.ErrorIndication], tuple[str, str]] = {
    errind.WrongDigest: (
        "wrongDigest",
        "wrong auth key or auth protocol (the agent reported a wrong digest)",
    ),
    errind.UnknownUserName: ("unknownUserName", "the agent does not know this user"),
    errind.UnsupportedSecurityLevel: (
        "unsupportedSecLevel",
        "the agent does not accept this security level for the user",
    ),
    errind.DecryptionError: (
        "decryptionError",
        "wrong priv key or priv protocol (the agent could not decrypt)",
    ),
    errind.NotInTimeWindow: ("notInTimeWindow", "the agent's clock is outside the time window"),
    errind.UnknownEngineID: ("unknownEngineID", "engine discovery failed"),
    errind.AuthenticationFailure: ("authenticationFailure", "authentication failed"),
    errind.AuthenticationError: ("authenticationFailure", "authentication failed"),
    errind.UnknownSecurityName: ("unknownSecurityName", "unknown security name"),
}

_AUTHORIZATION_ERROR = 16


class SnmpEngines:
    """Sends one PDU to one target and returns the answer, or raises an ``SnmpError``.

    Open it inside the running loop (``async with``); every pysnmp object lives until ``close``.
    """

    def __init__(self) -> None:
        self._community: CommunityStack | None = None
        self._usm: UsmStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> SnmpEngines:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the sockets first, let the answers already read be dispatched (to nobody),
        then tear pysnmp down: an answer dispatched after that would raise in the loop."""
        stacks = [stack for stack in (self._community, self._usm) if stack is not None]
        self._community = self._usm = None
        for stack in stacks:
            stack.stop_receiving()
        await asyncio.sleep(0)
        for stack in stacks:
            with contextlib.suppress(Exception):  # closing must not hide the real error
                stack.close()

    def _stack(self, target: SnmpTarget) -> Stack:
        if self._loop is None:
            raise RuntimeError("SnmpEngines used outside 'async with'")
        if target.version is SnmpVersion.V3:
            if self._usm is None:
                self._usm = UsmStack(self._loop)
            return self._usm
        if self._community is None:
            self._community = CommunityStack(self._loop)
        return self._community

    async def request(
        self, target: SnmpTarget, kind: PduKind, oids: list[Oid], max_repetitions: int = 0
    ) -> Response:
        if kind is PduKind.GETBULK and target.version is SnmpVersion.V1:
            raise SnmpError(f"{target.endpoint}: GETBULK does not exist in SNMPv1")
        stack = self._stack(target)
        try:
            indication, status, index, varbinds = await stack.request(
                target, kind, oids, max_repetitions
            )
        except PySnmpError as exc:
            raise SnmpError(f"{target.endpoint}: {exc}") from None
        if indication:
            raise _indication_error(target, indication)
        status_code = int(status or 0)
        if status_code == _AUTHORIZATION_ERROR:
            where = format_oid(oids[int(index) - 1]) if 0 < int(index) <= len(oids) else "the OIDs"
            raise SnmpAuthError(
                f"{target.endpoint}: {_who(target)} is not authorised to read {where}",
                "authorizationError",
            )
        return Response(
            [(tuple(name), value) for name, value in varbinds],
            error_status=status_code,
            error_index=int(index or 0),
        )


def _who(target: SnmpTarget) -> str:
    if target.version is SnmpVersion.V3:
        return f"SNMPv3 user {target.user!r}"
    return f"SNMPv{target.version} community"


def _indication_error(target: SnmpTarget, indication: Any) -> SnmpError:
    if isinstance(indication, errind.RequestTimedOut):
        tries = target.retries + 1
        return SnmpTimeout(
            f"{target.endpoint}: no SNMP answer in {tries} × {target.timeout:g} s"
            + ("" if target.version is SnmpVersion.V3 else " (host down or wrong community?)")
        )
    for cls, (reason, why) in _AUTH_FAILURES.items():
        if isinstance(indication, cls):
            return SnmpAuthError(f"{target.endpoint}: {_who(target)}: {why}", reason)
    return SnmpAgentError(f"{target.endpoint}: {indication}")


def agent_error_text(target: SnmpTarget, response: Response, oids: list[Oid]) -> str:
    """One line for an errorStatus the caller could not work around."""
    names = {
        1: "tooBig",
        2: "noSuchName",
        3: "badValue",
        4: "readOnly",
        5: "genErr",
    }
    status = names.get(response.error_status, f"error {response.error_status}")
    where = ""
    if 0 < response.error_index <= len(oids):
        where = f" at {format_oid(oids[response.error_index - 1])}"
    return f"{target.endpoint}: agent answered {status}{where}"
