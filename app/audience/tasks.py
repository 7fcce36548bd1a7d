"""Celery tasks of the audience: running a committed import."""

from __future__ import annotations

from celery import shared_task

from app.audience import importing


@shared_task(name="ledgerline.audience.run_import")
def run_import_task(import_id: int) -> None:
    """Run import ``import_id``; progress and the outcome are on the job row.

    A redelivered task finds the job completed or failed and does nothing.
    """
    importing.run_import(import_id)
