"""Polling stays light: no Textual, and no probe library until a check of its type runs."""

from __future__ import annotations

import subprocess
import sys


def test_polling_imports_no_ui_and_no_probe_libraries() -> None:
    code = (
        "import sys\n"
        "import noc.polling, noc.polling.service\n"
        "heavy = ('textual', 'httpx', 'asyncssh', 'pysnmp', 'psutil')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "probes = sorted(m for m in sys.modules if m.startswith('noc.probes.'))\n"
        "probes = [m for m in probes if m != 'noc.probes.result']\n"
        "print(','.join(loaded + probes))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"imported eagerly: {result.stdout}"
