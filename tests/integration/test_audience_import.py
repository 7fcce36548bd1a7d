"""Importing organisations, contacts, subscriptions, consents and suppressions, on SQLite
and PostgreSQL: exact per-line reports, no valid line lost, upserts and deduplication."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.audience import importing
from app.audience.models import (
    Consent,
    Contact,
    ImportFile,
    ImportJob,
    ImportRejection,
    Organisation,
    Subscription,
    Suppression,
)
from app.errors import ConflictError, ValidationError
from app.extensions import db

DATA = Path(__file__).resolve().parents[1] / "data" / "audience"
DATES = "dates are read as YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY or YYYY/MM/DD"

ORGANISATION_REJECTIONS = [
    (6, "external_id", "external_id: duplicate external id 'ORG-001': line 2 already has it; "
     "keep one line per organisation"),
    (7, "legal_name", "legal_name: is empty but required"),
    (8, "contract_start", "contract_start: '2021-02-30' is not a real date (day 30, month 2, "
     f"year 2021); {DATES}"),
    (9, "employee_band", "employee_band: 'lots' is not a known employee band; use one of: 1-9, "
     "10-49, 50-249, 250-999, 1000+ or a plain number"),
    (10, "is_key_account", "is_key_account: 'maybe' is not yes/no; write yes or no (also "
     "true/false, 1/0)"),
    (11, "monthly_spend", "monthly_spend: '-50' is negative; amounts must be 0 or more"),
    (12, None, "a quoted value is not closed on this line (unbalanced quote); the lines after "
     "it were read on their own"),
    (14, None, "the line has 6 values but the header has 11 columns; a value or delimiter is "
     "missing"),
    (15, None, "the line has 13 values but the header has 11 columns; a value holds an "
     "unquoted delimiter"),
    (17, "industry_code", "industry_code: 'XX.YY' is not a NACE industry code; write e.g. "
     "61.10 or J"),
    (18, "contract_start", "contract_start: '03/25/2024' is not a real date (day 3, month 25, "
     f"year 2024); {DATES}"),
    (20, "monthly_spend", "monthly_spend: 'abc' is not a number; write e.g. 1234.50"),
]  # fmt: skip

CONTACT_REJECTIONS = [
    (4, "email", "email: duplicate contact: line 2 already has email 'ada@alpha-telematik.de' "
     "for organisation 'ORG-001'"),
    (6, "phone", "phone: duplicate contact: line 2 already has phone '+49301234567' for "
     "organisation 'ORG-001'"),
    (7, "email", "email: 'dora@beta' is not a valid email address: The part after the @-sign "
     "is not valid. It should have a period."),
    (8, "phone", "phone: '12345' is not a valid phone number (read in region DE); write it in "
     "international form, e.g. +49 30 1234567"),
    (9, "email", "email: the line has neither an email nor a phone; one identifies the contact"),
    (10, "organisation_external_id", "organisation_external_id: organisation 'ORG-999' does not "
     "exist; import the organisations first (or add their columns to this file)"),
    (11, "role", "role: 'janitor' is not a known contact role; use one of: decision_maker, "
     "billing, technical, legal, other"),
    (12, "language", "language: 'english' is not a language tag; write e.g. en, de or en-GB"),
    (13, "timezone", "timezone: 'Mars/Olympus' is not an IANA time zone; write e.g. "
     "Europe/Berlin or UTC"),
    (15, "consent_email", "consent_email: 'perhaps' is not a known consent status; use one of: "
     "granted, denied, withdrawn"),
    (16, "full_name", "full_name: 'Jan MÃ¼ller' is double-encoded (it should read 'Jan "
     "Müller'); the file was converted to UTF-8 twice, export it again"),
]  # fmt: skip


def counts(job: ImportJob) -> dict[str, int]:
    return {
        "total": job.total,
        "inserted": job.inserted,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "rejected": job.rejected,
        "empty": job.empty,
    }


def rejections(job: ImportJob) -> list[tuple[int, str | None, str]]:
    return [(r.line, r.field, r.reason) for r in importing.list_rejections(job.id)]


def csv_bytes(*rows: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def import_orgs(content: bytes, name: str = "orgs.csv", **kwargs: Any) -> ImportJob:
    return importing.import_file("organisations", name, content, **kwargs)


ORG_HEADER = ["external_id", "legal_name", "industry_code", "region", "employee_band",
              "revenue_band", "monthly_spend"]  # fmt: skip


def org_row(ext: str, name: str = "Acme GmbH", spend: str = "10") -> list[str]:
    return [ext, name, "61.10", "Bayern", "1-9", "<1M", spend]


@pytest.fixture
def bad_orgs_imported(app: Flask) -> ImportJob:
    with app.app_context():
        return import_orgs((DATA / "organisations_bad.csv").read_bytes(), "organisations_bad.csv")


def test_every_bad_line_of_the_organisations_csv_is_reported_and_no_valid_line_is_lost(
    app: Flask, bad_orgs_imported: ImportJob
) -> None:
    with app.app_context():
        job = importing.get_import(bad_orgs_imported.id)
        assert job.status == "completed"
        assert counts(job) == {
            "total": 19, "inserted": 5, "updated": 0, "unchanged": 0, "rejected": 12, "empty": 2,
        }  # fmt: skip
        assert rejections(job) == ORGANISATION_REJECTIONS
        stored = {o.external_id: o for o in db.session.scalars(select(Organisation))}
        assert sorted(stored) == ["ORG-001", "ORG-002", "ORG-003", "ORG-010", "ORG-015"]
        alpha = stored["ORG-001"]
        assert (alpha.employee_band, alpha.revenue_band, alpha.is_key_account) == (
            "50-249", "1M-10M", True,
        )  # fmt: skip
        assert (alpha.contract_start, alpha.contract_end) == (date(2021, 3, 1), date(2026, 12, 31))
        assert alpha.monthly_spend == Decimal("1234.50")
        beta = stored["ORG-002"]
        assert (beta.contract_start, beta.contract_end) == (date(2020, 6, 15), date(2027, 6, 14))
        assert stored["ORG-003"].employee_band == "1-9"
        assert stored["ORG-003"].is_key_account is False
        assert stored["ORG-015"].region == "Thüringen"
        assert stored["ORG-015"].monthly_spend == Decimal("12345.67")
        # The file is gone once imported; its hash and every rejected line stay.
        assert db.session.get(ImportFile, job.id) is None
        assert len(job.file_sha256) == 64


def test_the_xlsx_twin_reports_its_bad_rows_and_reads_typed_cells(
    app: Flask, make_user: Callable[..., int]
) -> None:
    manager_id = make_user(email="manager@example.com", roles=("marketer",))
    with app.app_context():
        content = (DATA / "organisations_bad.xlsx").read_bytes()
        job = import_orgs(content, "organisations_bad.xlsx")
        assert counts(job) == {
            "total": 10, "inserted": 3, "updated": 0, "unchanged": 0, "rejected": 6, "empty": 1,
        }  # fmt: skip
        assert rejections(job) == [
            (5, "external_id", "external_id: duplicate external id 'X-001': line 2 already has "
             "it; keep one line per organisation"),
            (6, "account_manager", "account_manager: 'not-an-email' is not a valid email "
             "address: An email address must have an @-sign."),
            (7, "account_manager", "account_manager: no Ledgerline user has the email "
             "'nobody@example.com'; create the user first or leave the cell empty"),
            (8, None, "the row has values beyond the last named column (column 11); name their "
             "column or remove them"),
            (9, "region", "region: is empty but required"),
            (11, "contract_end", "contract_end: '45000' is not a date; use YYYY-MM-DD, "
             "DD.MM.YYYY, DD/MM/YYYY or YYYY/MM/DD"),
        ]  # fmt: skip
        alpha = db.session.scalar(select(Organisation).where(Organisation.external_id == "X-001"))
        assert alpha is not None
        assert alpha.account_manager_id == manager_id
        assert alpha.contract_end == date(2026, 12, 31)
        assert alpha.monthly_spend == Decimal("1234.50")
        eta = db.session.scalar(select(Organisation).where(Organisation.external_id == "7"))
        assert eta is not None
        assert (eta.employee_band, eta.monthly_spend) == ("1000+", Decimal("100000.00"))


def test_every_bad_line_of_the_contacts_csv_is_reported_and_consents_are_recorded(
    app: Flask, bad_orgs_imported: ImportJob
) -> None:
    with app.app_context():
        job = importing.import_file(
            "contacts", "contacts_bad.csv", (DATA / "contacts_bad.csv").read_bytes()
        )
        assert counts(job) == {
            "total": 16, "inserted": 4, "updated": 0, "unchanged": 0, "rejected": 11, "empty": 1,
        }  # fmt: skip
        assert rejections(job) == CONTACT_REJECTIONS
        assert importing.import_status(job)["side_effects"] == {
            "consents_inserted": 5,
            "consents_updated": 0,
        }
        contacts = {
            (c.organisation.external_id, c.email): c for c in db.session.scalars(select(Contact))
        }
        assert sorted(contacts) == [
            ("ORG-001", "ada@alpha-telematik.de"),
            ("ORG-001", "bob@alpha-telematik.de"),
            ("ORG-002", "ada@alpha-telematik.de"),
            ("ORG-003", "kai@gamma-bau.de"),
        ]
        ada = contacts[("ORG-001", "ada@alpha-telematik.de")]
        assert (ada.first_name, ada.last_name, ada.role, ada.phone) == (
            "Ada", "Lovelace", "decision_maker", "+49301234567",
        )  # fmt: skip
        assert {c.channel: c.status for c in ada.consents} == {"email": "granted", "sms": "denied"}
        assert ada.consents[0].source == f"import #{job.id} (contacts_bad.csv)"
        bob = contacts[("ORG-001", "bob@alpha-telematik.de")]
        assert (bob.role, bob.timezone, bob.phone) == (
            "technical",
            "Europe/Berlin",
            "+4915123456789",
        )
        kai = contacts[("ORG-003", "kai@gamma-bau.de")]
        assert {c.channel: c.status for c in kai.consents} == {
            "email": "granted", "sms": "withdrawn",
        }  # fmt: skip


def test_the_downloaded_rejected_lines_import_again_once_fixed(
    app: Flask, bad_orgs_imported: ImportJob
) -> None:
    with app.app_context():
        job = importing.import_file(
            "contacts", "contacts_bad.csv", (DATA / "contacts_bad.csv").read_bytes()
        )
        download = "".join(importing.rejections_csv(job.id))
        assert download.startswith("\ufeffline,reason,Customer ID,Name,Job title,Role,E-Mail,")
        rows = list(csv.reader(io.StringIO(download.lstrip("\ufeff"))))
        assert [row[0] for row in rows[1:]] == [str(line) for line, _f, _r in CONTACT_REJECTIONS]
        assert rows[4][1:] == [
            CONTACT_REJECTIONS[3][2],
            "ORG-002", "Emil Phone", "", "technical", "", "12345", "de", "", "", "",
        ]  # fmt: skip
        fixes = {
            "dora@beta": "dora@beta-logistik.de",
            "12345": "+49 69 1234567",
            "ORG-999": "ORG-002",
            "janitor": "other",
            "english": "en",
            "Mars/Olympus": "Europe/Berlin",
            "perhaps": "yes",
            "Jan MÃ¼ller": "Jan Müller",
        }
        email = rows[0].index("E-Mail")
        fixed = [rows[0]]
        for row in rows[1:]:
            if row[1].startswith("email: duplicate") or row[1].startswith("phone: duplicate"):
                continue  # a duplicate is fixed by deleting it
            row = [fixes.get(cell, cell) for cell in row]
            if row[rows[0].index("Name")] == "Nobody Reachable":
                row[email] = "nobody@gamma-bau.de"
            fixed.append(row)
        again = importing.import_file("contacts", "fixed.csv", csv_bytes(*fixed))
        assert again.mapping["line"] == "" and again.mapping["reason"] == ""
        assert counts(again) == {
            "total": 9, "inserted": 9, "updated": 0, "unchanged": 0, "rejected": 0, "empty": 0,
        }  # fmt: skip
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 4 + 9
        jan = db.session.scalar(select(Contact).where(Contact.email == "jan@gamma-bau.de"))
        assert jan is not None and (jan.first_name, jan.last_name) == ("Jan", "Müller")


def test_a_second_import_counts_inserted_updated_and_unchanged_rows(app: Flask) -> None:
    with app.app_context():
        first = import_orgs(csv_bytes(ORG_HEADER, org_row("A-1"), org_row("A-2"), org_row("A-3")))
        assert counts(first)["inserted"] == 3
        second = import_orgs(
            csv_bytes(
                ORG_HEADER,
                org_row("A-1"),
                org_row("A-2", name="Acme Renamed GmbH"),
                org_row("A-4"),
                org_row("A-3", spend="10.00"),
            )
        )
        assert counts(second) == {
            "total": 4, "inserted": 1, "updated": 1, "unchanged": 2, "rejected": 0, "empty": 0,
        }  # fmt: skip
        renamed = db.session.scalar(select(Organisation).where(Organisation.external_id == "A-2"))
        assert renamed is not None and renamed.legal_name == "Acme Renamed GmbH"
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == 4


def test_a_partial_billing_file_updates_existing_organisations_and_cannot_create_new_ones(
    app: Flask,
) -> None:
    with app.app_context():
        import_orgs(csv_bytes(ORG_HEADER, org_row("B-1")))
        job = import_orgs(
            csv_bytes(["Customer ID", "Monthly spend"], ["B-1", "99.90"], ["B-2", "5"])
        )
        assert counts(job)["updated"] == 1
        assert rejections(job) == [
            (3, "legal_name", "legal_name: organisation 'B-2' is new and the file has no column "
             "for legal_name, industry_code, region, employee_band, revenue_band; add the "
             "column(s) to create it"),
        ]  # fmt: skip
        b1 = db.session.scalar(select(Organisation).where(Organisation.external_id == "B-1"))
        assert b1 is not None
        assert (b1.legal_name, b1.monthly_spend) == ("Acme GmbH", Decimal("99.90"))


def test_contacts_are_deduplicated_by_email_or_phone_within_their_organisation(
    app: Flask,
) -> None:
    header = ["organisation_external_id", "first_name", "last_name", "email", "phone"]
    with app.app_context():
        import_orgs(csv_bytes(ORG_HEADER, org_row("C-1"), org_row("C-2")))
        first = importing.import_file(
            "contacts",
            "c.csv",
            csv_bytes(
                header,
                ["C-1", "Phone", "Only", "", "+49 30 5550001"],
                ["C-1", "Mail", "Only", "mail@c1.de", ""],
                ["C-2", "Phone", "Elsewhere", "", "+49 30 5550001"],
            ),
        )
        assert counts(first)["inserted"] == 3
        second = importing.import_file(
            "contacts",
            "c.csv",
            csv_bytes(
                header,
                # matched by phone: the email is added to the same contact
                ["C-1", "Phone", "Only", "phone@c1.de", "030 5550001"],
                # the same phone in another organisation is another contact
                ["C-2", "Phone", "Elsewhere", "", "+49 30 5550001"],
                # matched by email: the phone is added
                ["C-1", "Mixed", "Up", "mail@c1.de", "+49 30 5550009"],
            ),
        )
        assert counts(second) == {
            "total": 3, "inserted": 0, "updated": 2, "unchanged": 1, "rejected": 0, "empty": 0,
        }  # fmt: skip
        c1 = {c.last_name: c for c in db.session.scalars(
            select(Contact).join(Organisation).where(Organisation.external_id == "C-1")
        )}  # fmt: skip
        assert (c1["Only"].email, c1["Only"].phone) == ("phone@c1.de", "+49305550001")
        assert (c1["Up"].email, c1["Up"].phone) == ("mail@c1.de", "+49305550009")
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 3
        third = importing.import_file(
            "contacts",
            "c.csv",
            csv_bytes(header, ["C-1", "Who", "Knows", "phone@c1.de", "+49 30 5550009"]),
        )
        assert rejections(third) == [
            (2, "phone", "phone: email 'phone@c1.de' belongs to contact "
             f"#{c1['Only'].id} but phone '+49305550009' to contact #{c1['Up'].id} of the same "
             "organisation; correct one of them"),
        ]  # fmt: skip


def test_a_contacts_file_with_organisation_columns_creates_missing_organisations(
    app: Flask,
) -> None:
    header = ["Company ID", "Company name", "Company NACE", "Company region",
              "Company employees", "Company revenue", "Name", "Email"]  # fmt: skip
    with app.app_context():
        job = importing.import_file(
            "contacts",
            "crm.csv",
            csv_bytes(
                header,
                ["N-1", "New Co GmbH", "62.01", "Berlin", "10-49", "<1M", "Ann Smith", "ann@n.de"],
                ["N-1", "New Co GmbH", "62.01", "Berlin", "10-49", "<1M", "Ben Ray", "ben@n.de"],
                ["N-2", "", "62.01", "Berlin", "10-49", "<1M", "Cy Doe", "cy@n2.de"],
            ),
        )
        assert counts(job)["inserted"] == 2
        assert rejections(job) == [
            (4, "organisation.legal_name", "organisation.legal_name: organisation 'N-2' does not "
             "exist and this line has no legal_name to create it"),
        ]  # fmt: skip
        assert importing.import_status(job)["side_effects"]["organisations_inserted"] == 1
        new = db.session.scalar(select(Organisation).where(Organisation.external_id == "N-1"))
        assert new is not None and new.legal_name == "New Co GmbH" and len(new.contacts) == 2


def test_subscriptions_upsert_on_organisation_product_and_start_date(app: Flask) -> None:
    header = ["Customer ID", "Service", "Start date", "Status", "MRR"]
    with app.app_context():
        import_orgs(csv_bytes(ORG_HEADER, org_row("S-1")))
        first = importing.import_file(
            "subscriptions",
            "subs.csv",
            csv_bytes(
                header,
                ["S-1", "SMS gateway", "01.02.2024", "live", "120,50"],
                ["S-1", "Internet access", "2023-01-01", "active", "89"],
                ["S-1", "sms_gateway", "2024-02-01", "active", "1"],
                ["S-9", "voice", "2024-02-01", "active", "1"],
                ["S-1", "teleportation", "2024-02-01", "active", "1"],
            ),
        )
        assert counts(first)["inserted"] == 2
        assert rejections(first) == [
            (4, "product", "product: duplicate subscription: line 2 already has sms_gateway from "
             "2024-02-01 for organisation 'S-1'"),
            (5, "organisation_external_id", "organisation_external_id: organisation 'S-9' does "
             "not exist; import the organisations first (or add their columns to this file)"),
            (6, "product", "product: 'teleportation' is not a known product; use one of: voice, "
             "mobile, internet, vpn, cloud, iot, sms_gateway, data_center, security"),
        ]  # fmt: skip
        second = importing.import_file(
            "subscriptions",
            "subs.csv",
            csv_bytes(
                header,
                ["S-1", "sms_gateway", "2024-02-01", "suspended", "120.50"],
                ["S-1", "internet", "2023-01-01", "active", "89.00"],
            ),
        )
        assert (second.updated, second.unchanged) == (1, 1)
        sms = db.session.scalar(select(Subscription).where(Subscription.product == "sms_gateway"))
        assert sms is not None and (sms.status, sms.mrr) == ("suspended", Decimal("120.50"))


def test_consent_and_suppression_files_upsert_by_contact_channel_and_address(
    app: Flask, make_user: Callable[..., int]
) -> None:
    user_id = make_user(roles=("marketer",))
    with app.app_context():
        import_orgs(csv_bytes(ORG_HEADER, org_row("K-1")))
        importing.import_file(
            "contacts",
            "c.csv",
            csv_bytes(["org", "last_name", "email", "phone"], ["K-1", "Kay", "kay@k.de", ""]),
            mapping={
                "org": "organisation_external_id",
                "last_name": "last_name",
                "email": "email",
                "phone": "phone",
            },
        )
        consents = importing.import_file(
            "consents",
            "consents.csv",
            csv_bytes(
                ["Organisation ID", "Contact email", "Channel", "Status", "Date"],
                ["K-1", "KAY@k.de", "e-mail", "opt-in", "2024-03-01"],
                ["K-1", "kay@k.de", "sms", "no", ""],
                ["K-1", "kay@k.de", "email", "opt-out", ""],
                ["K-1", "nobody@k.de", "email", "yes", ""],
            ),
        )
        assert counts(consents)["inserted"] == 2
        kay = db.session.scalar(select(Contact).where(Contact.email == "kay@k.de"))
        assert kay is not None
        assert [(line, reason) for line, _f, reason in rejections(consents)] == [
            (4, f"channel: duplicate consent: line 2 already sets email for contact #{kay.id}"),
            (5, "email: organisation 'K-1' has no contact 'nobody@k.de'; import the contact "
             "first"),
        ]  # fmt: skip
        kay_consents = {c.channel: c for c in db.session.scalars(select(Consent))}
        assert kay_consents["email"].status == "granted"
        assert kay_consents["email"].recorded_at.date() == date(2024, 3, 1)

        job = importing.create_import(
            "suppressions",
            "supp.csv",
            csv_bytes(
                ["Address", "Channel", "Reason"],
                ["Kay@K.de", "", "hard bounce"],
                ["030 1234567", "sms", "complaint"],
                ["kay@k.de", "email", "again"],
                ["@kay_bot", "all", ""],
                ["not an address!", "", "x"],
            ),
            importing_actor(user_id),
        )
        importing.configure_import(job.id, job.mapping)
        job = run_committed(job.id)
        assert counts(job)["inserted"] == 3
        assert [(line, reason) for line, _f, reason in rejections(job)] == [
            (4, "address: duplicate address 'kay@k.de': line 2 already has it"),
            (6, "address: 'not an address!' is not a webhook URL or a messenger handle (@name)"),
        ]
        stored = {s.address: s for s in db.session.scalars(select(Suppression))}
        assert sorted(stored) == ["+49301234567", "@kay_bot", "kay@k.de"]
        assert stored["kay@k.de"].channel is None
        assert stored["+49301234567"].channel == "sms"
        assert stored["@kay_bot"].reason == f"import #{job.id} (supp.csv)"
        assert stored["kay@k.de"].created_by == user_id


def importing_actor(user_id: int) -> Any:
    from app.accounts.models import User

    return db.session.get(User, user_id)


def run_committed(import_id: int) -> ImportJob:
    """Commit through the Celery task (eager in tests), as the wizard does."""
    return importing.commit_import(import_id)


def test_the_preview_is_a_dry_run_that_writes_nothing(app: Flask) -> None:
    with app.app_context():
        job = importing.create_import(
            "organisations", "organisations_bad.csv", (DATA / "organisations_bad.csv").read_bytes()
        )
        preview = importing.preview_import(job.id)
        assert (preview.counts.inserted, preview.counts.rejected, preview.counts.empty) == (
            5,
            12,
            2,
        )
        assert [(r.line, r.reason) for r in preview.rejections] == [
            (line, reason) for line, _f, reason in ORGANISATION_REJECTIONS
        ]
        assert preview.more_lines is False
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == 0
        assert db.session.scalar(select(func.count()).select_from(ImportRejection)) == 0
        limited = importing.preview_import(job.id, limit=3)
        assert (limited.checked, limited.more_lines, limited.counts.inserted) == (3, True, 2)
        exactly = importing.preview_import(job.id, limit=18)  # one line left
        assert (exactly.checked, exactly.more_lines) == (18, True)
        assert importing.preview_import(job.id, limit=19).more_lines is False


def test_committing_runs_the_celery_task_and_a_redelivered_task_changes_nothing(
    app: Flask,
) -> None:
    from app.audience.tasks import run_import_task

    with app.app_context():
        job = importing.create_import(
            "organisations", "o.csv", csv_bytes(ORG_HEADER, org_row("T-1"))
        )
        assert job.status == "uploaded"
        importing.configure_import(job.id, job.mapping)
        done = importing.commit_import(job.id)
        assert (done.status, done.inserted, done.processed, done.total) == ("completed", 1, 1, 1)
        assert done.started_at is not None and done.finished_at is not None
        run_import_task.delay(job.id)
        db.session.expire_all()
        again = importing.get_import(job.id)
        assert (again.status, again.inserted, again.finished_at) == (
            "completed", 1, done.finished_at,
        )  # fmt: skip
        with pytest.raises(ConflictError, match=r"^import #\d+ is already completed; upload"):
            importing.commit_import(job.id)


def test_progress_is_committed_chunk_by_chunk(app: Flask) -> None:
    rows = [org_row(f"P-{n}") for n in range(25)]
    with app.app_context():
        job = import_orgs(csv_bytes(ORG_HEADER, *rows), chunk_size=10)
        assert (job.processed, job.total, job.inserted) == (25, 25, 25)


def test_files_and_mappings_that_cannot_be_imported_are_refused_with_the_reason(
    app: Flask,
) -> None:
    with app.app_context():
        with pytest.raises(importing.ImportFileError) as info:
            importing.create_import("organisations", "o.csv", "id;Müller\n".encode("cp1252"),
                                    encoding="utf-8")  # fmt: skip
        assert info.value.message == (
            "the file is not valid utf-8: byte 0xfc on line 1 cannot be read; choose the "
            "file's real encoding (or 'Detect automatically') or save it as UTF-8"
        )
        with pytest.raises(ValidationError, match=r"^unknown import kind 'people'; use one of"):
            importing.create_import("people", "o.csv", b"a\n1\n")
        with pytest.raises(ValidationError, match=r"^'XX' is not a region for national phone"):
            importing.create_import("contacts", "o.csv", b"a\n1\n", phone_region="xx")
        job = importing.create_import("organisations", "o.csv", b"Name,Region\nAcme,Bayern\n")
        with pytest.raises(ValidationError) as refused:
            importing.configure_import(job.id, job.mapping)
        assert refused.value.details == {
            "external_id": "the file has no column for External id (external_id), which every "
            "row needs; map one of the file's columns to it"
        }
        with pytest.raises(ValidationError, match=r"^map the columns before importing"):
            importing.commit_import(job.id)


def test_a_cp1251_file_is_imported_with_its_cyrillic_names_intact(app: Flask) -> None:
    with app.app_context():
        job = import_orgs((DATA / "organisations_cp1251.csv").read_bytes(), "ru.csv")
        assert (job.encoding, job.inserted) == ("cp1251", 2)
        names = set(db.session.scalars(select(Organisation.legal_name)))
        assert names == {"ООО Ромашка", "АО Телеком Сервис"}


def test_changing_the_encoding_rereads_the_header(app: Flask) -> None:
    content = "Kundennummer;Firma;Straße\n1;Müller GmbH;Hauptstraße\n".encode("cp1252")
    with app.app_context():
        job = importing.create_import("organisations", "o.csv", content, encoding="latin-1")
        assert job.headers == ["Kundennummer", "Firma", "Straße"]
        job = importing.create_import("organisations", "o.csv", content, encoding="cp1251")
        assert job.headers[2] == "Stra\u042fe"  # ß read as Cyrillic Я
        job = importing.configure_import(job.id, job.mapping, encoding="cp1252")
        assert job.headers == ["Kundennummer", "Firma", "Straße"]
        assert job.mapping == {"Kundennummer": "external_id", "Firma": "legal_name", "Straße": ""}
