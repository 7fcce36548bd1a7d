"""The demo behind ``make run``: one idempotent call that initialises an instance and fills
it with the data of both stories.

:func:`seed_demo` migrates the database, deploys the contracts on the (embedded) chain,
creates the first admin with a fixed demo password, demo users for every campaign role,
the settlement consortium (:func:`app.settlement.demo.seed_demo_settlement`), the demo
audience, a segment and a draft campaign for the tour, and one campaign taken through
the whole flow (submitted, approved in its two stages with the approvers' passwords,
dispatched over the capture channel, anchored) so that the dashboards and the audit page
have content.  Run again, it finds what exists and only returns the accounts.

The passwords are fixed and printed on the console: this is demo data, never to be
seeded anywhere but on a development instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select

DEMO_ADMIN_EMAIL = "admin@ledgerline.example"
DEMO_ADMIN_PASSWORD = "demo-admin-2026"

TOUR_SEGMENT = "Key accounts in Bayern and Berlin with cloud"
FLOW_SEGMENT = "Hamburg and Bremen decision makers"
TOUR_CAMPAIGN = "Cloud security briefing"
FLOW_CAMPAIGN = "Fibre in your street"


@dataclass(frozen=True)
class DemoUser:
    role: str
    email: str
    password: str
    name: str


#: The campaign side's demo users, one or two per role, with fixed demo passwords.
CAMPAIGN_USERS: tuple[DemoUser, ...] = (
    DemoUser("marketer", "marketer@ledgerline.example", "demo-marketer-2026", "Mia Marketer"),
    DemoUser("approver", "approver1@ledgerline.example", "demo-approver1-2026", "Anna Approver"),
    DemoUser("approver", "approver2@ledgerline.example", "demo-approver2-2026", "Boris Approver"),
    DemoUser(
        "compliance", "compliance@ledgerline.example", "demo-compliance-2026", "Clara Compliance"
    ),
    DemoUser("auditor", "auditor@ledgerline.example", "demo-auditor-2026", "Otto Auditor"),
)


@dataclass
class DemoReport:
    """What :func:`seed_demo` found or made: the accounts to print, per role."""

    accounts: list[DemoUser]
    created: bool
    audience: dict[str, int] = field(default_factory=dict)
    tour_campaign_id: int | None = None
    flow_campaign_id: int | None = None
    settlement: Any = None
    seconds: float = 0.0

    def table(self) -> str:
        """The accounts as a fixed-width table (role, email, password)."""
        rows = [("role", "email", "password")] + [
            (a.role, a.email, a.password) for a in self.accounts
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def seed_demo(
    app: Flask,
    *,
    n_orgs: int = 5000,
    settlement_obligations: int = 360,
    log: Callable[[str], None] | None = None,
) -> DemoReport:
    """Initialise the instance and seed the demo data once; safe to run again."""
    say = log or (lambda _message: None)
    started = time.monotonic()
    with app.app_context():
        created = _init(app, say)
        users = _ensure_users(say)
        created = bool(users) or created

    settlement = _seed_settlement(app, settlement_obligations, say)

    report = DemoReport(accounts=[], created=created, settlement=settlement)
    with app.app_context():
        from app.audience.demo import seed_demo_audience
        from app.extensions import db

        report.audience = seed_demo_audience(n_orgs)
        db.session.commit()
        if report.audience["organisations"]:
            say(
                f"audience: {report.audience['organisations']} organisations, "
                f"{report.audience['contacts']} contacts"
            )
        report.tour_campaign_id = _tour(say)
        report.flow_campaign_id = _flow(say)

    admin = DemoUser("admin", DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, "Administrator")
    report.accounts = [admin, *CAMPAIGN_USERS]
    if settlement is not None:
        report.accounts += [
            DemoUser(a.role, a.email, a.password, a.name) for a in settlement.accounts
        ]
    report.seconds = time.monotonic() - started
    return report


def _init(app: Flask, say: Callable[[str], None]) -> bool:
    from app.approvals.services import ensure_default_policy
    from app.chain_setup import ensure_contracts
    from app.cli import ensure_first_admin, migrate_database

    say(f"database: schema at revision {migrate_database()}")
    contracts = ensure_contracts(app, password=None, genesis_file=None)
    if contracts.created:
        say(f"chain {contracts.chain_id}: deployed {', '.join(contracts.created)}")
    ensure_default_policy()
    admin, _shown = ensure_first_admin(DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD)
    if admin is not None:
        say(f"admin: created {DEMO_ADMIN_EMAIL}")
    return bool(contracts.created) or admin is not None


def _ensure_users(say: Callable[[str], None]) -> list[str]:
    from app.accounts import services as accounts

    made = []
    for person in CAMPAIGN_USERS:
        if accounts.find_user_by_email(person.email) is None:
            accounts.create_user(person.email, person.name, person.password, [person.role])
            made.append(person.email)
    if made:
        say(f"users: created {len(made)} campaign users")
    return made


def _seed_settlement(app: Flask, obligations: int, say: Callable[[str], None]) -> Any:
    try:
        from app.settlement.demo import seed_demo_settlement
    except ImportError:  # the settlement feature is not installed in this build
        say("settlement: no demo (app.settlement.demo missing)")
        return None
    return seed_demo_settlement(app, obligations=obligations, log=say)


def _user(email: str) -> Any:
    from app.accounts.services import find_user_by_email

    user = find_user_by_email(email)
    assert user is not None, f"demo user {email} missing"
    return user


def _campaign_named(name: str) -> int | None:
    from app.campaigns.models import Campaign
    from app.extensions import db

    return db.session.scalar(select(Campaign.id).where(Campaign.name == name))


def _segment_version(name: str, rules: dict[str, Any], target: dict[str, Any]) -> int:
    from app.extensions import db
    from app.segments import services as segments
    from app.segments.models import Segment

    existing = db.session.scalar(select(Segment).where(Segment.name == name))
    if existing is None:
        existing = segments.create_segment(
            name, rules, target, _user(CAMPAIGN_USERS[0].email), description="demo data"
        )
    return int(existing.latest_version.id)


def _tour(say: Callable[[str], None]) -> int:
    """A segment of key accounts and a draft campaign for the README's tour."""
    from app.campaigns.services import CampaignDraft, create_campaign

    found = _campaign_named(TOUR_CAMPAIGN)
    if found is not None:
        return found
    version = _segment_version(
        TOUR_SEGMENT,
        {
            "combinator": "and",
            "not": False,
            "rules": [
                {"field": "region", "operator": "in", "value": ["Bayern", "Berlin"]},
                {"field": "is_key_account", "operator": "=", "value": True},
                {"field": "subscription.active_product", "operator": "=", "value": "cloud"},
            ],
        },
        {"level": "contacts", "roles": ["decision_maker"], "channels": ["email"]},
    )
    draft = CampaignDraft(
        name=TOUR_CAMPAIGN,
        objective="Invite cloud key accounts to a one-hour security briefing.",
        segment_version_id=version,
        channels=["email"],
        templates={
            "email": {
                "subject": "A security briefing for {{ organisation.legal_name }}",
                "html": (
                    "<p>Dear {{ contact.first_name }},</p>\n"
                    "<p>{{ campaign.objective }}</p>\n"
                    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
                ),
                "text": "",
            }
        },
    )
    campaign = create_campaign(draft, _user(CAMPAIGN_USERS[0].email))
    say(f"campaigns: draft {campaign.id} {TOUR_CAMPAIGN!r} ready for the tour")
    return int(campaign.id)


