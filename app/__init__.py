"""Ledgerline's web application.  Build it with :func:`create_app`; nothing is built on import."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response
from sqlalchemy import event

from app.config import Config, finalize_config, settings_from_env, settings_from_object

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(config: type | Mapping[str, Any] | None = None) -> Flask:
    """A configured Ledgerline app.

    ``config`` is a config class (e.g. :class:`app.config.TestConfig`) or a dict of
    settings applied over :class:`app.config.Config`; without it the settings come from
    ``LEDGERLINE_*`` environment variables.
    """
    settings = settings_from_object(Config)
    settings.update(settings_from_env() if config is None else settings_from_object(config))
    instance = settings.get("INSTANCE")
    app = Flask(__name__, instance_path=str(Path(instance).resolve()) if instance else None)
    settings["INSTANCE"] = app.instance_path
    finalize_config(settings, Path(app.instance_path))
    app.config.update(settings)

    from app.health.checks import init_health_checks
    from app.observability import init_observability

    init_health_checks(app)  # before any feature adds its own check
    init_observability(app)  # first: later start-up lines are already structured
    _init_extensions(app)

    from app.celery_app import celery_init_app

    celery_init_app(app)

    from app.errors import register_error_handlers

    register_error_handlers(app)

    from app.blueprints import register_blueprints

    register_blueprints(app)

    from app.cli import register_cli

    register_cli(app)

    _init_templates(app)
    app.after_request(_security_headers)
    return app


def _init_extensions(app: Flask) -> None:
    from app.accounts.access import init_access
    from app.extensions import chain, db, migrate

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    init_access(app)
    chain.init_app(app)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Enforce foreign keys as PostgreSQL does; WAL lets a worker read while the web writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _init_templates(app: Flask) -> None:
    from flask_login import current_user
    from flask_wtf.csrf import generate_csrf

    from app.navigation import nav_items_for

    @app.context_processor
    def layout_context() -> dict[str, Any]:
        items = nav_items_for(current_user) if current_user.is_authenticated else []
        return {"nav_items": items, "csrf_token": generate_csrf}


def _security_headers(response: Response) -> Response:
    from flask import current_app

    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    policy = current_app.config.get("CONTENT_SECURITY_POLICY")
    if policy:
        headers.setdefault("Content-Security-Policy", policy)
    if current_app.config.get("HTTPS"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


__all__ = ["create_app"]
