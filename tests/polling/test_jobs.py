"""Jobs from the store: defaults, zones, what is switched off, credentials, reloads."""

from __future__ import annotations

from pathlib import Path

from noc.config import PollerSettings
from noc.polling.jobs import InventoryWatch, load_jobs
from noc.storage import Store
from tests.polling.inventory import device, seed


async def test_jobs_carry_the_check_and_the_poller_defaults(store: Store, tmp_path: Path) -> None:
    await seed(
        store,
        tmp_path,
        device("web", "127.0.0.5", '[{ type = "tcp", port = 80, interval = "30s", retries = 0 }]'),
        device(
            "gw",
            "127.0.0.6",
            '[{ type = "icmp", thresholds = { loss_pct = { warning = 20, critical = 60 } } }]',
        ),
    )
    defaults = PollerSettings(interval_s=90.0, timeout_s=4.0, retries=3)
    jobs = {j.device_name: j for j in await load_jobs(store, defaults)}
    web, gw = jobs["web"], jobs["gw"]
    assert (web.check_type, web.address, dict(web.params)) == ("tcp", "127.0.0.5", {"port": 80})
    assert (web.interval, web.timeout, web.retries) == (30.0, 4.0, 0)
    assert (gw.check_type, gw.interval, gw.timeout, gw.retries) == ("icmp", 90.0, 4.0, 3)
    assert web.credential is None and gw.label == "gw/icmp"
    assert dict(gw.thresholds) == {"loss_pct": {"warning": 20.0, "critical": 60.0}}
    assert gw.parent_id is None


async def test_zone_and_disabled_devices_and_checks_are_left_out(
    store: Store, tmp_path: Path
) -> None:
    await seed(
        store,
        tmp_path,
        device("a", "127.0.0.11", '["icmp"]', zone='"north"'),
        device("b", "127.0.0.12", '["icmp"]', zone='"south"'),
        device("c", "127.0.0.13", '["icmp"]', zone='"north"', enabled="false"),
        device(
            "d",
            "127.0.0.14",
            '["icmp", { type = "tcp", port = 22, enabled = false }]',
            zone='"north"',
        ),
    )
    every = await load_jobs(store, PollerSettings())
    assert sorted(j.label for j in every) == ["a/icmp", "b/icmp", "d/icmp"]
    north = await load_jobs(store, PollerSettings(), zone="north")
    assert sorted(j.label for j in north) == ["a/icmp", "d/icmp"]
    configured = await load_jobs(store, PollerSettings(zone="south"))
    assert [j.label for j in configured] == ["b/icmp"]


async def test_credentials_travel_as_references_only(store: Store, tmp_path: Path) -> None:
    await seed(
        store,
        tmp_path,
        device(
            "site",
            "127.0.0.21",
            '[{ type = "http", url = "http://127.0.0.21:8080/", credential = "web-basic" }, '
            '{ type = "ssh" }]',
            credentials='["ssh-a"]',
        ),
    )
    jobs = {j.check_type: j for j in await load_jobs(store, PollerSettings())}
    http, ssh = jobs["http"], jobs["ssh"]
    assert http.credential is not None and http.credential.name == "web-basic"
    assert dict(http.credential.secret_refs) == {"password": "env:NOC_TEST_WEB_PASSWORD"}
    assert "credential" not in http.params
    # no explicit profile: the device's first profile of the check's kind
    assert ssh.credential is not None and ssh.credential.name == "ssh-a"
    assert dict(ssh.credential.params) == {"username": "noc"}


async def test_an_import_is_noticed_once(store: Store, tmp_path: Path) -> None:
    await seed(store, tmp_path, device("a", "127.0.0.31", '["icmp"]'))
    watch = InventoryWatch(store)
    await watch.start()
    assert not await watch.changed()
    both = (device("a", "127.0.0.31", '["icmp"]'), device("b", "127.0.0.32", '["icmp"]'))
    await seed(store, tmp_path, *both)
    assert await watch.changed()
    assert not await watch.changed()
