"""The dispatch gate on the embedded chain: the full flow passes, and each of its checks
refuses with its reason (not approved, not anchored, hashes changed, expired, revoked),
including direct edits of the database after the approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from app.approvals import gate, services
from app.approvals.models import ApprovalDecision
from app.audit import services as audit
from app.campaigns import recipients
from app.campaigns.content import recompute_content_hash
from app.extensions import chain as chain_ext
from app.extensions import db
from ledger.evidence import verify_evidence
from tests.campaigns_support import PASSWORD, World, make_campaign, make_world, user


@pytest.fixture
def world(make_app: Callable[..., Flask], tmp_path: Path) -> World:
    # No key account: the email + SMS campaign needs exactly two stages.
    return make_world(make_app, tmp_path, key_account=False)


def _approved(world: World) -> tuple[int, int, list[ApprovalDecision]]:
    """An email + SMS campaign approved in its two stages: (campaign, submission, approvals)."""
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=("email", "sms")
    )
    with world.app.app_context():
        submission = services.submit(campaign_id, user(world.people.maker))
        approvals = [
            services.approve(
                submission.id,
                campaign_version_id=submission.campaign_version_id,
                actor=user(person),
                password=PASSWORD,
            )
            for person in (world.people.anna, world.people.clara)
        ]
        assert [a.stage_name for a in approvals] == ["marketing review", "compliance"]
        for approval in approvals:
            db.session.expunge(approval)
        return campaign_id, submission.id, approvals


def test_the_full_flow_passes_the_gate_and_its_evidence_verifies_on_chain(world: World) -> None:
    campaign_id, _submission_id, approvals = _approved(world)
    with world.app.app_context():
        assert audit.anchored_size() == 0
        result = gate.check_dispatch_gate(campaign_id)
        assert (result.ok, result.failures) == (True, [])
        assert result.final_entry_id == approvals[-1].log_entry_id
        assert audit.anchored_size() == 3  # submit + two approvals, anchored on demand
        assert audit.is_anchored(approvals[-1].log_entry_id)

        bundle = audit.evidence_for(approvals[-1].log_entry_id)
        report = verify_evidence(bundle, chain_ext.get())
        assert report.ok, report.lines()
        assert bundle["record"]["approver_address"] == approvals[-1].approver_address

        snapshot = gate.approved_snapshot(campaign_id)
        assert [(m.position, m.contact_id, m.channel) for m in snapshot.members] == [
            (0, world.contacts[0], "email"),
            (1, world.contacts[1], "email"),
            (2, world.contacts[2], "email"),
            (3, world.contacts[0], "sms"),
            (4, world.contacts[1], "sms"),
            (5, world.contacts[2], "sms"),
        ]
        assert snapshot.merkle_root == bundle["record"]["snapshot_root"]
        assert gate.approved_version(campaign_id).number == 1


def test_a_one_channel_snapshot_root_is_the_segment_snapshots_own_root(world: World) -> None:
    campaign_id = make_campaign(world.app, world.people.maker, world.segment_version)
    with world.app.app_context():
        submission = services.submit(campaign_id, user(world.people.maker))
        combined = recipients.get_snapshot(submission.snapshot_id)
        from app.segments.models import SegmentSnapshot

        email = db.session.get(SegmentSnapshot, combined.segment_snapshot_ids["email"])
        assert combined.merkle_root == "0x" + email.merkle_root
        assert combined.member_count == email.member_count == 3


def test_the_gate_says_which_stage_still_needs_approval(world: World) -> None:
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=("email", "sms")
    )
    with world.app.app_context():
        assert gate.check_dispatch_gate(campaign_id).failures == [
            f"approved: campaign {campaign_id} has no submission in review (last: never "
            "submitted); submit it and have it approved"
        ]
        submission = services.submit(campaign_id, user(world.people.maker))
        services.approve(
            submission.id,
            campaign_version_id=submission.campaign_version_id,
            actor=user(world.people.anna),
            password=PASSWORD,
        )
        result = gate.check_dispatch_gate(campaign_id)
        assert result.failures == [
            "approved: stage 'compliance' needs 1 more approval(s) from Compliance"
        ]
        assert result.failed_checks == ("approved",)
        with pytest.raises(services.ConflictError, match="is not approved yet"):
            gate.approved_snapshot(campaign_id)


def test_the_gate_refuses_when_the_final_approval_cannot_be_anchored(
    world: World, make_app: Callable[..., Flask], unreachable_chain_url: str
) -> None:
    campaign_id, _submission, approvals = _approved(world)
    chain_down = make_app(CHAIN_URL=unreachable_chain_url, ANCHOR_EVERY_ENTRIES=0)
    with chain_down.app_context():
        result = gate.check_dispatch_gate(campaign_id)
        assert not result.ok
        assert result.failed_checks == ("anchored",)
        (failure,) = result.failures
        assert failure.startswith(
            f"anchored: the final approval (log entry {approvals[-1].log_entry_id}) cannot be "
            "anchored: the approval log could not be anchored: "
        )
        assert audit.anchoring_status().pending_entries == 3  # waiting, not lost


def test_the_gate_refuses_an_expired_approval(world: World) -> None:
    campaign_id, _submission, approvals = _approved(world)
    with world.app.app_context():
        later = approvals[0].expires_at + timedelta(seconds=1)
        result = gate.check_dispatch_gate(campaign_id, now=later)
        assert result.failed_checks == ("expired",)
        expiry = approvals[0].expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert result.failures == [
            f"expired: stage 'marketing review': the approval by Anna Approver (log entry "
            f"{approvals[0].log_entry_id}) expired at {expiry}; it must be given again",
            f"expired: stage 'compliance': the approval by Clara Compliance (log entry "
            f"{approvals[1].log_entry_id}) expired at "
            f"{approvals[1].expires_at:%Y-%m-%dT%H:%M:%SZ}; it must be given again",
        ]


def test_the_gate_refuses_a_revoked_approval(world: World) -> None:
    campaign_id, _submission, approvals = _approved(world)
    with world.app.app_context():
        revocation = services.revoke(
            approvals[1].id, actor=user(world.people.clara), password=PASSWORD
        )
        result = gate.check_dispatch_gate(campaign_id)
        assert result.failures == [
            f"revoked: stage 'compliance': the approval by Clara Compliance (log entry "
            f"{approvals[1].log_entry_id}) was revoked in log entry {revocation.log_entry_id}"
        ]


# -- tampering with the database after the approval -------------------------------------------


def test_editing_the_content_in_the_database_after_approval_makes_the_gate_refuse(
    world: World,
) -> None:
    campaign_id, _submission, _approvals = _approved(world)
    with world.app.app_context():
        version = gate.approved_version(campaign_id)
        stored = version.content_hash
        templates = dict(version.templates)
        templates["sms"] = {"text": "Click http://evil.example now"}
        import json

        db.session.execute(
            text("UPDATE campaign_versions SET templates = :t WHERE id = :id"),
            {"t": json.dumps(templates), "id": version.id},
        )
        db.session.commit()
        db.session.expire_all()
        now = recompute_content_hash(gate.approved_version(campaign_id))
        result = gate.check_dispatch_gate(campaign_id)
        assert result.failed_checks == ("hashes",)
        assert result.failures[0] == (
            f"hashes: campaign version 1's content hashes to {now}, not to its stored {stored}: "
            "the content was edited in the database"
        )
        assert len(result.failures) == 4  # and each of the three log records disagrees
        assert all(f"content_hash logged {stored}, now {now}" in f for f in result.failures[1:])


def test_editing_an_approval_row_makes_the_gate_refuse(world: World) -> None:
    campaign_id, _submission, approvals = _approved(world)
    with world.app.app_context():
        db.session.execute(
            text("UPDATE approval_decisions SET user_id = :boris WHERE id = :id"),
            {"boris": world.people.boris, "id": approvals[0].id},
        )
        db.session.commit()
        result = gate.check_dispatch_gate(campaign_id)
        assert result.failures == [
            f"hashes: decision {approvals[0].id} (approve) no longer matches its log entry "
            f"{approvals[0].log_entry_id} (approver_id): the database was edited"
        ]


def test_editing_a_log_entry_makes_the_gate_refuse(world: World) -> None:
    campaign_id, _submission, approvals = _approved(world)
    with world.app.app_context():
        assert gate.check_dispatch_gate(campaign_id).ok  # anchored as it was
        entry = audit.get_entry(approvals[0].log_entry_id)
        forged = entry.record_json.replace(
            f'"approver_id":"{world.people.anna}"', f'"approver_id":"{world.people.boris}"'
        )
        assert forged != entry.record_json
        db.session.execute(
            text("UPDATE approval_log_entries SET record_json = :r WHERE id = :id"),
            {"r": forged, "id": entry.id},
        )
        db.session.commit()
        result = gate.check_dispatch_gate(campaign_id)
        assert not result.ok
        assert (
            f"hashes: decision {approvals[0].id} (approve) no longer matches its log entry "
            f"{entry.id} (approver_id): the database was edited" in result.failures
        )
        assert (
            f"hashes: the signature of log entry {entry.id} does not recover to its approver "
            f"{approvals[0].approver_address}: the entry or its signature was edited"
        ) in result.failures


def test_editing_a_recipient_after_approval_makes_the_gate_refuse(world: World) -> None:
    campaign_id, _submission_id, _approvals = _approved(world)
    with world.app.app_context():
        snapshot = gate.approved_snapshot(campaign_id)
        logged = snapshot.merkle_root
        email_snapshot = snapshot.segment_snapshot_ids["email"]
        db.session.execute(
            text(
                "UPDATE segment_snapshot_members SET address = 'attacker@evil.example' "
                "WHERE snapshot_id = :s AND position = 0"
            ),
            {"s": email_snapshot},
        )
        db.session.commit()
        now = recipients.recompute_snapshot(snapshot.id).root
        assert now != logged
        result = gate.check_dispatch_gate(campaign_id)
        assert result.failed_checks == ("hashes",)
        assert all(
            f"snapshot_root logged {logged}, now {now}" in failure for failure in result.failures
        )
        assert len(result.failures) == 3  # the submit and both approvals name the old root


@pytest.mark.hardhat
def test_the_full_flow_passes_the_gate_over_json_rpc_against_hardhat(
    make_app: Callable[..., Flask], tmp_path: Path, hardhat_url: str
) -> None:
    world = make_world(make_app, tmp_path, key_account=False, CHAIN_URL=hardhat_url)
    campaign_id, _submission, approvals = _approved(world)
    with world.app.app_context():
        result = gate.check_dispatch_gate(campaign_id)
        assert (result.ok, result.failures) == (True, [])
        bundle = audit.evidence_for(approvals[-1].log_entry_id)
        report = verify_evidence(bundle, chain_ext.get())
        assert report.ok, report.lines()
        assert bundle["anchor"]["chain_id"] == chain_ext.get().chain_id
