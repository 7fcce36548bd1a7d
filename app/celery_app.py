"""Celery, bound to a Flask app the way Flask's own Celery guide does it.

Without ``LEDGERLINE_BROKER_URL`` tasks run eagerly, in-process (the embedded demo).
With it they go to that broker (Redis) and run in ``celery -A app.worker worker``.

Every task runs inside its own app context, in eager mode too, so a task sees only what
its caller has committed: commit before ``.delay()``, as a real worker requires.
Tasks are declared with ``@shared_task(name="ledgerline.<feature>.<verb>")`` and take
ids, never ORM objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask

from app.blueprints import TASK_MODULES


def celery_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery settings derived from the Flask config, ``CELERY`` overrides last."""
    broker = config.get("BROKER_URL")
    settings: dict[str, Any] = {
        "imports": TASK_MODULES,
        "task_ignore_result": True,
        # A task is acknowledged after it ran; a killed worker's task is redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "enable_utc": True,
        "timezone": "UTC",
    }
    if broker:
        visibility = {"visibility_timeout": int(config.get("CELERY_VISIBILITY_TIMEOUT", 3600))}
        backend = config.get("RESULT_BACKEND") or (
            broker if broker.startswith(("redis://", "rediss://")) else None
        )
        settings.update(
            broker_url=broker,
            result_backend=backend,
            broker_transport_options=visibility,
            result_backend_transport_options=visibility,
            task_always_eager=False,
        )
    else:
        settings.update(
            broker_url="memory://",
            result_backend=None,
            task_always_eager=True,
            task_eager_propagates=True,
        )
    settings.update(config.get("CELERY") or {})
    return settings


def is_eager(app: Flask) -> bool:
    celery_app: Celery = app.extensions["celery"]
    return bool(celery_app.conf.task_always_eager)


def celery_init_app(app: Flask) -> Celery:
    """A Celery app whose tasks run in ``app``'s context; stored in ``app.extensions``."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_settings(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
