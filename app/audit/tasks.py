"""Anchoring as a Celery task: scheduled by beat, enqueued after N entries, retried.

The outbox row carries the backoff (:func:`app.audit.services.anchor_pending`); a failed
run asks Celery to retry exactly when the outbox allows the next attempt, and beat's
periodic run is the backstop when a retry is lost.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from app.audit import services

MAX_RETRIES = 12


@shared_task(name="ledgerline.audit.anchor_pending", bind=True, ignore_result=False)
def anchor_pending_task(self: Task, force: bool = False) -> dict[str, Any]:
    """Anchor the pending approval log entries; on a known failure, retry with backoff."""
    outcome = services.anchor_pending(force=force)
    retry = outcome.state == "failed" and outcome.retry_in is not None
    if retry and not self.request.is_eager and self.request.retries < MAX_RETRIES:
        raise self.retry(countdown=outcome.retry_in, max_retries=MAX_RETRIES)
    return outcome.to_json()
