"""The app's configuration: environment parsing and instance-folder defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.config import (
    Config,
    ConfigError,
    database_uri,
    finalize_config,
    persistent_secret_key,
    settings_from_env,
    settings_from_object,
)


def test_only_declared_ledgerline_variables_are_read_and_typed() -> None:
    env = {
        "LEDGERLINE_DATABASE_URL": "postgresql://db/ledgerline",
        "LEDGERLINE_HTTPS": "true",
        "LEDGERLINE_LOGIN_MAX_FAILURES": "7",
        "LEDGERLINE_HEALTH_TIMEOUT": "0.5",
        "LEDGERLINE_BROKER_URL": "",
        "LEDGERLINE_ADMIN_PASSWORD": "not a setting",
        "DATABASE_URL": "ignored without the prefix",
    }
    assert settings_from_env(env) == {
        "DATABASE_URL": "postgresql://db/ledgerline",
        "HTTPS": True,
        "LOGIN_MAX_FAILURES": 7,
        "HEALTH_TIMEOUT": 0.5,
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "LOGIN_MAX_FAILURES",
            "five",
            "LEDGERLINE_LOGIN_MAX_FAILURES='five' is not an integer; set a whole number",
        ),
        ("HTTPS", "maybe", "LEDGERLINE_HTTPS='maybe' is not a boolean; use true or false"),
        (
            "HEALTH_TIMEOUT",
            "soon",
            "LEDGERLINE_HEALTH_TIMEOUT='soon' is not a number; set e.g. 2.5",
        ),
    ],
)
def test_a_malformed_variable_fails_with_a_one_line_message(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_env({f"LEDGERLINE_{name}": value})
    assert str(error.value) == message


def test_defaults_live_in_the_instance_folder(tmp_path: Path) -> None:
    settings = settings_from_object(Config)
    finalize_config(settings, tmp_path)
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'ledgerline.db'}"
    assert settings["CHAIN_URL"] == f"embedded://{tmp_path / 'chain.db'}"
    assert settings["KEYSTORE"] == str(tmp_path / "keystore")
    assert settings["DEPLOYMENT_FILE"] == str(tmp_path / "deployment.json")
    assert settings.get("SESSION_COOKIE_SECURE") is None
    assert settings["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_https_marks_every_cookie_secure(tmp_path: Path) -> None:
    settings = {**settings_from_object(Config), "HTTPS": True}
    finalize_config(settings, tmp_path)
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["REMEMBER_COOKIE_SECURE"] is True


def test_the_generated_secret_key_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    first = persistent_secret_key(tmp_path / "secret_key")
    assert len(first) == 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert persistent_secret_key(tmp_path / "secret_key") == first


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert database_uri("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_uri("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_uri("sqlite:///x.db") == "sqlite:///x.db"
