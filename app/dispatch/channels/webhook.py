"""Webhook / messenger: an HTTPS POST of JSON signed with HMAC-SHA256.

Headers sent with every request::

    X-Ledgerline-Timestamp: 1700000000
    X-Ledgerline-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    X-Ledgerline-Delivery: <delivery id>      (idempotency key for the receiver)

A receiver recomputes the HMAC over the raw body and refuses timestamps older than a
few minutes (:func:`verify_signature` does both), so a captured request cannot be
replayed later.  2xx means sent; 429 slows the rate; any other 4xx (and a redirect) is
a permanent failure; 5xx, a timeout or a connection error is temporary.  Connect and
read timeouts bound every request, so an endpoint that hangs never blocks a worker.

The address is the contact's ``messenger_handle``: an ``https://`` URL is posted to
directly; any other handle is posted to the channel's ``url`` with ``"to": handle``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from app.dispatch.channels.base import (
    Channel,
    ChannelSession,
    Handoff,
    Outcome,
    OutgoingMessage,
    SendResult,
    register_backend,
)

SIGNATURE_HEADER = "X-Ledgerline-Signature"
TIMESTAMP_HEADER = "X-Ledgerline-Timestamp"
DELIVERY_HEADER = "X-Ledgerline-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` within ``tolerance`` s."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


class _WebhookSession(ChannelSession):
    def __init__(self, channel: WebhookChannel) -> None:
        self.channel = channel
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def send(self, message: OutgoingMessage, handoff: Handoff) -> SendResult:
        ch = self.channel
        problem = ch.validate_address(message.address)
        if problem:
            return SendResult(Outcome.INVALID_ADDRESS, detail=problem)
        url = message.address if ch.is_url(message.address) else ch.url
        document = {
            "delivery_id": message.delivery_id,
            "campaign_id": message.campaign_id,
            "contact_id": message.contact_id,
            "to": message.address,
            "text": message.text,
            "payload": message.payload,
        }
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(ch.secret, timestamp, body),
            DELIVERY_HEADER: str(message.delivery_id),
            "User-Agent": "Ledgerline-Dispatch/1",
        }
        if not handoff():
            return SendResult(Outcome.ABORTED, detail="claim lost before the POST; not sent")
        try:
            response = self.http.post(
                url,
                data=body,
                headers=headers,
                timeout=(ch.connect_timeout, ch.read_timeout),
                allow_redirects=False,
                verify=ch.verify,
            )
        except requests.ConnectTimeout as exc:
            return SendResult(Outcome.TEMPORARY, detail=f"cannot connect to {url}: {exc}")
        except requests.Timeout:
            return SendResult(
                Outcome.TEMPORARY,
                handed_off=True,
                detail=f"{url} did not answer within {ch.read_timeout:g}s",
            )
        except requests.RequestException as exc:
            return SendResult(Outcome.TEMPORARY, handed_off=True, detail=f"POST {url}: {exc}")
        status = response.status_code
        reason = f"HTTP {status} {response.reason or ''}".strip()
        reference = response.headers.get("X-Request-Id") or f"http-{message.delivery_id}"
        if 200 <= status < 300:
            return SendResult(Outcome.SENT, provider_message_id=reference, handed_off=True)
        if status == 429:
            return SendResult(Outcome.THROTTLED, handed_off=True, detail=reason)
        if status >= 500:
            return SendResult(Outcome.TEMPORARY, handed_off=True, detail=reason)
        return SendResult(Outcome.PERMANENT, handed_off=True, detail=reason)


@register_backend
class WebhookChannel(Channel):
    """Options: secret (required), url (for plain handles), connect_timeout,
    read_timeout, ca_file (trust for a private CA), allow_http (tests only)."""

    backend = "webhook"

    def __init__(
        self, channel: str, options: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        super().__init__(channel, options, context)
        self.secret = str(self.option("secret", required=True))
        self.url = self.option("url")
        self.connect_timeout = float(self.option("connect_timeout", 3.05))
        self.read_timeout = float(self.option("read_timeout", 10))
        self.allow_http = bool(self.option("allow_http", False))
        self.verify: bool | str = self.option("ca_file") or True

    @property
    def provider(self) -> str:
        return f"{self.channel}:webhook"

    def is_url(self, address: str) -> bool:
        return address.startswith(("https://", "http://"))

    def validate_address(self, address: str) -> str | None:
        if not address.strip() or any(c in address for c in "\r\n\x00"):
            return "the messenger handle is empty or contains a line break"
        if not self.is_url(address):
            return (
                None
                if self.url
                else (f"handle {address!r} is not a URL and the channel has no 'url' to post it to")
            )
        parts = urlsplit(address)
        if parts.scheme != "https" and not self.allow_http:
            return f"webhook URL {address!r} is not HTTPS; only HTTPS endpoints are allowed"
        if not parts.hostname:
            return f"webhook URL {address!r} has no host"
        return None

    def open(self) -> ChannelSession:
        return _WebhookSession(self)
