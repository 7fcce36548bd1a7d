"""Configuration: defaults in :class:`Config`, overridden by ``LEDGERLINE_*`` variables.

Only the settings listed in :data:`ENV_SETTINGS` are read from the environment, each
parsed to its type, so a typo in a value fails at start-up with a one-line message
instead of deep inside a request.  Paths that depend on the instance folder (the SQLite
file, the embedded chain, the keystore, the secret key) are filled in by
:func:`finalize_config` once the Flask app knows its instance path.

Tests pass their own configuration (:class:`TestConfig` or a dict) to ``create_app``;
the environment is then ignored so a developer's shell cannot leak into a test run.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

ENV_PREFIX = "LEDGERLINE_"


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


class Config:
    """Production defaults.  Every ``None`` here is derived from the instance folder."""

    # The instance folder, where the SQLite file, the embedded chain, the keystore and
    # the secret key live.  Default: Flask's ``instance/`` next to the app package.
    INSTANCE: str | None = None

    DATABASE_URL: str | None = None  # default: sqlite:///<instance>/ledgerline.db
    BROKER_URL: str | None = None  # unset: Celery runs tasks eagerly, in-process
    RESULT_BACKEND: str | None = None  # default: the broker, when it is Redis
    CHAIN_URL: str | None = None  # default: embedded://<instance>/chain.db
    # POST /rpc, a read-only JSON-RPC view of the chain for auditors; default: on only
    # for an embedded chain, which has no node of its own to ask.
    PUBLIC_RPC: bool | None = None
    KEYSTORE: str | None = None  # default: <instance>/keystore
    DEPLOYMENT_FILE: str | None = None  # default: <instance>/deployment.json
    SECRET_KEY: str | None = None  # default: generated once into <instance>/secret_key
    KEYSTORE_KDF = "scrypt"  # key files the app writes (the deployer's); geth's default
    KEYSTORE_ITERATIONS: int | None = None

    # Cookies and sessions.  HTTPS=true marks every cookie Secure.
    HTTPS = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "ledgerline_session"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=7)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    SESSION_PROTECTION = "basic"

    # CSRF: checked by the app's own hook so token-authenticated API calls can skip it.
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT: int | None = None  # valid for the session's lifetime

    # Response headers.  Templates must not use inline <script> or style="" attributes.
    CONTENT_SECURITY_POLICY = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )

    # Passwords: argon2id with argon2-cffi's RFC 9106 low-memory profile.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536  # KiB
    ARGON2_PARALLELISM = 4
    PASSWORD_MIN_LENGTH = 12

    # Login throttling: after this many failures in a row the account waits.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCKOUT_SECONDS = 300

    # Celery
    CELERY_VISIBILITY_TIMEOUT = 3600  # seconds; retries must finish within it
    CELERY: dict[str, Any] = {}  # extra Celery settings, merged last

    # Timeouts for /healthz probes, seconds.
    HEALTH_TIMEOUT = 2.0

    # Dispatch (app/dispatch; docs/dispatch.md).  Channels default to "capture".
    DISPATCH_CHANNELS: dict[str, Any] = {}  # {"email": {"backend": "smtp", ...}, ...}
    DISPATCH_RATE_LIMITS: dict[str, float] = {}  # messages/second per channel or provider
    DISPATCH_UNSUBSCRIBE_MAILTO: str | None = None  # e.g. unsubscribe@example.com
    DISPATCH_BATCH_SIZE = 100
    DISPATCH_HANDOFF_GROUP = 100  # messages per durable hand-off marker (docs/dispatch.md)
    DISPATCH_LEASE_SECONDS = 300
    DISPATCH_RETRY_BASE_SECONDS = 30.0
    DISPATCH_RENDERER = "app.campaigns.services:render_many"  # (version, contacts, channel)
    DISPATCH_QUEUE: str | None = None  # Celery queue of dispatch tasks; None: the default
    DISPATCH_CONTROL_QUEUE: str | None = None  # relay/sweep/receipts; None: DISPATCH_QUEUE
    FREQUENCY_CAP = 3  # marketing messages per contact per rolling 7 days
    QUIET_HOURS = "21-08"  # local hours in the contact's time zone; "off" disables
    MAX_ATTEMPTS = 5

    # Campaigns and approvals (app/campaigns, app/approvals).
    APPROVAL_TTL_HOURS = 72  # an approval stops counting this long after it was given
    PUBLIC_URL = "http://localhost:5000"  # base of links in messages (unsubscribe)
    SENDER_NAME = "Ledgerline"  # the {{ sender.* }} template variables
    SENDER_EMAIL = "campaigns@ledgerline.example"

    # Approval log anchoring (app/audit; docs/audit.md).
    ANCHOR_EVERY_ENTRIES = 100  # enqueue anchoring once this many entries wait; 0: off
    ANCHOR_INTERVAL_SECONDS = 300  # Celery beat anchors this often; 0: not scheduled
    ANCHOR_KEY_ADDRESS: str | None = None  # default: the keystore key labelled "anchorer"
    ANCHOR_RETRY_BASE_SECONDS = 5.0  # backoff after failed attempts: 5, 10, 20, … seconds
    ANCHOR_RETRY_MAX_SECONDS = 900.0

    # Observability (app/observability; docs/operations.md).
    LOG_FORMAT = "json"  # json: one JSON object per line (production); text: for a terminal
    LOG_LEVEL = "INFO"
    METRICS_TOKEN: str | None = None  # /metrics wants "Authorization: Bearer <it>"; unset: open

    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}


class TestConfig(Config):
    """Fast, hermetic settings for the test suite.  CSRF stays ON."""

    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    ARGON2_PARALLELISM = 1
    PASSWORD_MIN_LENGTH = 8
    LOGIN_MAX_FAILURES = 3
    KEYSTORE_KDF = "pbkdf2"
    KEYSTORE_ITERATIONS = 1000
    HEALTH_TIMEOUT = 1.0
    LOG_FORMAT = "text"
    LOG_LEVEL = "WARNING"


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a boolean; use true or false")


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{name}={raw!r} is not an integer; set a whole number"
        ) from None


def _parse_float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a number; set e.g. 2.5") from None


def _parse_str(name: str, raw: str) -> str:
    return raw


def _parse_json(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name} is not valid JSON ({exc}); fix the value") from None


ENV_SETTINGS: dict[str, Callable[[str, str], Any]] = {
    "INSTANCE": _parse_str,  # the instance folder (Makefile: $(CURDIR)/instance)
    "DATABASE_URL": _parse_str,
    "BROKER_URL": _parse_str,
    "RESULT_BACKEND": _parse_str,
    "CHAIN_URL": _parse_str,
    "KEYSTORE": _parse_str,
    "DEPLOYMENT_FILE": _parse_str,
    "SECRET_KEY": _parse_str,
    "HTTPS": _parse_bool,
    "PUBLIC_RPC": _parse_bool,
    "PASSWORD_MIN_LENGTH": _parse_int,
    "LOGIN_MAX_FAILURES": _parse_int,
    "LOGIN_LOCKOUT_SECONDS": _parse_int,
    "ARGON2_TIME_COST": _parse_int,
    "ARGON2_MEMORY_COST": _parse_int,
    "ARGON2_PARALLELISM": _parse_int,
    "CELERY_VISIBILITY_TIMEOUT": _parse_int,
    "HEALTH_TIMEOUT": _parse_float,
    "APPROVAL_TTL_HOURS": _parse_int,
    "PUBLIC_URL": _parse_str,
    "SENDER_NAME": _parse_str,
    "SENDER_EMAIL": _parse_str,
    "ANCHOR_EVERY_ENTRIES": _parse_int,
    "ANCHOR_INTERVAL_SECONDS": _parse_int,
    "ANCHOR_KEY_ADDRESS": _parse_str,
    "ANCHOR_RETRY_BASE_SECONDS": _parse_float,
    "ANCHOR_RETRY_MAX_SECONDS": _parse_float,
    "DISPATCH_CHANNELS": _parse_json,
    "DISPATCH_RATE_LIMITS": _parse_json,
    "DISPATCH_UNSUBSCRIBE_MAILTO": _parse_str,
    "DISPATCH_BATCH_SIZE": _parse_int,
    "DISPATCH_HANDOFF_GROUP": _parse_int,
    "DISPATCH_LEASE_SECONDS": _parse_int,
    "DISPATCH_RETRY_BASE_SECONDS": _parse_float,
    "DISPATCH_RENDERER": _parse_str,
    "DISPATCH_QUEUE": _parse_str,
    "DISPATCH_CONTROL_QUEUE": _parse_str,
    "FREQUENCY_CAP": _parse_int,
    "QUIET_HOURS": _parse_str,
    "MAX_ATTEMPTS": _parse_int,
    "LOG_FORMAT": _parse_str,
    "LOG_LEVEL": _parse_str,
    "METRICS_TOKEN": _parse_str,
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``LEDGERLINE_*`` settings present in ``environ``, parsed to their types.

    Empty values count as unset, so ``LEDGERLINE_BROKER_URL=`` means eager mode.
    """
    env = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for name, parse in ENV_SETTINGS.items():
        raw = env.get(ENV_PREFIX + name)
        if raw is None or (raw.strip() == "" and parse is _parse_str):
            continue
        found[name] = parse(name, raw)
    return found


