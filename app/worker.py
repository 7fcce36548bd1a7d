"""Celery worker entry point: ``celery -A app.worker worker`` (and ``beat``).

This module is the one place that builds the app at import time, because a worker
process is nothing else.  Configure it with the same ``LEDGERLINE_*`` variables as the
web process, including ``LEDGERLINE_BROKER_URL``.
"""

from __future__ import annotations

from celery import Celery

from app import create_app

flask_app = create_app()
celery_app: Celery = flask_app.extensions["celery"]
app = celery_app  # `celery -A app.worker` looks for `app` or `celery`
