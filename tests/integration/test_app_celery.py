"""Celery: eager in-process without a broker, a real worker on Redis with one."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from app.celery_app import celery_settings
from app.health.tasks import probe
from tests.integration.app_fixtures import AppDatabase

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_broker_tasks_run_eagerly_in_their_own_app_context(app: Flask) -> None:
    assert app.extensions["celery"].conf.task_always_eager is True
    result = probe.delay()  # no app context here: the task pushes its own
    assert result.get()["database"]["status"] == "ok"
    assert result.get()["pid"] == os.getpid()


def test_with_a_broker_url_celery_uses_it_with_the_visibility_timeout() -> None:
    settings = celery_settings(
        {"BROKER_URL": "redis://broker:6379/0", "CELERY_VISIBILITY_TIMEOUT": 900, "CELERY": {}}
    )
    assert settings["task_always_eager"] is False
    assert settings["broker_url"] == settings["result_backend"] == "redis://broker:6379/0"
    assert settings["broker_transport_options"] == {"visibility_timeout": 900}
    assert settings["task_acks_late"] is True
    assert "app.health.tasks" in settings["imports"]


@pytest.fixture
def worker(
    app_database: AppDatabase, redis_url: str, tmp_path: Path, unreachable_chain_url: str
) -> Iterator[tuple[str, int]]:
    """A real `celery -A app.worker worker` on Redis, consuming a queue of its own."""
    queue = f"ll-test-{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": app_database.url,
        "LEDGERLINE_BROKER_URL": redis_url,
        "LEDGERLINE_INSTANCE": str(tmp_path / "worker-instance"),
        "LEDGERLINE_CHAIN_URL": unreachable_chain_url,
        "LEDGERLINE_SECRET_KEY": "worker-test",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.worker",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        yield queue, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_runs_the_task_in_the_app_context_on_the_same_database(
    make_app: Callable[..., Flask],
    redis_url: str,
    app_database: AppDatabase,
    worker: tuple[str, int],
) -> None:
    queue, worker_pid = worker
    make_app(BROKER_URL=redis_url)
    answer = probe.apply_async(queue=queue).get(timeout=90)
    assert answer["pid"] == worker_pid != os.getpid()
    assert answer["database"]["status"] == "ok"
    assert answer["database"]["url"] == make_url(app_database.url).render_as_string(
        hide_password=True
    )
