"""Email over SMTP against a real aiosmtpd server: STARTTLS, auth, MIME, one-click
unsubscribe, bounces (at RCPT and as DSN), throttling, retries, bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from app.audience.models import Consent, Suppression
from app.database import utcnow
from app.dispatch import services
from app.dispatch.models import Delivery
from app.dispatch.runtime import runtime
from app.extensions import db
from tests import dispatch_support as ds
from tests.conftest import free_port
from tests.dispatch_servers import SmtpSink
from tests.integration.dispatch_fixtures import *  # noqa: F403
from tests.integration.dispatch_fixtures import SMTP_LOGIN, smtp_channel

PUBLIC = "https://ledgerline.example"


def email_app(dispatch_app: Callable[..., Flask], sink: SmtpSink, **overrides: object) -> Flask:
    channel = overrides.pop("channel", {})
    return dispatch_app(
        DISPATCH_CHANNELS={"email": smtp_channel(sink, **channel)},
        PUBLIC_URL=PUBLIC,
        DISPATCH_UNSUBSCRIBE_MAILTO="unsubscribe@ledgerline.example",
        **overrides,
    )


def test_email_is_sent_over_starttls_with_auth_as_text_and_html_with_one_click_headers(
    dispatch_app: Callable[..., Flask],
    smtp_sink: Callable[..., SmtpSink],
    tls_files: tuple[Path, Path],
) -> None:
    sink = smtp_sink(tls=tls_files, credentials=SMTP_LOGIN)
    app = email_app(
        dispatch_app,
        sink,
        channel={
            "starttls": True,
            "username": SMTP_LOGIN[0],
            "password": SMTP_LOGIN[1],
            "ca_file": str(tls_files[0]),
        },
    )
    with app.app_context():
        audience = ds.make_audience(3)
        ds.approve_directly(1, audience, ["email"])
        rows = ds.delivery_rows(1)
        assert [r.status for r in rows] == ["sent"] * 3
        assert ds.statuses(1) == {"sent": 3}
        assert len(sink.received) == 3
        by_address = {r.rcpt_tos[0]: r for r in sink.received}
        for row in rows:
            received = by_address[row.address]
            assert received.tls and received.login == SMTP_LOGIN[0]
            mail = received.message
            assert mail["Message-ID"] == row.provider_message_id
            assert re.fullmatch(
                rf"<ll\.{row.id}\.[0-9a-f]{{16}}@ledgerline\.example>", row.provider_message_id
            )
            assert mail["From"] == "Ledgerline <news@ledgerline.example>"
            assert mail["To"] == row.address
            assert mail.get_content_type() == "multipart/alternative"
            kinds = [part.get_content_type() for part in mail.iter_parts()]
            assert kinds == ["text/plain", "text/html"]
            assert "this is campaign 1" in mail.get_body(("plain",)).get_content()
            unsubscribe = mail["List-Unsubscribe"]
            assert re.fullmatch(
                rf"<{PUBLIC}/unsubscribe/[A-Za-z0-9_-]{{43}}>, "
                r"<mailto:unsubscribe@ledgerline\.example\?subject=unsubscribe%20[A-Za-z0-9_-]{43}>",
                unsubscribe,
            ), unsubscribe
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_one_click_post_unsubscribes_without_confirmation_and_later_mail_is_suppressed(
    dispatch_app: Callable[..., Flask], smtp_sink: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink()
    app = email_app(dispatch_app, sink)
    with app.app_context():
        audience = ds.make_audience(2)
        ds.approve_directly(1, audience, ["email"])
    mail = sink.received[0].message
    path = mail["List-Unsubscribe"].split(",")[0].strip("<> ").removeprefix(PUBLIC)
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and b"Confirm that you no longer want" in page.data
    # RFC 8058: the provider POSTs this body, with no cookie and no CSRF token.
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and b"You are unsubscribed" in answer.data
    unknown = client.post("/unsubscribe/not-a-token-at-all", data={"List-Unsubscribe": "One-Click"})
    assert unknown.status_code == 200 and unknown.data == answer.data
    with app.app_context():
        address = sink.received[0].rcpt_tos[0]
        contact_id = next(c for c, a in audience.emails.items() if a == address)
        consent = db.session.execute(
            select(Consent).where(Consent.contact_id == contact_id, Consent.channel == "email")
        ).scalar_one()
        assert consent.status == "withdrawn"
        assert consent.source == "one-click unsubscribe (campaign 1)"
        ds.approve_directly(2, audience, ["email"])
        second = {r.contact_id: r for r in ds.delivery_rows(2)}
        assert second[contact_id].status == "suppressed"
        assert second[contact_id].last_error == "consent withdrawn for email"
    assert len(sink.received) == 3


def test_a_recipient_refused_at_rcpt_bounces_and_the_fallback_sends_one_sms(
    dispatch_app: Callable[..., Flask], smtp_sink: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink(behaviour={"reject": {"c0@example.com"}})
    app = email_app(dispatch_app, sink)
    user_settings = {"email": "sms"}
    with app.app_context():
        from app.dispatch.models import DispatchSettings

        db.session.add(DispatchSettings(campaign_id=1, fallback=user_settings))
        db.session.commit()
        audience = ds.make_audience(2)
        ds.approve_directly(1, audience, ["email"])
        rows = {(r.contact_id, r.channel): r for r in ds.delivery_rows(1)}
        first, second = audience.contact_ids
        bounced = rows[(first, "email")]
        assert bounced.status == "bounced"
        assert bounced.last_error == (
            "SMTP RCPT refused: 550 5.1.1 <c0@example.com>: Recipient address rejected: "
            "User unknown"
        )
        fallback = rows[(first, "sms")]
        assert fallback.status == "sent" and fallback.fallback_of_id == bounced.id
        assert fallback.address == audience.phones[first]
        assert rows[(second, "email")].status == "sent"
        assert (second, "sms") not in rows
        # Running the fallback logic again adds nothing: the fallback row has its own key.
        from app.dispatch import sending

        assert sending.start_fallbacks([bounced.id]) == []
        assert ds.statuses(1) == {"bounced": 1, "sent": 2}
        assert services.progress(1)["finished"] is True
    assert [r.rcpt_tos for r in sink.received] == [["c1@example.com"]]


def test_smtp_421_defers_the_message_and_halves_the_channel_rate(
    dispatch_app: Callable[..., Flask], smtp_sink: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink(behaviour={"throttle_first": 1})
    app = email_app(dispatch_app, sink, DISPATCH_RATE_LIMITS={"email": 40})
    with app.app_context():
        audience = ds.make_audience(1)
        ds.approve_directly(1, audience, ["email"])
        [row] = ds.delivery_rows(1)
        assert row.status == "deferred" and row.attempts == 0
        assert row.last_error == (
            "throttled by the provider: SMTP DATA refused: 421 4.7.0 Too many messages, slow down"
        )
        bucket = runtime().limiter.bucket("email:smtp:127.0.0.1")
        assert bucket is not None and bucket.current_rate() == 20.0
        ds.make_due(1)
        services.relay_all()
        [row] = ds.delivery_rows(1)
        assert row.status == "sent"
    assert len(sink.received) == 1


def test_an_unreachable_server_is_retried_with_backoff_then_fails_clearly(
    dispatch_app: Callable[..., Flask],
) -> None:
    closed = free_port()
    app = dispatch_app(
        DISPATCH_CHANNELS={
            "email": {
                "backend": "smtp",
                "host": "127.0.0.1",
                "port": closed,
                "starttls": False,
                "sender": "news@ledgerline.example",
            }
        },
        MAX_ATTEMPTS=3,
        DISPATCH_RETRY_BASE_SECONDS=60,
    )
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(1), ["email"])
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-temporary" and row.attempts == 1
        assert row.last_error.startswith(f"cannot talk to SMTP 127.0.0.1:{closed}: ")
        wait = row.next_attempt_at - row.updated_at
        assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)  # 60 s step, jittered
        ds.make_due(1)
        services.relay_all()
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-temporary" and row.attempts == 2
        assert (
            timedelta(seconds=60) <= row.next_attempt_at - row.updated_at <= timedelta(seconds=120)
        )
        ds.make_due(1)
        services.relay_all()
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-permanent" and row.attempts == 3
        assert row.last_error.startswith(
            f"gave up after 3 attempts; last error: cannot talk to SMTP 127.0.0.1:{closed}"
        )


def test_an_invalid_address_is_skipped_with_a_status_not_an_exception(
    dispatch_app: Callable[..., Flask], smtp_sink: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink()
    app = email_app(dispatch_app, sink)
    with app.app_context():
        audience = ds.make_audience(2)
        first = audience.contact_ids[0]
        ds.approve_directly(1, audience, ["email"], addresses={(first, "email"): "not-an-email"})
        rows = {r.contact_id: r for r in ds.delivery_rows(1)}
        assert rows[first].status == "failed-permanent"
        assert rows[first].last_error.startswith("skipped: invalid email address 'not-an-email'")
        assert rows[audience.contact_ids[1]].status == "sent"
    assert len(sink.received) == 1


def test_a_subject_with_a_line_break_is_refused_and_nothing_is_sent(
    dispatch_app: Callable[..., Flask], smtp_sink: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink()
    app = email_app(
        dispatch_app, sink, DISPATCH_RENDERER="tests.dispatch_support:injection_render_many"
    )
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(1), ["email"])
        [row] = ds.delivery_rows(1)
        assert row.status == "failed-permanent"
        assert row.last_error == (
            "message refused before sending: the Subject header contains a line break or NUL; "
            "remove it from the subject"
        )
    assert sink.received == []


DSN = """\
From: MAILER-DAEMON@mx.example.net
To: bounces@ledgerline.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

