"""Configuration: file, environment overrides, masking, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from noc.config import load_settings
from noc.errors import ConfigError
from noc.secrets import SecretRef, mask_url
from tests.cli import run_noc


def test_defaults_put_the_database_in_the_xdg_data_dir(clean_env: Path) -> None:
    settings = load_settings(environ={})
    assert settings.database_url == f"sqlite+aiosqlite:///{clean_env / 'data' / 'noc' / 'noc.db'}"
    assert settings.source == "defaults"


def test_file_then_environment(clean_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "noc.toml"
    path.write_text(
        '[poller]\nconcurrency = 50\ntimeout_s = 3\n[database]\nurl = "sqlite+aiosqlite:///x.db"\n'
    )
    settings = load_settings(
        path, environ={"NOC_POLLER_CONCURRENCY": "75", "NOC_DATABASE_ECHO": "yes"}
    )
    assert settings.poller.concurrency == 75  # the environment wins over the file
    assert settings.poller.timeout_s == 3.0
    assert settings.database.echo is True
    assert settings.database_url == "sqlite+aiosqlite:///x.db"


def test_noc_config_variable_and_xdg_file(clean_env: Path, tmp_path: Path) -> None:
    xdg = clean_env / "config" / "noc" / "config.toml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("[poller]\nretries = 4\n")
    assert load_settings(environ={}).poller.retries == 4
    other = tmp_path / "other.toml"
    other.write_text("[poller]\nretries = 1\n")
    assert load_settings(environ={"NOC_CONFIG": str(other)}).poller.retries == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[poller]\nconcurency = 5\n", ":2: poller.concurency: unknown setting"),
        ('[poller]\nconcurrency = "many"\n', ":2: poller.concurrency: expected int, got 'many'"),
        ("[pollers]\n", ":1: unknown section [pollers]"),
        ("[poller\n", ": Expected ']'"),
    ],
)
def test_bad_config_names_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "noc.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_bad_environment_value() -> None:
    with pytest.raises(ConfigError, match="environment NOC_POLLER_RETRIES: expected int"):
        load_settings(environ={"NOC_POLLER_RETRIES": "lots"})


def test_config_show_masks_secrets(capsys, clean_env, monkeypatch) -> None:
    monkeypatch.setenv("NOC_DATABASE_URL", "postgresql+asyncpg://noc:hunter2@127.0.0.1:5432/noc")
    out = run_noc(capsys, "config", "show")
    assert out.code == 0
    assert 'url = "postgresql+asyncpg://noc:****@127.0.0.1:5432/noc"' in out.out
    assert "hunter2" not in out.out
    data = json.loads(run_noc(capsys, "config", "show", "--json").out)
    assert data["poller"]["concurrency"] == 1000 and "hunter2" not in json.dumps(data)


def test_config_error_from_the_command_line_is_one_line(capsys, clean_env, tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[poller]\nretries = -\n")
    out = run_noc(capsys, "--config", str(path), "config", "show")
    assert out.code == 2 and out.err.count("\n") == 1 and str(path) in out.err


def test_mask_url_hides_webhook_tokens_and_passwords() -> None:
    assert mask_url("https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx") == (
        "https://hooks.slack.com/services/T0001/B0002/****"
    )
    assert (
        mask_url("https://ntfy.example/noc?token=abc&x=1")
        == "https://ntfy.example/noc?token=****&x=1"
    )
    assert mask_url("postgresql://u:p@h/db") == "postgresql://u:****@h/db"
    assert (
        mask_url("sqlite+aiosqlite:////var/lib/noc/noc.db")
        == "sqlite+aiosqlite:////var/lib/noc/noc.db"
    )


def test_secret_references(tmp_path: Path) -> None:
    secret = tmp_path / "community"
    secret.write_text("s3cret\n")
    assert SecretRef.parse(f"file:{secret}").resolve() == "s3cret"
    assert SecretRef.parse("env:NOC_X").resolve({"NOC_X": "v"}) == "v"
    with pytest.raises(Exception, match="NOC_Y is not set"):
        SecretRef.parse("env:NOC_Y").resolve({})
    with pytest.raises(Exception, match="must be env:VAR"):
        SecretRef.parse("public")
