"""Demo data: believable German business customers of a telecom operator.

:func:`iter_demo_organisations` yields one organisation at a time with its contacts,
consents and subscriptions, deterministically for a seed and a reference day; the
benchmark writes these to files and :func:`seed_demo_audience` bulk-inserts them.
Phone numbers are valid German numbers (they pass ``phonenumbers``), emails pass
``email-validator``, NACE codes, regions and bands are real.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from app.audience.models import Consent, Contact, Organisation, Subscription, Suppression
from app.extensions import db

DEMO_COUNTRY = "DE"
DEMO_TIMEZONE = "Europe/Berlin"
DEMO_ID_PREFIX = "CUST-"

# Federal states with a weight (roughly their share of businesses) and city area codes.
REGIONS: tuple[tuple[str, int, tuple[tuple[str, str], ...]], ...] = (
    (
        "Nordrhein-Westfalen",
        21,
        (("Köln", "221"), ("Düsseldorf", "211"), ("Essen", "201"), ("Dortmund", "231")),
    ),
    ("Bayern", 17, (("München", "89"), ("Nürnberg", "911"), ("Augsburg", "821"))),
    ("Baden-Württemberg", 14, (("Stuttgart", "711"), ("Karlsruhe", "721"), ("Mannheim", "621"))),
    ("Niedersachsen", 9, (("Hannover", "511"), ("Braunschweig", "531"))),
    ("Hessen", 8, (("Frankfurt", "69"), ("Wiesbaden", "611"), ("Kassel", "561"))),
    ("Berlin", 6, (("Berlin", "30"),)),
    ("Sachsen", 5, (("Leipzig", "341"), ("Dresden", "351"))),
    ("Rheinland-Pfalz", 5, (("Mainz", "6131"), ("Koblenz", "261"))),
    ("Hamburg", 3, (("Hamburg", "40"),)),
    ("Schleswig-Holstein", 3, (("Kiel", "431"), ("Lübeck", "451"))),
    ("Brandenburg", 2, (("Potsdam", "331"),)),
    ("Sachsen-Anhalt", 2, (("Magdeburg", "391"), ("Halle", "345"))),
    ("Thüringen", 2, (("Erfurt", "361"), ("Jena", "3641"))),
    ("Mecklenburg-Vorpommern", 1, (("Rostock", "381"), ("Schwerin", "385"))),
    ("Saarland", 1, (("Saarbrücken", "681"),)),
    ("Bremen", 1, (("Bremen", "421"),)),
)

# NACE class, a weight, and words that name such a business.
INDUSTRIES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("62.01", 9, ("Software", "IT-Systemhaus", "Digital Solutions", "Informatik")),
    ("46.90", 8, ("Handelshaus", "Großhandel", "Trading")),
    ("47.19", 6, ("Handel", "Warenhaus", "Fachmarkt")),
    ("41.20", 7, ("Bau", "Hochbau", "Bauunternehmung")),
    ("43.21", 5, ("Elektrotechnik", "Elektro", "Gebäudetechnik")),
    ("28.22", 5, ("Maschinenbau", "Fördertechnik", "Anlagenbau")),
    ("25.62", 4, ("Metallbearbeitung", "Präzisionstechnik", "Metallbau")),
    ("49.41", 6, ("Spedition", "Logistik", "Transporte")),
    ("45.20", 4, ("Autohaus", "Kfz-Technik", "Automobile")),
    ("55.10", 3, ("Hotel", "Hotelbetriebe", "Resort")),
    ("56.10", 3, ("Gastronomie", "Restaurantbetriebe", "Catering")),
    ("64.19", 2, ("Bank", "Volksbank", "Kreditbank")),
    ("65.12", 2, ("Versicherung", "Assekuranz")),
    ("68.20", 4, ("Immobilien", "Wohnbau", "Grundbesitz")),
    ("69.10", 3, ("Rechtsanwälte", "Kanzlei")),
    ("69.20", 3, ("Steuerberatung", "Treuhand", "Wirtschaftsprüfung")),
    ("71.12", 3, ("Ingenieurbüro", "Ingenieure", "Planung")),
    ("73.11", 2, ("Werbeagentur", "Kommunikation", "Media")),
    ("86.10", 2, ("Klinikum", "Kliniken", "Krankenhaus")),
    ("86.21", 2, ("Praxisgemeinschaft", "Medizinisches Versorgungszentrum")),
    ("21.20", 1, ("Pharma", "Arzneimittel")),
    ("20.59", 1, ("Chemie", "Chemische Werke")),
    ("35.11", 1, ("Stadtwerke", "Energie", "Energieversorgung")),
    ("10.71", 2, ("Bäckerei", "Backwaren")),
    ("85.59", 1, ("Akademie", "Bildungszentrum")),
)

LEGAL_FORMS = (("GmbH", 60), ("GmbH & Co. KG", 14), ("AG", 6), ("KG", 5), ("e.K.", 4),
               ("OHG", 3), ("SE", 2), ("UG (haftungsbeschränkt)", 6))  # fmt: skip

SURNAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
    "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
    "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann",
    "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer",
    "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung",
    "Hahn", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger",
    "Winkler", "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Schuster",
    "Yilmaz", "Kaya", "Nowak", "Kowalski", "Rossi", "Novak", "Popescu", "Ivanova",
)  # fmt: skip
FIRST_NAMES = (
    "Anna", "Lena", "Julia", "Katharina", "Sarah", "Laura", "Lisa", "Sophie", "Maria",
    "Sabine", "Claudia", "Petra", "Andrea", "Nicole", "Stefanie", "Miriam", "Jana",
    "Thomas", "Michael", "Andreas", "Stefan", "Christian", "Markus", "Alexander",
    "Daniel", "Tobias", "Jan", "Felix", "Jonas", "Lukas", "Matthias", "Sebastian",
    "Frank", "Jürgen", "Klaus", "Uwe", "Ralf", "Oliver", "Florian", "Philipp", "Max",
    "Mehmet", "Ayşe", "Piotr", "Agnieszka", "Marco", "Elena", "Olga", "James", "Emma",
)  # fmt: skip
BRANDS = (
    "Nordlicht", "Rheintal", "Alpina", "Hanse", "Elbtal", "Schwarzwald", "Taunus",
    "Spree", "Isar", "Weser", "Main", "Harz", "Eifel", "Mosel", "Bodensee", "Ostsee",
    "Nordsee", "Allgäu", "Westfalia", "Saxonia", "Bavaria", "Frankonia", "Teutonia",
    "Novatec", "Intercom", "Tecnova", "Datapuls", "Primus", "Optimal", "Vita", "Kronos",
)  # fmt: skip
JOB_TITLES: dict[str, tuple[str, ...]] = {
    "decision_maker": ("Geschäftsführer", "Managing Director", "CEO", "Vorstand",
                       "Head of Procurement", "Leiter Einkauf", "CIO"),
    "billing": ("Buchhaltung", "Accounts Payable", "Finance Manager", "Controller",
                "Leiterin Finanzen"),
    "technical": ("IT-Leiter", "Systemadministrator", "Network Engineer", "Head of IT",
                  "IT-Administratorin"),
    "legal": ("Justiziar", "Legal Counsel", "Datenschutzbeauftragter", "Compliance Officer"),
    "other": ("Assistenz der Geschäftsführung", "Office Manager", "Empfang", "Einkauf"),
}  # fmt: skip
MOBILE_PREFIXES = ("151", "152", "157", "159", "160", "162", "170", "171", "172", "175",
                   "176", "177", "178", "179")  # fmt: skip

EMPLOYEE_BANDS = (("1-9", 40), ("10-49", 30), ("50-249", 18), ("250-999", 8), ("1000+", 4))
REVENUE_FOR_EMPLOYEES = {
    "1-9": (("<1M", 80), ("1M-10M", 20)),
    "10-49": (("<1M", 25), ("1M-10M", 65), ("10M-50M", 10)),
    "50-249": (("1M-10M", 35), ("10M-50M", 55), ("50M-250M", 10)),
    "250-999": (("10M-50M", 30), ("50M-250M", 60), ("250M+", 10)),
    "1000+": (("50M-250M", 35), ("250M+", 65)),
}
SIZE_FACTOR = {"1-9": 1, "10-49": 3, "50-249": 9, "250-999": 25, "1000+": 70}
PRODUCT_BASE_MRR = {
    "voice": (40, 15), "mobile": (120, 35), "internet": (90, 30), "vpn": (250, 60),
    "cloud": (180, 50), "iot": (60, 25), "sms_gateway": (75, 20),
    "data_center": (900, 200), "security": (150, 40),
}  # fmt: skip
PRODUCT_WEIGHTS = (("internet", 30), ("voice", 22), ("mobile", 25), ("vpn", 8), ("cloud", 7),
                   ("security", 4), ("iot", 2), ("sms_gateway", 1), ("data_center", 1))  # fmt: skip
SUBSCRIPTION_STATUSES = (("active", 85), ("suspended", 5), ("cancelled", 7), ("pending", 3))
CONSENT_SOURCES = ("contract", "web form", "CRM migration", "trade fair", "customer portal")
SUPPRESSION_REASONS = ("hard bounce", "spam complaint", "objection under GDPR Art. 21",
                       "number disconnected", "unsubscribed from all channels")  # fmt: skip


@dataclass
class DemoOrganisation:
    """One organisation's rows, ready for bulk insert (ids are filled in on insert)."""

    organisation: dict[str, Any]
    contacts: list[dict[str, Any]] = field(default_factory=list)
    consents: list[list[dict[str, Any]]] = field(default_factory=list)  # per contact
    subscriptions: list[dict[str, Any]] = field(default_factory=list)


