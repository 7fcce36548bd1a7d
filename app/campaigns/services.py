"""Campaign rules: creating and editing campaigns (each edit a new immutable version),
previewing, test sends, and rendering for delivery.

Every public function is one use case and one transaction.  Editing a campaign that is
in review invalidates its submission (through :mod:`app.approvals.services`) in the same
transaction that adds the new version.

Dispatch calls :func:`render_for_delivery` (or :func:`render_many` for a batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, User
from app.audience.models import Contact
from app.campaigns import recipients
from app.campaigns.content import (
    CHANNEL_FIELDS,
    CHANNELS,
    OPTIONAL_FIELDS,
    content_document,
    content_hash,
)
from app.campaigns.models import Campaign, CampaignStatus, CampaignVersion
from app.campaigns.rendering import (
    RenderedMessage,
    build_context,
    campaign_context,
    contact_context,
    organisation_context,
    render_channel,
    unsubscribe_token,
)
from app.campaigns.sms import SmsCount, count_sms
from app.campaigns.templating import (
    TemplateProblem,
    TemplateValidationError,
    check_template,
    normalise_newlines,
    sample_context,
)
from app.database import utcnow
from app.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from app.extensions import db

MAX_TEMPLATE_CHARS = 100_000
MAX_NAME = 200
MAX_OBJECTIVE = 2000


@dataclass
class CampaignDraft:
    """What the editor sends: everything a version holds.  ``contact_roles`` is filled
    from the segment version's target when the draft is validated."""

    name: str
    objective: str
    segment_version_id: int | None
    channels: Sequence[str]
    templates: Mapping[str, Mapping[str, str]]
    contact_roles: Sequence[str] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------------


def list_campaigns() -> list[Campaign]:
    return list(
        db.session.scalars(
            select(Campaign).options(selectinload(Campaign.versions)).order_by(Campaign.id.desc())
        )
    )


def get_campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"no campaign with id {campaign_id}; pick one from the campaigns list")
    return campaign


def get_version(campaign_version_id: int) -> CampaignVersion:
    version = db.session.get(CampaignVersion, campaign_version_id)
    if version is None:
        raise NotFoundError(
            f"no campaign version with id {campaign_version_id}; "
            "open the campaign to see its versions"
        )
    return version


def latest_version(campaign: Campaign) -> CampaignVersion:
    version = campaign.latest_version
    if version is None:  # every campaign is created with its first version
        raise NotFoundError(f"campaign {campaign.id} has no version yet; save it first")
    return version


def makers_of(version: CampaignVersion) -> set[int]:
    """The users who made this version: the owner and every author of a version so far."""
    authors = db.session.scalars(
        select(CampaignVersion.created_by_id).where(
            CampaignVersion.campaign_id == version.campaign_id,
            CampaignVersion.number <= version.number,
        )
    )
    makers = {int(a) for a in authors if a is not None}
    makers.add(version.campaign.owner_id)
    return makers


# -- validation ---------------------------------------------------------------------------


def _problem(field_name: str, message: str) -> ValidationError:
    return ValidationError(f"{field_name}: {message}", details={field_name: message})


