"""Names a person types (client code, device name, ticket number) to the ids the domain takes."""

from __future__ import annotations

from sqlalchemy import select

from noc.errors import NocError
from noc.storage import Store
from noc.storage.models import Client, Device, Ticket


class NotFound(NocError):
    pass


async def client_id(store: Store, code: str) -> int:
    async with store.read() as session:
        found = await session.scalar(select(Client.id).where(Client.code == code))
    if found is None:
        raise NotFound(f"no client with code {code!r}")
    return int(found)


async def device_id(store: Store, name: str) -> int:
    async with store.read() as session:
        found = await session.scalar(select(Device.id).where(Device.name == name))
    if found is None:
        raise NotFound(f"no device named {name!r}")
    return int(found)


async def ticket_id(store: Store, number: int) -> int:
    async with store.read() as session:
        found = await session.scalar(select(Ticket.id).where(Ticket.number == number))
    if found is None:
        raise NotFound(f"no ticket #{number}")
    return int(found)
