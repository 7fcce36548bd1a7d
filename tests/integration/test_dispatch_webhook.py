"""Webhooks against a real HTTPS receiver that checks the HMAC signature itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from app.dispatch import services
from tests import dispatch_support as ds
from tests.dispatch_servers import WebhookReceiver
from tests.integration.dispatch_fixtures import *  # noqa: F403
from tests.integration.dispatch_fixtures import WEBHOOK_SECRET


def webhook_app(
    dispatch_app: Callable[..., Flask], tls_files: tuple[Path, Path], **options: object
) -> Flask:
    channel = {
        "backend": "webhook",
        "secret": WEBHOOK_SECRET,
        "ca_file": str(tls_files[0]),
        "read_timeout": 1.0,
        "connect_timeout": 1.0,
        **options,
    }
    return dispatch_app(
        DISPATCH_CHANNELS={"webhook": channel}, MAX_ATTEMPTS=2, DISPATCH_RETRY_BASE_SECONDS=60
    )


def test_webhooks_are_signed_and_answers_map_to_sent_permanent_and_temporary(
    dispatch_app: Callable[..., Flask],
    webhook_receiver: WebhookReceiver,
    tls_files: tuple[Path, Path],
) -> None:
    app = webhook_app(dispatch_app, tls_files)
    base = f"https://127.0.0.1:{webhook_receiver.port}"
    with app.app_context():
        audience = ds.make_audience(4, webhook_base=base)
        ok, gone, fail, hang = audience.contact_ids
        addresses = {
            (gone, "webhook"): f"{base}/gone",
            (fail, "webhook"): f"{base}/fail",
            (hang, "webhook"): f"{base}/hang",
        }
        started = time.monotonic()
        ds.approve_directly(1, audience, ["webhook"], addresses=addresses)
        elapsed = time.monotonic() - started
        rows = {r.contact_id: r for r in ds.delivery_rows(1)}
        assert rows[ok].status == "sent" and rows[ok].provider_message_id == "rcv-1"
        assert rows[gone].status == "failed-permanent"
        assert rows[gone].last_error == "HTTP 410 Gone"
        assert rows[fail].status == "failed-temporary"
        assert rows[fail].last_error == "HTTP 503 Service Unavailable"
        assert rows[hang].status == "failed-temporary"
        assert rows[hang].last_error == f"{base}/hang did not answer within 1s"
        # The hanging endpoint cost its read timeout, not its 5 s of silence.
        assert elapsed < 4.5
    assert all(r.signature_valid for r in webhook_receiver.requests)
    first = webhook_receiver.requests[0]
    document = json.loads(first.body)
    assert document == {
        "campaign_id": 1,
        "contact_id": ok,
        "delivery_id": rows[ok].id,
        "payload": {"campaign": 1, "name": "First0 Last0"},
        "text": "Hello First0 Last0, this is campaign 1.",
        "to": f"{base}/ok",
    }
    assert first.headers["X-Ledgerline-Delivery"] == str(rows[ok].id)
    assert first.headers["X-Ledgerline-Signature"].startswith("sha256=")


def test_a_tampered_or_replayed_webhook_fails_the_receivers_check(
    webhook_receiver: WebhookReceiver,
) -> None:
    from app.dispatch.channels.webhook import sign, verify_signature

    body = b'{"to":"x"}'
    now = int(time.time())
    assert verify_signature(WEBHOOK_SECRET, str(now), body, sign(WEBHOOK_SECRET, now, body))
    assert not verify_signature(
        WEBHOOK_SECRET, str(now), body + b" ", sign(WEBHOOK_SECRET, now, body)
    )
    old = now - 3600
    assert not verify_signature(WEBHOOK_SECRET, str(old), body, sign(WEBHOOK_SECRET, old, body))
    assert not verify_signature("other", str(now), body, sign(WEBHOOK_SECRET, now, body))


def test_a_temporary_webhook_failure_is_retried_and_gives_up_after_max_attempts(
    dispatch_app: Callable[..., Flask],
    webhook_receiver: WebhookReceiver,
    tls_files: tuple[Path, Path],
) -> None:
    app = webhook_app(dispatch_app, tls_files)
    base = f"https://127.0.0.1:{webhook_receiver.port}"
    with app.app_context():
        audience = ds.make_audience(1, webhook_base=base)
        [cid] = audience.contact_ids
        ds.approve_directly(1, audience, ["webhook"], addresses={(cid, "webhook"): f"{base}/fail"})
        ds.make_due(1)
        services.relay_all()
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-permanent" and row.attempts == 2
        assert (
            row.last_error == "gave up after 2 attempts; last error: HTTP 503 Service Unavailable"
        )
    assert [r.path for r in webhook_receiver.requests] == ["/fail", "/fail"]


def test_a_plain_http_webhook_url_is_refused(
    dispatch_app: Callable[..., Flask], tls_files: tuple[Path, Path]
) -> None:
    app = webhook_app(dispatch_app, tls_files)
    with app.app_context():
        audience = ds.make_audience(1, webhook_base="http://hooks.example")
        ds.approve_directly(1, audience, ["webhook"])
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-permanent"
        assert row.last_error == (
            "skipped: webhook URL 'http://hooks.example/ok' is not HTTPS; "
            "only HTTPS endpoints are allowed"
        )
