"""The audience JSON API: token authentication, searches, import status, and bad input
answered with a 400 that names the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.audience import importing
from app.extensions import db

DATA = Path(__file__).resolve().parents[1] / "data" / "audience"


@pytest.fixture
def token(app: Flask, make_user: Callable[..., int]) -> str:
    from app.accounts import services
    from app.accounts.models import User

    user_id = make_user(email="api@example.com", roles=("marketer",))
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return services.issue_token(user, "tests").secret


@pytest.fixture
def audience(app: Flask) -> dict[str, int]:
    with app.app_context():
        orgs = importing.import_file(
            "organisations", "o.csv", (DATA / "organisations_bad.csv").read_bytes()
        )
        contacts = importing.import_file(
            "contacts", "c.csv", (DATA / "contacts_bad.csv").read_bytes()
        )
        return {"orgs_import": orgs.id, "contacts_import": contacts.id}


def get(client: FlaskClient, token: str, path: str) -> object:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_organisations_are_listed_searched_and_filtered_with_a_token(
    client: FlaskClient, token: str, audience: dict[str, int]
) -> None:
    everything = get(client, token, "/api/organisations").get_json()
    assert (everything["total"], everything["page"], everything["pages"]) == (5, 1, 1)
    assert [o["external_id"] for o in everything["items"]] == [
        "ORG-001", "ORG-002", "ORG-003", "ORG-010", "ORG-015",
    ]  # fmt: skip
    found = get(client, token, "/api/organisations?q=org-01").get_json()
    assert [o["external_id"] for o in found["items"]] == ["ORG-010", "ORG-015"]
    by_tax_id = get(client, token, "/api/organisations?q=DE1234").get_json()
    assert [o["legal_name"] for o in by_tax_id["items"]] == ["Alpha Telematik GmbH"]
    key = get(client, token, "/api/organisations?tier=key&industry=35").get_json()
    assert [o["external_id"] for o in key["items"]] == ["ORG-015"]
    assert key["items"][0] == {
        "id": key["items"][0]["id"],
        "external_id": "ORG-015",
        "legal_name": "Xi Energie GmbH",
        "tax_id": None,
        "industry_code": "35.11",
        "region": "Thüringen",
        "employee_band": "1000+",
        "revenue_band": "250M+",
        "is_key_account": True,
        "account_manager_id": None,
        "contract_start": "2018-01-01",
        "contract_end": "2028-12-31",
        "monthly_spend": "12345.67",
    }
    paged = get(client, token, "/api/organisations?per_page=2&page=3").get_json()
    assert (paged["total"], paged["pages"], len(paged["items"])) == (5, 3, 1)


def test_an_organisation_comes_with_its_contacts_and_subscriptions(
    app: Flask, client: FlaskClient, token: str, audience: dict[str, int]
) -> None:
    listing = get(client, token, "/api/organisations?q=ORG-001").get_json()
    org_id = listing["items"][0]["id"]
    detail = get(client, token, f"/api/organisations/{org_id}").get_json()
    assert [c["email"] for c in detail["contacts"]] == [
        "ada@alpha-telematik.de",
        "bob@alpha-telematik.de",
    ]
    assert detail["contacts"][0]["consents"] == {"email": "granted", "sms": "denied"}
    assert detail["subscriptions"] == [] and detail["active_mrr"] == "0.00"
    missing = get(client, token, "/api/organisations/999999")
    assert missing.status_code == 404
    assert missing.get_json() == {
        "error": {"code": "not_found", "message": "organisation #999999 does not exist",
                  "details": None}
    }  # fmt: skip


def test_contacts_are_searched_by_name_email_or_phone_and_filtered(
    client: FlaskClient, token: str, audience: dict[str, int]
) -> None:
    by_name = get(client, token, "/api/contacts?q=lovelace").get_json()
    assert sorted(c["organisation"]["external_id"] for c in by_name["items"]) == [
        "ORG-001", "ORG-002",
    ]  # fmt: skip
    by_phone = get(client, token, "/api/contacts?q=%2B49 89").get_json()
    assert [c["last_name"] for c in by_phone["items"]] == ["Valid"]
    deciders = get(client, token, "/api/contacts?role=decision_maker").get_json()
    assert [c["last_name"] for c in deciders["items"]] == ["Lovelace", "Valid"]
    assert deciders["items"][0]["phone"] == "+49301234567"
    emailable = get(client, token, "/api/contacts?consent=email").get_json()
    assert emailable["total"] == 3


@pytest.mark.parametrize(
    ("path", "field", "message"),
    [
        ("/api/organisations?tier=gold", "tier",
         "tier 'gold' is not allowed; use one of: key, standard"),
        ("/api/organisations?product=fax", "product",
         "product 'fax' is not allowed; use one of: voice, mobile, internet, vpn, cloud, iot, "
         "sms_gateway, data_center, security"),
        ("/api/organisations?page=0", "page", "page '0' is not a whole number from 1 to 1000000"),
        ("/api/organisations?per_page=500", "per_page",
         "per_page '500' is not a whole number from 1 to 200"),
        ("/api/contacts?role=boss", "role",
         "role 'boss' is not allowed; use one of: decision_maker, billing, technical, legal, "
         "other"),
        ("/api/contacts?organisation_id=abc", "organisation_id",
         "organisation_id 'abc' is not a number"),
        ("/api/contacts?consent=fax", "consent",
         "consent 'fax' is not allowed; use one of: email, sms, webhook"),
    ],
)  # fmt: skip
def test_bad_query_arguments_get_a_400_naming_the_field(
    client: FlaskClient, token: str, path: str, field: str, message: str
) -> None:
    response = get(client, token, path)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == message
    assert list(error["details"]) == [field]


def test_the_import_status_and_rejections_are_served_as_json(
    client: FlaskClient, token: str, audience: dict[str, int]
) -> None:
    status = get(client, token, f"/api/imports/{audience['orgs_import']}").get_json()
    assert status["status"] == "completed"
    assert (status["total"], status["processed"], status["percent"]) == (19, 19, 100)
    assert status["counts"] == {
        "inserted": 5, "updated": 0, "unchanged": 0, "rejected": 12, "empty": 2,
    }  # fmt: skip
    assert status["mapping"]["Customer ID"] == "external_id"
    listing = get(client, token, "/api/imports").get_json()
    assert [job["id"] for job in listing["items"]] == [
        audience["contacts_import"], audience["orgs_import"],
    ]  # fmt: skip
    rejected = get(
        client, token, f"/api/imports/{audience['orgs_import']}/rejections?limit=2"
    ).get_json()
    assert rejected["items"][0] == {
        "line": 6,
        "field": "external_id",
        "reason": "external_id: duplicate external id 'ORG-001': line 2 already has it; keep "
        "one line per organisation",
        "raw": ["ORG-001", "Alpha Duplicate GmbH", "", "61.10", "Bayern", "1-9", "<1M", "no",
                "", "", "10"],
    }  # fmt: skip
    assert len(rejected["items"]) == 2
    bad = get(client, token, f"/api/imports/{audience['orgs_import']}/rejections?limit=0")
    assert bad.status_code == 400 and list(bad.get_json()["error"]["details"]) == ["limit"]
    assert get(client, token, "/api/imports/999999").status_code == 404


def test_the_api_needs_a_token_and_a_reading_role(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    from app.accounts import services
    from app.accounts.models import User

    response = client.get("/api/organisations")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "authentication_required"
    bad = client.get("/api/organisations", headers={"Authorization": "Bearer ll_nonsense"})
    assert bad.status_code == 401
    operator_id = make_user(email="op@example.com", roles=("operator",),
                            member_address="0x" + "11" * 20)  # fmt: skip
    with app.app_context():
        operator = db.session.get(User, operator_id)
        assert operator is not None
        secret = services.issue_token(operator, "ops").secret
    forbidden = client.get("/api/contacts", headers={"Authorization": f"Bearer {secret}"})
    assert forbidden.status_code == 403
    assert forbidden.get_json()["error"]["details"] == {
        "required_roles": ["admin", "marketer", "approver", "compliance", "auditor"]
    }
