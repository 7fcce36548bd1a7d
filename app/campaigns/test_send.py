""" "Send a test to myself": every channel of a version, as an email to the editor.

The email goes through the dispatch channel registry's ``email`` backend
(:func:`app.dispatch.runtime.runtime`), so it leaves exactly as campaign mail does (SMTP
in production, capture on the embedded default).  The SMS text and the webhook payload
are emailed too, so the maker reads every channel in one place.  Each test is recorded in
``campaign_test_sends``: with the capture backend that row is the message itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.accounts.models import User
from app.campaigns.models import CampaignTestSend, CampaignVersion
from app.campaigns.rendering import RenderedMessage
from app.database import utcnow
from app.extensions import db


def _as_email(version: CampaignVersion, message: RenderedMessage) -> tuple[str, str, str | None]:
    """Subject, text and HTML of the test email showing ``message``."""
    if message.channel == "email":
        return f"[Test] {message.subject}", message.text or "", message.html
    if message.channel == "sms":
        from app.campaigns.sms import count_sms

        count = count_sms(message.sms_text or "")
        text = (
            f"{message.sms_text}\n\n-- \n{count.characters} characters, {count.encoding}, "
            f"{count.parts} part(s)\n"
        )
        return f"[Test SMS] {version.name}", text, None
    payload = json.dumps(json.loads(message.payload_json or "{}"), indent=2, ensure_ascii=False)
    text = f"{message.text or ''}\n\nPayload:\n{payload}\n"
    return f"[Test webhook] {version.name}", text, None


def deliver_test(
    version: CampaignVersion, user: User, messages: Sequence[RenderedMessage]
) -> list[str]:
    """Email each rendered message to ``user``; one line per channel saying how it went."""
    from app.dispatch.channels.base import OutgoingMessage
    from app.dispatch.runtime import runtime

    channel = runtime().channel("email")
    lines: list[str] = []
    for message in messages:
        subject, text, html = _as_email(version, message)
        outgoing = OutgoingMessage(
            delivery_id=0,
            campaign_id=version.campaign_id,
            contact_id=0,
            channel="email",
            address=user.email,
            subject=subject,
            text=text,
            html=html,
        )
        result = channel.send(outgoing)
        db.session.add(
            CampaignTestSend(
                campaign_version_id=version.id,
                user_id=user.id,
                channel=message.channel,
                backend=channel.backend,
                address=user.email,
                subject=subject[:998],
                text=text,
                html=html,
                outcome=str(result.outcome),
                detail=result.detail,
                created_at=utcnow(),
            )
        )
        verb = "captured for" if channel.backend == "capture" else "sent to"
        if str(result.outcome) == "sent":
            lines.append(f"{message.channel}: {verb} {user.email} ({channel.backend})")
        else:
            lines.append(
                f"{message.channel}: not sent to {user.email}: {result.outcome}"
                + (f" ({result.detail})" if result.detail else "")
            )
    db.session.commit()
    return lines


__all__ = ["deliver_test"]
