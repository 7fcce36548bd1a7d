"""Message building and parsing without servers: MIME and headers, DSNs, receipts,
webhook signatures."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import SMTP
from types import SimpleNamespace

import pytest

from app.dispatch.bounces import DsnError, Verdict, parse_dsn, verdict_of
from app.dispatch.channels.base import OutgoingMessage
from app.dispatch.channels.email import (
    HeaderInjectionError,
    build_email,
    compose_email,
    message_id,
)
from app.dispatch.channels.sms import parse_receipt
from app.dispatch.channels.webhook import sign, verify_signature

TOKEN = "sEKK5aTP-ryA9ysjKRgOROF160dAcTMe5PbFw19JjZ0"


def message(**fields: object) -> OutgoingMessage:
    base = dict(
        delivery_id=7,
        campaign_id=1,
        contact_id=3,
        channel="email",
        address="ada@example.com",
        subject="Your offer",
        text="Hello Ada",
        html="<p>Hello Ada</p>",
        unsubscribe_url=f"https://ledgerline.example/unsubscribe/{TOKEN}",
        unsubscribe_mailto=f"mailto:unsubscribe@ledgerline.example?subject=unsubscribe%20{TOKEN}",
    )
    return OutgoingMessage(**{**base, **fields})  # type: ignore[arg-type]


def test_an_email_is_multipart_alternative_with_one_click_headers_on_one_line() -> None:
    mail = build_email(message(), sender="news@ledgerline.example", secret="s", domain="d.example")
    raw = mail.as_bytes().decode()
    assert (
        f"List-Unsubscribe: <https://ledgerline.example/unsubscribe/{TOKEN}>, "
        f"<mailto:unsubscribe@ledgerline.example?subject=unsubscribe%20{TOKEN}>\r\n"
    ) in raw
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["Message-ID"] == message_id(7, "s", "d.example")


def test_the_message_id_is_stable_per_delivery_and_differs_between_deliveries() -> None:
    assert message_id(7, "s", "d.example") == message_id(7, "s", "d.example")
    assert message_id(7, "s", "d.example") != message_id(8, "s", "d.example")
    assert message_id(7, "s", "d.example") != message_id(7, "other secret", "d.example")


@pytest.mark.parametrize(
    ("field", "value", "header"),
    [
        ("subject", "Hi\r\nBcc: victim@example.org", "Subject"),
        ("subject", "Hi\nX-Evil: 1", "Subject"),
        ("address", "ada@example.com\r\nBcc: victim@example.org", "To"),
        ("unsubscribe_url", "https://x.example/u\r\nBcc: v@example.org", "List-Unsubscribe"),
    ],
)
def test_a_line_break_in_any_header_value_is_refused(field: str, value: str, header: str) -> None:
    with pytest.raises(HeaderInjectionError, match=f"the {header} header contains a line break"):
        build_email(message(**{field: value}), sender="n@l.example", secret="s", domain="d")
    with pytest.raises(HeaderInjectionError, match=f"the {header} header contains a line break"):
        compose_email(message(**{field: value}), sender="n@l.example", secret="s", domain="d")


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"subject": "Offre spéciale: 20 € de remise", "text": "Grüße\nZeile 2", "html": None},
        {"subject": "x" * 1200, "address": "Ada.Lovelace+news@sub.example.com"},
        {"address": "ada@bücher.example", "unsubscribe_mailto": None},
    ],
)
def test_the_fast_composer_writes_the_same_message_as_email_message(
    fields: dict[str, object],
) -> None:
    source = message(**fields)
    raw, msgid = compose_email(source, sender="Ledgerline <n@l.example>", secret="s", domain="d")
    reference = build_email(source, sender="Ledgerline <n@l.example>", secret="s", domain="d")
    parsed = message_from_bytes(raw, policy=SMTP)
    assert msgid == str(parsed["Message-ID"]) == message_id(7, "s", "d")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    for name in ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert str(parsed[name]) == str(reference[name]), name
    assert parsed.get_content_type() == reference.get_content_type()
    assert [p.get_content().strip() for p in parsed.iter_parts()] == [
        p.get_content().strip() for p in reference.iter_parts()
    ]
    if not reference.is_multipart():
        assert parsed.get_content().strip() == reference.get_content().strip()


DSN = (
    "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
    "--B\r\nContent-Type: text/plain\r\n\r\nThe mailbox is full, over quota, unknown user.\r\n"
    "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.example.net\r\n\r\n"
    "Final-Recipient: rfc822; Ada@Example.com\r\nAction: {action}\r\nStatus: {status}\r\n\r\n"
    "--B\r\nContent-Type: message/rfc822\r\n\r\n"
    "Message-ID: <ll.7.abc@d.example>\r\nSubject: Your offer\r\n\r\nHello\r\n"
    "--B--\r\n"
)


def test_a_dsn_is_read_from_its_delivery_status_part_not_from_its_text() -> None:
    dsn = parse_dsn(DSN.format(action="failed", status="5.1.1").encode())
    assert dsn.original_message_id == "<ll.7.abc@d.example>"
    assert dsn.reporting_mta == "mx.example.net"
    [recipient] = dsn.recipients
    assert recipient.final_recipient == "ada@example.com"
    assert recipient.verdict is Verdict.PERMANENT and recipient.is_bad_mailbox
    # The text says "over quota" and "unknown user"; only Action/Status decide.
    assert (
        parse_dsn(DSN.format(action="failed", status="4.2.2").encode()).recipients[0].verdict
        is Verdict.TEMPORARY
    )
    assert (
        parse_dsn(DSN.format(action="delayed", status="4.4.7").encode()).recipients[0].verdict
        is Verdict.DELAYED
    )
    assert (
        parse_dsn(DSN.format(action="delivered", status="2.0.0").encode()).recipients[0].verdict
        is Verdict.DELIVERED
    )


def test_what_is_not_a_dsn_is_refused_with_the_reason() -> None:
    with pytest.raises(DsnError, match="expected a multipart/report DSN, got text/plain"):
        parse_dsn(b"Subject: out of office\r\n\r\nI am away.\r\n")
    with pytest.raises(DsnError, match="Status 'soon' is not an RFC 3463 code"):
        verdict_of("failed", "soon")
    with pytest.raises(DsnError, match="Action 'bounced' is not one of"):
        verdict_of("bounced", "5.0.0")


def test_a_delivery_receipt_is_read_from_its_text_or_its_tlvs() -> None:
    text = SimpleNamespace(
        esm_class=0x04,
        short_message=b"id:smsc0001 sub:001 dlvrd:001 submit date:2401011200 done "
        b"date:2401011201 stat:UNDELIV err:001 text:",
        receipted_message_id=None,
        message_state=None,
    )
    receipt = parse_receipt(text)
    assert receipt is not None
    assert (receipt.message_id, receipt.state, receipt.error) == ("smsc0001", "UNDELIV", "001")
    tlv = SimpleNamespace(
        esm_class=0x04, short_message=b"", receipted_message_id=b"abc", message_state=2
    )
    receipt = parse_receipt(tlv)
    assert receipt is not None and (receipt.message_id, receipt.state) == ("abc", "DELIVRD")
    mobile_originated = SimpleNamespace(esm_class=0, short_message=b"STOP")
    assert parse_receipt(mobile_originated) is None


def test_a_webhook_signature_covers_the_timestamp_and_the_exact_body() -> None:
    body = b'{"a":1}'
    signature = sign("secret", 1700000000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature("secret", "1700000000", body, signature, now=1700000100)
    assert not verify_signature("secret", "1700000001", body, signature, now=1700000100)
    assert not verify_signature("secret", "1700000000", body, signature, now=1700001000)
    assert not verify_signature("secret", "later", body, signature)
