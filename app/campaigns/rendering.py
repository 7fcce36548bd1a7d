"""Turning a campaign version into one recipient's message.

The template context is plain data (dicts of strings and booleans), built the same way
for the editor's preview, the test send and delivery, so what the approver previewed
is what the recipient gets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from app.campaigns.content import CHANNEL_FIELDS
from app.campaigns.html import html_to_text, sanitise_html
from app.campaigns.templating import TemplateRenderError, render
from app.errors import ValidationError

UNSUBSCRIBE_PATH = "/unsubscribe/"


@dataclass(frozen=True)
class RenderedMessage:
    """One recipient's message on one channel.  Fields of other channels are ``None``.

    * email: ``subject``, ``html`` (sanitised), ``text`` (the text template, or the
      HTML's automatic text alternative);
    * sms: ``sms_text``;
    * webhook: ``text`` (may be empty) and ``payload_json`` (compact JSON object).

    ``unsubscribe_token`` is the recipient's opaque one-click token, the one inside the
    rendered ``unsubscribe_url``.
    """

    channel: str
    subject: str | None
    html: str | None
    text: str | None
    sms_text: str | None
    payload_json: str | None
    unsubscribe_token: str


def unsubscribe_token(campaign_id: int, contact_id: int, channel: str) -> str:
    """The opaque one-click unsubscribe token of a recipient of a campaign on a channel.

    ``base64url(HMAC-SHA256(SECRET_KEY, "ledgerline-unsubscribe/1|campaign|contact|channel"))``
    without padding: stable (a retried message carries the same token), unguessable, and
    revealing nothing; dispatch stores its hash to find the recipient again.
    """
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    message = f"ledgerline-unsubscribe/1|{campaign_id}|{contact_id}|{channel}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def unsubscribe_url(token: str) -> str:
    """The public one-click unsubscribe URL for ``token`` (``PUBLIC_URL`` + /unsubscribe/)."""
    base = str(current_app.config.get("PUBLIC_URL") or "http://localhost:5000").rstrip("/")
    return f"{base}{UNSUBSCRIBE_PATH}{token}"


def sender_context() -> dict[str, str]:
    config = current_app.config
    return {
        "name": str(config.get("SENDER_NAME") or "Ledgerline"),
        "email": str(config.get("SENDER_EMAIL") or "campaigns@ledgerline.example"),
        "company": str(config.get("SENDER_COMPANY") or config.get("SENDER_NAME") or "Ledgerline"),
    }


def organisation_context(organisation: Any) -> dict[str, Any]:
    return {
        "legal_name": organisation.legal_name,
        "external_id": organisation.external_id,
        "tax_id": organisation.tax_id or "",
        "industry_code": organisation.industry_code,
        "region": organisation.region,
        "employee_band": organisation.employee_band,
        "revenue_band": organisation.revenue_band,
        "is_key_account": bool(organisation.is_key_account),
    }


def contact_context(contact: Any) -> dict[str, Any]:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": f"{contact.first_name} {contact.last_name}".strip(),
        "job_title": contact.job_title or "",
        "role": contact.role,
        "email": contact.email or "",
        "phone": contact.phone or "",
        "messenger_handle": contact.messenger_handle or "",
        "language": contact.language,
        "timezone": contact.timezone,
    }


def campaign_context(campaign_id: int, name: str, objective: str, number: int) -> dict[str, Any]:
    return {"id": campaign_id, "name": name, "objective": objective, "version": number}


def build_context(
    *,
    campaign: Mapping[str, Any],
    contact: Mapping[str, Any],
    organisation: Mapping[str, Any],
    token: str,
) -> dict[str, Any]:
    return {
        "campaign": dict(campaign),
        "contact": dict(contact),
        "organisation": dict(organisation),
        "sender": sender_context(),
        "unsubscribe_url": unsubscribe_url(token),
    }


def render_channel(
    templates: Mapping[str, Mapping[str, str]],
    channel: str,
    context: Mapping[str, Any],
    token: str,
) -> RenderedMessage:
    """Render ``channel``'s templates with ``context``.  Raises TemplateRenderError."""
    if channel not in CHANNEL_FIELDS:
        raise ValidationError(
            f"unknown channel {channel!r}; use one of {', '.join(CHANNEL_FIELDS)}"
        )
    fields = templates.get(channel)
    if fields is None:
        raise ValidationError(
            f"this campaign version has no {channel} template; "
            f"it uses {', '.join(sorted(templates)) or 'no channel'}"
        )

    def field(name: str) -> str:
        source = fields.get(name, "")
        kind = CHANNEL_FIELDS[channel][name]
        return render(source, context, kind=kind, field=f"{channel}.{name}") if source else ""

    if channel == "email":
        html = sanitise_html(field("html"))
        text = field("text") or html_to_text(html)
        subject = field("subject").strip()
        return RenderedMessage(channel, subject, html, text, None, None, token)
    if channel == "sms":
        return RenderedMessage(channel, None, None, None, field("text"), None, token)
    payload = field("payload")
    try:
        parsed = json.loads(payload)
    except ValueError as exc:
        raise TemplateRenderError(
            f"webhook.payload: does not render to JSON for this recipient ({exc}); "
            "insert values with |tojson",
            details={"field": "webhook.payload", "line": None, "reason": str(exc)},
        ) from None
    compact = json.dumps(parsed, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return RenderedMessage(channel, None, None, field("text"), None, compact, token)


__all__ = [
    "UNSUBSCRIBE_PATH",
    "RenderedMessage",
    "build_context",
    "campaign_context",
    "contact_context",
    "organisation_context",
    "render_channel",
    "sender_context",
    "unsubscribe_token",
    "unsubscribe_url",
]
