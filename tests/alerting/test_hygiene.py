"""The evaluator runs inside pollers: it must never pull in the console's Textual."""

from __future__ import annotations

import subprocess
import sys


def test_alerting_does_not_import_textual() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import noc.alerting\n"
        "for m in pkgutil.walk_packages(noc.alerting.__path__, 'noc.alerting.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"textual imported by noc.alerting: {result.stdout}"
