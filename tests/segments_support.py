"""Random audiences and random rule trees for the segment engine's property tests.

A :class:`Dataset` is plain rows; :func:`store` writes it into a database (emptying the
audience tables first) and :func:`facts` builds the evaluator's input from the same rows,
so the SQL engine and the in-memory evaluator see identical data.  Values are drawn from
small domains that the generated rules also use, so predicates hit; text mixes ASCII
case, non-ASCII letters and the LIKE metacharacters ``%``, ``_`` and ``\\``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from app.audience.models import (
    CHANNEL_VALUES,
    CONSENT_STATUS_VALUES,
    CONTACT_ROLE_VALUES,
    EMPLOYEE_BAND_VALUES,
    PRODUCT_VALUES,
    REVENUE_BAND_VALUES,
    SUBSCRIPTION_STATUS_VALUES,
    Consent,
    Contact,
    Organisation,
    Subscription,
    Suppression,
)
from app.segments import compiler, evaluator
from app.segments.evaluator import (
    ContactFacts,
    OrganisationFacts,
    SubscriptionFacts,
    Suppressions,
)
from app.segments.fields import FIELDS, OPERATORS, Arity, FieldType
from app.segments.rules import parse_rules
from app.segments.targets import parse_target

TODAY = date(2025, 6, 15)
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

TEXT_ALPHABET = "aA%_\\äÄ-"
REGIONS = ("North", "north", "NORTH-East", "Süd", "E%st_1", "West\\")
INDUSTRY_CODES = ("61.10", "61.20", "62.01", "6110", "61_10")
LANGUAGES = ("en", "EN", "de", "ru")
TIMEZONES = ("UTC", "Europe/Moscow", "Europe/Berlin")
MONEY = tuple(
    Decimal(v) for v in ("0.00", "0.10", "0.20", "0.30", "9.99", "10.00", "10.01", "250.50")
)
DATES = tuple(TODAY + timedelta(days=d) for d in (-400, -91, -90, -30, -1, 0, 1, 30, 90, 91, 400))
# The products the data and the rules use: few, so "has product X" is often true.
PRODUCTS = PRODUCT_VALUES[:4]


@dataclass
class Dataset:
    organisations: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    suppressions: list[dict[str, Any]] = field(default_factory=list)


short_text = st.text(TEXT_ALPHABET, min_size=1, max_size=4)


@st.composite
def datasets(draw: st.DrawFn, max_organisations: int = 6) -> Dataset:
    data = Dataset()
    addresses: list[str] = []
    n_orgs = draw(st.integers(1, max_organisations))
    contact_id = 0
    for org_id in range(1, n_orgs + 1):
        data.organisations.append(
            {
                "id": org_id,
                "external_id": draw(st.sampled_from(("ORG-", "org-", "X%_"))) + str(org_id),
                "legal_name": draw(short_text),
                "tax_id": draw(st.none() | short_text),
                "industry_code": draw(st.sampled_from(INDUSTRY_CODES)),
                "region": draw(st.sampled_from(REGIONS)),
                "employee_band": draw(st.sampled_from(EMPLOYEE_BAND_VALUES)),
                "revenue_band": draw(st.sampled_from(REVENUE_BAND_VALUES)),
                "is_key_account": draw(st.booleans()),
                "account_manager_id": None,
                "contract_start": draw(st.none() | st.sampled_from(DATES)),
                "contract_end": draw(st.none() | st.sampled_from(DATES)),
                "monthly_spend": draw(st.sampled_from(MONEY)),
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        for index in range(draw(st.integers(0, 3))):
            data.subscriptions.append(
                {
                    "organisation_id": org_id,
                    "product": draw(st.sampled_from(PRODUCTS)),
                    "status": draw(st.sampled_from(SUBSCRIPTION_STATUS_VALUES)),
                    "start_date": date(2020, 1, 1) + timedelta(days=index),
                    "mrr": draw(st.sampled_from(MONEY)),
                }
            )
        for _ in range(draw(st.integers(0, 3))):
            contact_id += 1
            email = draw(st.none() | st.just(f"c{contact_id}@example.test"))
            phone = draw(st.none() | st.just(f"+49301{contact_id:06d}"))
            handle = draw(st.none() | st.just(f"https://hooks.example.test/{contact_id}"))
            if email is None and phone is None and handle is None:
                email = f"c{contact_id}@example.test"
            addresses.extend(a for a in (email, phone, handle) if a is not None)
            data.contacts.append(
                {
                    "id": contact_id,
                    "organisation_id": org_id,
                    "first_name": "Test",
                    "last_name": f"Contact{contact_id}",
                    "job_title": None,
                    "role": draw(st.sampled_from(CONTACT_ROLE_VALUES)),
                    "email": email,
                    "phone": phone,
                    "messenger_handle": handle,
                    "language": draw(st.sampled_from(LANGUAGES)),
                    "timezone": draw(st.sampled_from(TIMEZONES)),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            for channel in CHANNEL_VALUES:
                status = draw(st.none() | st.sampled_from(CONSENT_STATUS_VALUES))
                if status is not None:
                    data.consents.append(
                        {
                            "contact_id": contact_id,
                            "channel": channel,
                            "status": status,
                            "source": "test",
                            "recorded_at": NOW,
                        }
                    )
    suppressed = draw(st.lists(st.sampled_from(addresses), unique=True)) if addresses else []
    for address in suppressed:
        data.suppressions.append(
            {
                "address": address,
                "channel": draw(st.none() | st.sampled_from(CHANNEL_VALUES)),
                "reason": "test",
                "created_at": NOW,
                "created_by": None,
            }
        )
    return data


AUDIENCE_TABLES = (Suppression, Consent, Subscription, Contact, Organisation)


def store(connection: Connection, data: Dataset) -> None:
    """Replace the audience tables' rows with ``data``."""
    for model in AUDIENCE_TABLES:
        connection.execute(delete(model))
    for model, rows in (
        (Organisation, data.organisations),
        (Subscription, data.subscriptions),
        (Contact, data.contacts),
        (Consent, data.consents),
        (Suppression, data.suppressions),
    ):
        if rows:
            connection.execute(insert(model), rows)


