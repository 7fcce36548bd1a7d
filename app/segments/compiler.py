"""Compile a checked rule tree into SQL: one statement, the same result on SQLite and
PostgreSQL, nothing filtered in Python.

Field names never reach SQL: each registry :class:`~app.segments.fields.Field` maps to a
column or a subquery built here, and every value is a bound parameter.  Every predicate
is two-valued (NULL becomes false through an explicit ``IS NOT NULL`` guard), so ``NOT``
inverts exactly as the in-memory evaluator does.  Subscription predicates are
correlated ``EXISTS`` / aggregate subqueries on the organisation, consent predicates
``EXISTS`` on the contact; "has an active subscription" in a position that is ANDed
straight into the WHERE clause becomes ``organisations.id IN (SELECT ...)`` instead, a
semi-join PostgreSQL plans exactly like ``EXISTS`` and SQLite can drive the query from.

The tree is a predicate over a contact row joined to its organisation;
:func:`count_query`, :func:`sample_query` and :func:`recipients_query` add the target
(level, roles, reachability on the channels).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from app.audience.models import Consent, Contact, Organisation, Subscription, Suppression
from app.segments.fields import CHANNEL_ADDRESS_COLUMNS, Field, Source
from app.segments.rules import Group, Rule
from app.segments.targets import Target

#: Any SELECT, whatever its columns.
Query = Select[*tuple[Any, ...]]

LIKE_ESCAPE = "\\"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ASCII_FOLD = str.maketrans(_UPPER, _LOWER)
SAMPLE_SIZE = 20


class ascii_lower(FunctionElement[str]):
    """Lower-case the ASCII letters A-Z only, identically on every database.

    SQLite's ``lower()`` folds ASCII only; PostgreSQL's folds by locale, so there it is
    ``translate()`` over A-Z.
    """

    type = String()
    name = "ascii_lower"
    inherit_cache = True


@compiles(ascii_lower)
def _ascii_lower_default(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_postgresql(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"translate({compiler.process(element.clauses, **kw)}, '{_UPPER}', '{_LOWER}')"


def fold_ascii(text: str) -> str:
    """The evaluator's twin of :class:`ascii_lower`."""
    return text.translate(_ASCII_FOLD)


