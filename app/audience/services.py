"""Audience rules: searching organisations and contacts, and the suppression list.

Searches parse their filters here (a bad value is a ValidationError naming the field),
build one SQL query with the filters and a page of results, and never filter in Python.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import User
from app.api import MAX_ID
from app.audience.importing import default_phone_region
from app.audience.imports import values as cell
from app.audience.imports.engine import normalise_address
from app.audience.models import (
    CHANNEL_VALUES,
    CONTACT_ROLE_VALUES,
    PRODUCT_VALUES,
    Consent,
    ConsentStatus,
    Contact,
    Organisation,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db

log = logging.getLogger("ledgerline.audience")

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
TIERS = ("key", "standard")
ADDRESS_CHANNEL = {"email": "email", "sms": "sms", "webhook": "webhook"}


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class OrganisationFilter:
    q: str = ""
    region: str = ""
    tier: str = ""  # "key", "standard" or "" for both
    industry: str = ""  # a NACE code prefix: "61" matches 61.10 and 61.20
    product: str = ""  # has an active subscription to it

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class ContactFilter:
    q: str = ""
    role: str = ""
    language: str = ""
    consent: str = ""  # a channel the contact granted consent for
    organisation_id: int | None = None

    def as_args(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if v}


# -- parsing request arguments -------------------------------------------------------------


def _one_of(args: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = (args.get(name) or "").strip()
    if value and value not in allowed:
        raise ValidationError(
            f"{name} {value!r} is not allowed; use one of: {', '.join(allowed)}",
            details={name: f"one of {', '.join(allowed)}"},
        )
    return value


def _short(args: Mapping[str, str], name: str, max_length: int = 100) -> str:
    value = (args.get(name) or "").strip()
    if len(value) > max_length:
        raise ValidationError(
            f"{name} is {len(value)} characters long; at most {max_length} are allowed",
            details={name: f"at most {max_length} characters"},
        )
    return value


def parse_paging(args: Mapping[str, str]) -> tuple[int, int]:
    """``(page, per_page)`` from ``page`` and ``per_page`` arguments."""
    result = []
    for name, default, upper in (
        ("page", 1, 1_000_000),
        ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
    ):
        raw = (args.get(name) or "").strip()
        if not raw:
            result.append(default)
            continue
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= upper:
            raise ValidationError(
                f"{name} {raw!r} is not a whole number from 1 to {upper}",
                details={name: f"a whole number from 1 to {upper}"},
            )
        result.append(int(raw))
    return result[0], result[1]


def parse_organisation_filter(args: Mapping[str, str]) -> OrganisationFilter:
    return OrganisationFilter(
        q=_short(args, "q"),
        region=_short(args, "region"),
        tier=_one_of(args, "tier", TIERS),
        industry=_short(args, "industry", 16).upper(),
        product=_one_of(args, "product", PRODUCT_VALUES),
    )


def parse_contact_filter(args: Mapping[str, str]) -> ContactFilter:
    raw_org = (args.get("organisation_id") or "").strip()
    if raw_org and not (raw_org.isascii() and raw_org.isdigit() and int(raw_org) <= MAX_ID):
        raise ValidationError(
            f"organisation_id {raw_org!r} is not a number",
            details={"organisation_id": "an organisation's numeric id"},
        )
    return ContactFilter(
        q=_short(args, "q"),
        role=_one_of(args, "role", CONTACT_ROLE_VALUES),
        language=_short(args, "language", 16),
        consent=_one_of(args, "consent", CHANNEL_VALUES),
        organisation_id=int(raw_org) if raw_org else None,
    )


# -- organisations -----------------------------------------------------------------------


def _page(statement: Select[Any], count: Select[Any], page: int, per_page: int) -> Page[Any]:
    total = int(db.session.scalar(count) or 0)
    items = list(db.session.scalars(statement.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, total, page, per_page)


def _organisation_conditions(f: OrganisationFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.q:
        conditions.append(
            or_(
                Organisation.legal_name.icontains(f.q, autoescape=True),
                Organisation.external_id.istartswith(f.q, autoescape=True),
                Organisation.tax_id.istartswith(f.q, autoescape=True),
            )
        )
    if f.region:
        conditions.append(Organisation.region == f.region)
    if f.tier:
        conditions.append(Organisation.is_key_account.is_(f.tier == "key"))
    if f.industry:
        conditions.append(Organisation.industry_code.startswith(f.industry, autoescape=True))
    if f.product:
        conditions.append(
            exists().where(
                Subscription.organisation_id == Organisation.id,
                Subscription.product == f.product,
                Subscription.status == SubscriptionStatus.ACTIVE.value,
            )
        )
    return conditions


def search_organisations(
    f: OrganisationFilter, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Organisation]:
    """Organisations matching ``f``, by legal name: ``q`` is found anywhere in the name
    or at the start of the external id or tax id (case-insensitive)."""
    conditions = _organisation_conditions(f)
    statement = (
        select(Organisation).where(*conditions).order_by(Organisation.legal_name, Organisation.id)
    )
    count = select(func.count()).select_from(Organisation).where(*conditions)
    return _page(statement, count, page, per_page)


def get_organisation(organisation_id: int) -> Organisation:
    statement = (
        select(Organisation)
        .where(Organisation.id == organisation_id)
        .options(
            selectinload(Organisation.contacts).selectinload(Contact.consents),
            selectinload(Organisation.subscriptions),
        )
    )
    organisation = db.session.scalar(statement)
    if organisation is None:
        raise NotFoundError(f"organisation #{organisation_id} does not exist")
    return organisation


def active_mrr(organisation: Organisation) -> Decimal:
    return sum(
        (s.mrr for s in organisation.subscriptions if s.status == SubscriptionStatus.ACTIVE),
        Decimal("0.00"),
    )


def suppressed_addresses(addresses: list[str]) -> dict[str, Suppression]:
    """The suppressions among ``addresses`` (normalised emails, phones, handles)."""
    wanted = [a for a in addresses if a]
    if not wanted:
        return {}
    rows = db.session.scalars(select(Suppression).where(Suppression.address.in_(wanted)))
    return {row.address: row for row in rows}


def filter_options() -> dict[str, list[str]]:
    """Distinct regions and industry codes in use, for the filter menus."""
    regions = db.session.scalars(
        select(Organisation.region).distinct().order_by(Organisation.region)
    )
    industries = db.session.scalars(
        select(Organisation.industry_code).distinct().order_by(Organisation.industry_code)
    )
    languages = db.session.scalars(select(Contact.language).distinct().order_by(Contact.language))
    return {
        "regions": list(regions),
        "industries": list(industries),
        "products": list(PRODUCT_VALUES),
        "roles": list(CONTACT_ROLE_VALUES),
        "languages": list(languages),
        "channels": list(CHANNEL_VALUES),
    }


def organisation_account_manager(organisation: Organisation) -> User | None:
    if organisation.account_manager_id is None:
        return None
    return db.session.get(User, organisation.account_manager_id)


# -- contacts ----------------------------------------------------------------------------


def search_contacts(
    f: ContactFilter, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Contact]:
    """Contacts matching ``f`` with their organisation, by last and first name: ``q`` is
    found in the name or email, or at the start of the phone number."""
    conditions: list[Any] = []
    if f.q:
        digits = "".join(ch for ch in f.q if ch.isdigit())
        matches = [
            Contact.last_name.icontains(f.q, autoescape=True),
            Contact.first_name.icontains(f.q, autoescape=True),
            Contact.email.icontains(f.q, autoescape=True),
        ]
        if digits:
            matches.append(Contact.phone.contains(digits, autoescape=True))
        conditions.append(or_(*matches))
    if f.role:
        conditions.append(Contact.role == f.role)
    if f.language:
        conditions.append(Contact.language == f.language)
    if f.organisation_id is not None:
        conditions.append(Contact.organisation_id == f.organisation_id)
    if f.consent:
        conditions.append(
            exists().where(
                and_(
                    Consent.contact_id == Contact.id,
                    Consent.channel == f.consent,
                    Consent.status == ConsentStatus.GRANTED.value,
                )
            )
        )
    statement = (
        select(Contact)
        .where(*conditions)
        .options(joinedload(Contact.organisation), selectinload(Contact.consents))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    )
    count = select(func.count()).select_from(Contact).where(*conditions)
    return _page(statement, count, page, per_page)


# -- suppressions ------------------------------------------------------------------------


def list_suppressions(
    q: str = "", *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Suppression]:
    conditions = [Suppression.address.icontains(q.strip(), autoescape=True)] if q.strip() else []
    statement = (
        select(Suppression)
        .where(*conditions)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
    )
    count = select(func.count()).select_from(Suppression).where(*conditions)
    return _page(statement, count, page, per_page)


def add_suppression(
    address: str,
    reason: str,
    actor: User | None,
    *,
    channel: str | None = None,
    phone_region: str | None = None,
) -> Suppression:
    """Suppress ``address`` on ``channel`` (all channels when ``None``).

    The address is normalised as imports do (lower-case email, E.164 phone, handle as
    given); an address already on the list is a ConflictError.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("give a reason for the suppression", details={"reason": "required"})
    if len(reason) > 500:
        raise ValidationError(
            "the reason is longer than 500 characters", details={"reason": "too long"}
        )
    channel = channel or None
    if channel is not None and channel not in CHANNEL_VALUES:
        raise ValidationError(
            f"channel {channel!r} is not allowed; use one of: {', '.join(CHANNEL_VALUES)} "
            "or none for all",
            details={"channel": f"one of {', '.join(CHANNEL_VALUES)} or empty"},
        )
    try:
        normalised, kind = normalise_address(address, phone_region or default_phone_region())
    except cell.CellError as exc:
        raise ValidationError(f"address: {exc}", details={"address": str(exc)}) from None
    if channel is not None and channel != ADDRESS_CHANNEL[kind]:
        raise ValidationError(
            f"{normalised!r} is reached over {kind}, not {channel}; choose {kind} or all channels",
            details={"channel": f"{kind} or empty"},
        )
    existing = db.session.scalar(select(Suppression).where(Suppression.address == normalised))
    if existing is not None:
        raise ConflictError(
            f"{normalised} is already suppressed since {existing.created_at:%Y-%m-%d} "
            f"({existing.reason})",
            details={"address": normalised},
        )
    suppression = Suppression(
        address=normalised,
        channel=channel,
        reason=reason,
        created_by=actor.id if actor is not None else None,
    )
    db.session.add(suppression)
    db.session.commit()
    log.info(
        "suppression added: %s (%s) by user %s: %s",
        normalised,
        channel or "all",
        suppression.created_by,
        reason,
    )
    return suppression