def facts(data: Dataset) -> tuple[list[ContactFacts], Suppressions]:
    """The evaluator's view of ``data``, built from the rows themselves."""
    subscriptions: dict[int, list[SubscriptionFacts]] = {}
    for row in data.subscriptions:
        subscriptions.setdefault(row["organisation_id"], []).append(
            SubscriptionFacts(row["product"], row["status"], row["mrr"])
        )
    organisations = {
        row["id"]: OrganisationFacts(
            id=row["id"],
            external_id=row["external_id"],
            legal_name=row["legal_name"],
            tax_id=row["tax_id"],
            industry_code=row["industry_code"],
            region=row["region"],
            employee_band=row["employee_band"],
            revenue_band=row["revenue_band"],
            is_key_account=row["is_key_account"],
            monthly_spend=row["monthly_spend"],
            contract_start=row["contract_start"],
            contract_end=row["contract_end"],
            subscriptions=tuple(subscriptions.get(row["id"], ())),
        )
        for row in data.organisations
    }
    consents: dict[int, dict[str, str]] = {}
    for row in data.consents:
        consents.setdefault(row["contact_id"], {})[row["channel"]] = row["status"]
    contacts = [
        ContactFacts(
            id=row["id"],
            organisation=organisations[row["organisation_id"]],
            role=row["role"],
            email=row["email"],
            phone=row["phone"],
            messenger_handle=row["messenger_handle"],
            language=row["language"],
            timezone=row["timezone"],
            consents=consents.get(row["id"], {}),
        )
        for row in data.contacts
    ]
    found: dict[str, set[str | None]] = {}
    for row in data.suppressions:
        found.setdefault(row["address"], set()).add(row["channel"])
    return contacts, Suppressions({a: frozenset(c) for a, c in found.items()})


# -- rule trees ------------------------------------------------------------------------

_STRING_DOMAINS: dict[str, tuple[str, ...]] = {
    "region": REGIONS,
    "industry_code": INDUSTRY_CODES,
    "contact.language": LANGUAGES,
    "contact.timezone": TIMEZONES,
}


