"""Recipient evidence: after a campaign is approved through the real workflow and the log
anchored, a bundle proves one recipient was in the approved snapshot, and it verifies
against the chain with nothing else (SQLite and PostgreSQL, embedded chain)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from app.approvals import services as approvals
from app.approvals.models import Submission
from app.audit import services
from app.errors import NotFoundError
from app.extensions import chain as chain_ext
from app.extensions import db
from ledger.evidence import verify_evidence
from tests.campaigns_support import PASSWORD, World, make_campaign, make_world, user


@pytest.fixture
def approved(make_app: Callable[..., Flask], tmp_path: Path) -> tuple[World, int]:
    """An email campaign approved at every stage, its log anchored: (world, snapshot id)."""
    world = make_world(make_app, tmp_path, channels=("email",))
    campaign = make_campaign(world.app, world.people.maker, world.segment_version)
    with world.app.app_context():
        submission = approvals.submit(campaign, user(world.people.maker))
        for approver in (world.people.anna, world.people.manager):
            approvals.approve(
                submission.id,
                campaign_version_id=submission.campaign_version_id,
                actor=user(approver),
                password=PASSWORD,
            )
        services.anchor_now()
        snapshot_id = db.session.get(Submission, submission.id).snapshot_id
    return world, snapshot_id


def test_a_recipient_bundle_verifies_against_the_chain(approved: tuple[World, int]) -> None:
    world, snapshot_id = approved
    contact = world.contacts[1]
    with world.app.app_context():
        bundle = services.recipient_evidence(snapshot_id, contact, "email")
        assert bundle["member"] == {
            "contact_id": str(contact),
            "channel": "email",
            "address": "c1@customer1.example",
        }
        assert bundle["snapshot_size"] == 3
        assert bundle["approval"]["record"]["decision"] == "approve"
        assert bundle["approval"]["record"]["snapshot_root"] == bundle["snapshot_root"]
        report = verify_evidence(json.loads(json.dumps(bundle)), chain_ext.get(world.app))
        assert report.ok, report.lines()


def test_the_flask_command_writes_the_recipient_bundle(
    approved: tuple[World, int], tmp_path: Path
) -> None:
    world, snapshot_id = approved
    out = tmp_path / "recipient.json"
    result = world.app.test_cli_runner().invoke(
        args=[
            "audit",
            "recipient-evidence",
            str(snapshot_id),
            str(world.contacts[0]),
            "email",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["format"] == "ledgerline-recipient-evidence/1"


def test_no_recipient_evidence_for_someone_outside_the_snapshot(
    approved: tuple[World, int],
) -> None:
    world, snapshot_id = approved
    with world.app.app_context(), pytest.raises(NotFoundError) as error:
        services.recipient_evidence(snapshot_id, world.contacts[0], "sms")
    assert error.value.message == (
        f"contact {world.contacts[0]} on sms is not in recipient snapshot {snapshot_id}; "
        "it was not an approved recipient"
    )
