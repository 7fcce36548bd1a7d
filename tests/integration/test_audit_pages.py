"""The auditor page: entries with their status, evidence downloads, whole-log verification,
the anchoring panel and "anchor now"; only auditors, compliance and admins see it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.audit import services
from app.extensions import chain as chain_ext
from app.extensions import db
from ledger.evidence import verify_evidence
from tests.audit_support import APPROVERS, deployed_app, log_decision
from tests.integration.app_fixtures import csrf_token, login

ANNA, BORIS, _ = APPROVERS
PASSWORD = "correct horse battery"


@pytest.fixture
def audit_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    return deployed_app(make_app, tmp_path)


def signed_in(app: Flask, role: str) -> FlaskClient:
    from app.accounts import services as accounts

    with app.app_context():
        accounts.create_user(f"{role}@example.com", role.title(), PASSWORD, [role])
    client = app.test_client()
    assert login(client, f"{role}@example.com", PASSWORD).status_code == 302
    return client


def post(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, "/audit/")}, **kwargs)


def test_the_auditor_page_lists_entries_and_the_anchoring_state(audit_app: Flask) -> None:
    with audit_app.app_context():
        log_decision(ANNA, campaign=21, stage="compliance")
        services.anchor_now()
        log_decision(BORIS, campaign=21, stage="legal")
    client = signed_in(audit_app, "auditor")
    page = client.get("/audit/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Approval log</h1>" in html
    assert "<dt>Pending entries</dt><dd>1 (oldest from " in html
    assert html.count('<span class="badge badge-ok">anchored</span>') == 1
    assert html.count('<span class="badge badge-muted">pending</span>') == 2  # row + panel
    assert html.count('<span class="badge badge-ok">matches</span>') == 2
    assert 'href="/audit/entries/0/evidence.json"' in html
    assert 'href="/audit/entries/1/evidence.json"' not in html
    assert 'class="active" aria-current="page">Audit</a>' in html


def test_a_downloaded_bundle_verifies_against_the_chain(audit_app: Flask) -> None:
    with audit_app.app_context():
        log_decision(ANNA, campaign=21)
        services.anchor_now()
    response = signed_in(audit_app, "compliance").get("/audit/entries/0/evidence.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="approval-evidence-0.json"'
    )
    bundle = json.loads(response.get_data(as_text=True))
    with audit_app.app_context():
        assert verify_evidence(bundle, chain_ext.get(audit_app)).ok


def test_evidence_of_an_unknown_entry_is_a_404(audit_app: Flask) -> None:
    client = signed_in(audit_app, "auditor")
    response = client.get("/audit/entries/5/evidence.json", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"] == {
        "code": "not_found",
        "message": "the approval log has no entry 5",
        "details": None,
    }


def test_verifying_from_the_page_shows_the_entry_that_was_edited(audit_app: Flask) -> None:
    with audit_app.app_context():
        log_decision(ANNA, campaign=21)
        log_decision(BORIS, campaign=22)
        services.anchor_now()
    client = signed_in(audit_app, "auditor")
    clean = post(client, "/audit/verify").get_data(as_text=True)
    assert '<span class="badge badge-ok">verified</span>' in clean
    assert "<li>the approval log verifies</li>" in clean
    with audit_app.app_context():
        db.session.execute(
            text("UPDATE approval_log_entries SET record_json = record_json || ' ' WHERE id = 1")
        )
        db.session.commit()
    html = post(client, "/audit/verify").get_data(as_text=True)
    assert '<span class="badge badge-error">failed</span>' in html
    assert "<li>✗ entry 1: its record hashes to 0x" in html
    assert '<span class="badge badge-error">changed</span>' in html


def test_anchor_now_from_the_page(audit_app: Flask) -> None:
    with audit_app.app_context():
        log_decision(ANNA, campaign=21)
    client = signed_in(audit_app, "auditor")
    response = post(client, "/audit/anchor", follow_redirects=True)
    html = response.get_data(as_text=True)
    with audit_app.app_context():
        checkpoint = services.latest_anchored()
        assert checkpoint is not None
    assert f"The log is anchored up to 1 entries (transaction {checkpoint.tx_hash})." in html


def test_a_failed_anchor_now_is_shown_with_its_reason(
    make_app: Callable[..., Flask], unreachable_chain_url: str
) -> None:
    app = make_app()
    with app.app_context():
        log_decision(campaign=21)
    client = signed_in(app, "admin")
    html = post(client, "/audit/anchor", follow_redirects=True).get_data(as_text=True)
    assert (
        "the approval log could not be anchored: cannot reach the chain at "
        f"{unreachable_chain_url}: Connection refused" in html
    )
    assert "<dt>Attempts</dt><dd>1</dd>" in html
    assert '<span class="badge badge-error">failing</span>' in html


def test_only_auditors_compliance_and_admins_see_the_audit_pages(audit_app: Flask) -> None:
    marketer = signed_in(audit_app, "marketer")
    assert marketer.get("/audit/").status_code == 403
    assert marketer.get("/audit/entries/0/evidence.json").status_code == 403
    compliance = signed_in(audit_app, "compliance")
    assert compliance.get("/audit/").status_code == 200
    assert post(compliance, "/audit/anchor").status_code == 403