This is the mail system at host mx.example.net.  Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Mon, 1 Jan 2024 12:00:00 +0000

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {code} {status} <{address}>: mailbox problem

--BOUNDARY
Content-Type: text/rfc822-headers

From: news@ledgerline.example
To: {address}
Subject: Your offer
Message-ID: {message_id}

--BOUNDARY--
"""


def test_a_dsn_posted_to_the_bounce_endpoint_is_parsed_and_applied(
    dispatch_app: Callable[..., Flask],
    smtp_sink: Callable[..., SmtpSink],
    make_user: Callable[..., int],
) -> None:
    sink = smtp_sink()
    app = email_app(dispatch_app, sink)
    user_id = make_user(roles=("marketer",))
    with app.app_context():
        from app.accounts import services as accounts

        secret = accounts.issue_token(accounts.get_user(user_id), "bounce pipe").secret
        audience = ds.make_audience(2)
        ds.approve_directly(1, audience, ["email"])
        hard, soft = ds.delivery_rows(1)
    client = app.test_client()

    def post(row: Delivery, status: str, code: int) -> dict:  # type: ignore[type-arg]
        body = DSN.format(
            address=row.address, status=status, code=code, message_id=row.provider_message_id
        ).replace("\n", "\r\n")
        response = client.post(
            "/api/dispatch/bounces",
            data=body.encode(),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 200, response.json
        return response.json  # type: ignore[no-any-return]

    assert post(hard, "5.1.1", 550) == {
        "message_id": hard.provider_message_id,
        "delivery_id": hard.id,
        "recipients": [f"{hard.address}: failed 5.1.1"],
        "applied": True,
    }
    assert post(soft, "4.2.2", 452)["applied"] is True
    with app.app_context():
        rows = {r.id: r for r in ds.delivery_rows(1)}
        assert rows[hard.id].status == "bounced"
        assert rows[hard.id].last_error == (
            f"DSN failed 5.1.1: smtp; 550 5.1.1 <{hard.address}>: mailbox problem"
        )
        suppression = db.session.execute(
            select(Suppression).where(Suppression.address == hard.address)
        ).scalar_one()
        assert suppression.channel == "email" and suppression.reason.startswith("hard bounce 5.1.1")
        # 4.x.x: not delivered, the MTA gave up for now: sent again (once) after a back-off.
        assert rows[soft.id].status in ("failed-temporary", "sent")
        ds.make_due(1)
        services.relay_all()
        assert db.session.get(Delivery, soft.id).status == "sent"
    assert [r.rcpt_tos[0] for r in sink.received].count(soft.address) == 2
    not_a_dsn = client.post(
        "/api/dispatch/bounces",
        data=b"Subject: hello\r\n\r\nI am out of the office.\r\n",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert not_a_dsn.status_code == 400
    assert not_a_dsn.json["error"]["message"].startswith("expected a multipart/report DSN")


def test_the_dashboard_json_chart_drilldown_and_outbox_pages_show_the_dispatch(
    dispatch_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    from tests.integration.app_fixtures import login

    app = dispatch_app()  # capture, the embedded default
    make_user(email="mia@example.com", roles=("marketer",))
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(3), ["email", "sms"])
    client = app.test_client()
    login(client, "mia@example.com", "correct horse battery")
    page = client.get("/dispatch/campaigns/1")
    assert page.status_code == 200 and b"finished" in page.data
    assert b'src="/static/js/dispatch.js"' in page.data
    progress = client.get("/api/dispatch/campaigns/1").json
    assert progress["finished"] is True and progress["total"] == 6
    assert progress["by_channel"] == {"email": {"sent": 3}, "sms": {"sent": 3}}
    chart = client.get("/dispatch/campaigns/1/chart.svg")
    assert chart.mimetype == "image/svg+xml" and b"sent (6)" in chart.data
    listing = client.get("/api/dispatch/campaigns/1/deliveries?channel=sms").json
    assert listing["total"] == 3 and {d["channel"] for d in listing["deliveries"]} == {"sms"}
    first = listing["deliveries"][0]["id"]
    detail = client.get(f"/api/dispatch/deliveries/{first}").json
    assert [e["status"] for e in detail["events"]] == ["sent"]
    assert client.get(f"/dispatch/deliveries/{first}").status_code == 200
    outbox = client.get("/dispatch/outbox")
    assert outbox.status_code == 200 and b"c0@example.com" in outbox.data
    bad = client.get("/api/dispatch/campaigns/1/deliveries?status=lost")
    assert bad.status_code == 400
    assert bad.json["error"]["message"].startswith("status 'lost' is unknown")
    assert utcnow()  # the pages above read only committed state
