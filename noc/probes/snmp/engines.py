"""The pysnmp machinery, owned once per process and shared by every target.

Two pysnmp stacks, each where it is cheapest:

- v1/v2c go through the v1arch ``SnmpDispatcher``: no SNMP-TARGET-MIB bookkeeping, so a first
  contact with a new target costs the same as the thousandth (the v3arch LCD's first contact grows
  with the square of the number of targets: ~20 s for 1,000 targets).
- v3 goes through v3arch ``SnmpEngine``s. A USM user is keyed by name in an engine, so targets that
  use the same user name with different keys get different engines (a handful in practice).

Every stack sends from its own UDP socket whose receive buffer is raised to 16 MiB: with the
kernel's default (~200 KiB) replies are dropped as soon as a few hundred requests are in flight.
All of it is created inside the running loop and closed with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any, Protocol

from pysnmp import nextid
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config as v3config
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v1arch import asyncio as v1
from pysnmp.hlapi.v3arch import asyncio as v3
from pysnmp.proto import api, errind
from pysnmp.proto.rfc1902 import ObjectName
from pysnmp.proto.rfc1905 import EndOfMibView

from noc.probes.snmp.errors import SnmpAgentError, SnmpAuthError, SnmpError, SnmpTimeout
from noc.probes.snmp.mibs import Oid, format_oid
from noc.probes.snmp.target import AuthProtocol, PrivProtocol, SnmpTarget, SnmpVersion

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 16 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if hasattr(socket, "SO_PRIORITY") else 0)
_RESOLVE_TTL = 300.0
_NULL = v1.Null("")


class PduKind(enum.Enum):
    GET = "get"
    GETNEXT = "getnext"
    GETBULK = "getbulk"


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


def open_udp_socket(family: socket.AddressFamily) -> socket.socket:
    """An unconnected, non-blocking UDP socket with a receive buffer big enough for bursts.

    ``SO_RCVBUFFORCE`` (root or CAP_NET_ADMIN) goes past ``net.core.rmem_max``; otherwise
    ``SO_RCVBUF`` gets what the kernel allows.
    """
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if _SO_RCVBUFFORCE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@functools.lru_cache(maxsize=65536)
def _is_ipv6(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


class _TargetCache:
    """pysnmp transport targets, resolved once: IP literals forever, host names for a while."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], tuple[Any, float]] = {}

    async def get(self, kind: str, target: SnmpTarget, v6: type[Any], v4: type[Any]) -> Any:
        key = (kind, target.address, target.port, target.timeout, target.retries)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            return entry[0]
        cls = v6 if _is_ipv6(target.address) else v4
        try:
            made = await cls.create(
                (target.address, target.port), timeout=target.timeout, retries=target.retries
            )
        except PySnmpError as exc:
            raise SnmpError(
                f"{target.endpoint}: cannot resolve {target.address!r}: {exc}"
            ) from None
        literal = _is_literal(target.address)
        self._entries[key] = (made, float("inf") if literal else now + _RESOLVE_TTL)
        return made


def _stop_receiving(transports: list[Any]) -> None:
    """Close the sockets under pysnmp so no more answers arrive while it is torn down."""
    for transport in transports:
        if transport.transport is not None:
            transport.transport.close()


@functools.lru_cache(maxsize=8192)
def _varbind(oid: Oid) -> tuple[ObjectName, Any]:
    """A request varbind; pyasn1 objects are immutable and costly to build, so they are
    reused (about a third of a millisecond saved per 8-OID request)."""
    return (ObjectName(oid), _NULL)


def _is_literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


_Answer = tuple[Any, Any, Any, Any]
"""pysnmp's (errorIndication, errorStatus, errorIndex, varBinds)."""


class _Stack(Protocol):
    async def request(
        self, target: SnmpTarget, kind: PduKind, oids: list[Oid], max_repetitions: int
    ) -> _Answer: ...

    def stop_receiving(self) -> None: ...

    def close(self) -> None: ...


