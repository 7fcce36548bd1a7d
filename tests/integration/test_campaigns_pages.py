"""The campaign pages and the editor's JSON helpers, through the browser's requests
(session cookie, CSRF token), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.campaigns import services
from tests.campaigns_support import EMAIL_TEMPLATES, PASSWORD, World, make_campaign, make_world
from tests.integration.app_fixtures import csrf_token, login, post_form


@pytest.fixture
def world(make_app: Callable[..., Flask], tmp_path: Path) -> World:
    return make_world(make_app, tmp_path)


def _signed_in(world: World, email: str) -> FlaskClient:
    client = world.app.test_client()
    assert login(client, email, PASSWORD).status_code == 302
    return client


def _json_post(client: FlaskClient, path: str, body: object) -> object:
    token = csrf_token(client, "/campaigns/")
    return client.post(
        path, json=body, headers={"X-CSRFToken": token, "Accept": "application/json"}
    )


def _form(world: World, **fields: str) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Autumn offer",
        "objective": "More bandwidth.",
        "segment_version_id": str(world.segment_version),
        "channels": ["email"],
        "email_subject": EMAIL_TEMPLATES["email"]["subject"],
        "email_html": EMAIL_TEMPLATES["email"]["html"],
        "email_text": "",
        "sms_text": "",
        "webhook_text": "",
        "webhook_payload": "",
    }
    data.update(fields)
    return data


def test_a_marketer_creates_a_campaign_in_the_editor(world: World) -> None:
    client = _signed_in(world, "mia@example.com")
    editor = client.get("/campaigns/new")
    assert editor.status_code == 200
    page = editor.get_data(as_text=True)
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither
    assert '<script src="/static/js/campaign-editor.js"></script>' in page
    assert "contact.first_name" in page  # the variables are documented
    response = post_form(client, "/campaigns/new", _form(world))
    assert response.status_code == 302
    with world.app.app_context():
        (campaign,) = services.list_campaigns()
        assert response.location == f"/campaigns/{campaign.id}"
        version = campaign.latest_version
    shown = client.get(response.location).get_data(as_text=True)
    assert "Campaign &#39;Autumn offer&#39; is saved as version 1." in shown
    assert version.content_hash in shown


def test_a_template_error_is_shown_with_its_line_and_nothing_is_saved(world: World) -> None:
    client = _signed_in(world, "mia@example.com")
    html = "<p>Hello</p>\n<p>{{ customer.name }}</p>"
    response = post_form(client, "/campaigns/new", _form(world, email_html=html))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert (
        "line 2: undefined variable &#39;customer&#39;; use one of: campaign, contact, "
        "organisation, sender, unsubscribe_url" in page
    )
    with world.app.app_context():
        assert services.list_campaigns() == []


def test_pages_need_a_campaign_role(world: World, make_user: Callable[..., int]) -> None:
    make_user(
        "otto@example.com",
        PASSWORD,
        ("operator",),
        "Otto Operator",
        member_address="0x" + "11" * 20,
    )
    client = _signed_in(world, "otto@example.com")
    assert client.get("/campaigns/").status_code == 403
    approver = _signed_in(world, "anna@example.com")
    assert approver.get("/campaigns/").status_code == 200
    assert approver.get("/campaigns/new").status_code == 403


def test_the_editor_previews_a_draft_for_a_recipient_as_json(world: World) -> None:
    client = _signed_in(world, "mia@example.com")
    draft = {
        "name": "Autumn offer",
        "segment_version_id": world.segment_version,
        "channels": ["email", "sms"],
        "templates": {
            "email": EMAIL_TEMPLATES["email"],
            "sms": {"text": "Hi {{ contact.first_name }} 😀"},
        },
    }
    email = _json_post(
        client,
        "/campaigns/preview",
        {"draft": draft, "channel": "email", "contact_id": world.contacts[0]},
    )
    assert email.status_code == 200
    assert email.get_json()["subject"] == "Spring offer for Customer 0 GmbH"
    sms = _json_post(client, "/campaigns/preview", {"draft": draft, "channel": "sms"}).get_json()
    assert sms["sms_text"] == "Hi Ada 😀"
    assert sms["sms"] == {
        "encoding": "UCS-2",
        "characters": 8,
        "units": 9,
        "parts": 1,
        "per_part": 70,
        "remaining": 61,
    }
    draft["templates"]["sms"] = {"text": "Hi\n{{ contact.nme }}"}  # type: ignore[index]
    broken = _json_post(client, "/campaigns/preview", {"draft": draft, "channel": "sms"})
    assert broken.status_code == 400
    error = broken.get_json()["error"]
    assert error["code"] == "invalid_template"
    assert error["details"] == [
        {
            "field": "sms.text",
            "line": 2,
            "message": "contact has no field 'nme'; use one of: first_name, last_name, "
            "full_name, job_title, role, email, phone, messenger_handle, language, timezone",
        }
    ]


def test_the_sms_counter_and_the_recipient_picker_answer_in_json(world: World) -> None:
    client = _signed_in(world, "mia@example.com")
    count = _json_post(client, "/campaigns/sms-count", {"text": "a" * 161}).get_json()
    assert (count["encoding"], count["parts"], count["per_part"]) == ("GSM-7", 2, 153)
    picker = client.get(
        f"/campaigns/segment-versions/{world.segment_version}/recipients?channel=sms",
        headers={"Accept": "application/json"},
    ).get_json()
    assert [r["id"] for r in picker["recipients"]] == world.contacts
    assert picker["recipients"][0]["organisation"] == "Customer 0 GmbH"


def test_a_json_post_without_the_csrf_token_is_refused(world: World) -> None:
    client = _signed_in(world, "mia@example.com")
    response = client.post("/campaigns/sms-count", json={"text": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_the_saved_email_preview_is_served_sandboxed(world: World) -> None:
    campaign_id = make_campaign(world.app, world.people.maker, world.segment_version)
    client = _signed_in(world, "anna@example.com")
    response = client.get(
        f"/campaigns/{campaign_id}/versions/1/render/email?format=html&contact_id={world.contacts[1]}"
    )
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; "
        "sandbox"
    )
    assert "<p>Dear Contact1,</p>" in response.get_data(as_text=True)
    version_page = client.get(f"/campaigns/{campaign_id}/versions/1").get_data(as_text=True)
    assert "Spring offer for {{ organisation.legal_name }}" in version_page


def test_the_maker_submits_from_the_campaign_page(world: World) -> None:
    campaign_id = make_campaign(world.app, world.people.maker, world.segment_version)
    client = _signed_in(world, "mia@example.com")
    response = post_form(client, f"/campaigns/{campaign_id}/submit")
    assert response.status_code == 302
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Version 1 is submitted for approval with 2 stage(s)." in page
    assert "awaiting marketing review" in page
    again = post_form(client, f"/campaigns/{campaign_id}/submit")
    assert again.status_code == 302
    assert "is already in review" in client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert re.search(r"<td>marketing review<br>", page)
