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
MODEL_MODULES: tuple[str, ...] = (
    "app.accounts.models",
    "app.audience.models",
    "app.audit.models",
    "app.dispatch.models",
    "app.segments.models",
    "app.campaigns.models",
    "app.approvals.models",
    "app.settlement.models",
)

# Imported by every Celery worker at start-up (Celery's ``imports`` setting).
TASK_MODULES: tuple[str, ...] = (
    "app.health.tasks",
    "app.audit.tasks",
    "app.dispatch.tasks",
    "app.audience.tasks",
    "app.settlement.tasks",
)


def import_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)


def register_blueprints(app: Flask) -> None:
    import_models()
    from app.api import init_api

    init_api(app)  # first: its bounded <int:...> converter must exist before any route
    from app.accounts.views import accounts_bp, admin_bp, api_bp
    from app.health.views import health_bp
    from app.main.views import main_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(health_bp)
    from app.rpc.views import rpc_bp

    app.register_blueprint(rpc_bp)

    add_nav_items(
        app,
        nav_item("Dashboard", "main.index", order=0),
        nav_item("Users", "admin.users", Role.ADMIN, order=900),
    )
    from app.audit.cli import audit_cli
    from app.audit.services import init_audit
    from app.audit.views import audit_bp

    app.register_blueprint(audit_bp, url_prefix="/audit")
    app.cli.add_command(audit_cli)  # type: ignore[arg-type]
    init_audit(app)
    add_nav_items(
        app, nav_item("Audit", "audit.index", Role.AUDITOR, Role.ADMIN, Role.COMPLIANCE, order=80)
    )

    from app.dispatch import init_dispatch

    init_dispatch(app)

    from app.audience.views import audience_api_bp, audience_bp

    app.register_blueprint(audience_bp, url_prefix="/audience")
    app.register_blueprint(audience_api_bp, url_prefix="/api")
    add_nav_items(
        app,
        nav_item(
            "Audience",
            "audience.organisations",
            Role.MARKETER,
            Role.ADMIN,
            Role.APPROVER,
            Role.COMPLIANCE,
            Role.AUDITOR,
            order=10,
        ),
        nav_item("Imports", "audience.imports", Role.MARKETER, Role.ADMIN, order=15),
    )

    from app.segments.api import READ_ROLES as SEGMENT_READERS
    from app.segments.api import segments_api_bp
    from app.segments.views import segments_bp

    app.register_blueprint(segments_bp, url_prefix="/segments")
    app.register_blueprint(segments_api_bp, url_prefix="/api/segments")
    add_nav_items(app, nav_item("Segments", "segments.index", *SEGMENT_READERS, order=20))

    from app.approvals.views import approvals_bp
    from app.campaigns.views import campaigns_bp

    app.register_blueprint(campaigns_bp, url_prefix="/campaigns")
    app.register_blueprint(approvals_bp, url_prefix="/approvals")
    deciders = (Role.MARKETER, Role.APPROVER, Role.COMPLIANCE, Role.ADMIN)
    add_nav_items(
        app,
        nav_item("Campaigns", "campaigns.index", *deciders, Role.AUDITOR, order=30),
        nav_item("Approvals", "approvals.inbox", *deciders, order=40),
        nav_item("Policies", "approvals.policies", Role.ADMIN, Role.COMPLIANCE, order=850),
    )

    from app.settlement import init_settlement

    init_settlement(app)

    # Later features, e.g.:
    #   from app.audience.views import audience_bp
    #   app.register_blueprint(audience_bp, url_prefix="/audience")
    #   add_nav_items(app, nav_item("Audience", "audience.index", Role.MARKETER, order=10))
