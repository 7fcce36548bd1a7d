"""What each import kind accepts: its fields, how a cell is read, which columns must be
present, and a suggested mapping from a file's headers to fields.

A field is ``key`` when every row needs it (the column must be mapped and the cell may
not be empty), ``create`` when a new record needs it (a row for an unknown record is
rejected without it; an existing record keeps its value when the column is absent), or
optional.  An empty cell in a mapped optional column clears the value, except consent
columns, where an empty cell means "no information" and changes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.audience.imports import values as v
from app.audience.models import (
    CHANNEL_VALUES,
    CONSENT_STATUS_VALUES,
    CONTACT_ROLE_VALUES,
    EMPLOYEE_BAND_VALUES,
    PRODUCT_VALUES,
    REVENUE_BAND_VALUES,
    SUBSCRIPTION_STATUS_VALUES,
    ImportKind,
)

KEY = "key"
CREATE = "create"

ORG_PREFIX = "organisation."


@dataclass(frozen=True)
class ParseContext:
    """Per-import settings the cell parsers need."""

    phone_region: str = "DE"


@dataclass(frozen=True)
class Contextual:
    """A cell parser that also needs the import's :class:`ParseContext`."""

    parse: Callable[[str, ParseContext], Any]


Parser = Callable[[str], Any] | Contextual


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    parse: Parser
    required: str | None = None  # KEY, CREATE or None
    synonyms: tuple[str, ...] = ()
    help: str = ""

    def reader(self, context: ParseContext) -> Callable[[str], Any]:
        """A one-argument parser for this import (a plain function when possible:
        it runs for every cell of every line)."""
        parse = self.parse
        if isinstance(parse, Contextual):
            contextual = parse.parse
            return lambda text: contextual(text, context)
        return parse


