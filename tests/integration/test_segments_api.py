"""The segments API on SQLite and PostgreSQL: preview, errors, versions and snapshots."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts import services as accounts
from app.extensions import db
from app.segments import services
from app.segments.models import ImmutableRecordError, SegmentSnapshotMember, SegmentVersion
from ledger.merkle import record_leaf, root_from_leaf_hashes, verify_inclusion
from tests.integration.app_fixtures import csrf_token, login
from tests.segments_support import FIXED, rule, store, tree

PASSWORD = "correct horse battery"
EMAIL_CONTACTS = {"level": "contacts", "channel": "email"}


@pytest.fixture
def audience(app: Flask) -> None:
    with app.app_context():
        store(db.session.connection(), FIXED)
        db.session.commit()


@pytest.fixture
def bearer(app: Flask, make_user: Callable[..., int]) -> Callable[..., dict[str, str]]:
    """Authorization headers for a new user with ``roles``."""

    def factory(*roles: str, email: str | None = None) -> dict[str, str]:
        user_id = make_user(email or f"{'-'.join(roles) or 'nobody'}@example.com", roles=roles)
        with app.app_context():
            issued = accounts.issue_token(accounts.get_user(user_id), "segments test")
            return {"Authorization": f"Bearer {issued.secret}"}

    return factory


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(path, json=body, headers=headers)


def definition_hash(rules: dict[str, Any], target: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps({"rules": rules, "target": target})).hexdigest()


# -- preview --------------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_a_preview_counts_the_reachable_contacts_and_samples_them(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    headers = bearer("marketer")
    body = {"rules": tree(rule("region", "=", "North")), "target": EMAIL_CONTACTS}
    response = post(client, "/api/segments/preview", body, headers)
    assert response.status_code == 200
    data = response.get_json()
    assert data["count"] == 2  # contact 3 of org 1 has no email
    assert [row["contact_id"] for row in data["sample"]] == [1, 2]
    assert data["sample"][0] == {
        "contact_id": 1,
        "first_name": "Person",
        "last_name": "Number1",
        "role": "decision_maker",
        "email": "ceo@acme.test",
        "phone": "+4930000001",
        "language": "en",
        "organisation_id": 1,
        "external_id": "ACME-001",
        "legal_name": "Acme 100% Telecom_Ltd",
        "region": "North",
    }
    assert data["target"] == {"level": "contacts", "roles": [], "channels": ["email"]}
    assert data["definition_hash"] == definition_hash(
        {"combinator": "and", "not": False, "rules": [rule("region", "=", "North")]},
        data["target"],
    )
    assert "by_channel" not in data


@pytest.mark.usefixtures("audience")
def test_an_organisation_preview_with_two_channels_counts_each_channel(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    body = {
        "rules": tree(rule("monthly_spend", ">=", "1000")),
        "target": {"level": "organisations", "channels": ["sms", "email"]},
    }
    response = post(client, "/api/segments/preview", body, bearer("approver"))
    assert response.status_code == 200
    data = response.get_json()
    assert data["count"] == 2
    assert data["by_channel"] == {"email": 2, "sms": 1}
    assert [(row["organisation_id"], row["monthly_spend"]) for row in data["sample"]] == [
        (1, "1500.50"),
        (4, "1500.49"),
    ]


def test_an_invalid_tree_is_refused_with_the_path_of_the_bad_node(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    rules = tree(
        rule("region", "=", "North"),
        rule("is_key_account", "=", True),
        tree(rule("employee_band", ">", "1-9")),
    )
    response = post(
        client,
        "/api/segments/preview",
        {"rules": rules, "target": EMAIL_CONTACTS},
        bearer("marketer"),
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_rules"
    assert error["message"] == (
        "rules[2].rules[0].operator: '>' is not an operator of the enum field "
        "'employee_band'; use one of =, !=, in, notIn"
    )
    assert error["details"]["path"] == "rules[2].rules[0].operator"
    assert error["details"]["allowed"] == ["=", "!=", "in", "notIn"]


def test_bad_rules_and_a_bad_target_are_reported_together(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    body = {
        "rules": tree(rule("shoe_size", "=", "42"), rule("monthly_spend", "between", ["1"])),
        "target": {"level": "households", "channel": "fax"},
    }
    response = post(client, "/api/segments/preview", body, bearer("marketer"))
    assert response.status_code == 400
    errors = response.get_json()["error"]["details"]["errors"]
    assert [(e["path"], e["message"]) for e in errors] == [
        ("rules[0].field", "unknown field 'shoe_size'"),
        ("rules[1].value", "'between' needs two values [low, high], got a list"),
        ("target.level", "the level must be one of organisations, contacts"),
        ("target.channel", "'fax' is not one of email, sms, webhook"),
    ]


def test_a_body_that_is_not_a_json_object_is_refused(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    response = client.post("/api/segments/preview", data="rules=1", headers=bearer("marketer"))
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        "send a JSON object as the body, with Content-Type: application/json"
    )


def test_the_api_needs_a_login_and_a_segment_role(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    body = {"rules": tree(), "target": EMAIL_CONTACTS}
    anonymous = client.get("/api/segments")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "authentication_required"
    no_role = post(client, "/api/segments/preview", body, bearer())
    assert no_role.status_code == 403
    assert no_role.get_json()["error"]["details"] == {
        "required_roles": ["marketer", "admin", "approver", "compliance", "auditor"]
    }
    auditor_creates = post(client, "/api/segments", {"name": "x", **body}, bearer("auditor"))
    assert auditor_creates.status_code == 403


@pytest.mark.usefixtures("audience")
def test_a_browser_session_posts_with_the_csrf_token_of_the_page(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user("maker@example.com", roles=("marketer",))
    login(client, "maker@example.com", PASSWORD)
    body = {"rules": tree(), "target": EMAIL_CONTACTS}
    refused = client.post("/api/segments/preview", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    token = csrf_token(client, "/segments/new")
    accepted = client.post("/api/segments/preview", json=body, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
    assert accepted.get_json()["count"] == 4


def test_the_field_registry_lists_types_operators_and_values(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    response = client.get("/api/segments/fields", headers=bearer("compliance"))
    assert response.status_code == 200
    data = response.get_json()
    fields = {field["name"]: field for field in data["fields"]}
    assert fields["employee_band"] == {
        "name": "employee_band",
        "label": "Employees",
        "group": "Organisation",
        "type": "enum",
        "operators": ["=", "!=", "in", "notIn"],
        "values": ["1-9", "10-49", "50-249", "250-999", "1000+"],
        "nullable": False,
    }
    assert fields["contract_end"]["operators"][-4:] == [
        "withinNextDays",
        "withinLastDays",
        "null",
        "notNull",
    ]
    assert fields["subscription.active_product"]["operators"] == ["=", "in", "notIn"]
    assert data["channels"] == ["email", "sms", "webhook"]
    assert data["limits"]["max_depth"] == 10


# -- segments and versions ---------------------------------------------------------------------


def test_segments_are_created_listed_and_versioned_by_each_edit(
    app: Flask, client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    headers = bearer("marketer")
    first_rules = tree(rule("region", "=", "North"))
    created = post(
        client,
        "/api/segments",
        {"name": "  Northern   accounts ", "rules": first_rules, "target": EMAIL_CONTACTS},
        headers,
    )
    assert created.status_code == 201
    segment = created.get_json()
    assert segment["name"] == "Northern accounts"
    version = segment["latest_version"]
    assert version["number"] == 1
    assert version["author"]["display_name"] == "Ada Lovelace"
    assert version["target"] == {"level": "contacts", "roles": [], "channels": ["email"]}
    assert version["definition_hash"] == definition_hash(
        {"combinator": "and", "not": False, "rules": [rule("region", "=", "North")]},
        version["target"],
    )

    path = f"/api/segments/{segment['id']}"
    changed_rules = tree(rule("region", "in", ["North", "north"]))
    edited = client.put(
        path,
        json={"rules": changed_rules, "target": EMAIL_CONTACTS, "note": "both spellings"},
        headers=headers,
    )
    assert edited.status_code == 201
    assert edited.get_json()["version"]["number"] == 2
    assert edited.get_json()["version_created"] is True

    same = client.put(
        path,
        json={"rules": changed_rules, "target": EMAIL_CONTACTS, "description": "Our north"},
        headers=headers,
    )
    assert same.status_code == 200
    assert same.get_json()["version_created"] is False
    assert same.get_json()["version"]["number"] == 2
    assert same.get_json()["description"] == "Our north"

    stale = client.put(
        path,
        json={"rules": first_rules, "target": EMAIL_CONTACTS, "base_version": 1},
        headers=headers,
    )
    assert stale.status_code == 409
    assert stale.get_json()["error"]["message"] == (
        f"segment {segment['id']} is at version 2 now, not 1; "
        "reload it and apply your changes again"
    )

    versions = client.get(f"{path}/versions", headers=headers).get_json()["versions"]
    assert [(v["number"], v["note"]) for v in versions] == [(1, ""), (2, "both spellings")]
    assert versions[0]["rules"] == {"combinator": "and", "not": False, "rules": [
        {"field": "region", "operator": "=", "value": "North"}
    ]}  # fmt: skip
    assert client.get(f"{path}/versions/3", headers=headers).status_code == 404

    listed = client.get("/api/segments", headers=bearer("auditor")).get_json()["segments"]
    assert [(s["name"], s["latest_version"]["number"]) for s in listed] == [
        ("Northern accounts", 2)
    ]

    duplicate = post(
        client,
        "/api/segments",
        {"name": "northern ACCOUNTS", "rules": tree(), "target": EMAIL_CONTACTS},
        headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["message"] == (
        "a segment named 'Northern accounts' already exists; choose another name"
    )

    with app.app_context():
        stored = db.session.get(SegmentVersion, version["id"])
        assert stored is not None
        stored.note = "rewritten history"
        with pytest.raises(ImmutableRecordError):
            db.session.commit()
        db.session.rollback()


def test_an_unknown_segment_is_a_404_in_the_error_shape(
    client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    response = client.get("/api/segments/999", headers=bearer("marketer"))
    assert response.status_code == 404
    assert response.get_json() == {
        "error": {
            "code": "not_found",
            "message": "there is no segment 999; list them at /api/segments",
            "details": None,
        }
    }


# -- snapshots ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_a_snapshot_freezes_the_sorted_recipients_under_a_merkle_root(
    app: Flask, client: FlaskClient, bearer: Callable[..., dict[str, str]]
) -> None:
    headers = bearer("marketer")
    created = post(
        client,
        "/api/segments",
        {
            "name": "Everyone reachable",
            "rules": tree(),
            "target": {"level": "contacts", "channels": ["email", "sms"]},
        },
        headers,
    ).get_json()

    no_channel = post(client, f"/api/segments/{created['id']}/snapshot", {}, headers)
    assert no_channel.status_code == 400
    assert no_channel.get_json()["error"]["message"] == (
        "version 1 targets email, sms; say which channel to snapshot"
    )
    wrong = post(client, f"/api/segments/{created['id']}/snapshot", {"channel": "webhook"}, headers)
    assert wrong.status_code == 400
    assert wrong.get_json()["error"]["details"] == {"path": "channel", "allowed": ["email", "sms"]}

    response = post(
        client,
        f"/api/segments/{created['id']}/snapshot",
        {"version": 1, "channel": "email"},
        headers,
    )
    assert response.status_code == 201
    snapshot = response.get_json()
    expected = [
        {"contact_id": "1", "channel": "email", "address": "ceo@acme.test"},
        {"contact_id": "2", "channel": "email", "address": "billing@acme.test"},
        {"contact_id": "6", "channel": "email", "address": "info@gamma.test"},
        {"contact_id": "7", "channel": "email", "address": "billing@delta.test"},
    ]
    leaves = [record_leaf(record) for record in expected]
    assert snapshot["member_count"] == 4
    assert snapshot["version_number"] == 1
    assert snapshot["merkle_root"] == root_from_leaf_hashes(leaves).hex()
    assert snapshot["members_sha256"] == hashlib.sha256(rfc8785.dumps(expected)).hexdigest()

    with app.app_context():
        members = db.session.scalars(
            select(SegmentSnapshotMember)
            .where(SegmentSnapshotMember.snapshot_id == snapshot["id"])
            .order_by(SegmentSnapshotMember.position)
        ).all()
        assert [m.record() for m in members] == expected
        assert services.verify_snapshot(snapshot["id"]) is True

    proof = client.get(
        f"/api/segments/snapshots/{snapshot['id']}/proof?contact_id=6&channel=email",
        headers=bearer("auditor"),
    )
    assert proof.status_code == 200
    data = proof.get_json()
    assert data["record"] == expected[2]
    assert (data["index"], data["tree_size"]) == (2, 4)
    assert verify_inclusion(
        record_leaf(data["record"]),
        data["index"],
        data["tree_size"],
        [bytes.fromhex(node) for node in data["path"]],
        bytes.fromhex(snapshot["merkle_root"]),
    )
    outsider = client.get(
        f"/api/segments/snapshots/{snapshot['id']}/proof?contact_id=5&channel=email",
        headers=headers,
    )
    assert outsider.status_code == 404
    assert outsider.get_json()["error"]["message"] == (
        f"contact 5 is not a recipient of snapshot {snapshot['id']} on email"
    )

    listed = client.get(f"/api/segments/{created['id']}/snapshots", headers=headers).get_json()
    assert [s["id"] for s in listed["snapshots"]] == [snapshot["id"]]


@pytest.mark.usefixtures("audience")
def test_a_snapshot_proof_verifies_for_every_member_and_tampering_is_detected(
    app: Flask, make_user: Callable[..., int]
) -> None:
    author_id = make_user("maker@example.com", roles=("marketer",))
    with app.app_context():
        author = accounts.get_user(author_id)
        segment = services.create_segment(
            "Organisations by billing",
            tree(),
            {"level": "organisations", "roles": ["billing", "decision_maker"], "channel": "email"},
            author,
        )
        snapshot = services.snapshot_segment(segment.latest_version.id, created_by=author)
        assert (snapshot.channel, snapshot.member_count) == ("email", 2)
        for contact_id in (2, 7):
            proof = services.snapshot_proof(snapshot.id, contact_id, "email")
            assert proof.verify()
            assert proof.root.hex() == snapshot.merkle_root
        forged = services.snapshot_proof(snapshot.id, 7, "email")
        forged.record["address"] = "attacker@example.test"
        assert forged.verify() is False

        db.session.execute(
            SegmentSnapshotMember.__table__.update()
            .where(SegmentSnapshotMember.snapshot_id == snapshot.id)
            .where(SegmentSnapshotMember.position == 0)
            .values(address="attacker@example.test")
        )
        db.session.commit()
        assert services.verify_snapshot(snapshot.id) is False
