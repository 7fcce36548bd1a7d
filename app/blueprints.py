"""The one place where feature packages plug into the app.

A feature adds its ``models`` module to :data:`MODEL_MODULES` (so Alembic and every
process see its tables, blueprint or not), its blueprint(s) and navigation entries in
:func:`register_blueprints` and, if it has Celery tasks, its ``tasks`` module to
:data:`TASK_MODULES` so workers import them.
"""

from __future__ import annotations

import importlib

from flask import Flask

from app.accounts.models import Role
from app.navigation import add_nav_items, nav_item

# Imported by create_app: db.metadata (and so `flask db migrate`) knows every table.
MODEL_MODULES: tuple[str, ...] = ("app.accounts.models",)

# Imported by every Celery worker at start-up (Celery's ``imports`` setting).
TASK_MODULES: tuple[str, ...] = ("app.health.tasks",)


def import_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)


def register_blueprints(app: Flask) -> None:
    import_models()
    from app.accounts.views import accounts_bp, admin_bp, api_bp
    from app.health.views import health_bp
    from app.main.views import main_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(health_bp)

    add_nav_items(
        app,
        nav_item("Dashboard", "main.index", order=0),
        nav_item("Users", "admin.users", Role.ADMIN, order=900),
    )
    # Later features, e.g.:
    #   from app.audience.views import audience_bp
    #   app.register_blueprint(audience_bp, url_prefix="/audience")
    #   add_nav_items(app, nav_item("Audience", "audience.index", Role.MARKETER, order=10))