def settings_from_object(config: type | Mapping[str, Any]) -> dict[str, Any]:
    """Upper-case settings of a config class or dict (the Flask convention)."""
    if isinstance(config, Mapping):
        return {k: v for k, v in config.items() if k.isupper()}
    return {k: getattr(config, k) for k in dir(config) if k.isupper()}


def finalize_config(config: dict[str, Any], instance_path: Path) -> None:
    """Fill in every setting derived from the instance folder, in place."""
    instance_path.mkdir(parents=True, exist_ok=True)
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance_path / 'ledgerline.db'}"
    config["SQLALCHEMY_DATABASE_URI"] = database_uri(config["DATABASE_URL"])
    if not config.get("CHAIN_URL"):
        config["CHAIN_URL"] = f"embedded://{instance_path / 'chain.db'}"
    if config.get("PUBLIC_RPC") is None:
        config["PUBLIC_RPC"] = str(config["CHAIN_URL"]).startswith("embedded:")
    if not config.get("KEYSTORE"):
        config["KEYSTORE"] = str(instance_path / "keystore")
    if not config.get("DEPLOYMENT_FILE"):
        config["DEPLOYMENT_FILE"] = str(instance_path / "deployment.json")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = persistent_secret_key(instance_path / "secret_key")
    if config.get("HTTPS"):
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True
        config["PREFERRED_URL_SCHEME"] = "https"


def database_uri(url: str) -> str:
    """SQLAlchemy URL for ``url``; plain ``postgresql://`` URLs use psycopg 3."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def persistent_secret_key(path: Path) -> str:
    """Read the secret key from ``path``, creating it (mode 0600) on first use.

    Persisting it means sessions survive a restart of the embedded default.
    """
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    key = secrets.token_hex(32)
    # O_EXCL: if two processes race, the loser reads the winner's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
