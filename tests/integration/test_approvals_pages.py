"""The approval pages: the inbox, the review with its signed approve and reject forms, the
timeline with log entries and anchoring, the gate check, and the policy editor."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.approvals import services
from app.audit import services as audit
from app.extensions import db
from tests.campaigns_support import PASSWORD, World, make_campaign, make_world, user
from tests.integration.app_fixtures import login, post_form


@pytest.fixture
def world(make_app: Callable[..., Flask], tmp_path: Path) -> World:
    return make_world(make_app, tmp_path, key_account=False)


def _signed_in(world: World, email: str) -> FlaskClient:
    client = world.app.test_client()
    assert login(client, email, PASSWORD).status_code == 302
    return client


def _submitted(world: World, channels: tuple[str, ...] = ("email",)) -> tuple[int, int, int]:
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=channels
    )
    with world.app.app_context():
        submission = services.submit(campaign_id, user(world.people.maker))
        return campaign_id, submission.id, submission.campaign_version_id


def test_an_approver_finds_the_review_in_the_inbox_and_approves_with_their_password(
    world: World,
) -> None:
    campaign_id, submission_id, version_id = _submitted(world)
    anna = _signed_in(world, "anna@example.com")
    inbox = anna.get("/approvals/").get_data(as_text=True)
    assert "Spring offer" in inbox and f"/approvals/submissions/{submission_id}" in inbox
    review = anna.get(f"/approvals/submissions/{submission_id}").get_data(as_text=True)
    assert "Approve version 1" in review and 'type="password"' in review
    wrong = post_form(
        anna,
        f"/approvals/submissions/{submission_id}/approve",
        {"campaign_version_id": version_id, "stage_index": 0, "password": "nope"},
    )
    assert wrong.status_code == 400
    assert "the password is wrong; type your sign-in password" in wrong.get_data(as_text=True)
    done = post_form(
        anna,
        f"/approvals/submissions/{submission_id}/approve",
        {"campaign_version_id": version_id, "stage_index": 0, "password": PASSWORD},
    )
    assert done.status_code == 302
    page = anna.get(done.location).get_data(as_text=True)
    assert "You approved stage &#39;marketing review&#39;; log entry 1, signed by 0x" in page
    assert "Nothing waits for you." in anna.get("/approvals/").get_data(as_text=True)
    with world.app.app_context():
        state = services.submission_state(services.get_submission(submission_id))
        assert state.approved
    assert campaign_id


def test_the_maker_sees_no_decision_form_and_a_post_is_refused(world: World) -> None:
    _campaign, submission_id, version_id = _submitted(world)
    mia = _signed_in(world, "mia@example.com")
    review = mia.get(f"/approvals/submissions/{submission_id}").get_data(as_text=True)
    assert "Approve version" not in review
    response = post_form(
        mia,
        f"/approvals/submissions/{submission_id}/approve",
        {"campaign_version_id": version_id, "password": PASSWORD},
    )
    assert response.status_code == 403
    assert "a maker cannot approve their own work" in response.get_data(as_text=True)


def test_a_rejection_without_a_comment_is_refused_on_the_form(world: World) -> None:
    _campaign, submission_id, version_id = _submitted(world)
    anna = _signed_in(world, "anna@example.com")
    response = post_form(
        anna,
        f"/approvals/submissions/{submission_id}/reject",
        {"campaign_version_id": version_id, "password": PASSWORD, "comment": ""},
    )
    assert response.status_code == 400
    assert "a rejection needs a comment telling the maker what to change" in response.get_data(
        as_text=True
    )


def test_the_timeline_shows_each_decision_with_its_log_entry_and_the_gate_result(
    world: World,
) -> None:
    campaign_id, submission_id, version_id = _submitted(world)
    with world.app.app_context():
        approval = services.approve(
            submission_id,
            campaign_version_id=version_id,
            actor=user(world.people.anna),
            password=PASSWORD,
        )
        leaf = audit.get_entry(approval.log_entry_id).leaf_hash
    mia = _signed_in(world, "mia@example.com")
    page = mia.get(f"/approvals/campaigns/{campaign_id}/timeline").get_data(as_text=True)
    assert page.count('<span class="badge badge-muted">pending</span>') == 2
    assert f'title="{leaf}"' in page
    assert "The log holds 2 entries; 0 are anchored on-chain" in page
    checked = post_form(mia, f"/approvals/campaigns/{campaign_id}/gate")
    assert checked.status_code == 200
    text = checked.get_data(as_text=True)
    assert "The gate passes: the campaign may be dispatched (final approval: log entry 1)." in text
    assert text.count('<span class="badge badge-ok">anchored</span>') == 2


def test_an_admin_adds_a_policy_version_and_bad_json_names_the_path(world: World) -> None:
    with world.app.app_context():
        policy = services.ensure_default_policy()
        policy_id = policy.id
    root = _signed_in(world, "root@example.com")
    assert "marketing review" in root.get("/approvals/policies").get_data(as_text=True)
    path = f"/approvals/policies/{policy_id}/versions/new"
    editor = root.get(path).get_data(as_text=True)
    assert "&#34;stages&#34;" in editor
    broken = {"stages": [{"name": "review", "role": "approver", "quorum": 0}]}
    refused = post_form(root, path, {"definition": json.dumps(broken), "comment": "x"})
    assert refused.status_code == 400
    assert (
        "$.stages[0].quorum: 0 (int); use a whole number from 1 to 20, or &#34;all&#34;"
        in refused.get_data(as_text=True)
    )
    not_json = post_form(root, path, {"definition": "{stages: }", "comment": "x"})
    assert "the definition is not valid JSON (line 1" in not_json.get_data(as_text=True)
    two = {"stages": [{"name": "review", "role": "approver", "quorum": 2}]}
    saved = post_form(root, path, {"definition": json.dumps(two), "comment": "four eyes"})
    assert saved.status_code == 302
    with world.app.app_context():
        latest = services.get_policy(policy_id).latest_version
        assert (latest.number, latest.definition, latest.comment) == (2, two, "four eyes")
        db.session.rollback()
    anna = _signed_in(world, "anna@example.com")
    assert anna.get(path).status_code == 403
