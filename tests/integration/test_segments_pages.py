"""The segment pages: list, builder, history with diffs, snapshots; who may see and edit."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.extensions import db
from app.segments import services
from tests.integration.app_fixtures import csrf_token, login
from tests.segments_support import FIXED, rule, store, tree

PASSWORD = "correct horse battery"
EMAIL_CONTACTS = {"level": "contacts", "channel": "email"}


@pytest.fixture
def segment_id(app: Flask, make_user: Callable[..., int]) -> int:
    """A segment with two versions, by a marketer, over the fixed audience."""
    author_id = make_user("maker@example.com", roles=("marketer",), display_name="Mary Maker")
    with app.app_context():
        store(db.session.connection(), FIXED)
        db.session.commit()
        author = accounts.get_user(author_id)
        segment = services.create_segment(
            "Key accounts", tree(rule("region", "=", "North")), EMAIL_CONTACTS, author
        )
        services.revise_segment(
            segment.id,
            tree(rule("region", "in", ["North", "north"])),
            EMAIL_CONTACTS,
            author,
            note="both spellings",
        )
        return int(segment.id)


def scripts_are_external(page: str) -> bool:
    return all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


def test_a_marketer_sees_the_list_and_opens_the_builder(
    client: FlaskClient, segment_id: int
) -> None:
    login(client, "maker@example.com", PASSWORD)
    listing = client.get("/segments").get_data(as_text=True)
    assert "Key accounts" in listing and "v2" in listing and "New segment" in listing
    builder = client.get(f"/segments/{segment_id}")
    assert builder.status_code == 200
    page = builder.get_data(as_text=True)
    assert 'data-editable="true"' in page
    assert f'data-save-url="/api/segments/{segment_id}"' in page
    assert 'data-save-method="PUT"' in page
    assert "/static/js/segment-builder.js" in page
    assert 'id="save-segment"' in page
    assert scripts_are_external(page)
    new = client.get("/segments/new").get_data(as_text=True)
    assert 'data-save-method="POST"' in new and "Create segment" in new


def test_an_approver_reads_but_cannot_edit(
    client: FlaskClient, make_user: Callable[..., int], segment_id: int
) -> None:
    make_user("checker@example.com", roles=("approver",))
    login(client, "checker@example.com", PASSWORD)
    assert client.get("/segments/new").status_code == 403
    page = client.get(f"/segments/{segment_id}").get_data(as_text=True)
    assert 'data-editable="false"' in page
    assert 'id="save-segment"' not in page
    history = client.get(f"/segments/{segment_id}/history").get_data(as_text=True)
    assert "Take snapshot" not in history
    snapshot = client.post(
        f"/segments/{segment_id}/snapshots",
        data={"version": "2", "channel": "email", "csrf_token": csrf_token(client, "/segments")},
    )
    assert snapshot.status_code == 403


def test_the_history_shows_versions_authors_hashes_and_the_rule_diff(
    app: Flask, client: FlaskClient, segment_id: int
) -> None:
    login(client, "maker@example.com", PASSWORD)
    page = client.get(f"/segments/{segment_id}/history").get_data(as_text=True)
    with app.app_context():
        versions = services.get_segment(segment_id).versions
        hashes = [v.definition_hash for v in versions]
    assert all(h in page for h in hashes)
    assert "by Mary Maker" in page and "both spellings" in page
    assert '<span class="diff-del">-  Region equals North</span>' in page
    assert '<span class="diff-add">+  Region is one of North, north</span>' in page
    assert "Take snapshot" in page


def test_a_snapshot_taken_from_the_history_lists_its_members(
    client: FlaskClient, segment_id: int
) -> None:
    login(client, "maker@example.com", PASSWORD)
    token = csrf_token(client, f"/segments/{segment_id}/history")
    response = client.post(
        f"/segments/{segment_id}/snapshots",
        data={"version": "2", "channel": "email", "csrf_token": token},
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "of version 2 on email: 2 recipients." in page
    assert "members match the root" in page
    assert "ceo@acme.test" in page and "billing@acme.test" in page
    assert "dm@beta.test" not in page  # withdrew email consent

    refused = client.post(
        f"/segments/{segment_id}/snapshots",
        data={"version": "2", "channel": "sms", "csrf_token": token},
        follow_redirects=True,
    )
    assert "version 2 does not target &#39;sms&#39;; snapshot one of email" in refused.get_data(
        as_text=True
    )
