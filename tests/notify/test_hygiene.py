"""The notifier and the automation run in pollers and scripts: they never import Textual."""

from __future__ import annotations

import subprocess
import sys

from noc.notify.rules import load_rules
from tests.conftest import REPO


def test_notify_and_automation_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import noc.notify, noc.notify.tail, noc.automation\n"
        "import noc.cli.alerts_cmd, noc.cli.events_cmd, noc.cli.notify_cmd\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"textual imported: {result.stdout}"


def test_the_example_rules_file_reads_and_points_only_at_loopback() -> None:
    rules = load_rules(REPO / "examples" / "notify-rules.toml")
    assert rules.rules and rules.tickets
    for channel in rules.channels.values():
        assert channel.url.ref is not None or (channel.url.literal or "").startswith(
            "http://127.0.0.1:"
        )
