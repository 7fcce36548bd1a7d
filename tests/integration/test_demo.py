"""The demo seeding behind ``make run``, on a temporary instance with a small audience:
every printed account signs in, the data of both stories exists, a second run changes
nothing and reports the same accounts."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from app.config import TestConfig, settings_from_object
from app.demo import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, FLOW_CAMPAIGN, TOUR_CAMPAIGN, seed_demo
from app.extensions import chain
from tests.integration.app_fixtures import dispose


def demo_app(instance: Path) -> Flask:
    return create_app({**settings_from_object(TestConfig), "INSTANCE": str(instance)})


def sign_in(client: FlaskClient, email: str, password: str) -> str:
    """Where the login form sends the user (the dashboard, ``/``, on success)."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None, "no CSRF token on the login page"
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, f"{email}: login answered {response.status_code}"
    return str(response.location)


def test_the_demo_seeds_both_stories_once_and_every_printed_account_signs_in(
    tmp_path: Path,
) -> None:
    app = demo_app(tmp_path / "instance")
    try:
        first = seed_demo(app, n_orgs=40, settlement_obligations=30)
        chain.close(app)
    finally:
        dispose(app)
    assert first.created is True
    assert first.audience["organisations"] == 40
    roles = {a.role for a in first.accounts}
    assert roles == {
        "admin",
        "marketer",
        "approver",
        "compliance",
        "auditor",
        "operator",
        "clearing_agent",
    }
    assert (first.accounts[0].email, first.accounts[0].password) == (
        DEMO_ADMIN_EMAIL,
        DEMO_ADMIN_PASSWORD,
    )

    again_app = demo_app(tmp_path / "instance")
    try:
        again = seed_demo(again_app, n_orgs=40, settlement_obligations=30)
        assert again.created is False
        assert again.audience["organisations"] == 0  # found, not inserted twice
        assert again.accounts == first.accounts
        assert (again.tour_campaign_id, again.flow_campaign_id) == (
            first.tour_campaign_id,
            first.flow_campaign_id,
        )
        with again_app.app_context():
            from app.audience.models import Organisation
            from app.audit.models import Checkpoint
            from app.campaigns.models import Campaign
            from app.dispatch import services as dispatch
            from app.extensions import db

            assert db.session.scalar(select(func.count(Organisation.id))) == 40
            names = db.session.scalars(select(Campaign.name).order_by(Campaign.id)).all()
            assert names == [TOUR_CAMPAIGN, FLOW_CAMPAIGN]
            flow = db.session.get(Campaign, first.flow_campaign_id)
            assert flow is not None and flow.status == "dispatched"
            assert dispatch.progress(flow.id)["finished"] is True
            assert db.session.scalar(select(func.count(Checkpoint.id))) >= 1
        for account in again.accounts:
            client = again_app.test_client()
            assert sign_in(client, account.email, account.password) == "/", account.email
        chain.close(again_app)
    finally:
        dispose(again_app)
