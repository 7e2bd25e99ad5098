"""Reconcile an inventory file with the store: validate, plan, then apply in one transaction.

Import is idempotent: clients, sites, devices and credential profiles are matched by their
codes and names, so a re-import updates in place and never duplicates. A device's checks are
owned by its record: checks it no longer names are removed. Devices missing from the file are
left alone (an MSP imports one file per client or per PSA export). Any error stops the import
before the first write, so the store is never half-updated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from noc.errors import InventoryError
from noc.inventory.csv_format import read_csv
from noc.inventory.spec import DEFAULT_SITE, CheckSpec, DeviceSpec, InventorySpec
from noc.inventory.toml_format import read_toml
from noc.storage import EventRecord, Store
from noc.storage.models import AuditLog, Check, Client, CredentialProfile, Device, Site


def load_inventory(path: Path) -> InventorySpec:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return read_toml(path, text)
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path, text)
    raise InventoryError(f"{path}: unknown inventory format {suffix!r} (use .toml or .csv)")


@dataclass(slots=True)
class Change:
    action: str  # "+" create, "~" update, "-" remove
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.action} {self.kind} {self.name}{tail}"


@dataclass(slots=True)
class ImportReport:
    source: str
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    applied: bool = False

    def summary(self) -> str:
        counts = {a: sum(1 for c in self.changes if c.action == a) for a in "+~-"}
        verb = "applied" if self.applied else "would apply (dry run)"
        return (
            f"{self.source}: {verb}: {counts['+']} to add, {counts['~']} to update, "
            f"{counts['-']} to remove, {self.unchanged} unchanged"
        )


@dataclass(slots=True)
class _Existing:
    clients: dict[str, Client]
    sites: dict[tuple[int, str], Site]
    devices: dict[str, Device]
    devices_by_key: dict[str, Device]
    checks: dict[int, dict[str, Check]]
    credentials: dict[str, CredentialProfile]


async def _load_existing(session: AsyncSession) -> _Existing:
    devices = list(await session.scalars(select(Device)))
    checks: dict[int, dict[str, Check]] = {}
    for check in await session.scalars(select(Check)):
        checks.setdefault(check.device_id, {})[check.name] = check
    return _Existing(
        clients={c.code: c for c in await session.scalars(select(Client))},
        sites={(s.client_id, s.code): s for s in await session.scalars(select(Site))},
        devices={d.name: d for d in devices},
        devices_by_key={d.address_key: d for d in devices},
        checks=checks,
        credentials={c.name: c for c in await session.scalars(select(CredentialProfile))},
    )


def validate(spec: InventorySpec, existing: _Existing) -> None:
    """Cross-record rules; each failure names the record's own file, line and field."""
    codes: dict[str, Any] = {}
    for client in spec.clients:
        if client.code in codes:
            first = codes[client.code].where.line
            raise client.where.fail(
                "code", f"client {client.code!r} already defined on line {first}"
            )
        codes[client.code] = client
    known_clients = set(codes) | set(existing.clients)
    site_keys: dict[tuple[str, str], Any] = {}
    for site in spec.sites:
        if site.client not in known_clients:
            raise site.where.fail("client", f"unknown client {site.client!r}")
        if (site.client, site.code) in site_keys:
            raise site.where.fail("code", f"site {site.client}/{site.code} defined twice")
        site_keys[(site.client, site.code)] = site
    existing_sites = {
        (code, site_code)
        for code, client in existing.clients.items()
        for (client_id, site_code) in existing.sites
        if client_id == client.id
    }
    names: dict[str, DeviceSpec] = {}
    keys: dict[str, DeviceSpec] = {}
    credentials = {c.name for c in spec.credentials} | set(existing.credentials)
    for device in spec.devices:
        if device.client not in known_clients:
            raise device.fail("client", f"unknown client {device.client!r}")
        if (
            device.site != DEFAULT_SITE
            and (device.client, device.site) not in site_keys
            and (device.client, device.site) not in existing_sites
        ):
            raise device.fail("site", f"unknown site {device.client}/{device.site}")
        if device.name in names:
            first = names[device.name].where.line
            raise device.fail("name", f"device {device.name!r} also on line {first}")
        names[device.name] = device
        if device.address_key in keys:
            other = keys[device.address_key]
            raise device.fail(
                "address",
                f"{device.address!r} is the same address as device {other.name!r} "
                f"(line {other.where.line})",
            )
        keys[device.address_key] = device
        for credential in device.credentials:
            if credential not in credentials:
                raise device.fail("credentials", f"no credential profile named {credential!r}")
        for index, check in enumerate(device.checks):
            wanted = check.params.get("credential")
            if wanted is not None and wanted not in credentials:
                raise check.where.fail(
                    f"{device.label}checks[{index}].credential",
                    f"no credential profile named {wanted!r}",
                )
    for device in spec.devices:
        holder = existing.devices_by_key.get(device.address_key)
        if holder is not None and holder.name != device.name and holder.name not in names:
            raise device.fail(
                "address", f"{device.address!r} already belongs to device {holder.name!r}"
            )
        if device.parent is not None:
            if device.parent == device.name:
                raise device.fail("parent", "a device cannot be its own parent")
            if device.parent not in names and device.parent not in existing.devices:
                raise device.fail("parent", f"no device named {device.parent!r}")
    _check_cycles(spec.devices, existing)