def _flow(say: Callable[[str], None]) -> int:
    """A campaign taken through submission, two approval stages, dispatch and anchoring."""
    from app.approvals import services as approvals
    from app.audit.services import anchor_now
    from app.campaigns.services import CampaignDraft, create_campaign
    from app.dispatch import services as dispatch

    found = _campaign_named(FLOW_CAMPAIGN)
    if found is not None and dispatch.dispatch_for(found) is not None:
        return found
    marketer = CAMPAIGN_USERS[0]
    if found is None:
        version = _segment_version(
            FLOW_SEGMENT,
            {
                "combinator": "and",
                "not": False,
                "rules": [
                    {"field": "region", "operator": "in", "value": ["Hamburg", "Bremen"]},
                    {"field": "is_key_account", "operator": "=", "value": False},
                ],
            },
            {"level": "contacts", "roles": ["decision_maker"], "channels": ["email", "sms"]},
        )
        draft = CampaignDraft(
            name=FLOW_CAMPAIGN,
            objective="Fibre is now available in your street.",
            segment_version_id=version,
            channels=["email", "sms"],
            templates={
                "email": {
                    "subject": "Fibre for {{ organisation.legal_name }}",
                    "html": (
                        "<p>Dear {{ contact.first_name }},</p>\n"
                        "<p>{{ campaign.objective }}</p>\n"
                        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
                    ),
                    "text": "",
                },
                "sms": {
                    "text": (
                        "Hi {{ contact.first_name }}, fibre is here. Stop: {{ unsubscribe_url }}"
                    )
                },
            },
        )
        found = int(create_campaign(draft, _user(marketer.email)).id)
    submission = approvals.open_submission(found) or approvals.submit(found, _user(marketer.email))
    # Stage 1 (marketing review) by an approver, stage 2 (compliance, for SMS).
    for person in (CAMPAIGN_USERS[1], CAMPAIGN_USERS[3]):
        state = approvals.submission_state(submission)
        if state.approved:
            break
        approvals.approve(
            submission.id,
            campaign_version_id=submission.campaign_version_id,
            actor=_user(person.email),
            password=person.password,
        )
    run = dispatch.start_dispatch(found, _user(marketer.email))
    anchor_now()
    say(f"campaigns: {FLOW_CAMPAIGN!r} approved, dispatched to {run.total} addresses, anchored")
    return found
