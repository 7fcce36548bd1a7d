"""Worker-side probe: proves a worker has the app context, config and database."""

from __future__ import annotations

import os
from typing import Any

from celery import shared_task

from app.health.checks import check_database


@shared_task(name="ledgerline.health.probe", ignore_result=False)
def probe() -> dict[str, Any]:
    """The database as the worker sees it, and which process answered."""
    return {"database": check_database(), "pid": os.getpid()}
