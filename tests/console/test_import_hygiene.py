"""The domain and the read model never import Textual: a poller or a script pays nothing for the
console, and the console's logic stays testable without a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADLESS = [
    "noc.textsafe",
    "noc.readmodel",
    "noc.livemodel",
    "noc.devicefilter",
    "noc.ticketrows",
    "noc.psa",
    "noc.alerting",
    "noc.alerting.actions",
    "noc.alerting.durations",
    "noc.console",
]


def test_domain_modules_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        f"for name in {HEADLESS!r}:\n"
        "    __import__(name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert result.stdout.strip() == "[]"
