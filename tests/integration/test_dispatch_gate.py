"""Starting a dispatch through the real approval gate (embedded chain): refused with the
gate's reasons before approval; after approval in both stages the approved snapshot is
sent, rendered from the approved version, into the capture outbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.approvals import services as approvals
from app.campaigns.models import Campaign
from app.dispatch import services
from app.dispatch.models import CapturedMessage
from app.errors import ConflictError
from app.extensions import db
from tests.campaigns_support import PASSWORD, World, make_campaign, make_world, user


@pytest.fixture
def world(make_app: Callable[..., Flask], tmp_path: Path) -> World:
    return make_world(make_app, tmp_path, key_account=False, QUIET_HOURS="off")


def test_a_campaign_starts_only_behind_the_gate_and_sends_its_approved_snapshot(
    world: World,
) -> None:
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=("email", "sms")
    )
    with world.app.app_context():
        maker = user(world.people.maker)
        with pytest.raises(services.DispatchRefusedError) as refused:
            services.start_dispatch(campaign_id, maker)
        assert refused.value.details["failures"]
        assert all(
            f.split(":")[0] in {"approved", "revoked", "expired", "hashes", "anchored"}
            for f in refused.value.details["failures"]
        )
        assert services.dispatch_for(campaign_id) is None

        submission = approvals.submit(campaign_id, maker)
        for person in (world.people.anna, world.people.clara):
            approvals.approve(
                submission.id,
                campaign_version_id=submission.campaign_version_id,
                actor=user(person),
                password=PASSWORD,
            )
        dispatch = services.start_dispatch(campaign_id, user(world.people.maker))
        assert dispatch.total == 2 * len(world.contacts)
        progress = services.progress(campaign_id)
        assert progress["finished"] is True
        assert progress["by_channel"] == {
            "email": {"sent": len(world.contacts)},
            "sms": {"sent": len(world.contacts)},
        }
        assert db.session.get(Campaign, campaign_id).status == "dispatched"
        captured = (
            db.session.execute(select(CapturedMessage).order_by(CapturedMessage.id)).scalars().all()
        )
        assert {m.channel for m in captured} == {"email", "sms"}
        email = next(m for m in captured if m.channel == "email")
        assert email.subject and email.headers["List-Unsubscribe-Post"] == (
            "List-Unsubscribe=One-Click"
        )
        token = email.headers["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
        issued = services.find_unsubscribe(token)
        assert issued is not None
        assert (issued.campaign_id, issued.channel, issued.address) == (
            campaign_id,
            "email",
            email.address,
        )
        with pytest.raises(ConflictError, match="was already dispatched"):
            services.start_dispatch(campaign_id, user(world.people.maker))


def test_a_marketer_runs_an_approved_campaign_from_the_ui_to_completion(world: World) -> None:
    """The embedded default: Celery runs in-process and the capture channel keeps the mail."""
    from tests.integration.app_fixtures import login, post_form

    campaign_id = make_campaign(world.app, world.people.maker, world.segment_version)
    with world.app.app_context():
        submission = approvals.submit(campaign_id, user(world.people.maker))
        approvals.approve(  # an email-only campaign: the marketing review is the one stage
            submission.id,
            campaign_version_id=submission.campaign_version_id,
            actor=user(world.people.anna),
            password=PASSWORD,
        )
        maker_email = user(world.people.maker).email
    client = world.app.test_client()
    login(client, maker_email, PASSWORD)

    started = post_form(client, f"/dispatch/campaigns/{campaign_id}/start", follow_redirects=True)

    assert started.status_code == 200
    assert f"Dispatch of campaign {campaign_id} started." in started.get_data(as_text=True)
    progress = client.get(f"/api/dispatch/campaigns/{campaign_id}").get_json()
    assert progress["finished"] is True
    assert progress["by_channel"] == {"email": {"sent": len(world.contacts)}}
    outbox = client.get("/dispatch/outbox")
    assert outbox.status_code == 200
