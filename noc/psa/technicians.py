"""Technicians are created on first use, from the OS user or ``--as``: no sign-up step."""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import CursorResult, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from noc.psa.errors import PsaError
from noc.psa.journal import record
from noc.storage.models import Technician
from noc.storage.store import Store

LOGIN_MAX = 64


def clean_login(login: str) -> str:
    """A login is a single printable word, because it is shown in narrow queue columns."""
    value = login.strip()
    if not value:
        raise PsaError("technician login is empty")
    if len(value) > LOGIN_MAX:
        raise PsaError(f"technician login {value[:20]!r}...: longer than {LOGIN_MAX} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise PsaError(f"technician login {value!r}: only printable characters, no spaces")
    return value


async def ensure_technician(store: Store, login: str, name: str = "") -> Technician:
    """The technician with ``login``, created if missing.

    ``INSERT ... ON CONFLICT DO NOTHING`` makes two consoles starting at once for a new user safe
    on PostgreSQL too, where the write transaction alone would not serialise them. A name given
    later fills an empty one but never overwrites what an admin set.
    """
    login = clean_login(login)
    name = name.strip()
    insert = sqlite_insert if store.sqlite else pg_insert
    async with store.write() as session:
        result = cast(
            CursorResult[Any],
            await session.execute(
                insert(Technician)
                .values(login=login, name=name, email="", role="technician", active=True)
                .on_conflict_do_nothing(index_elements=[Technician.login])
            ),
        )
        technician = (
            await session.scalars(select(Technician).where(Technician.login == login))
        ).one()
        if result.rowcount == 1:
            await record(
                store,
                session,
                kind="technician.created",
                actor=login,
                object_type="technician",
                object_id=technician.id,
                ticket_id=None,
                data={"login": login, "name": name},
                now=time.time(),
            )
        elif name and not technician.name:
            technician.name = name
    return technician


async def find_technician(store: Store, login: str) -> Technician | None:
    async with store.read() as session:
        return (
            await session.scalars(select(Technician).where(Technician.login == login.strip()))
        ).one_or_none()
