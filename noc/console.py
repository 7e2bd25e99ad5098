"""``noc console``: open the store and run the Textual app until the technician quits."""

from __future__ import annotations

import asyncio

from noc.config import Settings
from noc.storage.store import Store


def run_console(
    settings: Settings, *, technician: str, wall: bool, attach: bool, mine: bool = False
) -> int:
    """Run the console; returns the process exit code. A store that will not open raises
    ``StoreError`` (one line) before anything is drawn."""
    from noc.app import NocApp  # Textual loads only for the console, never for the CLI

    async def main() -> int:
        store = await Store.open(
            settings.database_url,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            echo=settings.database.echo,
        )
        try:
            app = NocApp(store, settings, technician, wall=wall, attach=attach, mine=mine)
            result = await app.run_async()
            return int(result or 0)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


__all__ = ["run_console"]
