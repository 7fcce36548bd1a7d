"""The allow-list of everything a segment rule can filter on, and the operators.

A rule names a field of this registry and nothing else: field names never reach SQL,
the compiler maps each :class:`Field` to a column or subquery it builds itself.  Each
field declares its type, the operators it accepts and (for enums) its allowed values;
:mod:`app.segments.rules` checks a tree against it, and ``GET /api/segments/fields``
hands it to the builder.

Semantics shared by the SQL compiler and the in-memory evaluator:

* Every rule is true or false, never unknown: a rule on a missing (NULL) value is false
  for every operator except ``null``; so ``!=`` and ``notIn`` do not match NULL, and a
  NOT group simply inverts its content.
* ``contains`` and ``beginsWith`` ignore the case of ASCII letters (A-Z); other
  characters compare exactly.  SQLite cannot fold other scripts, and the result must be
  the same on SQLite and PostgreSQL.  ``%``, ``_`` and ``\\`` in the value are literal.
* ``=`` and ``in`` on text compare exactly (case-sensitive).
* Decimals are exact; ``between`` includes both ends.
* ``withinNextDays N`` is ``today <= date <= today + N`` and ``withinLastDays N`` is
  ``today - N <= date <= today``, with ``today`` given to the engine (UTC today in the
  service), never read from the clock inside it.
* ``subscription.active_product`` looks at active subscriptions only: ``= X`` and
  ``in [...]`` mean "has an active subscription to (one of) X", ``notIn [...]`` means
  "has no active subscription to any of them".  ``subscription.total_mrr`` is the sum
  of the MRR of active subscriptions, 0 when there are none.
* ``consent.<channel>`` is the contact's consent status on that channel, missing
  (``null``) when no consent was ever recorded.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.audience.models import (
    CHANNEL_VALUES,
    CONSENT_STATUS_VALUES,
    CONTACT_ROLE_VALUES,
    EMPLOYEE_BAND_VALUES,
    PRODUCT_VALUES,
    REVENUE_BAND_VALUES,
    Contact,
    Organisation,
)


class FieldType(enum.StrEnum):
    STRING = "string"
    ENUM = "enum"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"


class Source(enum.StrEnum):
    """Where a field's value comes from; the compiler and the evaluator switch on it."""

    ORGANISATION = "organisation"  # a column of organisations
    CONTACT = "contact"  # a column of contacts
    ACTIVE_PRODUCT = "active_product"  # EXISTS over the organisation's active subscriptions
    TOTAL_MRR = "total_mrr"  # SUM(mrr) over the organisation's active subscriptions
    CONSENT = "consent"  # the contact's consent status on one channel


class Arity(enum.StrEnum):
    """The shape of a rule's value for an operator."""

    NONE = "none"  # null, notNull: no value
    ONE = "one"  # a single value of the field's type
    LIST = "list"  # a non-empty list of values
    TWO = "two"  # [low, high]
    DAYS = "days"  # a whole number of days


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    arity: Arity


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("=", "equals", Arity.ONE),
        Operator("!=", "does not equal", Arity.ONE),
        Operator("<", "less than", Arity.ONE),
        Operator("<=", "at most", Arity.ONE),
        Operator(">", "greater than", Arity.ONE),
        Operator(">=", "at least", Arity.ONE),
        Operator("in", "is one of", Arity.LIST),
        Operator("notIn", "is none of", Arity.LIST),
        Operator("between", "between", Arity.TWO),
        Operator("contains", "contains", Arity.ONE),
        Operator("beginsWith", "begins with", Arity.ONE),
        Operator("null", "is empty", Arity.NONE),
        Operator("notNull", "is not empty", Arity.NONE),
        Operator("withinNextDays", "within the next N days", Arity.DAYS),
        Operator("withinLastDays", "within the last N days", Arity.DAYS),
    )
}

_NULL_OPS = ("null", "notNull")
TYPE_OPERATORS: dict[FieldType, tuple[str, ...]] = {
    FieldType.STRING: ("=", "!=", "in", "notIn", "contains", "beginsWith"),
    FieldType.ENUM: ("=", "!=", "in", "notIn"),
    FieldType.DECIMAL: ("=", "!=", "<", "<=", ">", ">=", "between"),
    FieldType.BOOLEAN: ("=", "!="),
    FieldType.DATE: (
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "between",
        "withinNextDays",
        "withinLastDays",
    ),
}

# Which contact column carries the address of each channel.
CHANNEL_ADDRESS_COLUMNS: dict[str, str] = {
    "email": "email",
    "sms": "phone",
    "webhook": "messenger_handle",
}
assert set(CHANNEL_ADDRESS_COLUMNS) == set(CHANNEL_VALUES)


