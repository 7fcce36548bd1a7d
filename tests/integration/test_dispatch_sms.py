"""SMS over SMPP 3.4 against a real SMSC (``smpp34``'s server): submits, message ids,
long GSM-7 and UCS-2 messages, delivery receipts, throttling, rejects, bind failures."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from app.dispatch import services
from app.dispatch.models import SmsPart
from app.dispatch.runtime import runtime
from app.dispatch.sms_pdu import decode_part
from app.extensions import db
from tests import dispatch_support as ds
from tests.conftest import free_port
from tests.dispatch_servers import TestSmsc
from tests.integration.dispatch_fixtures import *  # noqa: F403
from tests.integration.dispatch_fixtures import smpp_channel


def sms_app(dispatch_app: Callable[..., Flask], server: TestSmsc, **overrides: object) -> Flask:
    return dispatch_app(DISPATCH_CHANNELS={"sms": smpp_channel(server)}, **overrides)


def settle_receipts(app: Flask, expected: int) -> None:
    """Listen for the receipts the SMSC pushes until ``expected`` parts have one."""
    from app.dispatch import sending

    for _ in range(20):
        sending.poll_sms_receipts(0.25)
        count = len(db.session.execute(select(SmsPart).where(SmsPart.receipt.is_not(None))).all())
        if count >= expected:
            return
    raise AssertionError(f"only {count} of {expected} receipts arrived")


def test_an_sms_is_submitted_its_message_id_stored_and_its_receipt_marks_it_delivered(
    dispatch_app: Callable[..., Flask], smsc: Callable[..., TestSmsc]
) -> None:
    server = smsc()
    app = sms_app(dispatch_app, server)
    with app.app_context():
        audience = ds.make_audience(3)
        ds.approve_directly(1, audience, ["sms"])
        rows = ds.delivery_rows(1)
        assert {r.status for r in rows} <= {"sent", "delivered"}
        submitted = {s.destination: s for s in server.submitted}
        for row in rows:
            assert row.provider_message_id == submitted[row.address].message_id
        settle_receipts(app, 3)
        rows = ds.delivery_rows(1)
        assert [r.status for r in rows] == ["delivered"] * 3
        assert all(r.last_error is None for r in rows)
        first = submitted[rows[0].address]
        assert first.source == "Ledgerline" and first.data_coding == 0 and first.esm_class == 0
        assert decode_part(first.short_message, 0, 0)[0] == "Hello First0, campaign 1"
        assert services.progress(1)["finished"] is True
    assert server.binds == 1  # one bound transceiver, reused for every message


def test_long_messages_are_split_with_a_udh_in_gsm7_and_ucs2(
    dispatch_app: Callable[..., Flask], smsc: Callable[..., TestSmsc]
) -> None:
    server = smsc()
    app = sms_app(
        dispatch_app, server, DISPATCH_RENDERER="tests.dispatch_support:long_sms_render_many"
    )
    with app.app_context():
        audience = ds.make_audience(2)
        ds.approve_directly(1, audience, ["sms"])
        rendered = ds.long_sms_render_many(1, audience.contact_ids, "sms")
        for row in ds.delivery_rows(1):
            parts = [s for s in server.submitted if s.destination == row.address]
            texts, udhs = zip(
                *(decode_part(p.short_message, p.data_coding, p.esm_class) for p in parts),
                strict=True,
            )
            assert "".join(texts) == rendered[row.contact_id].sms_text
            total = len(parts)
            assert total > 1 and {p.esm_class for p in parts} == {0x40}
            assert [u[:5] for u in udhs] == [bytes((5, 0, 3, row.id & 0xFF, total))] * total
            assert [u[5] for u in udhs] == list(range(1, total + 1))
            expected_coding = 0 if row.contact_id % 2 == 0 else 8
            assert {p.data_coding for p in parts} == {expected_coding}
            stored = db.session.execute(
                select(SmsPart.message_id, SmsPart.part, SmsPart.parts)
                .where(SmsPart.delivery_id == row.id)
                .order_by(SmsPart.part)
            ).all()
            assert [tuple(s) for s in stored] == [
                (p.message_id, n, total) for n, p in enumerate(parts, 1)
            ]
        settle_receipts(app, len(server.submitted))
        assert ds.statuses(1) == {"delivered": 2}


def test_esme_rthrottled_defers_and_slows_down_then_the_message_goes(
    dispatch_app: Callable[..., Flask], smsc: Callable[..., TestSmsc]
) -> None:
    server = smsc(throttle_first=1, receipts=False)
    app = sms_app(dispatch_app, server, DISPATCH_RATE_LIMITS={"sms": 10})
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(1), ["sms"])
        [row] = ds.delivery_rows(1)
        assert row.status == "deferred"
        assert row.last_error == (
            "throttled by the provider: submit_sm refused, 0x00000058 Throttling error "
            "(ESME has exceeded allowed message limits)"
        )
        assert runtime().limiter.bucket("sms:smpp:127.0.0.1").current_rate() == 5.0
        ds.make_due(1)
        services.relay_all()
        assert [r.status for r in ds.delivery_rows(1)] == ["sent"]


def test_a_rejected_submit_fails_permanently_with_the_reason_and_an_undelivered_receipt_too(
    dispatch_app: Callable[..., Flask], smsc: Callable[..., TestSmsc]
) -> None:
    audience_phones = ["+31610000000", "+31610000001"]
    server = smsc(invalid={audience_phones[0]}, undeliverable={audience_phones[1]})
    app = sms_app(dispatch_app, server)
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(2), ["sms"])
        rejected, undelivered = ds.delivery_rows(1)
        assert rejected.status == "failed-permanent"
        assert rejected.last_error == "submit_sm refused, 0x0000000B Invalid Destination Address"
        settle_receipts(app, 1)
        undelivered = ds.delivery_rows(1)[1]
        assert undelivered.status == "failed-permanent"
        assert undelivered.last_error == "SMSC receipt UNDELIV (err 001)"


def test_a_failed_bind_is_retried_then_fails_with_a_clear_reason(
    dispatch_app: Callable[..., Flask],
) -> None:
    closed = free_port()
    app = dispatch_app(
        DISPATCH_CHANNELS={
            "sms": {
                "backend": "smpp",
                "host": "127.0.0.1",
                "port": closed,
                "system_id": "ledgerline",
                "timeout": 2,
            }
        },
        MAX_ATTEMPTS=2,
        DISPATCH_RETRY_BASE_SECONDS=60,
    )
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(1), ["sms"])
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-temporary" and row.attempts == 1
        assert row.last_error.startswith(f"SMPP bind to 127.0.0.1:{closed} failed")
        ds.make_due(1)
        services.relay_all()
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-permanent"
        assert row.last_error.startswith(
            f"gave up after 2 attempts; last error: SMPP bind to 127.0.0.1:{closed} failed"
        )


def test_an_sms_to_a_number_that_is_not_e164_is_skipped(
    dispatch_app: Callable[..., Flask], smsc: Callable[..., TestSmsc]
) -> None:
    server = smsc()
    app = sms_app(dispatch_app, server)
    with app.app_context():
        audience = ds.make_audience(1)
        ds.approve_directly(
            1, audience, ["sms"], addresses={(audience.contact_ids[0], "sms"): "0612345678"}
        )
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-permanent"
        assert row.last_error == (
            "skipped: invalid phone number '0612345678': expected E.164, e.g. +31612345678"
        )
    assert server.submitted == []
