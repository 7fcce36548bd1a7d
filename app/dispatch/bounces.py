"""Delivery status notifications (RFC 3464) parsed with the standard ``email`` package.

A DSN is a ``multipart/report; report-type=delivery-status`` message whose
``message/delivery-status`` part holds one block of per-message fields followed by one
block per recipient (``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``).
The returned message (``message/rfc822``) or its headers (``text/rfc822-headers``) give
the original ``Message-ID``, which names the delivery.

The verdict comes only from ``Action`` and ``Status`` (RFC 3463 codes): ``failed`` with
5.x.x is permanent, ``failed`` with 4.x.x temporary, ``delayed`` is news only, and
``delivered`` / ``relayed`` / ``expanded`` mean delivered.  Nothing is guessed from the
human-readable text.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser

from app.errors import ValidationError

_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


class DsnError(ValidationError):
    """The posted document is not an RFC 3464 delivery status notification."""


class Verdict(enum.StrEnum):
    PERMANENT = "permanent"
    TEMPORARY = "temporary"
    DELAYED = "delayed"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class DsnRecipient:
    final_recipient: str
    action: str
    status: str
    diagnostic: str | None
    verdict: Verdict

    @property
    def is_bad_mailbox(self) -> bool:
        """5.1.x: the address itself is wrong (RFC 3463 "addressing status")."""
        return self.status.startswith("5.1.")


@dataclass(frozen=True)
class Dsn:
    original_message_id: str | None
    recipients: list[DsnRecipient]
    reporting_mta: str | None


def _address(field: str | None) -> str:
    """``rfc822; user@example.com`` → ``user@example.com`` (lower-cased)."""
    if not field:
        return ""
    _, _, value = str(field).partition(";")
    return (value or str(field)).strip().strip("<>").lower()


def verdict_of(action: str, status: str) -> Verdict:
    action = action.strip().lower()
    match = _STATUS.match(status.strip())
    if action == "failed":
        if match is None:
            raise DsnError(f"Status {status!r} is not an RFC 3463 code like 5.1.1")
        return Verdict.PERMANENT if match.group(1) == "5" else Verdict.TEMPORARY
    if action == "delayed":
        return Verdict.DELAYED
    if action in {"delivered", "relayed", "expanded"}:
        return Verdict.DELIVERED
    raise DsnError(f"Action {action!r} is not one of failed, delayed, delivered, relayed, expanded")


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        if kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True) or b""
            headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
            if headers.get("Message-ID"):
                return str(headers["Message-ID"]).strip()
    return None


def parse_dsn(raw: bytes) -> Dsn:
    """The recipients and original Message-ID of a DSN; DsnError when it is not one."""
    report = message_from_bytes(raw, policy=policy.default)
    assert isinstance(report, EmailMessage)
    if report.get_content_type() != "multipart/report":
        raise DsnError(
            f"expected a multipart/report DSN, got {report.get_content_type()}; "
            "post the bounce message exactly as the mail server produced it"
        )
    status_part = next(
        (p for p in report.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if status_part is None:
        raise DsnError("the report has no message/delivery-status part; it is not a DSN")
    blocks = status_part.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        raise DsnError("the delivery-status part has no per-recipient fields")
    per_message, per_recipient = blocks[0], blocks[1:]
    recipients = []
    for block in per_recipient:
        action, status = block.get("Action"), block.get("Status")
        if not action or not status:
            raise DsnError("a recipient block lacks Action or Status (RFC 3464 §2.3)")
        recipients.append(
            DsnRecipient(
                final_recipient=_address(block.get("Final-Recipient")),
                action=str(action).strip().lower(),
                status=str(status).strip(),
                diagnostic=str(block["Diagnostic-Code"]).strip()
                if block.get("Diagnostic-Code")
                else None,
                verdict=verdict_of(str(action), str(status)),
            )
        )
    mta = per_message.get("Reporting-MTA")
    return Dsn(_original_message_id(report), recipients, _address(mta) if mta else None)
