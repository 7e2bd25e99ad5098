"""The console's pure parts: filter parsing, durations, sparklines, ages, coalescing."""

from __future__ import annotations

import pytest

from noc.alerting import DurationError, parse_duration
from noc.devicefilter import DeviceFilter, FilterError
from noc.livemodel import DeviceView, LiveModel
from noc.readmodel import CheckBrief, ClientSummary, DeviceTile, Snapshot
from noc.widgets.alert_queue import columns, sla_clock
from noc.widgets.health_grid import age
from noc.widgets.sparkline import BLOCKS, sparkline


def tile(did: int, client: int = 1, state: str = "OK", **kw: object) -> DeviceTile:
    base: dict[str, object] = {
        "id": did,
        "name": f"dev-{did}",
        "client_id": client,
        "client": f"Client {client}",
        "site_id": client,
        "site": "HQ",
        "kind": "server",
        "address": f"127.0.0.{did}",
        "parent_id": None,
        "state": state,
        "worst_check": "",
        "worst_output": "",
        "since": 0.0,
        "tags": ("db",),
    }
    base.update(kw)
    return DeviceTile(**base)  # type: ignore[arg-type]


def snapshot(states: list[str]) -> Snapshot:
    tiles = tuple(tile(n + 1, state=s) for n, s in enumerate(states))
    checks = {n + 1: CheckBrief(n + 1, n + 1, "ping", s, 0.0, "") for n, s in enumerate(states)}
    counts: dict[str, int] = {}
    for s in states:
        counts[s] = counts.get(s, 0) + 1
    client = ClientSummary(1, "c1", "Client 1", len(states), counts, 0)
    return Snapshot(tiles, checks, (), (client,), 10, 0.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 5400), ("45m", 2700), ("2h30m", 9000), ("1d", 86400), ("1w", 604800), ("30s", 30)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "0", "2h soon", "400d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_filter_parse_and_match() -> None:
    flt = DeviceFilter.parse("client:c1 state:down,crit tag:db web")
    assert flt.client == "c1" and flt.tag == "db" and flt.words == ("web",)
    assert flt.states == {"DOWN", "CRITICAL"}
    view = DeviceView(tile(1, state="DOWN", name="web-1"), {})
    assert flt.matches(view, "c1")
    assert not flt.matches(view, "other")
    assert not DeviceFilter.parse("state:ok").matches(view)
    assert DeviceFilter(problems_only=True).matches(view)
    assert DeviceFilter.parse("127.0.0.1").matches(view)
    with pytest.raises(FilterError, match="unknown state"):
        DeviceFilter.parse("state:sideways")
    with pytest.raises(FilterError, match="needs a value"):
        DeviceFilter.parse("site:")
    assert DeviceFilter.parse("state:u").states == {"UNKNOWN", "UNREACHABLE"}


def test_sparkline() -> None:
    assert sparkline([], 4) == "    "
    assert sparkline([1, 2, 3, 4], 4) == BLOCKS[0] + BLOCKS[2] + BLOCKS[5] + BLOCKS[7]
    assert sparkline([5, 5], 4) == "  " + BLOCKS[0] * 2
    assert len(sparkline(list(range(100)), 8)) == 8
    assert sparkline([1.0, float("nan"), 3.0], 3) == " " + BLOCKS[0] + BLOCKS[7]


def test_ages_and_sla_clocks() -> None:
    assert [age(s) for s in (0, 59, 60, 3599, 3600, 86400 * 3, -5)] == [
        "0s", "59s", "1m", "59m", "1h", "3d", "0s"
    ]  # fmt: skip
    assert sla_clock(None, 0) == ""
    assert sla_clock(7200, 0) == "2h"
    assert sla_clock(0, 300) == "-5m"


@pytest.mark.parametrize("width", [80, 120, 200])
def test_queue_columns_fill_the_width(width: int) -> None:
    cols = columns(width)
    assert sum(w for _, w in cols) + len(cols) - 1 == width


def test_flush_coalesces_and_counts() -> None:
    model = LiveModel()
    model.reset(snapshot(["OK", "OK", "DOWN"]))
    for n in range(5):  # five changes to one check: one repaint
        model.queue_checks([CheckBrief(1, 1, "ping", "CRITICAL", float(n), f"loss {n}")])
    model.queue_checks([CheckBrief(2, 2, "ping", "OK", 0.0, "")])  # the same state again
    assert model.pending == 2
    flushed = model.flush()
    assert flushed.devices == {1} and flushed.clients == {1}
    assert model.devices[1].state == "CRITICAL" and model.devices[1].worst_output == "loss 4"
    assert model.counts[1]["CRITICAL"] == 1 and model.counts[1]["OK"] == 1
    assert model.pending == 0 and not model.flush()


def test_flush_multi_check_device_takes_the_worst() -> None:
    model = LiveModel()
    model.reset(snapshot(["OK"]))
    model.queue_checks([CheckBrief(99, 1, "disk", "WARNING", 5.0, "/var 91%")])
    model.flush()
    view = model.devices[1]
    assert (view.state, view.worst_check) == ("WARNING", "disk")
    model.queue_checks([CheckBrief(1, 1, "ping", "DOWN", 6.0, "loss")])
    model.flush()
    assert (view.state, view.worst_check) == ("DOWN", "ping")
    assert model.counts[1] == {**model.counts[1], "DOWN": 1, "WARNING": 0, "OK": 0}


def test_unknown_devices_are_ignored_until_a_reload() -> None:
    model = LiveModel()
    model.reset(snapshot(["OK"]))
    model.queue_checks([CheckBrief(50, 50, "ping", "DOWN", 0.0, "")])
    assert not model.flush()
