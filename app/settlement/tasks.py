"""The settlement index's Celery task: Celery beat runs it every
``SETTLEMENT_SYNC_INTERVAL_SECONDS`` on real deployments, and pages queue it when the
index is too far behind to catch up while rendering."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from app.settlement import indexer

SYNC_TASK = "ledgerline.settlement.sync"


@shared_task(name=SYNC_TASK, ignore_result=False)
def sync_task() -> dict[str, Any]:
    """Index the SettlementLedger and registry events of the blocks not indexed yet."""
    return indexer.sync_ledger().to_json()


def beat_schedule(interval: float) -> dict[str, dict[str, Any]]:
    return {SYNC_TASK: {"task": SYNC_TASK, "schedule": float(interval)}}
