"""Open the console on a freshly seeded store, to look at it in a real terminal (tmux at 80x24).

    PYTHONPATH=. python -m tests.console.demo /tmp/noc-demo.db [--wall] [--devices 10000]

The demo rows (with times relative to now, and the hostile device) or ``--devices`` bulk rows.
The file is replaced on every run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from noc.config import Settings
from noc.console import run_console
from tests.console.seed import open_store, seed_bulk, seed_demo
from tests.console.test_hostile import add_hostile


async def prepare(path: Path, devices: int) -> None:
    store = await open_store(path)
    try:
        if devices:
            await seed_bulk(store, devices, now=time.time())
        else:
            await add_hostile(store, await seed_demo(store, now=time.time()))
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", type=Path)
    parser.add_argument("--wall", action="store_true")
    parser.add_argument("--devices", type=int, default=0, help="bulk devices instead of the demo")
    parser.add_argument("--technician", default="demo")
    args = parser.parse_args()
    args.database.unlink(missing_ok=True)
    asyncio.run(prepare(args.database, args.devices))
    settings = Settings()
    settings.database.url = f"sqlite+aiosqlite:///{args.database}"
    return run_console(settings, technician=args.technician, wall=args.wall, attach=False)


if __name__ == "__main__":
    sys.exit(main())