def _weighted(rng: random.Random, options: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _ascii_slug(text: str) -> str:
    replaced = text.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    replaced = replaced.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    plain = unicodedata.normalize("NFKD", replaced).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def _company_name(rng: random.Random, words: tuple[str, ...], city: str) -> tuple[str, str]:
    """(legal name, the name part used for the email domain)."""
    word = rng.choice(words)
    pattern = rng.random()
    if pattern < 0.35:
        core = f"{rng.choice(SURNAMES)} {word}"
    elif pattern < 0.55:
        core = f"{rng.choice(SURNAMES)} & {rng.choice(SURNAMES)} {word}"
    elif pattern < 0.75:
        core = f"{rng.choice(BRANDS)} {word}"
    else:
        core = f"{word} {city}"
    return f"{core} {_weighted(rng, LEGAL_FORMS)}", core


def _phone(rng: random.Random, area_code: str, mobile: bool) -> str:
    if mobile:
        prefix = rng.choice(MOBILE_PREFIXES)
        length = 8 if prefix[:2] in ("15", "17") else 7
        return f"+49{prefix}{rng.randint(10 ** (length - 1), 10**length - 1)}"
    length = 10 - len(area_code)
    return f"+49{area_code}{rng.randint(2 * 10 ** (length - 1), 10**length - 1)}"


def iter_demo_organisations(
    n_orgs: int,
    seed: int = 42,
    *,
    today: date | None = None,
    account_manager_ids: Sequence[int] = (),
    contacts_per_org: tuple[int, int] = (2, 5),
    start: int = 1,
) -> Iterator[DemoOrganisation]:
    """``n_orgs`` organisations, the same ones for the same arguments."""
    rng = random.Random(seed)
    today = today or date.today()
    now = datetime(today.year, today.month, today.day, 9, 0, tzinfo=UTC)
    regions = [(r, w) for r, w, _cities in REGIONS]
    cities = {r: c for r, _w, c in REGIONS}
    industries = [((code, words), w) for code, w, words in INDUSTRIES]
    used_names: set[str] = set()
    for number in range(start, start + n_orgs):
        region = _weighted(rng, regions)
        city, area_code = rng.choice(cities[region])
        code, words = _weighted(rng, industries)
        legal_name, core = _company_name(rng, words, city)
        if legal_name in used_names:
            legal_name = f"{legal_name} {city}" if city not in legal_name else legal_name
        suffix = 2
        base_name = legal_name
        while legal_name in used_names:  # a real register would refuse the duplicate
            legal_name = f"{base_name} ({suffix})"
            suffix += 1
        used_names.add(legal_name)
        employees = _weighted(rng, EMPLOYEE_BANDS)
        revenue = _weighted(rng, REVENUE_FOR_EMPLOYEES[employees])
        key_account = rng.random() < {"1-9": 0.005, "10-49": 0.02, "50-249": 0.07,
                                      "250-999": 0.2, "1000+": 0.45}[employees]  # fmt: skip
        contract_start = today - timedelta(days=rng.randint(30, 365 * 9))
        term_days = 365 * rng.choice((1, 2, 3, 5))
        contract_end = contract_start + timedelta(days=term_days)
        while contract_end < today - timedelta(days=rng.randint(0, 120)):
            contract_end += timedelta(days=term_days)  # renewed
        domain = f"{_ascii_slug(core)[:40].strip('-')}.de"
        organisation = {
            "external_id": f"{DEMO_ID_PREFIX}{number:06d}",
            "legal_name": legal_name,
            "tax_id": f"DE{rng.randint(100_000_000, 999_999_999)}" if rng.random() < 0.9 else None,
            "industry_code": code,
            "region": region,
            "employee_band": employees,
            "revenue_band": revenue,
            "is_key_account": key_account,
            "account_manager_id": (
                rng.choice(account_manager_ids)
                if account_manager_ids and (key_account or rng.random() < 0.3)
                else None
            ),
            "contract_start": contract_start,
            "contract_end": contract_end,
            "monthly_spend": Decimal("0.00"),
            "created_at": now,
            "updated_at": now,
        }
        bundle = DemoOrganisation(organisation)
        # Subscriptions
        factor = SIZE_FACTOR[employees]
        products: list[str] = []
        for _ in range(rng.randint(1, 4)):
            product = _weighted(rng, PRODUCT_WEIGHTS)
            if product not in products:
                products.append(product)
        total_mrr = Decimal("0")
        for product in products:
            base, spread = PRODUCT_BASE_MRR[product]
            mrr = Decimal(str(round(max(9.9, rng.gauss(base, spread)) * factor, 2)))
            status = _weighted(rng, SUBSCRIPTION_STATUSES)
            start_date = contract_start + timedelta(
                days=rng.randint(0, max((today - contract_start).days, 1))
            )
            if status == "pending":
                start_date = today + timedelta(days=rng.randint(1, 45))
            bundle.subscriptions.append(
                {
                    "product": product,
                    "status": status,
                    "start_date": start_date,
                    "mrr": mrr.quantize(Decimal("0.01")),
                }
            )
            if status == "active":
                total_mrr += mrr
        spend = total_mrr * Decimal(str(round(rng.uniform(1.0, 1.3), 3)))
        organisation["monthly_spend"] = spend.quantize(Decimal("0.01"))
        # Contacts
        roles = [
            "decision_maker",
            "billing",
            "technical",
            rng.choice(("legal", "other", "technical")),
        ]
        n_contacts = rng.randint(*contacts_per_org)
        emails: set[str] = set()
        for index in range(n_contacts):
            role = (
                roles[index]
                if index < len(roles)
                else rng.choice(("other", "technical", "billing"))
            )
            first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
            local = f"{_ascii_slug(first)}.{_ascii_slug(last)}".replace("-", "")
            if role == "billing" and rng.random() < 0.3:
                local = rng.choice(("rechnung", "buchhaltung", "invoices"))
            while f"{local}@{domain}" in emails:
                local += str(rng.randint(1, 9))
            email = f"{local}@{domain}"
            emails.add(email)
            has_phone = rng.random() < 0.85
            phone = _phone(rng, area_code, mobile=rng.random() < 0.5) if has_phone else None
            handle = None
            if rng.random() < (0.35 if key_account else 0.06):
                handle = (
                    f"https://hooks.{domain}/ledgerline/{rng.randint(1000, 9999)}"
                    if role == "technical"
                    else f"@{_ascii_slug(first)}_{_ascii_slug(last)}".replace("-", "_")
                )
            language = _weighted(rng, (("de", 85), ("en", 11), ("tr", 2), ("pl", 1), ("fr", 1)))
            bundle.contacts.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "job_title": rng.choice(JOB_TITLES[role]),
                    "role": role,
                    "email": email,
                    "phone": phone,
                    "messenger_handle": handle,
                    "language": language,
                    "timezone": DEMO_TIMEZONE,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            recorded = now - timedelta(days=rng.randint(1, 3 * 365), minutes=rng.randint(0, 1439))
            source = rng.choice(CONSENT_SOURCES)
            consents = [
                {
                    "channel": "email",
                    "status": _weighted(rng, (("granted", 85), ("withdrawn", 8), ("denied", 7))),
                    "source": source,
                    "recorded_at": recorded,
                }
            ]
            if phone:
                consents.append(
                    {
                        "channel": "sms",
                        "status": _weighted(
                            rng, (("granted", 70), ("denied", 20), ("withdrawn", 10))
                        ),
                        "source": source,
                        "recorded_at": recorded,
                    }
                )
            if handle:
                consents.append(
                    {
                        "channel": "webhook",
                        "status": _weighted(rng, (("granted", 90), ("withdrawn", 10))),
                        "source": "contract",
                        "recorded_at": recorded,
                    }
                )
            bundle.consents.append(consents)
        yield bundle


def _account_manager_ids() -> list[int]:
    from app.accounts.models import Role, User, UserRole

    statement = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.active.is_(True), UserRole.role.in_([Role.MARKETER, Role.ADMIN]))
        .distinct()
        .order_by(User.id)
    )
    return list(db.session.scalars(statement))


