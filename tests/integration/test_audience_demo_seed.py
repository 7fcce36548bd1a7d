"""Seeding the demo audience into the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from flask import Flask
from sqlalchemy import delete, func, select

from app.audience.demo import seed_demo_audience
from app.audience.models import Consent, Contact, Organisation, Subscription, Suppression
from app.extensions import db

TODAY = date(2026, 1, 15)


def snapshot() -> list[tuple[object, ...]]:
    rows = db.session.execute(
        select(Organisation.external_id, Organisation.legal_name, Organisation.monthly_spend,
               Contact.email, Contact.phone, Consent.channel, Consent.status)
        .join(Contact, Contact.organisation_id == Organisation.id)
        .join(Consent, Consent.contact_id == Contact.id)
        .order_by(Organisation.external_id, Contact.email, Consent.channel)
    )  # fmt: skip
    return [tuple(row) for row in rows]


def test_the_demo_seed_is_deterministic_and_runs_once(
    app: Flask, make_user: Callable[..., int]
) -> None:
    manager = make_user(email="am@example.com", roles=("marketer",))
    with app.app_context():
        counts = seed_demo_audience(300, seed=5, today=TODAY)
        assert counts["organisations"] == 300
        assert counts["contacts"] == db.session.scalar(select(func.count()).select_from(Contact))
        assert counts["consents"] == db.session.scalar(select(func.count()).select_from(Consent))
        assert counts["subscriptions"] == db.session.scalar(
            select(func.count()).select_from(Subscription)
        )
        assert counts["suppressions"] == db.session.scalar(
            select(func.count()).select_from(Suppression)
        )
        assert 600 <= counts["contacts"] <= 1500
        managed = db.session.scalar(
            select(func.count()).where(Organisation.account_manager_id == manager)
        )
        assert managed and managed > 0
        assert seed_demo_audience(300, seed=5, today=TODAY) == dict.fromkeys(counts, 0)

        first = snapshot()
        for model in (Suppression, Subscription, Consent, Contact, Organisation):
            db.session.execute(delete(model))
        db.session.commit()
        seed_demo_audience(300, seed=5, today=TODAY)
        assert snapshot() == first


def test_the_cli_seeds_the_demo_and_imports_a_file(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["audience", "seed-demo", "--orgs", "40", "--seed", "3"])
    assert seeded.exit_code == 0, seeded.output
    assert seeded.output.startswith("audience: 40 organisations, ")
    again = runner.invoke(args=["audience", "seed-demo", "--orgs", "40"])
    assert again.output == "audience: demo organisations exist already; nothing added\n"

    data = tmp_path / "subs.csv"
    data.write_text("Customer ID,Product,Start,Status,MRR\nCUST-000001,vpn,2024-01-01,active,9\n"
                    "NOPE,vpn,2024-01-01,active,9\n")  # fmt: skip
    imported = runner.invoke(args=["audience", "import", "subscriptions", str(data)])
    assert imported.exit_code == 0, imported.output
    assert imported.output.endswith(
        ": 2 lines; 1 inserted, 0 updated, 0 unchanged, 1 rejected, 0 empty\n"
    )
    refused = runner.invoke(args=["audience", "import", "people", str(data)])
    assert refused.exit_code == 1
    assert "Error: unknown import kind 'people'; use one of: organisations" in refused.output
