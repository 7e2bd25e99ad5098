"""``noc doctor`` reports what the probes and the store need, with the fix."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run_noc


def test_doctor_reports_each_need(capsys, clean_env: Path, monkeypatch) -> None:
    monkeypatch.setenv("NOC_SSH_KNOWN_HOSTS", str(clean_env / "missing_known_hosts"))
    out = run_noc(capsys, "doctor", "--json")
    assert out.code == 0, out.err  # a missing known_hosts is a warning, not a failure
    findings = {f["name"]: f for f in json.loads(out.out)}
    assert findings["icmp"]["ok"] is True  # the test runs as root: raw sockets
    assert findings["database"]["ok"] is True
    assert findings["known_hosts"]["warning"] is True
    assert "ssh-keyscan" in findings["known_hosts"]["fix"]


def test_doctor_fails_on_a_database_it_cannot_open(capsys, clean_env: Path) -> None:
    out = run_noc(capsys, "--db", "postgresql+asyncpg://noc@127.0.0.1:9/noc", "doctor")
    assert out.code == 1
    assert "FAIL database" in out.out and "noc config show" in out.out