def _insert_ids(connection: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    result = connection.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [row_id for (row_id,) in result]


def seed_demo_audience(
    n_orgs: int = 5000, seed: int = 42, *, today: date | None = None
) -> dict[str, int]:
    """Insert ``n_orgs`` demo organisations with contacts, consents, subscriptions and
    a few suppressions; returns the counts inserted.

    Runs once: when demo organisations (``CUST-`` ids) exist it inserts nothing and
    returns zeros.  Account managers are drawn from active marketers and admins.
    """
    counts = {
        "organisations": 0,
        "contacts": 0,
        "consents": 0,
        "subscriptions": 0,
        "suppressions": 0,
    }
    exists = db.session.scalar(
        select(func.count())
        .select_from(Organisation)
        .where(Organisation.external_id.like(f"{DEMO_ID_PREFIX}%"))
    )
    if exists:
        return counts
    managers = _account_manager_ids()
    orgs_table = Organisation.__table__
    contacts_table = Contact.__table__
    connection = db.session.connection()
    rng = random.Random(seed + 1)
    suppressions: dict[str, dict[str, Any]] = {}
    batch: list[DemoOrganisation] = []

    def flush() -> None:
        org_ids = _insert_ids(connection, orgs_table, [b.organisation for b in batch])
        contact_rows: list[dict[str, Any]] = []
        consent_sets: list[list[dict[str, Any]]] = []
        subscription_rows: list[dict[str, Any]] = []
        for bundle, org_id in zip(batch, org_ids, strict=True):
            contact_rows += [{**c, "organisation_id": org_id} for c in bundle.contacts]
            consent_sets += bundle.consents
            subscription_rows += [{**s, "organisation_id": org_id} for s in bundle.subscriptions]
        contact_ids = _insert_ids(connection, contacts_table, contact_rows)
        consent_rows = [
            {**consent, "contact_id": contact_id}
            for contact_id, consents in zip(contact_ids, consent_sets, strict=True)
            for consent in consents
        ]
        connection.execute(insert(Consent.__table__), consent_rows)
        connection.execute(insert(Subscription.__table__), subscription_rows)
        counts["organisations"] += len(org_ids)
        counts["contacts"] += len(contact_ids)
        counts["consents"] += len(consent_rows)
        counts["subscriptions"] += len(subscription_rows)
        batch.clear()

    for bundle in iter_demo_organisations(n_orgs, seed, today=today, account_manager_ids=managers):
        for contact in bundle.contacts:
            if rng.random() < 0.004:
                address = (
                    contact["phone"]
                    if contact["phone"] and rng.random() < 0.3
                    else contact["email"]
                )
                suppressions[address] = {
                    "address": address,
                    "channel": None
                    if rng.random() < 0.6
                    else ("sms" if address.startswith("+") else "email"),
                    "reason": rng.choice(SUPPRESSION_REASONS),
                    "created_at": contact["created_at"],
                    "created_by": None,
                }
        batch.append(bundle)
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()
    if suppressions:
        taken = set(
            db.session.scalars(
                select(Suppression.address).where(Suppression.address.in_(list(suppressions)))
            )
        )
        rows = [row for address, row in suppressions.items() if address not in taken]
        if rows:
            connection.execute(insert(Suppression.__table__), rows)
        suppressions = {row["address"]: row for row in rows}
    counts["suppressions"] = len(suppressions)
    db.session.commit()
    return counts
