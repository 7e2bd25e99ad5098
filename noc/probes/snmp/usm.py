"""SNMPv3 through pysnmp's v3arch ``SnmpEngine``s: one shared engine, and one more only when
a user name is reused with different keys (USM keys users by name within an engine)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as v3config
from pysnmp.hlapi.v3arch import asyncio as v3

from noc.probes.snmp.mibs import Oid
from noc.probes.snmp.stack import Answer, PduKind, varbind
from noc.probes.snmp.target import AuthProtocol, PrivProtocol, SnmpTarget
from noc.probes.snmp.transport import TargetCache, open_udp_socket, stop_receiving

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


class UsmStack:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._engines: list[tuple[v3.SnmpEngine, dict[str, tuple[str, ...]]]] = []
        self._transports: list[Any] = []
        self._targets = TargetCache()
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
    ) -> Answer:
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
        varbinds = [varbind(oid) for oid in oids]
        answer: Answer
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
        stop_receiving(self._transports)

    def close(self) -> None:
        for engine, _users in self._engines:
            with contextlib.suppress(Exception):
                engine.close_dispatcher()
        self._engines.clear()