@dataclass(frozen=True)
class Field:
    """One filterable field.  ``column`` is the model attribute for column sources and
    ``channel`` the consent channel for :attr:`Source.CONSENT`."""

    name: str
    label: str
    group: str
    type: FieldType
    source: Source
    operators: tuple[str, ...]
    values: tuple[str, ...] = ()
    nullable: bool = False
    column: str | None = None
    channel: str | None = None
    max_length: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "group": self.group,
            "type": self.type.value,
            "operators": list(self.operators),
            "values": list(self.values) if self.type is FieldType.ENUM else None,
            "nullable": self.nullable,
        }


def _column_field(
    model: Any,
    source: Source,
    group: str,
    name: str,
    column: str,
    label: str,
    type_: FieldType,
    values: tuple[str, ...] = (),
) -> Field:
    # Nullability and length come from the model, so the registry cannot drift from it.
    col = model.__table__.c[column]
    nullable = bool(col.nullable)
    operators = TYPE_OPERATORS[type_] + (_NULL_OPS if nullable else ())
    return Field(
        name=name,
        label=label,
        group=group,
        type=type_,
        source=source,
        operators=operators,
        values=values,
        nullable=nullable,
        column=column,
        max_length=getattr(col.type, "length", None),
    )


def _org(name: str, label: str, type_: FieldType, values: tuple[str, ...] = ()) -> Field:
    return _column_field(
        Organisation, Source.ORGANISATION, "Organisation", name, name, label, type_, values
    )


def _contact(column: str, label: str, type_: FieldType, values: tuple[str, ...] = ()) -> Field:
    return _column_field(
        Contact, Source.CONTACT, "Contact", f"contact.{column}", column, label, type_, values
    )


def _consent(channel: str) -> Field:
    return Field(
        name=f"consent.{channel}",
        label=f"Consent for {channel}",
        group="Consent",
        type=FieldType.ENUM,
        source=Source.CONSENT,
        operators=(*TYPE_OPERATORS[FieldType.ENUM], *_NULL_OPS),
        values=CONSENT_STATUS_VALUES,
        nullable=True,
        channel=channel,
    )


_FIELDS: tuple[Field, ...] = (
    _org("region", "Region", FieldType.STRING),
    _org("industry_code", "Industry code (NACE)", FieldType.STRING),
    _org("employee_band", "Employees", FieldType.ENUM, EMPLOYEE_BAND_VALUES),
    _org("revenue_band", "Annual revenue", FieldType.ENUM, REVENUE_BAND_VALUES),
    _org("is_key_account", "Key account", FieldType.BOOLEAN),
    _org("monthly_spend", "Monthly spend", FieldType.DECIMAL),
    _org("contract_start", "Contract start", FieldType.DATE),
    _org("contract_end", "Contract end", FieldType.DATE),
    _org("legal_name", "Legal name", FieldType.STRING),
    _org("tax_id", "Tax id", FieldType.STRING),
    _org("external_id", "External id", FieldType.STRING),
    Field(
        name="subscription.active_product",
        label="Has an active subscription to",
        group="Subscriptions",
        type=FieldType.ENUM,
        source=Source.ACTIVE_PRODUCT,
        operators=("=", "in", "notIn"),
        values=PRODUCT_VALUES,
    ),
    Field(
        name="subscription.total_mrr",
        label="Total MRR of active subscriptions",
        group="Subscriptions",
        type=FieldType.DECIMAL,
        source=Source.TOTAL_MRR,
        operators=TYPE_OPERATORS[FieldType.DECIMAL],
    ),
    _contact("role", "Contact role", FieldType.ENUM, CONTACT_ROLE_VALUES),
    _contact("language", "Contact language", FieldType.STRING),
    _contact("timezone", "Contact time zone", FieldType.STRING),
    *(_consent(channel) for channel in CHANNEL_VALUES),
)

FIELDS: Mapping[str, Field] = {field.name: field for field in _FIELDS}

# Limits that keep a tree cheap to check and to run.
MAX_DEPTH = 10  # groups nested in groups, the root group being level 1
MAX_RULES = 500  # rules and groups in one tree
MAX_LIST = 1000  # values in an `in` / `notIn` list
# Decimal values: at most this many places and below this magnitude (Numeric(14, 2)).
DECIMAL_PLACES = 2
DECIMAL_LIMIT = 10**12
# The longest window a date-relative operator accepts, in days (about 100 years).
MAX_DAYS = 36_600


def get_field(name: str) -> Field | None:
    return FIELDS.get(name)


def registry_as_json() -> dict[str, Any]:
    """The registry for the builder: fields, operators, channels and roles."""
    return {
        "fields": [field.as_json() for field in FIELDS.values()],
        "operators": [
            {"name": op.name, "label": op.label, "arity": op.arity.value}
            for op in OPERATORS.values()
        ],
        "channels": list(CHANNEL_VALUES),
        "roles": list(CONTACT_ROLE_VALUES),
        "levels": ["organisations", "contacts"],
        "limits": {
            "max_depth": MAX_DEPTH,
            "max_rules": MAX_RULES,
            "max_list": MAX_LIST,
            "decimal_places": DECIMAL_PLACES,
            "max_days": MAX_DAYS,
        },
    }