def _text(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > max_length or "\n" in text or "\r" in text:
            return v.parse_text(text, max_length=max_length)  # raises with the reason
        return text

    return parse


def _phone(text: str, context: ParseContext) -> str:
    return v.parse_phone(text, context.phone_region)


def _full_name(text: str) -> tuple[str, str]:
    name = v.parse_text(" ".join(text.split()), max_length=200)
    first, _, last = name.rpartition(" ")
    return (first, last) if first else ("", last)


def _channel_or_all(text: str) -> str | None:
    if v.normalise_token(text) in {"all", "any", "all_channels", "every"}:
        return None
    return CHANNEL(text)


EMPLOYEE_BAND = v.BandParser(
    "employee band",
    EMPLOYEE_BAND_VALUES,
    (10, 50, 250, 1000),
    {
        "1 to 9": "1-9",
        "10 to 49": "10-49",
        "50 to 249": "50-249",
        "250 to 999": "250-999",
        ">1000": "1000+",
        "over 1000": "1000+",
        "1000 and more": "1000+",
        ">=1000": "1000+",
    },
)
REVENUE_BAND = v.BandParser(
    "revenue band",
    REVENUE_BAND_VALUES,
    (1_000_000, 10_000_000, 50_000_000, 250_000_000),
    {
        "under 1M": "<1M",
        "below 1M": "<1M",
        "1-10M": "1M-10M",
        "10-50M": "10M-50M",
        "50-250M": "50M-250M",
        ">250M": "250M+",
        "over 250M": "250M+",
    },
)
PRODUCT = v.EnumParser(
    "product",
    PRODUCT_VALUES,
    {
        "telephony": "voice",
        "fixed voice": "voice",
        "sip trunk": "voice",
        "sip": "voice",
        "cellular": "mobile",
        "mobile voice": "mobile",
        "mobile data": "mobile",
        "broadband": "internet",
        "internet access": "internet",
        "dia": "internet",
        "fibre": "internet",
        "fiber": "internet",
        "ip vpn": "vpn",
        "mpls": "vpn",
        "mpls vpn": "vpn",
        "sd-wan": "vpn",
        "cloud services": "cloud",
        "iaas": "cloud",
        "m2m": "iot",
        "internet of things": "iot",
        "sms": "sms_gateway",
        "a2p sms": "sms_gateway",
        "bulk sms": "sms_gateway",
        "data centre": "data_center",
        "datacenter": "data_center",
        "colocation": "data_center",
        "dc": "data_center",
        "cyber security": "security",
        "cybersecurity": "security",
        "ddos protection": "security",
        "firewall": "security",
    },
)
SUBSCRIPTION_STATUS = v.EnumParser(
    "subscription status",
    SUBSCRIPTION_STATUS_VALUES,
    {
        "live": "active",
        "in service": "active",
        "on hold": "suspended",
        "paused": "suspended",
        "blocked": "suspended",
        "terminated": "cancelled",
        "canceled": "cancelled",
        "ended": "cancelled",
        "ordered": "pending",
        "provisioning": "pending",
        "new": "pending",
    },
)
CONTACT_ROLE = v.EnumParser(
    "contact role",
    CONTACT_ROLE_VALUES,
    {
        "dm": "decision_maker",
        "decision": "decision_maker",
        "decider": "decision_maker",
        "economic buyer": "decision_maker",
        "finance": "billing",
        "accounting": "billing",
        "accounts payable": "billing",
        "invoice": "billing",
        "invoicing": "billing",
        "tech": "technical",
        "it": "technical",
        "engineering": "technical",
        "technical contact": "technical",
        "legal counsel": "legal",
        "lawyer": "legal",
        "counsel": "legal",
        "compliance": "legal",
        "general": "other",
        "misc": "other",
    },
)
CHANNEL = v.EnumParser(
    "channel",
    CHANNEL_VALUES,
    {
        "e-mail": "email",
        "mail": "email",
        "text": "sms",
        "text message": "sms",
        "mobile": "sms",
        "phone": "sms",
        "hook": "webhook",
        "messenger": "webhook",
        "api": "webhook",
    },
)
CONSENT_STATUS = v.EnumParser(
    "consent status",
    CONSENT_STATUS_VALUES,
    {
        "yes": "granted",
        "y": "granted",
        "true": "granted",
        "1": "granted",
        "opt-in": "granted",
        "opted in": "granted",
        "optin": "granted",
        "subscribed": "granted",
        "ok": "granted",
        "given": "granted",
        "no": "denied",
        "n": "denied",
        "false": "denied",
        "0": "denied",
        "refused": "denied",
        "declined": "denied",
        "none": "denied",
        "opt-out": "withdrawn",
        "opted out": "withdrawn",
        "optout": "withdrawn",
        "unsubscribed": "withdrawn",
        "revoked": "withdrawn",
    },
)

ORGANISATION_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "external_id",
        "External id",
        _text(64),
        KEY,
        (
            "id",
            "customer id",
            "account id",
            "crm id",
            "client id",
            "customer number",
            "account number",
            "kundennummer",
            "kunden nr",
            "org id",
            "organisation id",
            "organization id",
            "external id",
        ),
        "The CRM or billing key; rows are matched on it.",
    ),
    FieldSpec(
        "legal_name",
        "Legal name",
        _text(255),
        CREATE,
        (
            "name",
            "company",
            "company name",
            "organisation",
            "organization",
            "organisation name",
            "organization name",
            "account name",
            "customer name",
            "firma",
            "firmenname",
        ),
    ),
    FieldSpec(
        "tax_id",
        "Tax id",
        _text(32),
        synonyms=("vat", "vat id", "vat number", "tax number", "inn", "tin", "ust idnr"),
    ),
    FieldSpec(
        "industry_code",
        "Industry (NACE)",
        v.parse_industry_code,
        CREATE,
        (
            "industry",
            "nace",
            "nace code",
            "sector",
            "okved",
            "industry code",
            "branche",
            "wirtschaftszweig",
        ),
        "A NACE code such as 61.10 or a section letter such as J.",
    ),
    FieldSpec(
        "region",
        "Region",
        _text(100),
        CREATE,
        ("state", "province", "area", "federal state", "bundesland", "oblast"),
    ),
    FieldSpec(
        "employee_band",
        "Employee band",
        EMPLOYEE_BAND,
        CREATE,
        (
            "employees",
            "employee count",
            "staff",
            "headcount",
            "size",
            "company size",
            "mitarbeiter",
            "beschaeftigte",
        ),
        "1-9, 10-49, 50-249, 250-999, 1000+ or the number of employees.",
    ),
    FieldSpec(
        "revenue_band",
        "Revenue band",
        REVENUE_BAND,
        CREATE,
        ("revenue", "annual revenue", "turnover", "annual turnover", "umsatz", "jahresumsatz"),
        "<1M, 1M-10M, 10M-50M, 50M-250M, 250M+ or the annual revenue.",
    ),
    FieldSpec(
        "is_key_account",
        "Key account",
        v.parse_bool,
        synonyms=("key account", "key", "tier", "vip", "strategic"),
    ),
    FieldSpec(
        "account_manager",
        "Account manager (user email)",
        v.parse_email,
        synonyms=("manager", "account owner", "owner", "am", "kam", "account manager email"),
        help="The email of an existing Ledgerline user.",
    ),
    FieldSpec(
        "contract_start",
        "Contract start",
        v.parse_date,
        synonyms=("contract from", "start", "customer since", "since"),
    ),
    FieldSpec(
        "contract_end",
        "Contract end",
        v.parse_date,
        synonyms=("contract until", "contract to", "expiry", "expires", "renewal date", "end"),
    ),
    FieldSpec(
        "monthly_spend",
        "Monthly spend",
        v.parse_amount,
        synonyms=("spend", "monthly revenue", "arpa", "monthly billing", "mrc", "monthly amount"),
    ),
)

