"""Celery tasks of dispatch: thin wrappers over :mod:`app.dispatch.sending` / services.

``send_batch`` is acknowledged late and rejected (requeued) when its worker is lost, so
a killed worker's batch is delivered again; that is safe because every row is claimed
before it is sent.  Delays never wait in the broker: a retry or deferral is an outbox
row with ``available_at``, published by the relay when due, so no countdown can outlive
the broker's visibility timeout.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from app.dispatch import sending, services


@shared_task(
    name=sending.SEND_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def send_batch_task(delivery_ids: list[int]) -> dict[str, Any]:
    """Claim, check, send and record the given deliveries."""
    return sending.send_batch([int(i) for i in delivery_ids]).as_dict()


@shared_task(name="ledgerline.dispatch.relay", ignore_result=True)
def relay_task() -> int:
    """Publish the due outbox rows (beat runs this every second; commits kick it)."""
    return services.relay_all()


@shared_task(name="ledgerline.dispatch.sweep", ignore_result=True)
def sweep_task() -> dict[str, int]:
    """Requeue or flag rows of dead runs; re-enqueue stale rows; stamp finished."""
    return sending.sweep().as_dict()


@shared_task(name="ledgerline.dispatch.sms_receipts", ignore_result=True)
def sms_receipts_task(seconds: float = 4.0) -> int:
    """Listen for SMPP delivery receipts on every configured SMPP channel."""
    return sending.poll_sms_receipts(seconds)


def beat_schedule(app: Any) -> dict[str, dict[str, Any]]:
    """Periodic dispatch tasks for ``celery beat``."""
    queue = app.config.get("DISPATCH_CONTROL_QUEUE") or app.config.get("DISPATCH_QUEUE")
    options = {"queue": queue} if queue else {}
    # Often enough that a dead run's rows come back well within their lease again.
    sweep_every = min(15.0, float(app.config["DISPATCH_LEASE_SECONDS"]) / 2)
    schedule: dict[str, dict[str, Any]] = {
        "dispatch-relay": {
            "task": "ledgerline.dispatch.relay",
            "schedule": 1.0,
            "options": options,
        },
        "dispatch-sweep": {
            "task": "ledgerline.dispatch.sweep",
            "schedule": sweep_every,
            "options": options,
        },
    }
    channels = app.config.get("DISPATCH_CHANNELS") or {}
    if any((c or {}).get("backend") == "smpp" for c in channels.values()):
        schedule["dispatch-sms-receipts"] = {
            "task": "ledgerline.dispatch.sms_receipts",
            "schedule": 5.0,
            "options": options,
        }
    return schedule


__all__ = ["beat_schedule", "relay_task", "send_batch_task", "sms_receipts_task", "sweep_task"]
