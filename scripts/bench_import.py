"""Benchmark the audience import: 100,000 organisations and ~300,000 contacts.

Generates two CSV files (organisations; contacts with email/SMS consent columns) from
the demo generator in a temporary directory, imports them through
``app.audience.importing.import_file`` into a freshly migrated SQLite database (and a
fresh PostgreSQL schema with ``--postgres URL``), and prints rows per second.

The baseline is measured in the same run: a naive importer that parses each row with
the same cell parsers and then, per row, looks the record up through the ORM,
``session.add()``s it and ``flush()``es, on the first ``--sample`` rows of each file
(5,000 by default) into its own fresh database.  Its time per row is extrapolated
linearly to the full row counts: baseline = t_orgs/sample_orgs * orgs +
t_contacts/sample_contacts * contacts.

The last line printed is one JSON object per backend, for ``make bench``:
``{"name": ..., "value": seconds, "unit": "s", "baseline": seconds, "ratio": x,
"target": 60}`` (the target applies to SQLite).

    .venv/bin/python scripts/bench_import.py [--orgs 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ORG_HEADERS = [
    "Customer ID", "Company name", "VAT ID", "NACE", "Region", "Employees", "Revenue",
    "Key account", "Contract start", "Contract end", "Monthly spend",
]  # fmt: skip
CONTACT_HEADERS = [
    "Customer ID", "First name", "Last name", "Job title", "Role", "Email", "Phone",
    "Language", "Time zone", "Consent email", "Consent SMS",
]  # fmt: skip
TARGET_SECONDS = 60.0
REFERENCE_DAY = date(2026, 1, 15)


def write_files(directory: Path, n_orgs: int, seed: int) -> tuple[Path, Path, int]:
    from app.audience.demo import iter_demo_organisations

    orgs_path, contacts_path = directory / "organisations.csv", directory / "contacts.csv"
    contacts = 0
    with (
        orgs_path.open("w", newline="", encoding="utf-8") as orgs_file,
        contacts_path.open("w", newline="", encoding="utf-8") as contacts_file,
    ):
        orgs_out, contacts_out = csv.writer(orgs_file), csv.writer(contacts_file)
        orgs_out.writerow(ORG_HEADERS)
        contacts_out.writerow(CONTACT_HEADERS)
        for bundle in iter_demo_organisations(
            n_orgs, seed, today=REFERENCE_DAY, contacts_per_org=(2, 4)
        ):
            org = bundle.organisation
            orgs_out.writerow(
                [
                    org["external_id"], org["legal_name"], org["tax_id"] or "",
                    org["industry_code"], org["region"], org["employee_band"],
                    org["revenue_band"], "yes" if org["is_key_account"] else "no",
                    org["contract_start"].strftime("%d.%m.%Y"), org["contract_end"].isoformat(),
                    str(org["monthly_spend"]),
                ]
            )  # fmt: skip
            for contact, consents in zip(bundle.contacts, bundle.consents, strict=True):
                status = {c["channel"]: c["status"] for c in consents}
                contacts_out.writerow(
                    [
                        org["external_id"], contact["first_name"], contact["last_name"],
                        contact["job_title"], contact["role"].replace("_", " "),
                        contact["email"], contact["phone"] or "", contact["language"],
                        contact["timezone"], status.get("email", ""), status.get("sms", ""),
                    ]
                )  # fmt: skip
                contacts += 1
    return orgs_path, contacts_path, contacts


def make_app(url: str, instance: Path) -> Any:
    from flask_migrate import upgrade

    from app import MIGRATIONS_DIR, create_app
    from app.config import TestConfig, settings_from_object

    app = create_app(
        {**settings_from_object(TestConfig), "DATABASE_URL": url, "INSTANCE": str(instance)}
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return app


def dispose(app: Any) -> None:
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run_bulk(app: Any, orgs_path: Path, contacts_path: Path) -> dict[str, Any]:
    from app.audience import importing

    figures: dict[str, Any] = {}
    with app.app_context():
        for kind, path in (("organisations", orgs_path), ("contacts", contacts_path)):
            content = path.read_bytes()
            started, cpu = time.perf_counter(), time.process_time()
            job = importing.import_file(kind, path.name, content)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if job.status != "completed" or job.rejected:
                raise SystemExit(
                    f"{kind} import ended {job.status} with {job.rejected} rejected lines: "
                    f"{job.error or [r.reason for r in importing.list_rejections(job.id, limit=3)]}"
                )
            figures[kind] = {"rows": job.total, "seconds": elapsed, "cpu": cpu}
    return figures


def _sample(path: Path, size: int) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        headers = next(reader)
        rows = [row for _, row in zip(range(size), reader, strict=False)]
    return headers, rows


def run_naive(app: Any, orgs_path: Path, contacts_path: Path, size: int) -> dict[str, Any]:
    """Per-row ORM upsert: lookup, add, flush; one commit at the end."""
    from sqlalchemy import select

    from app.audience.imports.fields import ParseContext, field_map, suggest_mapping
    from app.audience.models import Consent, Contact, Organisation
    from app.database import utcnow
    from app.extensions import db

    context = ParseContext("DE")
    figures: dict[str, Any] = {}
    with app.app_context():
        for kind, path in (("organisations", orgs_path), ("contacts", contacts_path)):
            headers, rows = _sample(path, size)
            specs = field_map(kind)
            mapping = suggest_mapping(kind, headers)
            columns = [
                (i, specs[mapping[h]].name, specs[mapping[h]].reader(context))
                for i, h in enumerate(headers)
                if mapping[h]
            ]
            started = time.perf_counter()
            for row in rows:
                values = {name: parse(row[i]) if row[i] else None for i, name, parse in columns}
                if kind == "organisations":
                    org = db.session.scalar(
                        select(Organisation).where(
                            Organisation.external_id == values["external_id"]
                        )
                    ) or Organisation(external_id=values["external_id"])
                    for name, value in values.items():
                        if name != "external_id":
                            setattr(org, name, value)
                    org.monthly_spend = org.monthly_spend or 0
                    db.session.add(org)
                else:
                    org_id = db.session.scalar(
                        select(Organisation.id).where(
                            Organisation.external_id == values["organisation_external_id"]
                        )
                    )
                    contact = db.session.scalar(
                        select(Contact).where(
                            Contact.organisation_id == org_id, Contact.email == values["email"]
                        )
                    ) or Contact(organisation_id=org_id)
                    for name in ("first_name", "last_name", "job_title", "role", "email", "phone",
                                 "language", "timezone"):  # fmt: skip
                        setattr(contact, name, values[name])
                    db.session.add(contact)
                    db.session.flush()
                    for channel in ("email", "sms"):
                        status = values[f"consent_{channel}"]
                        if status:
                            db.session.add(
                                Consent(
                                    contact_id=contact.id,
                                    channel=channel,
                                    status=status,
                                    source="naive",
                                    recorded_at=utcnow(),
                                )
                            )
                db.session.flush()
            db.session.commit()
            figures[kind] = {"rows": len(rows), "seconds": time.perf_counter() - started}
    return figures


def bench_backend(
    name: str,
    url: Callable[[str], str],
    workdir: Path,
    files: tuple[Path, Path],
    sample: int,
    cleanup: Callable[[], None],
) -> dict[str, Any]:
    orgs_path, contacts_path = files
    try:
        app = make_app(url(name + "_bulk"), workdir / f"{name}-instance")
        bulk = run_bulk(app, orgs_path, contacts_path)
        dispose(app)
        app = make_app(url(name + "_naive"), workdir / f"{name}-naive-instance")
        naive = run_naive(app, orgs_path, contacts_path, sample)
        dispose(app)
    finally:
        cleanup()
    total = sum(f["seconds"] for f in bulk.values())
    rows = sum(f["rows"] for f in bulk.values())
    baseline = sum(
        naive[k]["seconds"] / naive[k]["rows"] * bulk[k]["rows"]
        for k in ("organisations", "contacts")
    )
    cpu = sum(f["cpu"] for f in bulk.values())
    for kind, figures in bulk.items():
        print(
            f"{name}: {kind}: {figures['rows']:,} rows in {figures['seconds']:.1f} s "
            f"({figures['rows'] / figures['seconds']:,.0f} rows/s, {figures['cpu']:.1f} s of CPU "
            f"in this process); naive sample "
            f"{naive[kind]['rows']:,} rows in {naive[kind]['seconds']:.1f} s "
            f"({naive[kind]['rows'] / naive[kind]['seconds']:,.0f} rows/s)"
        )
    print(
        f"{name}: total {rows:,} rows in {total:.1f} s ({rows / total:,.0f} rows/s, "
        f"{cpu:.1f} s CPU; the rest is waiting for the CPU or the disk); naive "
        f"baseline extrapolated to {baseline:.0f} s; {baseline / total:.1f}x faster"
    )
    return {
        "name": f"audience_import_{name}",
        "value": round(total, 2),
        "unit": "s",
        "baseline": round(baseline, 2),
        "ratio": round(baseline / total, 1),
        "target": TARGET_SECONDS if name == "sqlite" else None,
        "cpu_seconds": round(cpu, 2),
        "rows": rows,
        "rows_per_second": round(rows / total),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=100_000, help="organisations (default 100000)")
    parser.add_argument("--sample", type=int, default=5000, help="naive baseline sample rows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="ledgerline-bench-import-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        orgs_path, contacts_path, contacts = write_files(workdir, args.orgs, args.seed)
        print(
            f"generated {args.orgs:,} organisations and {contacts:,} contacts in "
            f"{time.perf_counter() - started:.1f} s "
            f"({orgs_path.stat().st_size + contacts_path.stat().st_size:,} bytes of CSV)"
        )
        files = (orgs_path, contacts_path)
        results.append(
            bench_backend(
                "sqlite", lambda n: f"sqlite:///{workdir / n}.db", workdir, files, args.sample,
                lambda: None,
            )
        )  # fmt: skip
        if args.postgres:
            from sqlalchemy import create_engine, text

            from app.config import database_uri

            base = database_uri(args.postgres)
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            schemas: list[str] = []

            def pg_url(name: str) -> str:
                schema = f"bench_import_{name}_{secrets.token_hex(3)}"
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                schemas.append(schema)
                separator = "&" if "?" in base else "?"
                return f"{base}{separator}options=-csearch_path%3D{schema}"

            def drop() -> None:
                with admin.connect() as connection:
                    for schema in schemas:
                        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

            results.append(bench_backend("postgresql", pg_url, workdir, files, args.sample, drop))
            admin.dispose()
    for result in results:
        print(json.dumps(result))
    sqlite = results[0]
    return 0 if args.orgs < 100_000 or sqlite["value"] < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
