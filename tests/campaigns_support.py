"""Shared helpers of the campaign and approval tests: people, an audience, a segment and
a campaign.  Apps come from :func:`tests.audit_support.deployed_app`: a real embedded
chain with the contracts deployed, whose ApprovalLog is the approvers' EIP-712 domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Flask

PASSWORD = "correct horse battery"

EMAIL_TEMPLATES = {
    "email": {
        "subject": "Spring offer for {{ organisation.legal_name }}",
        "html": (
            "<p>Dear {{ contact.first_name }},</p>\n"
            "<p>{{ campaign.objective }}</p>\n"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        ),
        "text": "",
    }
}
SMS_TEMPLATES = {
    "sms": {"text": "Hi {{ contact.first_name }}, fibre is here. Stop: {{ unsubscribe_url }}"}
}


@dataclass(frozen=True)
class People:
    maker: int
    anna: int  # approver
    boris: int  # approver
    clara: int  # compliance
    dora: int  # compliance
    admin: int
    manager: int  # marketer, account manager of the key account


def make_people(app: Flask) -> People:
    from app.accounts import services

    def user(email: str, name: str, *roles: str) -> int:
        return int(services.create_user(email, name, PASSWORD, roles).id)

    with app.app_context():
        return People(
            maker=user("mia@example.com", "Mia Maker", "marketer"),
            anna=user("anna@example.com", "Anna Approver", "approver"),
            boris=user("boris@example.com", "Boris Approver", "approver"),
            clara=user("clara@example.com", "Clara Compliance", "compliance"),
            dora=user("dora@example.com", "Dora Compliance", "compliance"),
            admin=user("root@example.com", "Root Admin", "admin"),
            manager=user("max@example.com", "Max Manager", "marketer"),
        )


def make_audience(
    app: Flask, *, key_account_manager: int | None = None, key_account: bool = True
) -> list[int]:
    """Three organisations in region North (the second a key account, unless not
    ``key_account``) with a decision maker each, reachable by email and SMS; returns the
    contact ids."""
    from app.audience.models import Consent, Contact, Organisation
    from app.extensions import db

    ids: list[int] = []
    with app.app_context():
        for n in range(3):
            organisation = Organisation(
                external_id=f"C-{n}",
                legal_name=f"Customer {n} GmbH",
                industry_code="61.10",
                region="North",
                employee_band="50-249",
                revenue_band="1M-10M",
                is_key_account=key_account and n == 1,
                account_manager_id=key_account_manager if n == 1 else None,
                monthly_spend=Decimal("100.00"),
                contract_start=date(2024, 1, 1),
            )
            contact = Contact(
                organisation=organisation,
                first_name=f"Contact{n}",
                last_name="Example",
                role="decision_maker",
                email=f"c{n}@customer{n}.example",
                phone=f"+4930000000{n}",
                language="en",
                timezone="Europe/Berlin",
            )
            db.session.add_all([organisation, contact])
            db.session.flush()
            for channel in ("email", "sms"):
                db.session.add(
                    Consent(contact_id=contact.id, channel=channel, status="granted", source="test")
                )
            ids.append(contact.id)
        db.session.commit()
    return ids


def make_segment(app: Flask, author: int, channels: tuple[str, ...] = ("email", "sms")) -> int:
    """A segment of the North region's decision makers; returns its version 1's id."""
    from app.accounts.services import get_user
    from app.segments import services

    with app.app_context():
        segment = services.create_segment(
            f"North {'+'.join(channels)}",
            {
                "combinator": "and",
                "not": False,
                "rules": [{"field": "region", "operator": "=", "value": "North"}],
            },
            {"level": "contacts", "roles": ["decision_maker"], "channels": list(channels)},
            get_user(author),
        )
        return int(segment.latest_version.id)


def draft(
    segment_version_id: int, *, channels: tuple[str, ...] = ("email",), **changes: Any
) -> Any:
    from app.campaigns.services import CampaignDraft

    templates: dict[str, dict[str, str]] = {}
    if "email" in channels:
        templates.update(EMAIL_TEMPLATES)
    if "sms" in channels:
        templates.update(SMS_TEMPLATES)
    values: dict[str, Any] = {
        "name": "Spring offer",
        "objective": "Fibre is now available in your street.",
        "segment_version_id": segment_version_id,
        "channels": list(channels),
        "templates": templates,
    }
    values.update(changes)
    return CampaignDraft(**values)


def make_campaign(app: Flask, maker: int, segment_version_id: int, **kwargs: Any) -> int:
    from app.accounts.services import get_user
    from app.approvals.services import ensure_default_policy
    from app.campaigns import services

    with app.app_context():
        ensure_default_policy()
        campaign = services.create_campaign(draft(segment_version_id, **kwargs), get_user(maker))
        return int(campaign.id)


@dataclass
class World:
    """An app on a deployed embedded chain, with people, an audience and a segment."""

    app: Flask
    people: People
    contacts: list[int]
    segment_version: int


def make_world(
    make_app: Any,
    tmp_path: Any,
    *,
    channels: tuple[str, ...] = ("email", "sms"),
    key_account: bool = True,
    **settings: Any,
) -> World:
    from tests.audit_support import deployed_app

    app = deployed_app(make_app, tmp_path, **settings)
    people = make_people(app)
    contacts = make_audience(app, key_account_manager=people.manager, key_account=key_account)
    return World(app, people, contacts, make_segment(app, people.maker, channels))


def user(user_id: int) -> Any:
    """The user (inside an app context)."""
    from app.accounts.services import get_user

    return get_user(user_id)
