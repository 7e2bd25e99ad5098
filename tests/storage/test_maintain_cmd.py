"""``noc db maintain``: one roll-up and retention pass from the command line, on every backend."""

from __future__ import annotations

import asyncio
import calendar
import json
import math
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from noc.storage import Store
from noc.storage.models import Sample, SampleRollup
from tests.cli import run_noc
from tests.storage.test_samples import make_series

RETENTION = """\
[retention]
raw_hours = 1
rollup_5m_days = 1
rollup_1h_days = 2
"""


def seed(url: str, now: float) -> float:
    """Two whole hours of one sample a minute, ending at least two hours ago, and one sample
    from ten seconds ago; returns the start of the old hours."""
    old = math.floor((now - 4 * 3600) / 3600) * 3600

    async def write() -> None:
        store = await Store.open(url)
        try:
            (sid,) = await make_series(store, 1)
            rows = [(sid, old + 60 * i + 1.0, float(i % 7)) for i in range(120)]
            await store.write_samples([*rows, (sid, now - 10.0, 1.0)])
        finally:
            await store.close()

    asyncio.run(write())
    return old


def counts(url: str) -> tuple[int, dict[int, int]]:
    """Raw rows, and the samples the roll-ups of each resolution account for."""

    async def read() -> tuple[int, dict[int, int]]:
        store = await Store.open(url)
        try:
            async with store.read() as session:
                raw = int(await session.scalar(select(func.count()).select_from(Sample)) or 0)
                rows = await session.execute(
                    select(SampleRollup.resolution, func.sum(SampleRollup.count)).group_by(
                        SampleRollup.resolution
                    )
                )
                return raw, {int(res): int(n) for res, n in rows}
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.fixture
def config(clean_env: Path) -> Path:
    path = clean_env / "noc.toml"
    path.write_text(RETENTION)
    return path


def test_maintain_rolls_up_then_prunes_and_reports_json(
    capsys: pytest.CaptureFixture[str], db_url: str, config: Path
) -> None:
    old = seed(db_url, time.time())

    result = run_noc(capsys, "--config", str(config), "--db", db_url, "db", "maintain", "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["buckets"] == 24 + 2  # the old hours' 5-minute and hourly buckets
    assert report["pruned"] == 120  # older than the one raw hour; the recent sample stays
    assert report["rolled"]["3600"] >= old + 3600
    assert counts(db_url) == (1, {300: 120, 3600: 120})
    if db_url.startswith("sqlite"):
        assert report["file_bytes"] > 0 and 0 <= report["free_bytes"] < report["file_bytes"]
    else:
        assert "file_bytes" not in report

    again = run_noc(capsys, "--config", str(config), "--db", db_url, "db", "maintain", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["pruned"] == 0


def test_maintain_prints_one_summary_line_per_fact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'noc.db'}"
    old = seed(url, time.time())

    result = run_noc(capsys, "--config", str(config), "--db", url, "db", "maintain")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert re.search(r": 26 roll-up rows written, 120 rows pruned in \d+\.\d\d s$", lines[0])
    pattern = r"^  (5 min|1 h) buckets rolled up to the one starting (.+) UTC$"
    rolled = re.findall(pattern, result.out, re.MULTILINE)
    marks = {width: calendar.timegm(time.strptime(at, "%Y-%m-%d %H:%M")) for width, at in rolled}
    assert set(marks) == {"5 min", "1 h"}
    assert old + 3600 <= marks["1 h"] < marks["5 min"] <= time.time()
    assert "free pages" in lines[-1]


def test_maintain_on_a_broken_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clean_env: Path
) -> None:
    path = tmp_path / "noc.db"
    path.write_bytes(b"this is not a database, " * 512)

    result = run_noc(capsys, "--db", f"sqlite+aiosqlite:///{path}", "db", "maintain")

    assert result.code == 2
    assert result.err.startswith("noc: error: database ") and "not a database" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