def _check_cycles(devices: list[DeviceSpec], existing: _Existing) -> None:
    parents: dict[str, str | None] = {}
    by_id = {d.id: d.name for d in existing.devices.values()}
    for name, device in existing.devices.items():
        parents[name] = by_id.get(device.parent_id) if device.parent_id else None
    for spec in devices:
        parents[spec.name] = spec.parent
    for spec in devices:
        seen = {spec.name}
        node = spec.parent
        while node is not None:
            if node in seen:
                raise spec.fail("parent", f"dependency loop through {node!r}")
            seen.add(node)
            node = parents.get(node)


def _diff(obj: Any, values: dict[str, Any]) -> list[str]:
    return [
        f"{key} {getattr(obj, key)!r} -> {value!r}"
        for key, value in values.items()
        if getattr(obj, key) != value
    ]


def _check_values(check: CheckSpec) -> dict[str, Any]:
    return {
        "type": check.type,
        "params": check.params,
        "interval_s": check.interval_s,
        "timeout_s": check.timeout_s,
        "retries": check.retries,
        "thresholds": check.thresholds,
        "enabled": check.enabled,
    }


class _Applier:
    """Computes the changes and, unless dry-running, makes them on the session's objects."""

    def __init__(self, session: AsyncSession, existing: _Existing, report: ImportReport) -> None:
        self.session = session
        self.existing = existing
        self.report = report
        self.write = False

    def upsert(self, obj: Any, kind: str, name: str, values: dict[str, Any]) -> None:
        changed = _diff(obj, values)
        if changed:
            self.report.changes.append(Change("~", kind, name, "; ".join(changed)))
            if self.write:
                for key, value in values.items():
                    setattr(obj, key, value)
        else:
            self.report.unchanged += 1

    def create(self, obj: Any, kind: str, name: str, *, add: bool = True) -> None:
        self.report.changes.append(Change("+", kind, name))
        if self.write and add:
            self.session.add(obj)

    async def run(self, spec: InventorySpec) -> None:
        ex = self.existing
        for cred in spec.credentials:
            values = {
                "kind": cred.kind,
                "params": cred.params,
                "secret_refs": cred.secret_refs,
                "secret_ref": next(iter(cred.secret_refs.values()), ""),
            }
            if cred.name in ex.credentials:
                self.upsert(ex.credentials[cred.name], "credential", cred.name, values)
            else:
                self.create(CredentialProfile(name=cred.name, **values), "credential", cred.name)
        clients: dict[str, Client] = dict(ex.clients)
        for c in spec.clients:
            values = {"name": c.name, "notes": c.notes}
            if c.code in clients:
                self.upsert(clients[c.code], "client", c.code, values)
            else:
                clients[c.code] = Client(code=c.code, **values)
                self.create(clients[c.code], "client", c.code)
        await self._flush()
        sites = dict(ex.sites)
        wanted_sites = {(s.client, s.code): s for s in spec.sites}
        for d in spec.devices:
            wanted_sites.setdefault((d.client, d.site), None)  # type: ignore[arg-type]
        site_objs: dict[tuple[str, str], Site] = {}
        for (client_code, code), s in wanted_sites.items():
            client = clients[client_code]
            key = (client.id, code) if client.id is not None else None
            existing_site = sites.get(key) if key else None
            if existing_site is not None:
                if s is not None:
                    self.upsert(
                        existing_site,
                        "site",
                        f"{client_code}/{code}",
                        {"name": s.name, "address": s.address},
                    )
                site_objs[(client_code, code)] = existing_site
            else:
                site = Site(code=code, name=s.name if s else "Main", address=s.address if s else "")
                site_objs[(client_code, code)] = site
                if self.write:
                    site.client_id = client.id
                self.create(site, "site", f"{client_code}/{code}")
        await self._flush()
        await self._devices(spec.devices, site_objs)

    async def _devices(self, devices: list[DeviceSpec], sites: dict[tuple[str, str], Site]) -> None:
        ex = self.existing
        objs: dict[str, Device] = dict(ex.devices)
        site_names = {id(site): f"{client}/{code}" for (client, code), site in sites.items()}
        current_site = {site.id: f"{c}/{code}" for (c, code), site in sites.items() if site.id}
        pending: list[tuple[Device, dict[str, Any]]] = []
        for d in devices:
            values: dict[str, Any] = {
                "kind": d.kind,
                "address": d.address,
                "address_key": d.address_key,
                "tags": d.tags,
                "credentials": d.credentials,
                "zone": d.zone,
                "enabled": d.enabled,
                "description": d.description,
            }
            site = sites[(d.client, d.site)]
            if d.name not in objs:
                objs[d.name] = Device(name=d.name, **values)
                self.create(objs[d.name], "device", d.name, add=False)
                pending.append((objs[d.name], {"site_id": site}))
                continue
            obj = objs[d.name]
            changed = [c for c in _diff(obj, values) if not c.startswith("address_key ")]
            if current_site.get(obj.site_id) != site_names[id(site)]:
                changed.append(f"site {current_site.get(obj.site_id)} -> {site_names[id(site)]}")
            if changed:
                self.report.changes.append(Change("~", "device", d.name, "; ".join(changed)))
                pending.append((obj, {**values, "site_id": site}))
            else:
                self.report.unchanged += 1
        if self.write:
            moving = [
                o
                for o, v in pending
                if o.id is not None and "address_key" in v and o.address_key != v["address_key"]
            ]
            # Free the old addresses first so that two devices can swap them in one import.
            for obj in moving:
                obj.address_key = f"~moving~{obj.id}"
            await self._flush()
            for obj, values in pending:
                for key, value in values.items():
                    setattr(obj, key, value.id if key == "site_id" else value)
                if obj.id is None:
                    self.session.add(obj)
            await self._flush()
        for d in devices:
            obj = objs[d.name]
            parent = objs[d.parent] if d.parent else None
            parent_id = parent.id if parent is not None else None
            if obj.name in ex.devices and (
                parent is not None and parent.id is None or obj.parent_id != parent_id
            ):
                self.report.changes.append(Change("~", "device", d.name, f"parent -> {d.parent}"))
            if self.write:
                obj.parent_id = parent_id
            await self._checks(obj, d)
        await self._flush()

    async def _checks(self, device: Device, spec: DeviceSpec) -> None:
        current = self.existing.checks.get(device.id, {}) if device.id is not None else {}
        wanted = {c.name: c for c in spec.checks}
        for name, check in wanted.items():
            label = f"{spec.name}/{name}"
            if name in current:
                self.upsert(current[name], "check", label, _check_values(check))
            else:
                obj = Check(name=name, **_check_values(check))
                if self.write:
                    obj.device_id = device.id
                self.create(obj, "check", label)
        for name, obj in current.items():
            if name not in wanted:
                self.report.changes.append(Change("-", "check", f"{spec.name}/{name}"))
                if self.write:
                    await self.session.delete(obj)

    async def _flush(self) -> None:
        if self.write:
            await self.session.flush()


async def import_inventory(
    store: Store, spec: InventorySpec, *, dry_run: bool = False, actor: str = ""
) -> ImportReport:
    report = ImportReport(source=spec.source)
    if dry_run:
        async with store.read() as session:
            existing = await _load_existing(session)
            validate(spec, existing)
            await _Applier(session, existing, report).run(spec)
        return report
    async with store.write() as session:
        existing = await _load_existing(session)
        validate(spec, existing)
        applier = _Applier(session, existing, report)
        applier.write = True
        await applier.run(spec)
        if report.changes:
            now = time.time()
            session.add(
                AuditLog(
                    ts=now,
                    actor=actor,
                    action="inventory.import",
                    object_type="inventory",
                    object_id=Path(spec.source).name[:64],
                    detail={
                        "changes": [str(c) for c in report.changes[:500]],
                        "count": len(report.changes),
                    },
                )
            )
            await store.append_events(
                session,
                [
                    EventRecord(
                        kind="inventory.imported",
                        actor=actor,
                        ts=now,
                        data={"source": spec.source, "changes": len(report.changes)},
                    )
                ],
            )
    report.applied = True
    return report