class _CommunityStack:
    """SNMPv1/v2c over one v1arch dispatcher.

    Requests go through ``SnmpDispatcher.send_pdu``, the call v1arch's ``get_cmd`` is built
    on, so that a GET's PDU can be built once per OID list and reused with a new request id:
    building it costs a third of a millisecond, a tenth of the whole exchange.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport_dispatcher = AsyncioDispatcher(loop=loop)
        self._dispatcher = v1.SnmpDispatcher(self._transport_dispatcher)
        self._domains: set[tuple[int, ...]] = set()
        self._transports: list[Any] = []
        self._targets = _TargetCache()
        self._auth: dict[tuple[str, int], v1.CommunityData] = {}
        self._get_pdus: dict[tuple[int, tuple[Oid, ...]], Any] = {}
        self._request_ids = nextid.Integer(0x7FFFFFFF)

    def _ensure_domain(self, v6: bool) -> None:
        domain = udp6.DOMAIN_NAME if v6 else udp.DOMAIN_NAME
        if domain in self._domains:
            return
        proto = udp6.Udp6AsyncioTransport if v6 else udp.UdpAsyncioTransport
        sock = open_udp_socket(socket.AF_INET6 if v6 else socket.AF_INET)
        transport = proto(loop=self._loop).open_server_mode(sock=sock)
        self._transport_dispatcher.register_transport(domain, transport)
        self._transports.append(transport)
        self._domains.add(domain)

    def _pdu(self, model: int, kind: PduKind, oids: list[Oid], max_repetitions: int) -> Any:
        proto = api.PROTOCOL_MODULES[model]
        key = (model, tuple(oids))
        if kind is PduKind.GET:
            cached = self._get_pdus.get(key)
            if cached is not None:
                return cached
            pdu = proto.GetRequestPDU()
        elif kind is PduKind.GETNEXT:
            pdu = proto.GetNextRequestPDU()
        else:
            pdu = proto.GetBulkRequestPDU()
        proto.apiPDU.set_defaults(pdu)
        if kind is PduKind.GETBULK:
            proto.apiBulkPDU.set_non_repeaters(pdu, 0)
            proto.apiBulkPDU.set_max_repetitions(pdu, max_repetitions)
        proto.apiPDU.set_varbinds(pdu, [_varbind(oid) for oid in oids])
        if kind is PduKind.GET:
            if len(self._get_pdus) >= _GET_PDU_CACHE:
                self._get_pdus.clear()
            self._get_pdus[key] = pdu
        return pdu

    async def request(
        self, target: SnmpTarget, kind: PduKind, oids: list[Oid], max_repetitions: int
    ) -> _Answer:
        self._ensure_domain(_is_ipv6(target.address))
        transport = await self._targets.get(
            "v1", target, v1.Udp6TransportTarget, v1.UdpTransportTarget
        )
        model = 0 if target.version is SnmpVersion.V1 else 1
        auth = self._auth.get((target.community, model))
        if auth is None:
            auth = self._auth[(target.community, model)] = v1.CommunityData(
                target.community, mpModel=model
            )
        proto = api.PROTOCOL_MODULES[model]
        pdu = self._pdu(model, kind, oids, max_repetitions)
        # send_pdu encodes at once and keeps only the bytes, so the PDU is free to reuse.
        proto.apiPDU.set_request_id(pdu, self._request_ids())
        future: asyncio.Future[_Answer] = self._loop.create_future()
        self._dispatcher.send_pdu(
            auth, transport, pdu, cbFun=_answered, cbCtx=(future, proto, kind)
        )
        return await future

    def stop_receiving(self) -> None:
        _stop_receiving(self._transports)

    def close(self) -> None:
        # The dispatcher's close reports pending requests through a callback signature the
        # cmdgen callbacks do not have; whatever it raises, the transports must still close.
        with contextlib.suppress(Exception):
            self._dispatcher.close()
        self._transport_dispatcher.close_dispatcher()


_GET_PDU_CACHE = 256
"""GET PDUs kept for reuse, one per OID list (a poller asks the same few lists again and
again)."""


def _answered(
    dispatcher: Any, handle: Any, indication: Any, pdu: Any, context: tuple[Any, Any, PduKind]
) -> None:
    """``send_pdu``'s callback: pysnmp's answer to the awaiting request, if it still waits."""
    future, proto, kind = context
    if future.done():
        return
    if indication or pdu is None:
        future.set_result((indication or errind.requestTimedOut, 0, 0, ()))
        return
    pdu_api = proto.apiBulkPDU if kind is PduKind.GETBULK else proto.apiPDU
    future.set_result(
        (
            None,
            proto.apiPDU.get_error_status(pdu),
            proto.apiPDU.get_error_index(pdu),
            pdu_api.get_varbinds(pdu),
        )
    )


_AUTH = {
    AuthProtocol.NONE: v3.usmNoAuthProtocol,
    AuthProtocol.MD5: v3.usmHMACMD5AuthProtocol,
    AuthProtocol.SHA: v3.usmHMACSHAAuthProtocol,
    AuthProtocol.SHA224: v3.usmHMAC128SHA224AuthProtocol,
    AuthProtocol.SHA256: v3.usmHMAC192SHA256AuthProtocol,
    AuthProtocol.SHA384: v3.usmHMAC256SHA384AuthProtocol,
    AuthProtocol.SHA512: v3.usmHMAC384SHA512AuthProtocol,
}
_PRIV = {
    PrivProtocol.NONE: v3.usmNoPrivProtocol,
    PrivProtocol.DES: v3.usmDESPrivProtocol,
    PrivProtocol.AES: v3.usmAesCfb128Protocol,
    PrivProtocol.AES192: v3.usmAesBlumenthalCfb192Protocol,
    PrivProtocol.AES256: v3.usmAesBlumenthalCfb256Protocol,
    PrivProtocol.AES192C: v3.usmAesCfb192Protocol,
    PrivProtocol.AES256C: v3.usmAesCfb256Protocol,
}


class _NoMibCompiler:
    """Stands in for pysmi's MIB compiler. When pysmi is installed (snmpsim depends on it),
    pysnmp builds one for every new engine on its first request: a Lark LALR parser that takes
    one to four seconds of CPU, on the event loop, stalling every poll in flight. noc sends
    numeric OIDs only and never needs a MIB compiled."""

    def compile(self, *names: str, **options: object) -> dict[str, str]:
        return {name: "missing" for name in names}


def _without_mib_compiler(engine: v3.SnmpEngine) -> None:
    builder = engine.get_mib_builder()
    sources = builder.get_mib_sources()
    if builder.get_mib_compiler() is None and sources:
        builder.set_mib_compiler(_NoMibCompiler(), sources[0].full_path())
        builder.set_mib_sources(*sources)  # undo the source set_mib_compiler adds


def _credential(target: SnmpTarget) -> tuple[str, ...]:
    return (
        target.user,
        target.auth_protocol,
        target.auth_key,
        target.priv_protocol,
        target.priv_key,
    )


class _UsmStack:
    """SNMPv3 over v3arch engines; one more engine only when a user name is reused with
    different keys (USM keys users by name within an engine)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._engines: list[tuple[v3.SnmpEngine, dict[str, tuple[str, ...]]]] = []
        self._transports: list[Any] = []
        self._targets = _TargetCache()
        self._auth: dict[tuple[str, ...], v3.UsmUserData] = {}
        self._contexts: dict[str, v3.ContextData] = {}

    def _engine_for(self, target: SnmpTarget) -> v3.SnmpEngine:
        credential = _credential(target)
        for engine, users in self._engines:
            known = users.get(target.user)
            if known is None or known == credential:
                users[target.user] = credential
                return engine
        engine = v3.SnmpEngine()
        _without_mib_compiler(engine)
        for domain, proto, family in (
            (udp.DOMAIN_NAME, udp.UdpAsyncioTransport, socket.AF_INET),
            (udp6.DOMAIN_NAME, udp6.Udp6AsyncioTransport, socket.AF_INET6),
        ):
            try:
                sock = open_udp_socket(family)
            except OSError:  # no IPv6 on this host: v6 targets then fail with a clear error
                continue
            transport = proto(loop=self._loop).open_server_mode(sock=sock)
            v3config.add_transport(engine, domain, transport)
            self._transports.append(transport)
        self._engines.append((engine, {target.user: credential}))
        return engine

    def _user(self, target: SnmpTarget) -> v3.UsmUserData:
        credential = _credential(target)
        auth = self._auth.get(credential)
        if auth is None:
            has_auth = target.auth_protocol is not AuthProtocol.NONE
            has_priv = target.priv_protocol is not PrivProtocol.NONE
            auth = self._auth[credential] = v3.UsmUserData(
                target.user,
                authKey=target.auth_key if has_auth else None,
                privKey=target.priv_key if has_priv else None,
                authProtocol=_AUTH[target.auth_protocol],
                privProtocol=_PRIV[target.priv_protocol],
            )
        return auth

    async def request(
        self, target: SnmpTarget, kind: PduKind, oids: list[Oid], max_repetitions: int
    ) -> _Answer:
        engine = self._engine_for(target)
        transport = await self._targets.get(
            "v3", target, v3.Udp6TransportTarget, v3.UdpTransportTarget
        )
        context = self._contexts.get(target.context)
        if context is None:
            context = self._contexts[target.context] = v3.ContextData(
                contextName=target.context.encode()
            )
        user = self._user(target)
        varbinds = [_varbind(oid) for oid in oids]
        answer: _Answer
        if kind is PduKind.GET:
            answer = await v3.get_cmd(engine, user, transport, context, *varbinds, lookupMib=False)
        elif kind is PduKind.GETNEXT:
            answer = await v3.next_cmd(engine, user, transport, context, *varbinds, lookupMib=False)
        else:
            answer = await v3.bulk_cmd(
                engine, user, transport, context, 0, max_repetitions, *varbinds, lookupMib=False
            )
        return answer

    def stop_receiving(self) -> None:
        _stop_receiving(self._transports)

    def close(self) -> None:
        for engine, _users in self._engines:
            with contextlib.suppress(Exception):
                engine.close_dispatcher()
        self._engines.clear()


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
        self._community: _CommunityStack | None = None
        self._usm: _UsmStack | None = None
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

    def _stack(self, target: SnmpTarget) -> _Stack:
        if self._loop is None:
            raise RuntimeError("SnmpEngines used outside 'async with'")
        if target.version is SnmpVersion.V3:
            if self._usm is None:
                self._usm = _UsmStack(self._loop)
            return self._usm
        if self._community is None:
            self._community = _CommunityStack(self._loop)
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
