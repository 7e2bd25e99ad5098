"""Effective configuration: built-in defaults, then a TOML file, then ``NOC_*`` variables.

The file is found by ``--config``, then ``NOC_CONFIG``, then ``$XDG_CONFIG_HOME/noc/config.toml``.
Every setting can be overridden by ``NOC_<SECTION>_<KEY>`` (``NOC_DATABASE_URL``,
``NOC_POLLER_CONCURRENCY`` ...), so a systemd unit or a container never needs a file at all.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from noc.errors import ConfigError
from noc.secrets import mask_url

APP_NAME = "noc"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'noc.db'}"


@dataclass
class DatabaseSettings:
    url: str = ""
    """SQLAlchemy async URL; empty means the SQLite file in the XDG data dir."""
    busy_timeout_ms: int = 10_000
    echo: bool = False


@dataclass
class PollerSettings:
    concurrency: int = 1000
    """Probes in flight at once across all targets."""
    per_target: int = 4
    """Probes in flight at once against one address, so a slow device is never hammered."""
    interval_s: float = 60.0
    timeout_s: float = 5.0
    retries: int = 2
    retry_delay_s: float = 1.0
    """Pause before retrying a failed probe: quick, so DOWN is confirmed within one interval."""
    jitter: float = 0.1
    """Fraction of the interval by which each check's start is spread."""
    zone: str = ""
    """Only devices of this zone are polled by this process; empty polls everything."""
    snmp_workers: int = 1
    """Processes that poll SNMP: 1 polls in the poller's own process; 0 runs one per CPU.
    Decoding answers is most of a poller's CPU, so a poller of thousands of SNMP agents on a
    machine of several CPUs wants 0 (their start delays the very first polls by a second)."""


@dataclass
class RetentionSettings:
    raw_hours: int = 24
    """Raw samples serve the last hours; roll-ups everything older."""
    rollup_5m_days: int = 14
    rollup_1h_days: int = 400


@dataclass
class ConsoleSettings:
    theme: str = "textual-dark"
    refresh_s: float = 1.0
    wall_rotate_s: float = 15.0


@dataclass
class SshSettings:
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout_s: float = 5.0
    login_timeout_s: float = 5.0


@dataclass
class PsaSettings:
    time_increment_min: int = 1
    """Time entries are rounded up to this many minutes (6 for tenth-of-an-hour billing)."""
    work_types: list[str] = field(
        default_factory=lambda: ["remote", "onsite", "phone", "travel", "admin"]
    )


@dataclass
class NotifySettings:
    rules_file: str = ""
    """A TOML file of channels and escalation rules; empty means no notifications."""
    max_attempts: int = 12
    backoff_s: float = 5.0
    """First retry delay; it doubles up to ``backoff_max_s``."""
    backoff_max_s: float = 600.0


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    ssh: SshSettings = field(default_factory=SshSettings)
    psa: PsaSettings = field(default_factory=PsaSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    source: str = "defaults"
    """Where the file part came from, for ``noc config show``."""

    @property
    def database_url(self) -> str:
        return self.database.url or default_database_url()

    def as_dict(self, *, masked: bool = True) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if not dataclasses.is_dataclass(section):
                continue
            values = dataclasses.asdict(section)  # type: ignore[arg-type]
            if f.name == "database":
                values["url"] = self.database_url
            if masked:
                values = {k: _mask_value(k, v) for k, v in values.items()}
            out[f.name] = values
        return out


def _mask_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if any(word in key for word in ("password", "secret", "token")):
        return "****" if value else ""
    if "://" in value:
        return mask_url(value)
    return value


def _sections() -> dict[str, type[Any]]:
    return {
        f.name: f.default_factory  # type: ignore[misc]
        for f in dataclasses.fields(Settings)
        if f.default_factory is not dataclasses.MISSING
    }


def _coerce(raw: Any, current: Any, where: str) -> Any:
    """Turn a file or environment value into the type of the default it replaces."""
    target = type(current)
    if target is list:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{where}: expected a list of strings, got {raw!r}")
        return [i.strip() for i in items if i.strip()]
    if isinstance(raw, str) and target is not str:
        text = raw.strip()
        try:
            if target is bool:
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(text)
            return target(text)
        except ValueError:
            raise ConfigError(f"{where}: expected {target.__name__}, got {raw!r}") from None
    if target is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, target) or (target is int and isinstance(raw, bool)):
        raise ConfigError(f"{where}: expected {target.__name__}, got {raw!r}")
    return raw


def _find_line(text: str, section: str, key: str | None) -> int:
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped.strip("[] ")
            if key is None and current == section:
                return number
        elif key is not None and current == section and stripped.split("=", 1)[0].strip() == key:
            return number
    return 0


def _apply_file(settings: Settings, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    sections = _sections()
    for name, values in data.items():
        if name not in sections:
            line = _find_line(text, name, None)
            raise ConfigError(f"{path}:{line}: unknown section [{name}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{path}:{_find_line(text, '', name)}: {name} must be a table")
        section = getattr(settings, name)
        known = {f.name for f in dataclasses.fields(section)}
        for key, raw in values.items():
            line = _find_line(text, name, key)
            where = f"{path}:{line}: {name}.{key}"
            if key not in known:
                raise ConfigError(f"{where}: unknown setting")
            setattr(section, key, _coerce(raw, getattr(section, key), where))
    settings.source = str(path)


def _apply_env(settings: Settings, environ: Mapping[str, str]) -> None:
    for name in _sections():
        section = getattr(settings, name)
        for f in dataclasses.fields(section):
            var = f"NOC_{name}_{f.name}".upper()
            if var in environ:
                value = _coerce(environ[var], getattr(section, f.name), f"environment {var}")
                setattr(section, f.name, value)


def config_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("NOC_CONFIG"):
        return Path(environ["NOC_CONFIG"])
    default = config_dir() / "config.toml"
    return default if default.is_file() else None


def load_settings(
    explicit: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then the file, then the environment; a bad value names its file and line."""
    env = os.environ if environ is None else environ
    settings = Settings()
    path = config_path(explicit, env)
    if path is not None:
        _apply_file(settings, path)
    _apply_env(settings, env)
    return settings