# A contacts file may carry its organisations' columns, to create missing ones.
ORGANISATION_COLUMNS_ON_CONTACTS: tuple[FieldSpec, ...] = tuple(
    FieldSpec(
        ORG_PREFIX + spec.name,
        "Organisation: " + spec.label,
        spec.parse,
        None,
        tuple(f"organisation {s}" for s in (spec.name.replace("_", " "), *spec.synonyms))
        + tuple(f"company {s}" for s in (spec.name.replace("_", " "), *spec.synonyms)),
        spec.help,
    )
    for spec in ORGANISATION_FIELDS
    if spec.name != "external_id"
)

CONTACT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "organisation_external_id",
        "Organisation external id",
        _text(64),
        KEY,
        (
            "organisation id",
            "organization id",
            "company id",
            "account id",
            "customer id",
            "org id",
            "org external id",
            "external id",
            "organisation",
            "organization",
            "company external id",
        ),
    ),
    FieldSpec(
        "first_name",
        "First name",
        _text(100),
        None,
        ("first", "given name", "firstname", "forename", "vorname"),
    ),
    FieldSpec(
        "last_name",
        "Last name",
        _text(100),
        CREATE,
        ("last", "surname", "family name", "lastname", "nachname"),
    ),
    FieldSpec(
        "full_name",
        "Full name (split into first and last)",
        _full_name,
        synonyms=("name", "contact name", "contact", "person"),
    ),
    FieldSpec(
        "job_title", "Job title", _text(150), synonyms=("title", "position", "function", "job")
    ),
    FieldSpec(
        "role",
        "Role",
        CONTACT_ROLE,
        synonyms=("contact role", "contact type", "type"),
        help="decision maker, billing, technical, legal or other.",
    ),
    FieldSpec(
        "email",
        "Email",
        v.parse_email,
        synonyms=("e-mail", "mail", "email address", "e-mail address"),
    ),
    FieldSpec(
        "phone",
        "Phone",
        Contextual(_phone),
        synonyms=("telephone", "mobile", "phone number", "tel", "msisdn", "cell"),
    ),
    FieldSpec(
        "messenger_handle",
        "Messenger or webhook",
        v.parse_handle,
        synonyms=("messenger", "telegram", "webhook", "webhook url", "handle"),
    ),
    FieldSpec(
        "language",
        "Language",
        v.parse_language,
        synonyms=("lang", "locale", "preferred language"),
    ),
    FieldSpec("timezone", "Time zone", v.parse_timezone, synonyms=("time zone", "tz")),
    FieldSpec(
        "consent_email",
        "Consent: email",
        CONSENT_STATUS,
        synonyms=("email consent", "email opt in", "opt in email", "email optin"),
    ),
    FieldSpec(
        "consent_sms",
        "Consent: SMS",
        CONSENT_STATUS,
        synonyms=("sms consent", "sms opt in", "opt in sms", "sms optin"),
    ),
    FieldSpec(
        "consent_webhook",
        "Consent: webhook",
        CONSENT_STATUS,
        synonyms=("webhook consent", "messenger consent"),
    ),
    FieldSpec("consent_source", "Consent source", _text(120), synonyms=("opt in source", "source")),
    FieldSpec(
        "consent_recorded_at",
        "Consent recorded at",
        v.parse_datetime,
        synonyms=("consent date", "opt in date", "consent timestamp"),
    ),
    *ORGANISATION_COLUMNS_ON_CONTACTS,
)

SUBSCRIPTION_FIELDS: tuple[FieldSpec, ...] = (
    CONTACT_FIELDS[0],
    FieldSpec(
        "product",
        "Product",
        PRODUCT,
        KEY,
        ("service", "product name", "service type", "product code"),
    ),
    FieldSpec(
        "start_date",
        "Start date",
        v.parse_date,
        KEY,
        ("start", "since", "activation date", "activated", "from"),
    ),
    FieldSpec(
        "status",
        "Status",
        SUBSCRIPTION_STATUS,
        CREATE,
        ("state", "subscription status", "service status"),
    ),
    FieldSpec(
        "mrr",
        "Monthly recurring revenue",
        v.parse_amount,
        CREATE,
        ("monthly recurring revenue", "monthly fee", "recurring", "mrc", "price"),
    ),
)

