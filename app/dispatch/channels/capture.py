"""Capture: the embedded default.  Messages are stored in the database, never sent.

The stored row is written in the same transaction that records the delivery as sent,
so capture is exactly-once with no hand-off window at all.  The UI outbox
(``/dispatch/outbox``) shows what was captured.
"""

from __future__ import annotations

from app.dispatch.channels.base import (
    Channel,
    ChannelSession,
    Handoff,
    Outcome,
    OutgoingMessage,
    SendResult,
    register_backend,
)


class _CaptureSession(ChannelSession):
    def __init__(self, channel: CaptureChannel) -> None:
        self.channel = channel

    def send(self, message: OutgoingMessage, handoff: Handoff) -> SendResult:
        problem = self.channel.validate_address(message.address)
        if problem:
            return SendResult(Outcome.INVALID_ADDRESS, detail=problem)
        headers: dict[str, str] = {}
        if message.unsubscribe_url:
            targets = [f"<{message.unsubscribe_url}>"]
            if message.unsubscribe_mailto:
                targets.append(f"<{message.unsubscribe_mailto}>")
            headers["List-Unsubscribe"] = ", ".join(targets)
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        provider_id = f"capture-{message.delivery_id}"
        return SendResult(
            Outcome.SENT,
            provider_message_id=provider_id,
            captured={
                "delivery_id": message.delivery_id,
                "campaign_id": message.campaign_id,
                "channel": message.channel,
                "address": message.address,
                "subject": message.subject,
                "text": message.sms_text if message.channel == "sms" else message.text,
                "html": message.html if message.channel == "email" else None,
                "payload": message.payload if message.channel == "webhook" else None,
                "headers": headers,
            },
        )


@register_backend
class CaptureChannel(Channel):
    backend = "capture"
    transactional = True

    def open(self) -> ChannelSession:
        return _CaptureSession(self)
