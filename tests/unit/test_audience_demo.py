"""The demo audience generator: deterministic, believable and valid by the import's rules."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

from app.audience.demo import REGIONS, iter_demo_organisations
from app.audience.imports import values as v
from app.audience.models import (
    CHANNEL_VALUES,
    CONTACT_ROLE_VALUES,
    EMPLOYEE_BAND_VALUES,
    PRODUCT_VALUES,
    REVENUE_BAND_VALUES,
)

TODAY = date(2026, 1, 15)


def test_the_same_seed_gives_the_same_organisations_and_another_seed_others() -> None:
    first = list(iter_demo_organisations(50, 7, today=TODAY))
    again = list(iter_demo_organisations(50, 7, today=TODAY))
    other = list(iter_demo_organisations(50, 8, today=TODAY))
    assert first == again
    assert [b.organisation["legal_name"] for b in first] != [
        b.organisation["legal_name"] for b in other
    ]


def test_every_generated_value_passes_the_import_validation() -> None:
    regions = {name for name, _w, _c in REGIONS}
    for bundle in iter_demo_organisations(300, 42, today=TODAY):
        org = bundle.organisation
        assert org["region"] in regions
        assert org["employee_band"] in EMPLOYEE_BAND_VALUES
        assert org["revenue_band"] in REVENUE_BAND_VALUES
        assert v.parse_industry_code(org["industry_code"]) == org["industry_code"]
        assert org["contract_start"] < org["contract_end"]
        assert 2 <= len(bundle.contacts) <= 5
        assert 1 <= len(bundle.subscriptions) <= 4
        products = [s["product"] for s in bundle.subscriptions]
        assert len(set(products)) == len(products) and set(products) <= set(PRODUCT_VALUES)
        active = sum((s["mrr"] for s in bundle.subscriptions if s["status"] == "active"),
                     Decimal(0))  # fmt: skip
        assert active <= org["monthly_spend"] <= active * Decimal("1.3") + Decimal("0.01")
        assert bundle.contacts[0]["role"] == "decision_maker"
        emails = [c["email"] for c in bundle.contacts]
        assert len(set(emails)) == len(emails)
        for contact, consents in zip(bundle.contacts, bundle.consents, strict=True):
            assert contact["role"] in CONTACT_ROLE_VALUES
            assert v.parse_email(contact["email"]) == contact["email"]
            if contact["phone"]:
                assert v.parse_phone(contact["phone"], "DE") == contact["phone"]
            assert v.parse_timezone(contact["timezone"]) == "Europe/Berlin"
            channels = [c["channel"] for c in consents]
            assert channels[0] == "email" and set(channels) <= set(CHANNEL_VALUES)
            assert ("sms" in channels) == bool(contact["phone"])


def test_the_mix_looks_like_a_business_customer_base() -> None:
    bundles = list(iter_demo_organisations(2000, 42, today=TODAY))
    key_share = sum(b.organisation["is_key_account"] for b in bundles) / len(bundles)
    assert 0.03 <= key_share <= 0.08
    bands = Counter(b.organisation["employee_band"] for b in bundles)
    assert bands.most_common(1)[0][0] == "1-9"
    consents = Counter(c["status"] for b in bundles for cs in b.consents for c in cs
                       if c["channel"] == "email")  # fmt: skip
    assert 0.8 <= consents["granted"] / sum(consents.values()) <= 0.9
    assert consents["withdrawn"] > 0 and consents["denied"] > 0
    names = [b.organisation["legal_name"] for b in bundles]
    assert len(set(names)) == len(names)
    assert sum(name.endswith("GmbH") for name in names) > len(names) / 3