CONSENT_FIELDS: tuple[FieldSpec, ...] = (
    CONTACT_FIELDS[0],
    FieldSpec(
        "email",
        "Contact email",
        v.parse_email,
        synonyms=("e-mail", "mail", "email address", "contact email"),
    ),
    FieldSpec(
        "phone",
        "Contact phone",
        Contextual(_phone),
        synonyms=("telephone", "mobile", "phone number", "msisdn", "contact phone"),
    ),
    FieldSpec("channel", "Channel", CHANNEL, KEY, ("consent channel", "medium")),
    FieldSpec(
        "status",
        "Status",
        CONSENT_STATUS,
        KEY,
        ("consent", "consent status", "opt in", "state"),
    ),
    FieldSpec("source", "Source", _text(120), synonyms=("consent source", "origin")),
    FieldSpec(
        "recorded_at",
        "Recorded at",
        v.parse_datetime,
        synonyms=("date", "timestamp", "consent date", "recorded"),
    ),
)

SUPPRESSION_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "address",
        "Address",
        _text(500),
        KEY,
        ("email", "phone", "e-mail", "msisdn", "handle", "contact", "recipient"),
    ),
    FieldSpec(
        "channel",
        "Channel (empty: all)",
        _channel_or_all,
        synonyms=("medium", "suppressed channel"),
    ),
    FieldSpec("reason", "Reason", _text(500), synonyms=("why", "comment", "note", "cause")),
)

FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    ImportKind.ORGANISATIONS: ORGANISATION_FIELDS,
    ImportKind.CONTACTS: CONTACT_FIELDS,
    ImportKind.SUBSCRIPTIONS: SUBSCRIPTION_FIELDS,
    ImportKind.CONSENTS: CONSENT_FIELDS,
    ImportKind.SUPPRESSIONS: SUPPRESSION_FIELDS,
}

# Kinds whose rows identify a contact: at least one of these columns must be mapped.
ONE_OF_REQUIRED: dict[str, tuple[str, ...]] = {
    ImportKind.CONTACTS: ("email", "phone"),
    ImportKind.CONSENTS: ("email", "phone"),
}


def fields_for(kind: str) -> tuple[FieldSpec, ...]:
    try:
        return FIELDS[kind]
    except KeyError:
        raise ValueError(f"unknown import kind {kind!r}; use one of: {', '.join(FIELDS)}") from None


def field_map(kind: str) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in fields_for(kind)}


def suggest_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Each header's suggested field ("" for none): an exact match of the header with a
    field's name, label or synonym (case, accents and punctuation ignored), else a close
    spelling; each field is suggested for one header at most."""
    candidates: dict[str, str] = {}
    for spec in fields_for(kind):
        for alias in (spec.name, spec.label, *spec.synonyms):
            candidates.setdefault(v.normalise_token(alias), spec.name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    pending: list[str] = []
    for header in headers:
        found = candidates.get(v.normalise_token(header))
        if found and found not in taken:
            mapping[header] = found
            taken.add(found)
        else:
            mapping[header] = ""
            pending.append(header)
    for header in pending:
        close = difflib.get_close_matches(v.normalise_token(header), list(candidates), 1, 0.85)
        if close and candidates[close[0]] not in taken:
            mapping[header] = candidates[close[0]]
            taken.add(candidates[close[0]])
    return mapping


def mapping_problems(kind: str, headers: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """What is wrong with ``mapping`` (header -> field), keyed by the field or header at
    fault; empty when the import can run."""
    specs = field_map(kind)
    problems: dict[str, str] = {}
    used: dict[str, str] = {}
    for header, name in mapping.items():
        if header not in headers:
            problems[header] = f"the file has no column {header!r}"
            continue
        if not name:
            continue
        if name not in specs:
            problems[header] = f"{name!r} is not a field of a {kind} import"
        elif name in used:
            problems[name] = (
                f"{specs[name].label} is mapped from both {used[name]!r} and {header!r}; "
                "map it from one column"
            )
        else:
            used[name] = header
    for spec in specs.values():
        if spec.required == KEY and spec.name not in used:
            problems[spec.name] = (
                f"the file has no column for {spec.label} ({spec.name}), which every row "
                "needs; map one of the file's columns to it"
            )
    either = ONE_OF_REQUIRED.get(kind)
    if either and not any(name in used for name in either):
        problems[either[0]] = (
            f"map a column to {' or '.join(either)}: a contact is identified by them"
        )
    return problems