def _scalar(name: str, draw: st.DrawFn, operator: str = "=") -> Any:
    spec = FIELDS[name]
    if spec.type is FieldType.ENUM:
        values = PRODUCTS if name == "subscription.active_product" else spec.values
        return draw(st.sampled_from(values))
    if spec.type is FieldType.BOOLEAN:
        return draw(st.booleans())
    if spec.type is FieldType.DECIMAL:
        extra = (Decimal("0.3"), Decimal("20"), Decimal("20.2"), Decimal("260.5"))
        return str(draw(st.sampled_from(MONEY + extra)))
    if spec.type is FieldType.DATE:
        return draw(st.sampled_from(DATES)).isoformat()
    domain = _STRING_DOMAINS.get(name, ())
    if operator in ("contains", "beginsWith"):
        # A piece of a value the data holds, often in another ASCII case.
        whole = draw(st.sampled_from(domain) | short_text) if domain else draw(short_text)
        start = 0 if operator == "beginsWith" else draw(st.integers(0, len(whole) - 1))
        end = draw(st.integers(start + 1, len(whole)))
        piece = whole[start:end]
        return draw(st.sampled_from((piece, piece.upper(), piece.lower(), piece.swapcase())))
    return draw(st.sampled_from(domain) | short_text) if domain else draw(short_text)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(FIELDS)))
    operator = draw(st.sampled_from(FIELDS[name].operators))
    arity = OPERATORS[operator].arity
    rule: dict[str, Any] = {"field": name, "operator": operator}
    if arity is Arity.ONE:
        rule["value"] = _scalar(name, draw, operator)
    elif arity is Arity.LIST:
        rule["value"] = [_scalar(name, draw) for _ in range(draw(st.integers(1, 3)))]
    elif arity is Arity.TWO:
        pair = [_scalar(name, draw), _scalar(name, draw)]
        key = Decimal if FIELDS[name].type is FieldType.DECIMAL else str
        rule["value"] = sorted(pair, key=key)
    elif arity is Arity.DAYS:
        rule["value"] = draw(st.sampled_from((0, 1, 30, 90, 400)))
    return rule


def _group(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "combinator": st.sampled_from(("and", "or")),
            "not": st.booleans(),
            # Never empty: empty groups have their own tests.
            "rules": st.lists(children, min_size=1, max_size=4),
        }
    )


rule_trees: st.SearchStrategy[dict[str, Any]] = _group(st.recursive(rules(), _group, max_leaves=8))

targets = st.fixed_dictionaries(
    {
        "level": st.sampled_from(("organisations", "contacts")),
        "roles": st.lists(st.sampled_from(CONTACT_ROLE_VALUES), max_size=3, unique=True),
        "channels": st.lists(st.sampled_from(CHANNEL_VALUES), min_size=1, max_size=3, unique=True),
    }
)


# -- a small fixed audience, with the ids every rule must select ---------------------------


def _org(
    id_: int,
    external_id: str,
    legal_name: str,
    tax_id: str | None,
    industry_code: str,
    region: str,
    employee_band: str,
    revenue_band: str,
    is_key_account: bool,
    monthly_spend: str,
    contract_start: date | None,
    contract_end: date | None,
) -> dict[str, Any]:
    return {
        "id": id_,
        "external_id": external_id,
        "legal_name": legal_name,
        "tax_id": tax_id,
        "industry_code": industry_code,
        "region": region,
        "employee_band": employee_band,
        "revenue_band": revenue_band,
        "is_key_account": is_key_account,
        "account_manager_id": None,
        "contract_start": contract_start,
        "contract_end": contract_end,
        "monthly_spend": Decimal(monthly_spend),
        "created_at": NOW,
        "updated_at": NOW,
    }


