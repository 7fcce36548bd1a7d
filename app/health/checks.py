"""Component probes behind ``/healthz`` and the dashboard's status panel.

Each check returns a dict with ``status`` (``"ok"`` or ``"error"``), facts about the
component and, on failure, ``error``: a one-line message saying what is wrong.  A check
never raises.  Features add their own with :func:`register_health_check`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.extensions import db

Check = Callable[[], dict[str, Any]]
_KEY = "ledgerline.health_checks"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _failed(facts: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return {**facts, "status": "error", "error": message}


def check_database() -> dict[str, Any]:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    facts: dict[str, Any] = {
        "backend": url.get_backend_name(),
        "url": url.render_as_string(hide_password=True),
    }
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:  # a health probe reports every failure, it never raises
        db.session.rollback()
        return _failed(facts, exc)
    facts["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return {**facts, "status": "ok"}


def check_broker() -> dict[str, Any]:
    from app.celery_app import is_eager

    if is_eager(current_app):
        return {"status": "ok", "mode": "eager"}
    url = current_app.config["BROKER_URL"]
    facts: dict[str, Any] = {"mode": "broker", "url": redact_url(url)}
    timeout = float(current_app.config["HEALTH_TIMEOUT"])
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            celery_app = current_app.extensions["celery"]
            with celery_app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # a health probe reports every failure, it never raises
        return _failed(facts, RuntimeError(f"cannot reach the broker at {facts['url']}: {exc}"))
    return {**facts, "status": "ok"}


def check_chain() -> dict[str, Any]:
    from app.chain_setup import deployment_status
    from app.extensions import chain

    facts: dict[str, Any] = {"url": redact_url(chain.url())}
    try:
        connected = chain.get()
        facts.update(
            kind=connected.kind, chain_id=connected.chain_id, head_block=connected.block_number()
        )
        contracts = deployment_status(connected, current_app.config["DEPLOYMENT_FILE"])
    except Exception as exc:  # a health probe reports every failure, it never raises
        return _failed(facts, exc)
    facts["contracts"] = contracts.as_dict()
    if not contracts.ok:
        return {**facts, "status": "error", "error": contracts.problem}
    return {**facts, "status": "ok"}


def check_anchoring() -> dict[str, Any]:
    """The approval log's anchoring, from the database only: pending entries, the last
    anchor, and the outbox's failed attempts (an error while the last attempt failed)."""
    from app.audit.services import anchoring_status

    try:
        status = anchoring_status()
    except Exception as exc:  # a health probe reports every failure, it never raises
        db.session.rollback()
        return _failed({}, exc)
    facts = status.to_json()
    outbox = status.outbox
    if status.failing and outbox is not None:
        error = (
            f"anchoring failed {outbox.attempts} time(s), {status.pending_entries} entries "
            f"wait; next attempt {facts['outbox']['next_attempt_at']}: {outbox.last_error}"
        )
        return {**facts, "status": "error", "error": error}
    return {**facts, "status": "ok"}


DEFAULT_CHECKS: dict[str, Check] = {
    "database": check_database,
    "broker": check_broker,
    "chain": check_chain,
    "anchoring": check_anchoring,
}


def init_health_checks(app: Flask) -> None:
    app.extensions[_KEY] = dict(DEFAULT_CHECKS)


def register_health_check(app: Flask, name: str, check: Check) -> None:
    """Add a component to ``/healthz`` (e.g. the approval log's anchoring lag)."""
    app.extensions.setdefault(_KEY, dict(DEFAULT_CHECKS))[name] = check


def run_health_checks(names: list[str] | None = None) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run the registered checks (or only ``names``); True when all are ok."""
    checks: dict[str, Check] = current_app.extensions.get(_KEY, DEFAULT_CHECKS)
    selected = {n: c for n, c in checks.items() if names is None or n in names}
    results = {name: check() for name, check in selected.items()}
    return all(r["status"] == "ok" for r in results.values()), results
