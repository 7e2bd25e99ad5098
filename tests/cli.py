"""Run the ``noc`` command in-process and capture what a user would see."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from noc.cli import main
from noc.storage import Store
from noc.storage.models import Check, Client, CredentialProfile, Device, Site


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_noc(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def inventory_counts(url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        store = await Store.open(url)
        try:
            async with store.read() as session:
                return {
                    model.__tablename__: int(
                        await session.scalar(select(func.count()).select_from(model)) or 0
                    )
                    for model in (Client, Site, Device, Check, CredentialProfile)
                }
        finally:
            await store.close()

    return asyncio.run(count())
