"""Celery queue depths, read from the Redis broker (``LLEN``), for /metrics and /healthz.

Kombu's Redis transport keeps each queue as a list named after it, plus one list per
priority step (``<queue>\\x06\\x16<n>``) for messages sent with a priority; a queue's
depth is the sum.  Messages a worker has taken but not yet acknowledged (``acks_late``)
wait in the ``unacked`` hash.  In eager mode (no broker) there is no queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.celery_app import is_eager
from app.health.checks import redact_url

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)  # kombu's default for Redis
UNACKED_KEY = "unacked"


@dataclass(frozen=True)
class QueueDepths:
    queues: dict[str, int]
    unacked: int


def queue_names(app: Flask) -> list[str]:
    """The queues Ledgerline's tasks go to: Celery's default queue, the dispatch queues
    and any queue declared in the Celery settings, sorted."""
    conf = app.extensions["celery"].conf
    names = {conf.task_default_queue or "celery"}
    names.update(
        name
        for name in (app.config.get("DISPATCH_QUEUE"), app.config.get("DISPATCH_CONTROL_QUEUE"))
        if name
    )
    names.update(queue.name for queue in conf.task_queues or ())
    return sorted(names)


def _keys(queue: str) -> list[str]:
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def redis_broker(app: Flask) -> str | None:
    """The broker URL when it is Redis (the only broker whose queues are measured)."""
    if is_eager(app):
        return None
    url = str(app.config.get("BROKER_URL") or "")
    return url if url.startswith(REDIS_SCHEMES) else None


def read_queue_depths(app: Flask) -> QueueDepths:
    """Depth of every queue and the unacknowledged count; raises on a Redis error."""
    import redis

    url = redis_broker(app)
    if url is None:
        raise ValueError("queue depths are read from a Redis broker only")
    timeout = float(app.config.get("HEALTH_TIMEOUT", 2.0))
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    names = queue_names(app)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            for key in _keys(name):
                pipe.llen(key)
        pipe.hlen(UNACKED_KEY)
        answers = pipe.execute()
    finally:
        client.close()
    steps = len(PRIORITY_STEPS)
    depths = {name: int(sum(answers[i * steps : (i + 1) * steps])) for i, name in enumerate(names)}
    return QueueDepths(depths, int(answers[-1]))


def check_queues() -> dict[str, Any]:
    """/healthz row: each queue's depth.  An error only when Redis cannot be read."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if is_eager(app):
        return {"status": "ok", "mode": "eager"}
    url = redis_broker(app)
    if url is None:
        return {"status": "ok", "mode": "broker", "measured": False}
    try:
        depths = read_queue_depths(app)
    except Exception as exc:  # a health probe reports every failure, it never raises
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {
            "status": "error",
            "error": f"cannot read the queues at {redact_url(url)}: {message}",
        }
    return {"status": "ok", "queues": depths.queues, "unacked": depths.unacked}
