"""Celery side of the log context: tasks log with their id and the ids of their caller.

* ``before_task_publish`` copies the caller's bound ids (a request id, a campaign id)
  into a message header, so a task enqueued by a request logs with that request's id;
* ``task_prerun`` binds that header, ``campaign_id``/``cycle_id`` keyword arguments, the
  task id and the task name, so every line the task logs carries them (Celery's own
  "Task … succeeded in …" line included); ``task_postrun`` restores the previous ids
  (an eager task runs inside the request that called it);
* ``setup_logging`` has a receiver, so Celery keeps the app's handler instead of
  installing its own (``worker_hijack_root_logger``) and only applies ``--loglevel``.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery import signals

from app.observability.logging import current_log_context, pop_log_context, push_log_context

HEADER = "ledgerline_log_context"
#: Task keyword arguments bound to the log context when a task has them.
BOUND_KWARGS = ("campaign_id", "cycle_id")
_TASK_FIELDS = ("task_id", "task_name")

_running: dict[str, Token[Any]] = {}


def _publishing(headers: dict[str, Any] | None = None, **_: Any) -> None:
    context = {k: v for k, v in current_log_context().items() if k not in _TASK_FIELDS}
    if headers is not None and context:
        headers.setdefault(HEADER, context)


def _prerun(task_id: str, task: Any, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    fields: dict[str, Any] = dict(task.request.get(HEADER) or {})
    given = kwargs or {}
    fields.update({name: given[name] for name in BOUND_KWARGS if given.get(name) is not None})
    fields.update(task_id=task_id, task_name=getattr(task, "name", None))
    _running[task_id] = push_log_context(**fields)


def _postrun(task_id: str, **_: Any) -> None:
    token = _running.pop(task_id, None)
    if token is not None:
        pop_log_context(token)


def _keep_app_logging(loglevel: int | str | None = None, **_: Any) -> None:
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def connect_celery_signals() -> None:
    """Connect the receivers once per process (idempotent)."""
    signals.before_task_publish.connect(_publishing, weak=False, dispatch_uid=HEADER)
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid=HEADER)
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid=HEADER)
    signals.setup_logging.connect(_keep_app_logging, weak=False, dispatch_uid=HEADER)
