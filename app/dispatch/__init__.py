"""Multichannel dispatch: email (SMTP), SMS (SMPP 3.4), webhooks and the capture
outbox, sent exactly once per (campaign, contact, channel) through Celery.

``init_dispatch(app)`` plugs the feature into the app (called from
:func:`app.blueprints.register_blueprints`); nothing is built at import.
"""

from __future__ import annotations

from flask import Flask


def init_dispatch(app: Flask) -> None:
    """Blueprints, navigation, the health check and the beat schedule of dispatch."""
    from app.accounts.models import Role
    from app.dispatch.tasks import beat_schedule
    from app.dispatch.views import dispatch_api_bp, dispatch_bp, health_check, unsubscribe_bp
    from app.health.checks import register_health_check
    from app.navigation import add_nav_items, nav_item

    app.register_blueprint(dispatch_bp, url_prefix="/dispatch")
    app.register_blueprint(dispatch_api_bp, url_prefix="/api/dispatch")
    app.register_blueprint(unsubscribe_bp)
    add_nav_items(
        app,
        nav_item(
            "Dispatch", "dispatch.index", Role.MARKETER, Role.COMPLIANCE, Role.ADMIN, order=40
        ),
    )
    register_health_check(app, "dispatch", health_check)
    celery_app = app.extensions.get("celery")
    if celery_app is not None:
        schedule = dict(celery_app.conf.beat_schedule or {})
        schedule.update(beat_schedule(app))
        celery_app.conf.beat_schedule = schedule
