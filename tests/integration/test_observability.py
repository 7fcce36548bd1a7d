"""Observability on SQLite and PostgreSQL: JSON request logs carrying the request id the
response echoes, task logs carrying their caller's ids, ``/metrics`` computed from the
database, the broker and the chain, and the queue row of ``/healthz``."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app.accounts import services as accounts
from app.audit import services as audit
from app.audit.models import Checkpoint
from app.config import ConfigError
from app.database import utcnow
from app.dispatch.models import Delivery, Dispatch, OutboxMessage
from app.extensions import chain as chain_ext
from app.extensions import db
from app.health.tasks import probe
from app.observability import log_context, register_metric_collector
from tests.audit_support import APPROVERS, deployed_app, log_decision
from tests.conftest import free_port
from tests.dispatch_support import make_audience
from tests.integration.app_fixtures import AppDatabase, login

ROOT = Path(__file__).resolve().parents[2]
JSON_LOGS = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
HEX_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object (other output is ignored)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def access_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if line["logger"] == "ledgerline.access"]


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient, **headers: str) -> Samples:
    """GET /metrics and parse it as Prometheus text: {(name, labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# -- logs ------------------------------------------------------------------------------------


def test_a_request_logs_one_json_line_with_the_request_id_the_response_echoes(
    make_app: Callable[..., Flask], capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_app(**JSON_LOGS).test_client()
    capfd.readouterr()
    response = client.get("/login?next=/admin", headers={"X-Request-ID": "req-7f3a.42"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-7f3a.42"
    [line] = access_lines(capfd.readouterr().err)
    assert line["request_id"] == "req-7f3a.42"
    assert line["level"] == "INFO"
    assert line["message"] == "GET /login?next=/admin 200"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/login", 200)
    assert line["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert "user_id" not in line and "campaign_id" not in line


def test_without_a_usable_request_id_each_request_gets_a_new_one(
    make_app: Callable[..., Flask], capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_app(**JSON_LOGS).test_client()
    capfd.readouterr()
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login", headers={"X-Request-ID": "not a token!"}).headers["X-Request-ID"]
    assert HEX_ID.fullmatch(first) and HEX_ID.fullmatch(second) and first != second
    assert [line["request_id"] for line in access_lines(capfd.readouterr().err)] == [first, second]


def test_a_signed_in_users_request_logs_the_user_and_the_campaign_in_its_url(
    make_app: Callable[..., Flask], capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(**JSON_LOGS)
    with app.app_context():
        user_id = accounts.create_user(
            "mia@example.com", "Mia Marketer", "correct horse battery", ["marketer"]
        ).id
    client = app.test_client()
    login(client, "mia@example.com", "correct horse battery")
    capfd.readouterr()
    response = client.get("/campaigns/424242", headers={"X-Request-ID": "req-campaign"})
    assert response.status_code == 404
    [line] = access_lines(capfd.readouterr().err)
    assert (line["request_id"], line["user_id"], line["campaign_id"]) == (
        "req-campaign",
        user_id,
        424242,
    )


def test_a_task_logs_with_its_id_and_name_and_the_ids_bound_by_its_caller(
    make_app: Callable[..., Flask], capfd: pytest.CaptureFixture[str]
) -> None:
    make_app(**JSON_LOGS)
    capfd.readouterr()
    with log_context(request_id="req-task", campaign_id=9):
        result = probe.delay()  # eager: no broker configured
        logging.getLogger("ledgerline.test").warning("after the task")
    lines = json_lines(capfd.readouterr().err)
    [line] = [entry for entry in lines if entry["logger"] == "celery.app.trace"]
    assert line["message"].startswith(f"Task ledgerline.health.probe[{result.id}] succeeded in ")
    assert (line["task_id"], line["task_name"]) == (result.id, "ledgerline.health.probe")
    assert (line["request_id"], line["campaign_id"]) == ("req-task", 9)
    [after] = [entry for entry in lines if entry["logger"] == "ledgerline.test"]
    assert "task_id" not in after and (after["request_id"], after["campaign_id"]) == (
        "req-task",
        9,
    )


def test_an_unknown_log_format_stops_the_app_with_a_one_line_error(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_app(LOG_FORMAT="xml")
    assert str(caught.value) == "LEDGERLINE_LOG_FORMAT='xml' is not a log format; use json or text"


@pytest.fixture
def json_worker(
    app_database: AppDatabase, redis_url: str, tmp_path: Path, unreachable_chain_url: str
) -> Iterator[tuple[str, Path]]:
    """A real worker on Redis with JSON logs at INFO, its stderr in a file."""
    queue = f"ll-obs-{secrets.token_hex(4)}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": app_database.url,
        "LEDGERLINE_BROKER_URL": redis_url,
        "LEDGERLINE_INSTANCE": str(tmp_path / "worker-instance"),
        "LEDGERLINE_CHAIN_URL": unreachable_chain_url,
        "LEDGERLINE_SECRET_KEY": "worker-test",
        "LEDGERLINE_LOG_FORMAT": "json",
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool=solo",
             "-Q", queue, "--loglevel=INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        yield queue, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_logs_json_with_the_task_id_and_the_ids_of_the_request_that_sent_it(
    make_app: Callable[..., Flask], redis_url: str, json_worker: tuple[str, Path]
) -> None:
    queue, log = json_worker
    make_app(BROKER_URL=redis_url)
    with log_context(request_id="req-from-web", campaign_id=11):
        result = probe.apply_async(queue=queue)
    result.get(timeout=90)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [e for e in json_lines(log.read_text()) if e.get("task_id") == result.id]
        if any(e["logger"] == "celery.app.trace" for e in lines):
            break
        time.sleep(0.2)
    [line] = [e for e in lines if e["logger"] == "celery.app.trace"]
    assert line["message"].startswith(f"Task ledgerline.health.probe[{result.id}] succeeded in ")
    assert (line["request_id"], line["campaign_id"]) == ("req-from-web", 11)
    assert (line["task_name"], line["level"]) == ("ledgerline.health.probe", "INFO")
    # Celery's own lines are JSON too: the worker kept the app's handler.
    assert any(e["logger"].startswith("celery") for e in json_lines(log.read_text()))


# -- /metrics --------------------------------------------------------------------------------


def test_metrics_report_the_chain_head_and_the_anchoring_lag_from_the_audit_tables(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = deployed_app(make_app, tmp_path)
    anna, boris, _ = APPROVERS
    with app.app_context():
        for n in range(3):
            log_decision(anna, campaign=n + 1)
        outcome = audit.anchor_pending(force=True)
        assert outcome.state == "anchored"
        log_decision(boris, campaign=7)
        log_decision(boris, campaign=8)
        checkpoint = audit.latest_anchored()
        assert checkpoint is not None and checkpoint.anchored_at is not None
        head = chain_ext.get(app).block_number()
        chain_id = chain_ext.get(app).chain_id
        anchored_at = checkpoint.anchored_at.timestamp()
        anchor_block = checkpoint.block_number
    before = time.time()
    samples = scrape(app.test_client())
    assert value(samples, "ledgerline_chain_up") == 1
    assert value(samples, "ledgerline_chain_head_block", chain_id=str(chain_id)) == head
    assert value(samples, "ledgerline_approval_log_entries") == 5
    assert value(samples, "ledgerline_approval_log_anchored_entries") == 3
    assert value(samples, "ledgerline_anchoring_pending_entries") == 2
    assert 0 <= value(samples, "ledgerline_anchoring_oldest_pending_age_seconds") < 120
    assert value(samples, "ledgerline_anchoring_last_anchor_timestamp_seconds") == anchored_at
    assert value(samples, "ledgerline_anchoring_last_anchor_block") == anchor_block
    since = value(samples, "ledgerline_anchoring_seconds_since_last_anchor")
    assert 0 <= since <= time.time() - anchored_at + 1 and since >= before - anchored_at - 1
    assert value(samples, "ledgerline_anchoring_consecutive_failures") == 0
    for name in ("chain_metrics", "anchoring_metrics", "dispatch_metrics", "queue_metrics"):
        collector = f"app.observability.collectors.{name}"
        assert value(samples, "ledgerline_metrics_collector_up", collector=collector) == 1


def test_failing_anchoring_shows_its_attempts_and_an_unreachable_chain_shows_down(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    with app.app_context():
        db.session.add(
            Checkpoint(
                status="pending",
                tree_size=4,
                attempts=3,
                last_error="cannot reach the chain",
                next_attempt_at=utcnow() + timedelta(minutes=1),
            )
        )
        db.session.commit()
    samples = scrape(app.test_client())
    assert value(samples, "ledgerline_anchoring_consecutive_failures") == 3
    assert value(samples, "ledgerline_chain_up") == 0
    assert not [key for key in samples if key[0] == "ledgerline_chain_head_block"]


def test_metrics_count_messages_by_channel_and_status_and_the_outbox_backlog(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    now = utcnow()
    with app.app_context():
        audience = make_audience(4)
        dispatch = Dispatch(campaign_id=31, campaign_version_id=31, total=8)
        db.session.add(dispatch)
        db.session.flush()
        seeded = [
            ("email", "sent", 1),
            ("email", "sent", 1),
            ("email", "sent", 2),
            ("email", "failed-permanent", 5),
            ("sms", "queued", 0),
            ("sms", "queued", 0),
            ("sms", "delivered", 1),
            ("sms", "needs-review", 1),
        ]
        for (channel, status, attempts), contact in zip(
            seeded, audience.contact_ids * 2, strict=True
        ):
            db.session.add(
                Delivery(
                    dispatch_id=dispatch.id,
                    campaign_id=31,
                    contact_id=contact,
                    channel=channel,
                    address="someone",
                    status=status,
                    attempts=attempts,
                )
            )
        db.session.add_all(
            [
                OutboxMessage(task="t", payload={}, available_at=now - timedelta(seconds=90)),
                OutboxMessage(task="t", payload={}, available_at=now - timedelta(seconds=10)),
                OutboxMessage(task="t", payload={}, available_at=now, relayed_at=now),
            ]
        )
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 8
    samples = scrape(app.test_client())
    messages = {
        dict(labels)["channel"] + "/" + dict(labels)["status"]: count
        for (name, labels), count in samples.items()
        if name == "ledgerline_messages" and count
    }
    assert messages == {
        "email/sent": 3,
        "email/failed-permanent": 1,
        "sms/queued": 2,
        "sms/delivered": 1,
        "sms/needs-review": 1,
    }
    assert value(samples, "ledgerline_messages", channel="webhook", status="sent") == 0
    assert value(samples, "ledgerline_message_attempts_total", channel="email") == 9
    assert value(samples, "ledgerline_message_attempts_total", channel="sms") == 2
    assert value(samples, "ledgerline_message_attempts_total", channel="webhook") == 0
    assert value(samples, "ledgerline_dispatch_outbox_pending") == 2
    assert 90 <= value(samples, "ledgerline_dispatch_outbox_lag_seconds") < 150


def test_a_failing_collector_is_reported_and_the_others_still_answer(
    make_app: Callable[..., Flask], capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(**JSON_LOGS)

    def broken() -> list[Any]:
        raise RuntimeError("the deliveries table is locked")

    register_metric_collector(app, broken)
    capfd.readouterr()
    samples = scrape(app.test_client())
    name = f"{__name__}.{broken.__qualname__}"
    assert value(samples, "ledgerline_metrics_collector_up", collector=name) == 0
    assert value(samples, "ledgerline_approval_log_entries") == 0
    logged = json_lines(capfd.readouterr().err)
    [error] = [e for e in logged if e["logger"] == "app.observability.metrics"]
    assert error["level"] == "ERROR"
    assert error["message"] == f"metric collector {name} failed"
    assert "RuntimeError: the deliveries table is locked" in error["exception"]


def test_with_a_metrics_token_a_scrape_needs_it_as_a_bearer_token(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(METRICS_TOKEN="s3cret-scrape").test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-scrape"}):
        refused = client.get("/metrics", headers={**headers, "Accept": "application/json"})
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="ledgerline-metrics"'
        assert refused.json["error"]["code"] == "authentication_failed"
    samples = scrape(client, Authorization="Bearer s3cret-scrape")
    assert value(samples, "ledgerline_anchoring_pending_entries") == 0


# -- queues: /metrics and /healthz -------------------------------------------------------------


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    import redis

    name = f"ll-metrics-{secrets.token_hex(4)}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)
    client.close()


@pytest.mark.redis
def test_queue_depth_is_read_from_redis_for_metrics_and_healthz(
    make_app: Callable[..., Flask], redis_url: str, queue_name: str
) -> None:
    app = make_app(BROKER_URL=redis_url, DISPATCH_QUEUE=queue_name)
    for _ in range(3):
        probe.apply_async(queue=queue_name)  # no worker consumes this queue
    client = app.test_client()
    samples = scrape(client)
    assert value(samples, "ledgerline_broker_up") == 1
    assert value(samples, "ledgerline_celery_queue_length", queue=queue_name) == 3
    assert ("ledgerline_celery_queue_length", (("queue", "celery"),)) in samples
    queues = client.get("/healthz").json["components"]["queues"]
    assert queues["status"] == "ok"
    assert queues["queues"][queue_name] == 3
    assert set(queues["queues"]) == {"celery", queue_name}


def test_an_unreachable_broker_is_reported_down_in_metrics_and_healthz(
    make_app: Callable[..., Flask],
) -> None:
    port = free_port()
    app = make_app(BROKER_URL=f"redis://:pw@127.0.0.1:{port}/0")
    client = app.test_client()
    samples = scrape(client)
    assert value(samples, "ledgerline_broker_up") == 0
    assert not [key for key in samples if key[0] == "ledgerline_celery_queue_length"]
    queues = client.get("/healthz").json["components"]["queues"]
    assert queues["status"] == "error"
    assert queues["error"].startswith(
        f"cannot read the queues at redis://:***@127.0.0.1:{port}/0: "
    )
    assert ":pw@" not in queues["error"]


def test_in_eager_mode_there_is_no_queue_to_measure(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/healthz").json["components"]["queues"] == {"status": "ok", "mode": "eager"}
    assert not [key for key in scrape(client) if key[0].startswith("ledgerline_celery")]


def test_every_feature_health_check_survives_app_start(make_app: Callable[..., Flask]) -> None:
    components = make_app().test_client().get("/healthz").json["components"]
    assert set(components) == {"database", "broker", "chain", "anchoring", "dispatch", "queues"}
