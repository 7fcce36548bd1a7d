"""Helpers for the dispatch tests and benchmark: audiences, approved dispatches, content.

``render_many`` is a DISPATCH_RENDERER for runs that have no campaign rows: it renders a
fixed template per channel from the real contact rows and uses the campaigns feature's
own unsubscribe token, with the convention campaign_version_id == campaign_id.
``approve_directly`` builds the approved dispatch the gate would hand over and enqueues
it through :func:`app.dispatch.services.enqueue_approved` (the same code path
``start_dispatch`` takes after the gate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from app.audience.models import Consent, Contact, Organisation
from app.campaigns.rendering import RenderedMessage, unsubscribe_token
from app.database import utcnow
from app.dispatch import services
from app.dispatch.models import Dispatch
from app.extensions import db


def render_many(
    campaign_version_id: int, contact_ids: Iterable[int], channel: str
) -> dict[int, RenderedMessage]:
    rows = db.session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name).where(
            Contact.id.in_(list(contact_ids))
        )
    ).all()
    result: dict[int, RenderedMessage] = {}
    for contact_id, first, last in rows:
        token = unsubscribe_token(campaign_version_id, contact_id, channel)
        name = f"{first} {last}"
        result[contact_id] = RenderedMessage(
            channel=channel,
            subject=f"Your offer, {name}" if channel == "email" else None,
            html=f"<p>Hello {name}, this is campaign {campaign_version_id}.</p>"
            if channel == "email"
            else None,
            text=f"Hello {name}, this is campaign {campaign_version_id}."
            if channel in ("email", "webhook")
            else None,
            sms_text=f"Hello {first}, campaign {campaign_version_id}" if channel == "sms" else None,
            payload_json=json.dumps({"campaign": campaign_version_id, "name": name})
            if channel == "webhook"
            else None,
            unsubscribe_token=token,
        )
    return result


def long_sms_render_many(
    campaign_version_id: int, contact_ids: Iterable[int], channel: str
) -> dict[int, RenderedMessage]:
    """SMS texts that need splitting: GSM-7 for even contact ids, UCS-2 for odd ones."""
    result = render_many(campaign_version_id, contact_ids, channel)
    for contact_id, message in list(result.items()):
        text = ("Ledgerline €uro offer " * 12) if contact_id % 2 == 0 else ("Привет мир! " * 10)
        result[contact_id] = RenderedMessage(**{**message.__dict__, "sms_text": text.strip()})
    return result


@dataclass
class Audience:
    contact_ids: list[int]
    emails: dict[int, str]
    phones: dict[int, str]
    hooks: dict[int, str]


def make_audience(
    count: int,
    *,
    domain: str = "example.com",
    timezone: str = "UTC",
    consent: Sequence[str] = ("email", "sms", "webhook"),
    webhook_base: str | None = None,
    prefix: str = "c",
) -> Audience:
    """``count`` contacts of one organisation with email, phone and consent; commits."""
    now = utcnow()
    org = Organisation(
        external_id=f"ORG-{prefix}-{now.timestamp()}",
        legal_name=f"Customer {prefix}",
        industry_code="61.10",
        region="NL",
        employee_band="10-49",
        revenue_band="1M-10M",
    )
    db.session.add(org)
    db.session.flush()
    values = [
        {
            "organisation_id": org.id,
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            "role": "decision_maker",
            "email": f"{prefix}{n}@{domain}",
            "phone": f"+3161{n:07d}",
            "messenger_handle": f"{webhook_base}/ok" if webhook_base else None,
            "language": "en",
            "timezone": timezone,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    ids = list(db.session.execute(insert(Contact).returning(Contact.id), values).scalars())
    if consent:
        db.session.execute(
            insert(Consent),
            [
                {
                    "contact_id": i,
                    "channel": ch,
                    "status": "granted",
                    "source": "test",
                    "recorded_at": now,
                }
                for i in ids
                for ch in consent
            ],
        )
    db.session.commit()
    rows = db.session.execute(
        select(Contact.id, Contact.email, Contact.phone, Contact.messenger_handle).where(
            Contact.id.in_(ids)
        )
    ).all()
    return Audience(
        sorted(ids),
        {r.id: r.email for r in rows},
        {r.id: r.phone for r in rows},
        {r.id: r.messenger_handle for r in rows},
    )


def approve_directly(
    campaign_id: int,
    audience: Audience,
    channels: Sequence[str] = ("email",),
    *,
    addresses: dict[tuple[int, str], str] | None = None,
    kick: bool = True,
) -> Dispatch:
    """Enqueue the dispatch the gate would approve for ``audience`` on ``channels``."""
    book = {"email": audience.emails, "sms": audience.phones, "webhook": audience.hooks}
    members = [
        services.Member(cid, ch, (addresses or {}).get((cid, ch)) or book[ch][cid] or "")
        for cid in audience.contact_ids
        for ch in channels
    ]
    approved = services.ApprovedDispatch(campaign_id, campaign_id, None, members)
    dispatch = services.enqueue_approved(approved, None)
    db.session.commit()
    if kick:
        services.kick()
    return dispatch


def statuses(campaign_id: int) -> dict[str, int]:
    return dict(services.progress(campaign_id)["by_status"])


def settings(**overrides: Any) -> dict[str, Any]:
    """App settings for dispatch tests: the test renderer, no quiet hours, fast retries."""
    return {
        "DISPATCH_RENDERER": "tests.dispatch_support:render_many",
        "QUIET_HOURS": "off",
        "DISPATCH_RETRY_BASE_SECONDS": 0.01,
        **overrides,
    }


def injection_render_many(
    campaign_version_id: int, contact_ids: Iterable[int], channel: str
) -> dict[int, RenderedMessage]:
    """A subject carrying a header injection attempt."""
    result = render_many(campaign_version_id, contact_ids, channel)
    return {
        cid: RenderedMessage(**{**m.__dict__, "subject": "Offer\r\nBcc: victim@example.org"})
        for cid, m in result.items()
    }


def make_due(campaign_id: int) -> None:
    """Time travel for retries: every waiting row of the campaign is due now."""
    from sqlalchemy import update

    from app.dispatch.models import Delivery, OutboxMessage

    now = utcnow()
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_(["deferred", "failed-temporary", "queued"]),
        )
        .values(next_attempt_at=now)
    )
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.relayed_at.is_(None)).values(available_at=now)
    )
    db.session.commit()


def delivery_rows(campaign_id: int) -> list[Any]:
    from app.dispatch.models import Delivery

    return list(
        db.session.execute(
            select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).scalars()
    )