def like_pattern(text: str, *, prefix_only: bool) -> str:
    """A LIKE pattern matching ``text`` literally (``%``, ``_``, ``\\`` escaped)."""
    escaped = (
        fold_ascii(text)
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"{escaped}%" if prefix_only else f"%{escaped}%"


def cents(value: Decimal) -> int:
    """A decimal with at most two places as whole cents."""
    return int(value.scaleb(2))


# -- the tree --------------------------------------------------------------------------


def compile_tree(root: Group, today: date) -> ColumnElement[bool]:
    """The tree as a WHERE clause over ``contacts JOIN organisations``."""
    return _group(root, today, conjunct=True)


def _group(group: Group, today: date, *, conjunct: bool) -> ColumnElement[bool]:
    # ``conjunct``: this group's result is ANDed straight into the WHERE clause (no NOT,
    # no OR on the way up), so its AND members may be semi-joins the planner can drive.
    single = len(group.children) == 1
    inner = conjunct and not group.negated and (group.combinator == "and" or single)
    parts = [
        _group(child, today, conjunct=inner)
        if isinstance(child, Group)
        else _rule(child, today, conjunct=inner)
        for child in group.children
    ]
    if not parts:
        clause: ColumnElement[bool] = true() if group.combinator == "and" else false()
    elif single:
        clause = parts[0]
    else:
        clause = and_(*parts) if group.combinator == "and" else or_(*parts)
    return not_(clause) if group.negated else clause


def _rule(rule: Rule, today: date, *, conjunct: bool = False) -> ColumnElement[bool]:
    field = rule.field
    if field.source is Source.ACTIVE_PRODUCT:
        return _active_product(rule, conjunct=conjunct)
    if field.source is Source.TOTAL_MRR:
        return _compare(_total_mrr_cents(), rule.operator, _cents_value(rule.value), today)
    if field.source is Source.CONSENT:
        return _consent(field, rule)
    column = _column(field)
    if rule.operator == "null":
        return column.is_(None)
    if rule.operator == "notNull":
        return column.is_not(None)
    predicate = _compare(column, rule.operator, rule.value, today)
    return and_(column.is_not(None), predicate) if field.nullable else predicate


def _column(field: Field) -> Any:
    model = Organisation if field.source is Source.ORGANISATION else Contact
    return getattr(model, field.column or "")


def _cents_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(cents(v) for v in value)
    return cents(value)


def _compare(column: Any, operator: str, value: Any, today: date) -> ColumnElement[bool]:
    if operator == "=":
        return column == value
    if operator == "!=":
        return column != value
    if operator == "<":
        return column < value
    if operator == "<=":
        return column <= value
    if operator == ">":
        return column > value
    if operator == ">=":
        return column >= value
    if operator == "in":
        return column.in_(list(value))
    if operator == "notIn":
        return column.not_in(list(value))
    if operator == "between":
        return column.between(value[0], value[1])
    if operator == "contains":
        return ascii_lower(column).like(like_pattern(value, prefix_only=False), escape=LIKE_ESCAPE)
    if operator == "beginsWith":
        return ascii_lower(column).like(like_pattern(value, prefix_only=True), escape=LIKE_ESCAPE)
    if operator == "withinNextDays":
        return column.between(today, today + timedelta(days=value))
    if operator == "withinLastDays":
        return column.between(today - timedelta(days=value), today)
    raise AssertionError(f"operator {operator!r} reached the compiler unchecked")


def _active_subscriptions() -> Any:
    return and_(
        Subscription.organisation_id == Organisation.id,
        Subscription.status == "active",
    )


def _active_product(rule: Rule, *, conjunct: bool) -> ColumnElement[bool]:
    products = [rule.value] if rule.operator == "=" else list(rule.value)
    if conjunct and rule.operator != "notIn":
        # A semi-join: PostgreSQL plans it like EXISTS; SQLite can drive the query from
        # the (small) list of subscribing organisations instead of probing every row.
        return Organisation.id.in_(
            select(Subscription.organisation_id).where(
                Subscription.status == "active", Subscription.product.in_(products)
            )
        )
    found = (
        exists()
        .where(_active_subscriptions(), Subscription.product.in_(products))
        .correlate(Organisation)
    )
    return ~found if rule.operator == "notIn" else found


def _total_mrr_cents() -> Any:
    # Sum whole cents: SQLite keeps NUMERIC as floating point, and a sum of floats is
    # not exact; a sum of integers is, on both databases.
    return (
        select(func.coalesce(func.sum(cast(func.round(Subscription.mrr * 100), BigInteger)), 0))
        .where(_active_subscriptions())
        .correlate(Organisation)
        .scalar_subquery()
    )


def _consent(field: Field, rule: Rule) -> ColumnElement[bool]:
    on_channel = and_(Consent.contact_id == Contact.id, Consent.channel == field.channel)
    if rule.operator == "null":
        return ~exists().where(on_channel).correlate(Contact)
    if rule.operator == "notNull":
        return exists().where(on_channel).correlate(Contact)
    status = _compare(Consent.status, rule.operator, rule.value, date.min)
    return exists().where(on_channel, status).correlate(Contact)


# -- the target ------------------------------------------------------------------------


def address_column(channel: str) -> Any:
    return getattr(Contact, CHANNEL_ADDRESS_COLUMNS[channel])


def reachable(channel: str) -> ColumnElement[bool]:
    """The contact has an address, granted consent and no suppression on ``channel``."""
    address = address_column(channel)
    return and_(
        address.is_not(None),
        exists()
        .where(
            Consent.contact_id == Contact.id,
            Consent.channel == channel,
            Consent.status == "granted",
        )
        .correlate(Contact),
        ~exists()
        .where(
            Suppression.address == address,
            or_(Suppression.channel.is_(None), Suppression.channel == channel),
        )
        .correlate(Contact),
    )


def contact_filter(
    root: Group, target: Target, today: date, channels: tuple[str, ...] | None = None
) -> ColumnElement[bool]:
    """Rules, roles and reachability on any of ``channels`` (the target's by default)."""
    chosen = channels if channels is not None else target.channels
    parts = [compile_tree(root, today)]
    if target.roles:
        parts.append(Contact.role.in_(list(target.roles)))
    reach = [reachable(channel) for channel in chosen]
    parts.append(reach[0] if len(reach) == 1 else or_(*reach))
    return and_(*parts)


def _contact_rows() -> Query:
    return (
        select().select_from(Contact).join(Organisation, Contact.organisation_id == Organisation.id)
    )


def _matching_organisation(where: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(Contact.organisation_id == Organisation.id, where).correlate(Organisation)


def count_query(
    root: Group, target: Target, today: date, channels: tuple[str, ...] | None = None
) -> Query:
    """``SELECT count(*)`` of the target: contacts, or organisations."""
    where = contact_filter(root, target, today, channels)
    if target.level == "contacts":
        return _contact_rows().add_columns(func.count()).where(where)
    return select(func.count()).select_from(Organisation).where(_matching_organisation(where))


def ids_query(
    root: Group, target: Target, today: date, channels: tuple[str, ...] | None = None
) -> Query:
    """The ids :func:`count_query` counts (contact or organisation ids), ascending."""
    where = contact_filter(root, target, today, channels)
    if target.level == "contacts":
        return _contact_rows().add_columns(Contact.id).where(where).order_by(Contact.id)
    return select(Organisation.id).where(_matching_organisation(where)).order_by(Organisation.id)


SAMPLE_CONTACT_COLUMNS = (
    Contact.id.label("contact_id"),
    Contact.first_name,
    Contact.last_name,
    Contact.role,
    Contact.email,
    Contact.phone,
    Contact.language,
    Organisation.id.label("organisation_id"),
    Organisation.external_id,
    Organisation.legal_name,
    Organisation.region,
)
SAMPLE_ORGANISATION_COLUMNS = (
    Organisation.id.label("organisation_id"),
    Organisation.external_id,
    Organisation.legal_name,
    Organisation.region,
    Organisation.industry_code,
    Organisation.employee_band,
    Organisation.is_key_account,
    Organisation.monthly_spend,
    Organisation.contract_end,
)


def sample_query(root: Group, target: Target, today: date, size: int = SAMPLE_SIZE) -> Query:
    """The first ``size`` rows of the target by id, with the columns a marketer checks."""
    where = contact_filter(root, target, today)
    if target.level == "contacts":
        return (
            _contact_rows()
            .add_columns(*SAMPLE_CONTACT_COLUMNS)
            .where(where)
            .order_by(Contact.id)
            .limit(size)
        )
    return (
        select(*SAMPLE_ORGANISATION_COLUMNS)
        .where(_matching_organisation(where))
        .order_by(Organisation.id)
        .limit(size)
    )


def recipients_query(root: Group, target: Target, channel: str, today: date) -> Query:
    """``(contact_id, address)`` of every recipient on ``channel``, by contact id.

    For organisations, one contact each: the first by role priority, then lowest id.
    """
    where = contact_filter(root, target, today, (channel,))
    address = address_column(channel).label("address")
    if target.level == "contacts":
        return (
            _contact_rows()
            .add_columns(Contact.id.label("contact_id"), address)
            .where(where)
            .order_by(Contact.id)
        )
    priority = case(
        {role: rank for rank, role in enumerate(target.role_priority())},
        value=Contact.role,
        else_=literal(len(target.role_priority())),
    )
    ranked = (
        _contact_rows()
        .add_columns(
            Contact.id.label("contact_id"),
            address,
            func.row_number()
            .over(partition_by=Contact.organisation_id, order_by=(priority, Contact.id))
            .label("rank"),
        )
        .where(where)
        .subquery("ranked")
    )
    return (
        select(ranked.c.contact_id, ranked.c.address)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.contact_id)
    )