def remove_suppression(suppression_id: int, reason: str, actor: User | None) -> Suppression:
    """Take an address off the list; the reason is required and logged."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            "give a reason for lifting the suppression", details={"reason": "required"}
        )
    suppression = db.session.get(Suppression, suppression_id)
    if suppression is None:
        raise NotFoundError(f"suppression #{suppression_id} does not exist")
    db.session.delete(suppression)
    db.session.commit()
    log.info(
        "suppression removed: %s by user %s: %s",
        suppression.address,
        actor.id if actor is not None else None,
        reason,
    )
    return suppression


# -- JSON shapes -------------------------------------------------------------------------


def organisation_json(organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "external_id": organisation.external_id,
        "legal_name": organisation.legal_name,
        "tax_id": organisation.tax_id,
        "industry_code": organisation.industry_code,
        "region": organisation.region,
        "employee_band": organisation.employee_band,
        "revenue_band": organisation.revenue_band,
        "is_key_account": organisation.is_key_account,
        "account_manager_id": organisation.account_manager_id,
        "contract_start": organisation.contract_start.isoformat()
        if organisation.contract_start
        else None,
        "contract_end": organisation.contract_end.isoformat()
        if organisation.contract_end
        else None,
        "monthly_spend": str(organisation.monthly_spend),
    }


def contact_json(contact: Contact, *, with_organisation: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": contact.id,
        "organisation_id": contact.organisation_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "job_title": contact.job_title,
        "role": contact.role,
        "email": contact.email,
        "phone": contact.phone,
        "messenger_handle": contact.messenger_handle,
        "language": contact.language,
        "timezone": contact.timezone,
        "consents": {c.channel: c.status for c in contact.consents},
    }
    if with_organisation:
        data["organisation"] = {
            "external_id": contact.organisation.external_id,
            "legal_name": contact.organisation.legal_name,
        }
    return data


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "product": subscription.product,
        "status": subscription.status,
        "start_date": subscription.start_date.isoformat(),
        "mrr": str(subscription.mrr),
    }
