"""The domain never imports Textual: pollers and CLI commands stay light and UI-free."""

from __future__ import annotations

import subprocess
import sys

DOMAIN = [
    "noc.config",
    "noc.secrets",
    "noc.probes",
    "noc.storage",
    "noc.inventory.importer",
    "noc.diagnostics",
    "noc.cli",
]


def test_domain_modules_do_not_import_textual() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {DOMAIN!r}:\n"
        "    importlib.import_module(name)\n"
        "import noc.probes\n"
        "for m in pkgutil.walk_packages(noc.probes.__path__, 'noc.probes.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual',))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"textual imported by the domain: {result.stdout}"
