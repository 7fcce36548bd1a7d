"""Inter-operator settlement in the web app: operators' and clearing agents' pages, the
JSON API under ``/api/settlement``, the event index, statements and the demo data.

``init_settlement(app)`` plugs the feature into the app (called from
:func:`app.blueprints.register_blueprints`); nothing is built at import.
"""

from __future__ import annotations

from flask import Flask


def init_settlement(app: Flask) -> None:
    """Blueprints, navigation and the beat schedule of the settlement index."""
    from app.accounts.models import Role
    from app.navigation import add_nav_items, nav_item
    from app.settlement import tasks
    from app.settlement.api import settlement_api_bp
    from app.settlement.indexer import DEFAULT_SYNC_INTERVAL_SECONDS
    from app.settlement.views import settlement_bp

    app.register_blueprint(settlement_bp, url_prefix="/settlement")
    app.register_blueprint(settlement_api_bp, url_prefix="/api/settlement")
    add_nav_items(
        app,
        nav_item("Settlement", "settlement.index", Role.OPERATOR, Role.CLEARING_AGENT, order=50),
    )
    interval = int(
        app.config.get("SETTLEMENT_SYNC_INTERVAL_SECONDS", DEFAULT_SYNC_INTERVAL_SECONDS) or 0
    )
    celery_app = app.extensions.get("celery")
    if celery_app is not None and interval > 0:
        schedule = dict(celery_app.conf.beat_schedule or {})
        schedule.update(tasks.beat_schedule(interval))
        celery_app.conf.beat_schedule = schedule