def validate_draft(draft: CampaignDraft) -> CampaignDraft:
    """A normalised copy of ``draft``; ValidationError / TemplateValidationError otherwise.

    Templates of channels not chosen are dropped; CRLF becomes LF; every chosen
    channel's templates are checked (undefined names, sandbox escapes, line numbers).
    """
    name = (draft.name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise _problem("name", f"give the campaign a name of 1 to {MAX_NAME} characters")
    objective = normalise_newlines(draft.objective or "").strip()
    if len(objective) > MAX_OBJECTIVE:
        raise _problem("objective", f"at most {MAX_OBJECTIVE} characters")
    if not draft.segment_version_id:
        raise _problem("segment_version_id", "choose the segment version to send to")
    segment_version = recipients.get_segment_version(int(draft.segment_version_id))
    # The contact roles are the segment version's target roles (in priority order).
    roles = list(segment_version.roles)
    channels = sorted(set(draft.channels or []))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise _problem(
            "channels", f"unknown channel(s) {', '.join(unknown)}; use {', '.join(CHANNELS)}"
        )
    if not channels:
        raise _problem("channels", f"choose at least one channel: {', '.join(CHANNELS)}")
    recipients.check_channels(segment_version, channels)
    templates: dict[str, dict[str, str]] = {}
    problems: list[TemplateProblem] = []
    for channel in channels:
        given = draft.templates.get(channel, {}) or {}
        templates[channel] = {}
        for name_, kind in CHANNEL_FIELDS[channel].items():
            source = normalise_newlines(str(given.get(name_, "") or ""))
            label = f"{channel}.{name_}"
            if len(source) > MAX_TEMPLATE_CHARS:
                problems.append(
                    TemplateProblem(label, None, f"at most {MAX_TEMPLATE_CHARS} characters")
                )
                continue
            if not source.strip():
                if (channel, name_) not in OPTIONAL_FIELDS:
                    problems.append(TemplateProblem(label, None, "is empty; write the template"))
                templates[channel][name_] = ""
                continue
            templates[channel][name_] = source
            problems.extend(check_template(source, field=label, kind=kind))
    if problems:
        raise TemplateValidationError(problems)
    return CampaignDraft(
        name=name,
        objective=objective,
        segment_version_id=int(draft.segment_version_id),
        channels=channels,
        templates=templates,
        contact_roles=roles,
    )


def _require_maker(actor: User) -> None:
    if not actor.has_role(Role.MARKETER):
        raise PermissionDeniedError(
            "only marketers make campaigns; ask an administrator for the marketer role"
        )


# -- writing ------------------------------------------------------------------------------


def create_campaign(draft: CampaignDraft, actor: User, policy_id: int | None = None) -> Campaign:
    """A new campaign owned by ``actor`` with ``draft`` as its version 1."""
    _require_maker(actor)
    clean = validate_draft(draft)
    campaign = Campaign(
        name=clean.name,
        owner_id=actor.id,
        policy_id=policy_id,
        status=CampaignStatus.DRAFT.value,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db.session.add(campaign)
    db.session.flush()
    _add_version(campaign, clean, actor, 1)
    db.session.commit()
    return campaign


def save_campaign(campaign_id: int, draft: CampaignDraft, actor: User) -> CampaignVersion:
    """Save an edit: a new version when anything changed, else the current version.

    A change while the campaign is in review invalidates the submission and every
    approval given (one ``invalidate`` log entry), in this same transaction.
    """
    from app.approvals import services as approvals

    campaign = _lock_campaign(campaign_id)
    if campaign.owner_id != actor.id:
        raise PermissionDeniedError(
            f"only the campaign's owner ({campaign.owner.display_name}) can edit it"
        )
    if campaign.status == CampaignStatus.DISPATCHED.value:
        raise ConflictError(
            f"campaign {campaign.id} is being sent; it can no longer change. "
            "Copy it into a new campaign instead"
        )
    clean = validate_draft(draft)
    current = latest_version(campaign)
    new_hash = content_hash(_document(campaign.id, clean))
    if new_hash == current.content_hash:
        return current
    version = _add_version(campaign, clean, actor, current.number + 1)
    reasons = [f"content changed: version {current.number} → {version.number}"]
    if clean.segment_version_id != current.segment_version_id:
        reasons.append(f"segment version {current.segment_version_id} → {clean.segment_version_id}")
    approvals.invalidate_open_submission(campaign, actor, "; ".join(reasons))
    if campaign.status == CampaignStatus.REJECTED.value:
        campaign.status = CampaignStatus.DRAFT.value
    campaign.name = clean.name
    campaign.updated_at = utcnow()
    db.session.commit()
    return version


def _lock_campaign(campaign_id: int) -> Campaign:
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )
    if campaign is None:
        raise NotFoundError(f"no campaign with id {campaign_id}; pick one from the campaigns list")
    return campaign


def _document(campaign_id: int, draft: CampaignDraft) -> dict[str, Any]:
    assert draft.segment_version_id is not None
    return content_document(
        campaign_id=campaign_id,
        name=draft.name,
        objective=draft.objective,
        segment_version_id=draft.segment_version_id,
        contact_roles=draft.contact_roles,
        channels=draft.channels,
        templates=draft.templates,
    )


def _add_version(
    campaign: Campaign, draft: CampaignDraft, actor: User, number: int
) -> CampaignVersion:
    assert draft.segment_version_id is not None
    version = CampaignVersion(
        campaign=campaign,
        number=number,
        name=draft.name,
        objective=draft.objective,
        segment_version_id=draft.segment_version_id,
        contact_roles=list(draft.contact_roles),
        channels=list(draft.channels),
        templates={c: dict(t) for c, t in draft.templates.items()},
        content_hash=content_hash(_document(campaign.id, draft)),
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.session.add(version)
    db.session.flush()
    return version


def draft_from_version(version: CampaignVersion) -> CampaignDraft:
    return CampaignDraft(
        name=version.name,
        objective=version.objective,
        segment_version_id=version.segment_version_id,
        channels=list(version.channels),
        templates={c: dict(t) for c, t in version.templates.items()},
        contact_roles=list(version.contact_roles or []),
    )


# -- rendering ----------------------------------------------------------------------------


def _context_for(
    version: CampaignVersion, contact: Contact, channel: str
) -> tuple[dict[str, Any], str]:
    token = unsubscribe_token(version.campaign_id, contact.id, channel)
    context = build_context(
        campaign=campaign_context(
            version.campaign_id, version.name, version.objective, version.number
        ),
        contact=contact_context(contact),
        organisation=organisation_context(contact.organisation),
        token=token,
    )
    return context, token


def _get_contact(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise NotFoundError(f"no contact with id {contact_id}; pick a recipient of the segment")
    return contact


def render_for_delivery(campaign_version_id: int, contact_id: int, channel: str) -> RenderedMessage:
    """The message ``contact`` gets on ``channel`` from this campaign version.

    HTML is sanitised and the email text alternative generated when the version has no
    text template.  Raises NotFoundError, ValidationError (channel not in the version) or
    TemplateRenderError (the recipient's data breaks the template, naming the line).
    """
    version = get_version(campaign_version_id)
    contact = _get_contact(contact_id)
    context, token = _context_for(version, contact, channel)
    return render_channel(version.templates, channel, context, token)


def render_many(
    campaign_version_id: int, contact_ids: Iterable[int], channel: str
) -> dict[int, RenderedMessage]:
    """:func:`render_for_delivery` for a batch of contacts, with one query for them all.

    Contacts that no longer exist are missing from the result.
    """
    version = get_version(campaign_version_id)
    ids = sorted(set(contact_ids))
    contacts = db.session.scalars(
        select(Contact).options(selectinload(Contact.organisation)).where(Contact.id.in_(ids))
    )
    result: dict[int, RenderedMessage] = {}
    for contact in contacts:
        context, token = _context_for(version, contact, channel)
        result[contact.id] = render_channel(version.templates, channel, context, token)
    return result


def preview(
    draft: CampaignDraft, channel: str, *, contact_id: int | None = None, campaign_id: int = 0
) -> RenderedMessage:
    """Render an unsaved draft for one recipient (or the sample recipient).

    The draft is validated first, so the preview shows the same errors a save would.
    """
    clean = validate_draft(draft)
    if contact_id is None:
        context = sample_context()
        token = "sample-token"
    else:
        contact = _get_contact(contact_id)
        token = unsubscribe_token(campaign_id, contact.id, channel)
        context = build_context(
            campaign=campaign_context(campaign_id, clean.name, clean.objective, 0),
            contact=contact_context(contact),
            organisation=organisation_context(contact.organisation),
            token=token,
        )
    return render_channel(clean.templates, channel, context, token)


def sms_count(text: str) -> SmsCount:
    """The authoritative SMS counter (the editor's JS counter mirrors it)."""
    return count_sms(normalise_newlines(text))


def preview_recipients(
    segment_version_id: int, channel: str | None = None, limit: int = 50
) -> list[Contact]:
    """Recipients of a segment version to pick a preview for (a sample of ``limit``)."""
    return recipients.sample_contacts(segment_version_id, channel=channel, limit=limit)


def version_count(campaign_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(CampaignVersion)
            .where(CampaignVersion.campaign_id == campaign_id)
        )
        or 0
    )


# -- test send ------------------------------------------------------------------------------


def send_test(campaign_version_id: int, user: User, *, contact_id: int | None = None) -> list[str]:
    """Send this version's messages to ``user`` themself, rendered for ``contact_id``
    (or the sample recipient).  Returns one line per channel saying where it went."""
    from app.campaigns.test_send import deliver_test

    version = get_version(campaign_version_id)
    if contact_id is None:
        context = sample_context()
        context["campaign"] = campaign_context(
            version.campaign_id, version.name, version.objective, version.number
        )
        token = "test-send"
    else:
        contact = _get_contact(contact_id)
        context, token = _context_for(version, contact, "email")
    messages = [
        render_channel(version.templates, channel, context, token) for channel in version.channels
    ]
    return deliver_test(version, user, messages)


__all__ = [
    "CampaignDraft",
    "RenderedMessage",
    "create_campaign",
    "draft_from_version",
    "get_campaign",
    "get_version",
    "latest_version",
    "list_campaigns",
    "makers_of",
    "preview",
    "preview_recipients",
    "render_for_delivery",
    "render_many",
    "save_campaign",
    "send_test",
    "sms_count",
    "validate_draft",
]