def _contact(
    id_: int,
    org: int,
    role: str,
    email: str | None,
    phone: str | None,
    handle: str | None,
    language: str,
    timezone: str,
) -> dict[str, Any]:
    return {
        "id": id_,
        "organisation_id": org,
        "first_name": "Person",
        "last_name": f"Number{id_}",
        "job_title": None,
        "role": role,
        "email": email,
        "phone": phone,
        "messenger_handle": handle,
        "language": language,
        "timezone": timezone,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


FIXED = Dataset(
    organisations=[
        _org(
            1,
            "ACME-001",
            "Acme 100% Telecom_Ltd",
            "DE123",
            "61.10",
            "North",
            "1000+",
            "250M+",
            True,
            "1500.50",
            date(2024, 6, 14),
            _day(30),
        ),
        _org(
            2,
            "beta-002",
            "Beta Networks",
            None,
            "61.20",
            "north",
            "50-249",
            "10M-50M",
            False,
            "999.99",
            _day(-10),
            _day(120),
        ),
        _org(
            3,
            "GAMMA_003",
            "Gämma Cloud GmbH",
            "RU77",
            "62.01",
            "Süd",
            "1-9",
            "<1M",
            False,
            "0.00",
            None,
            None,
        ),
        _org(
            4,
            "DELTA\\004",
            "delta c:\\path",
            "X%1",
            "61.10",
            "South",
            "250-999",
            "50M-250M",
            True,
            "1500.49",
            _day(0),
            _day(-1),
        ),
        _org(
            5,
            "EPS-005",
            "Epsilon",
            None,
            "61.10",
            "North",
            "10-49",
            "1M-10M",
            False,
            "10.00",
            None,
            _day(365),
        ),
    ],
    subscriptions=[
        {
            "organisation_id": 1,
            "product": "cloud",
            "status": "active",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("0.10"),
        },
        {
            "organisation_id": 1,
            "product": "voice",
            "status": "active",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("0.20"),
        },
        {
            "organisation_id": 1,
            "product": "vpn",
            "status": "cancelled",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("100.00"),
        },
        {
            "organisation_id": 2,
            "product": "internet",
            "status": "active",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("250.00"),
        },
        {
            "organisation_id": 2,
            "product": "cloud",
            "status": "suspended",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("50.00"),
        },
        {
            "organisation_id": 4,
            "product": "voice",
            "status": "active",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("1000.00"),
        },
        {
            "organisation_id": 5,
            "product": "cloud",
            "status": "active",
            "start_date": date(2024, 1, 1),
            "mrr": Decimal("10.00"),
        },
    ],
    contacts=[
        _contact(
            1, 1, "decision_maker", "ceo@acme.test", "+4930000001", None, "en", "Europe/Berlin"
        ),
        _contact(2, 1, "billing", "billing@acme.test", None, None, "de", "Europe/Berlin"),
        _contact(
            3, 1, "technical", None, "+4930000003", "https://hooks.acme.test/ops", "en", "UTC"
        ),
        _contact(4, 2, "decision_maker", "dm@beta.test", None, None, "ru", "Europe/Moscow"),
        _contact(5, 2, "legal", "legal@beta.test", None, None, "EN", "Europe/Moscow"),
        _contact(6, 3, "other", "info@gamma.test", "+79990000006", None, "de", "Europe/Berlin"),
        _contact(7, 4, "billing", "billing@delta.test", None, None, "en", "UTC"),
    ],
    consents=[
        {"contact_id": c, "channel": ch, "status": st_, "source": "crm", "recorded_at": NOW}
        for c, ch, st_ in (
            (1, "email", "granted"),
            (1, "sms", "granted"),
            (2, "email", "granted"),
            (3, "sms", "denied"),
            (3, "webhook", "granted"),
            (4, "email", "withdrawn"),
            (5, "email", "granted"),
            (6, "email", "granted"),
            (6, "sms", "granted"),
            (7, "email", "granted"),
        )
    ],
    suppressions=[
        {"address": a, "channel": ch, "reason": "test", "created_at": NOW, "created_by": None}
        for a, ch in (
            ("legal@beta.test", None),  # every channel
            ("+79990000006", "sms"),
            ("billing@delta.test", "sms"),  # an email address suppressed for SMS only
        )
    ],
)

ALL = {1, 2, 3, 4, 5, 6, 7}


def rule(field_name: str, operator: str, value: Any = None) -> dict[str, Any]:
    found: dict[str, Any] = {"field": field_name, "operator": operator}
    if value is not None:
        found["value"] = value
    return found


def tree(*rules_: dict[str, Any], combinator: str = "and", negated: bool = False) -> dict[str, Any]:
    return {"combinator": combinator, "not": negated, "rules": list(rules_)}


# (rule, the contact ids whose row it matches).  Contacts by organisation: 1 -> {1, 2, 3},
# 2 -> {4, 5}, 3 -> {6}, 4 -> {7}; organisation 5 has none.
FIXED_CASES: list[tuple[dict[str, Any], set[int]]] = [
    # string: exact, case-sensitive equality; ASCII-only case folding for contains/beginsWith
    (rule("region", "=", "North"), {1, 2, 3}),
    (rule("region", "!=", "North"), {4, 5, 6, 7}),
    (rule("region", "in", ["north", "South"]), {4, 5, 7}),
    (rule("region", "notIn", ["North", "north"]), {6, 7}),
    (rule("region", "contains", "OR"), {1, 2, 3, 4, 5}),
    (rule("region", "beginsWith", "s"), {6, 7}),
    (rule("region", "contains", "ü"), {6}),
    (rule("region", "contains", "Ü"), set()),
    (rule("industry_code", "beginsWith", "61."), {1, 2, 3, 4, 5, 7}),
    (rule("industry_code", "contains", "."), ALL),
    (rule("legal_name", "contains", "100%"), {1, 2, 3}),
    (rule("legal_name", "contains", "%"), {1, 2, 3}),
    (rule("legal_name", "contains", "_"), {1, 2, 3}),
    (rule("legal_name", "contains", "\\"), {7}),
    (rule("legal_name", "contains", "C:\\P"), {7}),
    (rule("legal_name", "beginsWith", "ACME"), {1, 2, 3}),
    (rule("legal_name", "contains", "GÄMMA"), set()),
    (rule("legal_name", "contains", "gäMMA"), {6}),
    (rule("tax_id", "=", "DE123"), {1, 2, 3}),
    (rule("tax_id", "!=", "DE123"), {6, 7}),  # NULL tax ids never match !=
    (rule("tax_id", "in", ["RU77", "X%1", "nothing"]), {6, 7}),
    (rule("tax_id", "notIn", ["RU77"]), {1, 2, 3, 7}),
    (rule("tax_id", "null"), {4, 5}),
    (rule("tax_id", "notNull"), {1, 2, 3, 6, 7}),
    (rule("tax_id", "contains", "%"), {7}),
    (rule("tax_id", "beginsWith", "x%"), {7}),
    (rule("tax_id", "beginsWith", "x_"), set()),
    (rule("external_id", "contains", "_"), {6}),
    (rule("external_id", "contains", "\\0"), {7}),
    (rule("external_id", "beginsWith", "BETA"), {4, 5}),
    # enum
    (rule("employee_band", "=", "1000+"), {1, 2, 3}),
    (rule("employee_band", "!=", "1000+"), {4, 5, 6, 7}),
    (rule("employee_band", "in", ["1-9", "250-999"]), {6, 7}),
    (rule("employee_band", "notIn", ["1-9"]), {1, 2, 3, 4, 5, 7}),
    (rule("revenue_band", "=", "<1M"), {6}),
    # boolean
    (rule("is_key_account", "=", True), {1, 2, 3, 7}),
    (rule("is_key_account", "=", False), {4, 5, 6}),
    (rule("is_key_account", "!=", True), {4, 5, 6}),
    # decimal, exact
    (rule("monthly_spend", "=", "1500.5"), {1, 2, 3}),
    (rule("monthly_spend", "=", 1500.50), {1, 2, 3}),
    (rule("monthly_spend", "!=", "1500.50"), {4, 5, 6, 7}),
    (rule("monthly_spend", "<", "999.99"), {6}),
    (rule("monthly_spend", "<=", "999.99"), {4, 5, 6}),
    (rule("monthly_spend", ">", "1500.49"), {1, 2, 3}),
    (rule("monthly_spend", ">=", "1500.49"), {1, 2, 3, 7}),
    (rule("monthly_spend", "between", ["999.99", "1500.49"]), {4, 5, 7}),
    # date, relative to TODAY (2025-06-15)
    (rule("contract_start", "=", "2025-06-15"), {7}),
    (rule("contract_start", "!=", "2025-06-15"), {1, 2, 3, 4, 5}),
    (rule("contract_start", "<", "2025-06-05"), {1, 2, 3}),
    (rule("contract_start", "<=", "2025-06-05"), {1, 2, 3, 4, 5}),
    (rule("contract_start", ">", "2025-06-05"), {7}),
    (rule("contract_start", ">=", "2025-06-05"), {4, 5, 7}),
    (rule("contract_start", "between", ["2025-01-01", "2025-06-14"]), {4, 5}),
    (rule("contract_start", "withinLastDays", 10), {4, 5, 7}),
    (rule("contract_start", "withinLastDays", 9), {7}),
    (rule("contract_start", "withinLastDays", 0), {7}),
    (rule("contract_start", "null"), {6}),
    (rule("contract_start", "notNull"), {1, 2, 3, 4, 5, 7}),
    (rule("contract_end", "withinNextDays", 30), {1, 2, 3}),
    (rule("contract_end", "withinNextDays", 29), set()),
    (rule("contract_end", "withinNextDays", 120), {1, 2, 3, 4, 5}),
    (rule("contract_end", "withinNextDays", "90"), {1, 2, 3}),
    (rule("contract_end", "withinLastDays", 1), {7}),
    # subscriptions: active ones only
    (rule("subscription.active_product", "=", "cloud"), {1, 2, 3}),
    (rule("subscription.active_product", "=", "vpn"), set()),
    (rule("subscription.active_product", "in", ["voice", "internet"]), {1, 2, 3, 4, 5, 7}),
    (rule("subscription.active_product", "notIn", ["voice"]), {4, 5, 6}),
    (rule("subscription.active_product", "notIn", ["cloud"]), {4, 5, 6, 7}),
    (rule("subscription.total_mrr", "=", "0.3"), {1, 2, 3}),  # 0.10 + 0.20, exactly
    (rule("subscription.total_mrr", "=", "0"), {6}),
    (rule("subscription.total_mrr", "!=", "0"), {1, 2, 3, 4, 5, 7}),
    (rule("subscription.total_mrr", ">", "0.3"), {4, 5, 7}),
    (rule("subscription.total_mrr", ">=", "0.30"), {1, 2, 3, 4, 5, 7}),
    (rule("subscription.total_mrr", "<", 250), {1, 2, 3, 6}),
    (rule("subscription.total_mrr", "<=", "250"), {1, 2, 3, 4, 5, 6}),
    (rule("subscription.total_mrr", "between", ["0.30", "250.00"]), {1, 2, 3, 4, 5}),
    # contact
    (rule("contact.role", "=", "billing"), {2, 7}),
    (rule("contact.role", "!=", "billing"), {1, 3, 4, 5, 6}),
    (rule("contact.role", "in", ["decision_maker", "legal"]), {1, 4, 5}),
    (rule("contact.role", "notIn", ["decision_maker"]), {2, 3, 5, 6, 7}),
    (rule("contact.language", "=", "en"), {1, 3, 7}),
    (rule("contact.language", "=", "EN"), {5}),
    (rule("contact.language", "in", ["en", "EN"]), {1, 3, 5, 7}),
    (rule("contact.language", "beginsWith", "E"), {1, 3, 5, 7}),
    (rule("contact.language", "contains", "u"), {4}),
    (rule("contact.language", "notIn", ["en", "de"]), {4, 5}),
    (rule("contact.language", "!=", "en"), {2, 4, 5, 6}),
    (rule("contact.timezone", "beginsWith", "europe/"), {1, 2, 4, 5, 6}),
    (rule("contact.timezone", "=", "UTC"), {3, 7}),
    (rule("contact.timezone", "contains", "MOSCOW"), {4, 5}),
    # consent: the status, missing when never recorded
    (rule("consent.email", "=", "granted"), {1, 2, 5, 6, 7}),
    (rule("consent.email", "!=", "granted"), {4}),
    (rule("consent.email", "in", ["denied", "withdrawn"]), {4}),
    (rule("consent.email", "notIn", ["granted"]), {4}),
    (rule("consent.email", "null"), {3}),
    (rule("consent.email", "notNull"), {1, 2, 4, 5, 6, 7}),
    (rule("consent.sms", "=", "granted"), {1, 6}),
    (rule("consent.sms", "!=", "granted"), {3}),
    (rule("consent.sms", "null"), {2, 4, 5, 7}),
    (rule("consent.sms", "notIn", ["denied"]), {1, 6}),
    (rule("consent.webhook", "=", "granted"), {3}),
    (rule("consent.webhook", "null"), {1, 2, 4, 5, 6, 7}),
]

# (tree, the contact ids it matches): groups, NOT and empty groups.
FIXED_TREES: list[tuple[dict[str, Any], set[int]]] = [
    (tree(), ALL),
    (tree(combinator="or"), set()),
    (tree(negated=True), set()),
    (tree(combinator="or", negated=True), ALL),
    # NOT inverts a rule's verdict, NULLs included: org 2 has no tax id.
    (tree(rule("tax_id", "!=", "DE123"), negated=True), {1, 2, 3, 4, 5}),
    (tree(rule("region", "=", "North"), rule("contact.role", "=", "legal"), combinator="or"),
     {1, 2, 3, 5}),
    (
        tree(
            rule("is_key_account", "=", True),
            tree(rule("consent.email", "=", "granted"), rule("consent.webhook", "=", "granted"),
                 combinator="or"),
            tree(rule("contact.role", "=", "billing"), negated=True),
        ),
        {1, 3},
    ),
]  # fmt: skip

# Reachable: email {1, 2, 6, 7} (3 has no email, 4 withdrew, 5 is suppressed everywhere;
# 7's address is suppressed for SMS only), sms {1} (3 denied, 6 suppressed), webhook {3}.
# (target, ids counted, recipients per channel) for the empty tree.
FIXED_TARGETS: list[tuple[dict[str, Any], list[int], dict[str, list[tuple[int, str]]]]] = [
    (
        {"level": "contacts", "channel": "email"},
        [1, 2, 6, 7],
        {"email": [(1, "ceo@acme.test"), (2, "billing@acme.test"), (6, "info@gamma.test"),
                   (7, "billing@delta.test")]},
    ),
    (
        {"level": "contacts", "channels": ["sms", "webhook"]},
        [1, 3],
        {"sms": [(1, "+4930000001")], "webhook": [(3, "https://hooks.acme.test/ops")]},
    ),
    (
        {"level": "contacts", "roles": ["billing"], "channel": "email"},
        [2, 7],
        {"email": [(2, "billing@acme.test"), (7, "billing@delta.test")]},
    ),
    (
        # One recipient per organisation: the decision maker before billing.
        {"level": "organisations", "channel": "email"},
        [1, 3, 4],
        {"email": [(1, "ceo@acme.test"), (6, "info@gamma.test"), (7, "billing@delta.test")]},
    ),
    (
        # The roles' order decides: billing first; the "other" contact of org 3 is out.
        {"level": "organisations", "roles": ["billing", "decision_maker"], "channel": "email"},
        [1, 4],
        {"email": [(2, "billing@acme.test"), (7, "billing@delta.test")]},
    ),
    (
        {"level": "organisations", "channels": ["webhook", "email"]},
        [1, 3, 4],
        {"email": [(1, "ceo@acme.test"), (6, "info@gamma.test"), (7, "billing@delta.test")],
         "webhook": [(3, "https://hooks.acme.test/ops")]},
    ),
]  # fmt: skip


# -- the property both databases must satisfy ----------------------------------------------


def depth(raw_tree: dict[str, Any]) -> int:
    groups = [depth(r) for r in raw_tree["rules"] if "rules" in r]
    return 1 + max(groups, default=0)


def check_agreement(
    engine: Engine, data: Dataset, raw_tree: dict[str, Any], raw_target: Any
) -> None:
    """Store ``data``; SQL and the evaluator must select the same rows, ids and recipients."""
    assume(depth(raw_tree) <= 10)
    parsed = parse_rules(raw_tree)
    target = parse_target(raw_target)
    with engine.begin() as connection:
        store(connection, data)
    contacts, suppressions = facts(data)

    with Session(engine) as session:
        rows = (
            select(Contact.id).join(Organisation).where(compiler.compile_tree(parsed.root, TODAY))
        )
        sql_matches = set(session.scalars(rows))
        sql_ids = list(session.scalars(compiler.ids_query(parsed.root, target, TODAY)))
        sql_count = session.scalar(compiler.count_query(parsed.root, target, TODAY))
        sql_recipients = {
            channel: [
                tuple(row)
                for row in session.execute(
                    compiler.recipients_query(parsed.root, target, channel, TODAY)
                )
            ]
            for channel in target.channels
        }

    assert sql_matches == {c.id for c in contacts if evaluator.matches(parsed.root, c, TODAY)}
    python_ids = evaluator.select_target_ids(parsed.root, target, contacts, suppressions, TODAY)
    assert sql_ids == sorted(python_ids)
    assert sql_count == len(python_ids)
    for channel in target.channels:
        assert sql_recipients[channel] == evaluator.select_recipients(
            parsed.root, target, channel, contacts, suppressions, TODAY
        )
