"""Observability: structured logs with request/task/campaign ids, ``/metrics`` and the
queue row of ``/healthz`` (docs/operations.md, "Monitoring").

For features:

* ``bind_log_context(campaign_id=…)`` (or ``with log_context(cycle_id=…):``) adds ids to
  every log line of the current request or task;
* ``register_metric_collector(app, fn)`` adds ``fn``'s metric families to ``/metrics``.
"""

from __future__ import annotations

from flask import Flask

from app.observability.logging import bind_log_context, log_context
from app.observability.metrics import register_metric_collector


def init_observability(app: Flask) -> None:
    """Logging, request ids, Celery task context, ``/metrics`` and the default collectors.

    Called by ``create_app`` first, so every later start-up line is already structured.
    """
    from app.health.checks import register_health_check
    from app.observability.celery_signals import connect_celery_signals
    from app.observability.collectors import DEFAULT_COLLECTORS
    from app.observability.logging import configure_logging
    from app.observability.metrics import metrics_bp
    from app.observability.queues import check_queues
    from app.observability.requests import init_request_logging

    configure_logging(app.config)
    init_request_logging(app)
    connect_celery_signals()
    app.register_blueprint(metrics_bp)
    for collector in DEFAULT_COLLECTORS:
        register_metric_collector(app, collector)
    register_health_check(app, "queues", check_queues)


__all__ = ["bind_log_context", "init_observability", "log_context", "register_metric_collector"]
