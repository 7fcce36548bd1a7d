"""Evaluate a checked rule tree in memory against one contact, with the exact semantics
of the SQL compiler (see :mod:`app.segments.fields`).

The engine never filters in Python; this evaluator exists to explain a single contact's
membership and to prove the compiler right (the property tests compare both on random
trees and data, and the benchmark times it as the naive baseline).  Its input is plain
:class:`ContactFacts`, loaded by :func:`load_facts` or built by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from app.audience.models import Consent, Contact, Organisation, Subscription, Suppression
from app.segments.compiler import fold_ascii
from app.segments.fields import CHANNEL_ADDRESS_COLUMNS, Source
from app.segments.rules import Group, Rule
from app.segments.targets import Target


@dataclass(frozen=True, slots=True)
class SubscriptionFacts:
    product: str
    status: str
    mrr: Decimal


@dataclass(frozen=True, slots=True)
class OrganisationFacts:
    id: int
    external_id: str
    legal_name: str
    tax_id: str | None
    industry_code: str
    region: str
    employee_band: str
    revenue_band: str
    is_key_account: bool
    monthly_spend: Decimal
    contract_start: date | None
    contract_end: date | None
    subscriptions: tuple[SubscriptionFacts, ...] = ()

    def active_products(self) -> set[str]:
        return {s.product for s in self.subscriptions if s.status == "active"}

    def total_mrr(self) -> Decimal:
        return sum((s.mrr for s in self.subscriptions if s.status == "active"), Decimal(0))


@dataclass(frozen=True, slots=True)
class ContactFacts:
    id: int
    organisation: OrganisationFacts
    role: str
    email: str | None
    phone: str | None
    messenger_handle: str | None
    language: str
    timezone: str
    consents: Mapping[str, str] = field(default_factory=dict)  # channel -> status


@dataclass(frozen=True, slots=True)
class Suppressions:
    """The suppression list: ``channels[address]`` is the set of suppressed channels,
    ``None`` standing for every channel."""

    channels: Mapping[str, frozenset[str | None]] = field(default_factory=dict)

    def blocks(self, address: str, channel: str) -> bool:
        found = self.channels.get(address)
        return found is not None and (None in found or channel in found)


# -- the tree --------------------------------------------------------------------------


def matches(root: Group, contact: ContactFacts, today: date) -> bool:
    """Whether ``contact`` (with its organisation) satisfies the tree."""
    return _group(root, contact, today)


def _group(group: Group, contact: ContactFacts, today: date) -> bool:
    results = (
        _group(child, contact, today) if isinstance(child, Group) else _rule(child, contact, today)
        for child in group.children
    )
    found = all(results) if group.combinator == "and" else any(results)
    return not found if group.negated else found


def _rule(rule: Rule, contact: ContactFacts, today: date) -> bool:
    field_ = rule.field
    if field_.source is Source.ACTIVE_PRODUCT:
        products = contact.organisation.active_products()
        wanted = {rule.value} if rule.operator == "=" else set(rule.value)
        return not products & wanted if rule.operator == "notIn" else bool(products & wanted)
    if field_.source is Source.TOTAL_MRR:
        return _compare(contact.organisation.total_mrr(), rule.operator, rule.value, today)
    if field_.source is Source.CONSENT:
        value: Any = contact.consents.get(field_.channel or "")
    elif field_.source is Source.ORGANISATION:
        value = getattr(contact.organisation, field_.column or "")
    else:
        value = getattr(contact, field_.column or "")
    if rule.operator == "null":
        return value is None
    if rule.operator == "notNull":
        return value is not None
    if value is None:
        return False  # as SQL: nothing but `null` matches a missing value
    return _compare(value, rule.operator, rule.value, today)


def _compare(value: Any, operator: str, wanted: Any, today: date) -> bool:
    if operator == "=":
        return bool(value == wanted)
    if operator == "!=":
        return bool(value != wanted)
    if operator == "<":
        return bool(value < wanted)
    if operator == "<=":
        return bool(value <= wanted)
    if operator == ">":
        return bool(value > wanted)
    if operator == ">=":
        return bool(value >= wanted)
    if operator == "in":
        return value in wanted
    if operator == "notIn":
        return value not in wanted
    if operator == "between":
        return bool(wanted[0] <= value <= wanted[1])
    if operator == "contains":
        return fold_ascii(wanted) in fold_ascii(value)
    if operator == "beginsWith":
        return fold_ascii(value).startswith(fold_ascii(wanted))
    if operator == "withinNextDays":
        return bool(today <= value <= today + timedelta(days=wanted))
    if operator == "withinLastDays":
        return bool(today - timedelta(days=wanted) <= value <= today)
    raise AssertionError(f"operator {operator!r} reached the evaluator unchecked")


# -- the target ------------------------------------------------------------------------


def address_of(contact: ContactFacts, channel: str) -> str | None:
    address: str | None = getattr(contact, CHANNEL_ADDRESS_COLUMNS[channel])
    return address


def is_reachable(contact: ContactFacts, channel: str, suppressions: Suppressions) -> bool:
    """Has an address, granted consent and no suppression on ``channel``."""
    address = address_of(contact, channel)
    return (
        address is not None
        and contact.consents.get(channel) == "granted"
        and not suppressions.blocks(address, channel)
    )


def is_candidate(
    root: Group,
    target: Target,
    contact: ContactFacts,
    suppressions: Suppressions,
    today: date,
    channels: Sequence[str] | None = None,
) -> bool:
    """The rules match, the role is wanted and the contact is reachable on a channel."""
    chosen = target.channels if channels is None else channels
    return (
        (not target.roles or contact.role in target.roles)
        and any(is_reachable(contact, channel, suppressions) for channel in chosen)
        and matches(root, contact, today)
    )


def select_target_ids(
    root: Group,
    target: Target,
    contacts: Iterable[ContactFacts],
    suppressions: Suppressions,
    today: date,
) -> set[int]:
    """The ids the target counts: contact ids, or organisation ids."""
    chosen = [c for c in contacts if is_candidate(root, target, c, suppressions, today)]
    if target.level == "contacts":
        return {c.id for c in chosen}
    return {c.organisation.id for c in chosen}


def select_recipients(
    root: Group,
    target: Target,
    channel: str,
    contacts: Iterable[ContactFacts],
    suppressions: Suppressions,
    today: date,
) -> list[tuple[int, str]]:
    """``(contact_id, address)`` of the recipients on ``channel``, by contact id."""
    chosen = [c for c in contacts if is_candidate(root, target, c, suppressions, today, (channel,))]
    if target.level == "organisations":
        priority = {role: rank for rank, role in enumerate(target.role_priority())}
        first: dict[int, ContactFacts] = {}
        for contact in chosen:
            key = (priority.get(contact.role, len(priority)), contact.id)
            best = first.get(contact.organisation.id)
            if best is None or key < (priority.get(best.role, len(priority)), best.id):
                first[contact.organisation.id] = contact
        chosen = list(first.values())
    return sorted((c.id, address_of(c, channel) or "") for c in chosen)


# -- loading ---------------------------------------------------------------------------


def load_facts(session: Session, id_range: tuple[int, int] | None = None) -> list[ContactFacts]:
    """Every contact with its organisation's facts; only organisations whose id lies in
    ``id_range`` (inclusive) when given.

    Four queries and no filtering beyond that range: this reads the rows a naive
    implementation would read.
    """

    def within(column: Any) -> Any:
        return column.between(*id_range) if id_range is not None else true()

    subs: dict[int, list[SubscriptionFacts]] = {}
    for org_id, product, status, mrr in session.execute(
        select(
            Subscription.organisation_id,
            Subscription.product,
            Subscription.status,
            Subscription.mrr,
        ).where(within(Subscription.organisation_id))
    ):
        subs.setdefault(org_id, []).append(SubscriptionFacts(product, status, _money(mrr)))

    organisations: dict[int, OrganisationFacts] = {}
    for row in session.execute(select(*_ORGANISATION_COLUMNS).where(within(Organisation.id))):
        values = row._asdict()
        values["monthly_spend"] = _money(values["monthly_spend"])
        organisations[row.id] = OrganisationFacts(
            **values, subscriptions=tuple(subs.get(row.id, ()))
        )

    consents: dict[int, dict[str, str]] = {}
    for contact_id, channel, status in session.execute(
        select(Consent.contact_id, Consent.channel, Consent.status)
        .join(Contact, Consent.contact_id == Contact.id)
        .where(within(Contact.organisation_id))
    ):
        consents.setdefault(contact_id, {})[channel] = status

    return [
        ContactFacts(
            id=row.id,
            organisation=organisations[row.organisation_id],
            role=row.role,
            email=row.email,
            phone=row.phone,
            messenger_handle=row.messenger_handle,
            language=row.language,
            timezone=row.timezone,
            consents=consents.get(row.id, {}),
        )
        for row in session.execute(
            select(*_CONTACT_COLUMNS).where(within(Contact.organisation_id)).order_by(Contact.id)
        )
    ]


_ORGANISATION_COLUMNS = (
    Organisation.id,
    Organisation.external_id,
    Organisation.legal_name,
    Organisation.tax_id,
    Organisation.industry_code,
    Organisation.region,
    Organisation.employee_band,
    Organisation.revenue_band,
    Organisation.is_key_account,
    Organisation.monthly_spend,
    Organisation.contract_start,
    Organisation.contract_end,
)
_CONTACT_COLUMNS = (
    Contact.id,
    Contact.organisation_id,
    Contact.role,
    Contact.email,
    Contact.phone,
    Contact.messenger_handle,
    Contact.language,
    Contact.timezone,
)


def _money(value: Any) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def load_suppressions(session: Session) -> Suppressions:
    found: dict[str, set[str | None]] = {}
    for address, channel in session.execute(select(Suppression.address, Suppression.channel)):
        found.setdefault(address, set()).add(channel)
    return Suppressions({address: frozenset(chans) for address, chans in found.items()})
