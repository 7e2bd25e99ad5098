"""Background processes that live exactly as long as the console beside them."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def children(commands: list[list[str]], env: dict[str, str], log: Path) -> Iterator[None]:
    """Start background processes whose output goes to ``log``; stop them however we leave."""
    log.parent.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as sink:
        try:
            for command in commands:
                procs.append(
                    subprocess.Popen(
                        command, env=env, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL
                    )
                )
            yield
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
