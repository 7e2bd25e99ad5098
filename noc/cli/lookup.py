"""Names a person types (client code, device name, ticket number) to the ids the domain takes."""

from __future__ import annotations

from sqlalchemy import Select, select

from noc.errors import NocError
from noc.storage import Store
from noc.storage.models import Client, Device, Ticket


class NotFound(NocError):
    pass


async def _one_id(store: Store, query: Select[int], what: str) -> int:
    async with store.read() as session:
        found = await session.scalar(query)
    if found is None:
        raise NotFound(what)
    return int(found)


async def client_id(store: Store, code: str) -> int:
    query = select(Client.id).where(Client.code == code)
    return await _one_id(store, query, f"no client with code {code!r}")


async def device_id(store: Store, name: str) -> int:
    query = select(Device.id).where(Device.name == name)
    return await _one_id(store, query, f"no device named {name!r}")


async def ticket_id(store: Store, number: int) -> int:
    query = select(Ticket.id).where(Ticket.number == number)
    return await _one_id(store, query, f"no ticket #{number}")
