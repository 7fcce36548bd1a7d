"""The maker-checker workflow, rule by rule, on SQLite and PostgreSQL.

Every decision goes through the services as the pages use them; each appends exactly one
entry to the approval log, signed with EIP-712 by the approver's own key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.accounts import services as accounts
from app.approvals import keys, services
from app.approvals.models import ApprovalDecision, Submission
from app.audit import services as audit
from app.audit.models import ApprovalLogEntry
from app.campaigns import services as campaigns
from app.campaigns.models import Campaign
from app.database import utcnow
from app.errors import ConflictError, PermissionDeniedError, ValidationError
from app.extensions import db
from ledger import eip712
from ledger.approval_record import RECORD_FIELDS
from tests.campaigns_support import PASSWORD, World, draft, make_campaign, make_world, user


@pytest.fixture
def world(make_app: Callable[..., Flask], tmp_path: Path) -> World:
    return make_world(make_app, tmp_path)


def _submit(world: World, channels: tuple[str, ...] = ("email",)) -> tuple[int, int, int]:
    """A campaign submitted by its maker: (campaign id, submission id, version id)."""
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=channels
    )
    with world.app.app_context():
        submission = services.submit(campaign_id, user(world.people.maker))
        return campaign_id, submission.id, submission.campaign_version_id


def _approve(world: World, submission_id: int, version_id: int, who: int) -> ApprovalDecision:
    return services.approve(
        submission_id, campaign_version_id=version_id, actor=user(who), password=PASSWORD
    )


def _log_size() -> int:
    return int(db.session.scalar(select(func.count()).select_from(ApprovalLogEntry)) or 0)


# -- submit -------------------------------------------------------------------------------


def test_submitting_freezes_the_version_the_recipients_and_the_policy_and_logs_it(
    world: World,
) -> None:
    campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        submission = db.session.get(Submission, submission_id)
        assert submission.campaign.status == "in_review"
        assert submission.policy_version.number == 1
        stages = [(s["name"], s["applies"], s["required"]) for s in submission.stages]
        assert stages == [
            ("marketing review", True, 1),
            ("compliance", False, 0),  # no SMS
            ("key accounts", True, 1),  # Customer 1 is a key account
        ]
        assert submission.stages[2]["eligible_user_ids"] == [world.people.manager]
        (row,) = submission.decisions
        entry = audit.get_entry(row.log_entry_id)
        record = entry.record
        assert set(record) == set(RECORD_FIELDS)
        version = submission.campaign_version
        snapshot = services.recipients.snapshot_summary(submission.snapshot_id)
        assert record | {"decided_at": "-", "salt": "-"} == {
            "schema": "ledgerline-approval-record/1",
            "campaign_id": str(campaign_id),
            "campaign_version": 1,
            "content_hash": version.content_hash,
            "segment_version": world.segment_version,
            "segment_definition_hash": snapshot.definition_hash,
            "snapshot_count": 3,
            "snapshot_root": snapshot.root,
            "stage": "",
            "decision": "submit",
            "approver_id": str(world.people.maker),
            "approver_address": None,
            "policy_version": submission.policy_version_id,
            "decided_at": "-",
            "expires_at": None,
            "prev_entry_hash": None,
            "salt": "-",
        }
        assert version_id == version.id


def test_only_the_owner_submits_and_only_once(world: World) -> None:
    campaign_id = make_campaign(world.app, world.people.maker, world.segment_version)
    with world.app.app_context():
        with pytest.raises(PermissionDeniedError) as other:
            services.submit(campaign_id, user(world.people.manager))
        assert other.value.message == "only the campaign's owner (Mia Maker) can submit it"
        services.submit(campaign_id, user(world.people.maker))
        with pytest.raises(ConflictError) as twice:
            services.submit(campaign_id, user(world.people.maker))
        assert twice.value.message == (
            f"campaign {campaign_id} is already in review; edit it to invalidate the review, "
            "or wait for the decisions"
        )


def test_a_stage_nobody_can_staff_refuses_the_submission(world: World) -> None:
    with world.app.app_context():
        for person in (world.people.clara, world.people.dora):
            accounts.deactivate_user(person, user(world.people.admin))
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=("email", "sms")
    )
    with world.app.app_context():
        with pytest.raises(ConflictError) as error:
            services.submit(campaign_id, user(world.people.maker))
        assert error.value.message == (
            "stage 'compliance' needs 1 approval(s) from Compliance, but only 0 such user(s) "
            "other than the campaign's makers exist; an administrator must grant the role first"
        )
        assert db.session.get(Campaign, campaign_id).status == "draft"


# -- approve ------------------------------------------------------------------------------


def test_approvals_are_signed_by_the_approvers_key_and_logged_one_entry_each(
    world: World,
) -> None:
    _campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        before = _log_size()
        row = _approve(world, submission_id, version_id, world.people.anna)
        assert _log_size() == before + 1
        entry = audit.get_entry(row.log_entry_id)
        record = json.loads(entry.record_json)
        anna_key = keys.active_key(world.people.anna)
        assert row.approver_address == record["approver_address"] == anna_key.address
        assert (record["decision"], record["stage"], record["approver_id"]) == (
            "approve",
            "marketing review",
            str(world.people.anna),
        )
        assert record["expires_at"] == (row.decided_at + timedelta(hours=72)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        domain = audit.log_domain()
        assert (
            eip712.recover_signer(record, row.signature, domain.chain_id, domain.contract)
            == anna_key.address
        )
        previous = audit.get_entry(row.log_entry_id - 1)
        assert record["prev_entry_hash"] == previous.leaf_hash  # the submit entry


def test_stages_are_approved_in_order_and_the_submission_then_counts_as_approved(
    world: World,
) -> None:
    _campaign, submission_id, version_id = _submit(world, ("email", "sms"))
    with world.app.app_context():
        with pytest.raises(PermissionDeniedError) as early:
            _approve(world, submission_id, version_id, world.people.clara)
        assert early.value.message == (
            "stage 'marketing review' is approved by Approver; you are not one"
        )
        _approve(world, submission_id, version_id, world.people.anna)
        _approve(world, submission_id, version_id, world.people.clara)
        state = services.submission_state(db.session.get(Submission, submission_id))
        assert state.label == "awaiting key accounts"
        with pytest.raises(PermissionDeniedError) as outsider:
            _approve(world, submission_id, version_id, world.people.boris)
        assert outsider.value.message == (
            "stage 'key accounts' is approved by Account managers of the key accounts; "
            "you are not one"
        )
        _approve(world, submission_id, version_id, world.people.manager)
        state = services.submission_state(db.session.get(Submission, submission_id))
        assert (state.approved, state.label) == (True, "approved")
        with pytest.raises(ConflictError) as done:
            _approve(world, submission_id, version_id, world.people.boris)
        assert (
            done.value.message == f"every stage of submission {submission_id} is already approved"
        )


def test_the_maker_cannot_approve_their_own_campaign(world: World) -> None:
    with world.app.app_context():
        accounts.update_user(
            world.people.maker,
            display_name="Mia Maker",
            roles=["marketer", "approver"],
            member_address=None,
            actor=user(world.people.admin),
        )
    _campaign, submission_id, version_id = _submit(world)
    with world.app.app_context():
        before = _log_size()
        with pytest.raises(PermissionDeniedError) as error:
            _approve(world, submission_id, version_id, world.people.maker)
        assert (
            error.value.message == "you made this campaign; a maker cannot approve their own work"
        )
        assert _log_size() == before


def test_one_person_cannot_approve_two_stages_of_the_same_version(world: World) -> None:
    with world.app.app_context():
        accounts.update_user(
            world.people.anna,
            display_name="Anna Approver",
            roles=["approver", "compliance"],
            member_address=None,
            actor=user(world.people.admin),
        )
    _campaign, submission_id, version_id = _submit(world, ("email", "sms"))
    with world.app.app_context():
        _approve(world, submission_id, version_id, world.people.anna)
        with pytest.raises(PermissionDeniedError) as error:
            _approve(world, submission_id, version_id, world.people.anna)
        assert error.value.message == (
            "you approved stage 'marketing review'; one person cannot approve two stages of "
            "the same campaign version"
        )


def test_a_double_approval_is_refused(world: World) -> None:
    with world.app.app_context():
        definition = {
            "stages": [{"name": "two approvers", "role": "approver", "quorum": 2}],
        }
        policy = services.create_policy("Two approvers", definition, user(world.people.admin))
        campaign_id = campaigns.create_campaign(
            draft(world.segment_version), user(world.people.maker), policy_id=policy.id
        ).id
        submission = services.submit(campaign_id, user(world.people.maker))
        row = _approve(world, submission.id, submission.campaign_version_id, world.people.anna)
        with pytest.raises(ConflictError) as error:
            _approve(world, submission.id, submission.campaign_version_id, world.people.anna)
        assert error.value.message == (
            "you already approved stage 'two approvers'; your approval stands until "
            f"{row.expires_at:%Y-%m-%d %H:%M} UTC"
        )
        _approve(world, submission.id, submission.campaign_version_id, world.people.boris)
        assert services.submission_state(submission).approved


def test_an_approval_of_a_stale_version_is_refused(world: World) -> None:
    campaign_id = make_campaign(world.app, world.people.maker, world.segment_version)
    with world.app.app_context():
        first = campaigns.latest_version(campaigns.get_campaign(campaign_id))
        second = campaigns.save_campaign(
            campaign_id,
            draft(world.segment_version, name="Spring offer 2"),
            user(world.people.maker),
        )
        submission = services.submit(campaign_id, user(world.people.maker))
        assert submission.campaign_version_id == second.id
        with pytest.raises(ConflictError) as error:
            _approve(world, submission.id, first.id, world.people.anna)
        assert error.value.message == (
            f"version 1 is stale: campaign {campaign_id} is in review at version 2; "
            "reload the page and review that version"
        )


def test_a_wrong_password_signs_nothing_and_logs_nothing(world: World) -> None:
    _campaign, submission_id, version_id = _submit(world)
    with world.app.app_context():
        before = _log_size()
        with pytest.raises(ValidationError) as error:
            services.approve(
                submission_id,
                campaign_version_id=version_id,
                actor=user(world.people.anna),
                password="not my password",
            )
        assert error.value.message == (
            "the password is wrong; type your sign-in password to sign the decision"
        )
        db.session.rollback()
        assert _log_size() == before


# -- expiry, revocation, rejection ----------------------------------------------------------


def test_an_approval_expires_after_the_configured_time_and_can_be_given_again(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    world = make_world(make_app, tmp_path, APPROVAL_TTL_HOURS=10)
    _campaign, submission_id, version_id = _submit(world)
    with world.app.app_context():
        row = _approve(world, submission_id, version_id, world.people.anna)
        assert row.expires_at - row.decided_at == timedelta(hours=10)
        submission = db.session.get(Submission, submission_id)
        later = row.expires_at + timedelta(seconds=1)
        state = services.submission_state(submission, now=later)
        first = state.stages[0]
        assert (first.complete, first.expired, first.active) == (False, (row,), ())
        assert state.label == "awaiting marketing review"


def test_an_expired_approval_no_longer_counts_and_the_approver_may_approve_again(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    world = make_world(make_app, tmp_path, APPROVAL_TTL_HOURS=1 / 3600)  # one second
    _campaign, submission_id, version_id = _submit(world)
    with world.app.app_context():
        first = _approve(world, submission_id, version_id, world.people.anna)
        assert first.expires_at - first.decided_at == timedelta(seconds=1)
        import time

        time.sleep(max(0.0, (first.expires_at - utcnow()).total_seconds()) + 0.05)
        submission = db.session.get(Submission, submission_id)
        assert services.submission_state(submission).stages[0].expired == (first,)
        again = _approve(world, submission_id, version_id, world.people.anna)
        assert again.id != first.id


def test_an_approver_revokes_their_approval_and_the_stage_reopens(world: World) -> None:
    _campaign, submission_id, version_id = _submit(world)
    with world.app.app_context():
        approval = _approve(world, submission_id, version_id, world.people.anna)
        with pytest.raises(PermissionDeniedError) as other:
            services.revoke(approval.id, actor=user(world.people.boris), password=PASSWORD)
        assert other.value.message == "only the approver who gave an approval can revoke it"
        revocation = services.revoke(
            approval.id, actor=user(world.people.anna), password=PASSWORD, comment="typo"
        )
        assert approval.revoked_by_id == revocation.id
        record = audit.get_entry(revocation.log_entry_id).record
        assert (record["decision"], record["stage"], record["approver_address"]) == (
            "revoke",
            "marketing review",
            approval.approver_address,
        )
        state = services.submission_state(db.session.get(Submission, submission_id))
        assert state.stages[0].revoked == (approval,)
        assert state.current.stage.name == "marketing review"
        with pytest.raises(ConflictError, match="already revoked"):
            services.revoke(approval.id, actor=user(world.people.anna), password=PASSWORD)


def test_an_approval_cannot_be_revoked_once_dispatch_started(world: World) -> None:
    campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        approval = _approve(world, submission_id, version_id, world.people.anna)
        _approve(world, submission_id, version_id, world.people.manager)
        services.mark_dispatched(campaign_id)
        db.session.commit()
        with pytest.raises(ConflictError) as error:
            services.revoke(approval.id, actor=user(world.people.anna), password=PASSWORD)
        assert error.value.message == (
            f"campaign {campaign_id} has started sending; an approval cannot be revoked after "
            "dispatch. Cancel the dispatch instead"
        )


def test_a_rejection_needs_a_comment_and_closes_the_review(world: World) -> None:
    campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        with pytest.raises(ValidationError) as bare:
            services.reject(
                submission_id,
                campaign_version_id=version_id,
                actor=user(world.people.anna),
                password=PASSWORD,
                comment="   ",
            )
        assert bare.value.message == (
            "comment: a rejection needs a comment telling the maker what to change"
        )
        row = services.reject(
            submission_id,
            campaign_version_id=version_id,
            actor=user(world.people.anna),
            password=PASSWORD,
            comment="The offer needs the price.",
        )
        assert row.comment == "The offer needs the price."
        assert audit.get_entry(row.log_entry_id).record["decision"] == "reject"
        assert db.session.get(Campaign, campaign_id).status == "rejected"
        with pytest.raises(ConflictError) as late:
            _approve(world, submission_id, version_id, world.people.boris)
        assert late.value.message == (
            f"submission {submission_id} is rejected; there is nothing to decide. "
            "Open the approval inbox for the current reviews"
        )


# -- invalidation ---------------------------------------------------------------------------


def test_editing_the_content_after_submission_invalidates_every_approval(world: World) -> None:
    campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        approval = _approve(world, submission_id, version_id, world.people.anna)
        before = _log_size()
        version = campaigns.save_campaign(
            campaign_id,
            draft(world.segment_version, objective="Now with a price."),
            user(world.people.maker),
        )
        assert version.number == 2
        assert _log_size() == before + 1
        submission = db.session.get(Submission, submission_id)
        assert submission.status == "invalidated"
        last = submission.decisions[-1]
        assert (last.decision, last.comment) == ("invalidate", "content changed: version 1 → 2")
        assert audit.get_entry(last.log_entry_id).record["decision"] == "invalidate"
        assert db.session.get(Campaign, campaign_id).status == "draft"
        with pytest.raises(ConflictError, match="is invalidated; there is nothing to decide"):
            _approve(world, submission_id, version_id, world.people.boris)
        assert services.open_submission(campaign_id) is None
        assert approval.revoked_by_id is None  # history stays as it was


def test_changing_the_segment_version_invalidates_and_says_so(world: World) -> None:
    campaign_id, _submission_id, _version_id = _submit(world)
    with world.app.app_context():
        from app.segments import services as segments

        revised = segments.revise_segment(
            segments.get_version(world.segment_version).segment_id,
            {
                "combinator": "and",
                "not": False,
                "rules": [{"field": "region", "operator": "=", "value": "South"}],
            },
            {"level": "contacts", "roles": ["decision_maker"], "channels": ["email", "sms"]},
            user(world.people.maker),
        ).version
        campaigns.save_campaign(campaign_id, draft(revised.id), user(world.people.maker))
        last = services.decisions_of(campaign_id)[-1]
        assert (last.decision, last.comment) == (
            "invalidate",
            f"content changed: version 1 → 2; "
            f"segment version {world.segment_version} → {revised.id}",
        )


def test_saving_without_a_change_keeps_the_version_and_the_approvals(world: World) -> None:
    campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        _approve(world, submission_id, version_id, world.people.anna)
        same = campaigns.save_campaign(
            campaign_id, draft(world.segment_version), user(world.people.maker)
        )
        assert same.id == version_id
        assert db.session.get(Submission, submission_id).status == "open"


def test_new_recipients_invalidate_the_review_and_unchanged_ones_do_not(world: World) -> None:
    campaign_id, submission_id, version_id = _submit(world)
    with world.app.app_context():
        _approve(world, submission_id, version_id, world.people.anna)
        assert services.refresh_recipients(campaign_id, user(world.people.maker)) is None
        assert db.session.get(Submission, submission_id).status == "open"

        from app.audience.models import Consent, Contact

        newcomer = Contact(
            organisation_id=db.session.get(Contact, world.contacts[0]).organisation_id,
            first_name="Nora",
            last_name="New",
            role="decision_maker",
            email="nora@customer0.example",
            language="en",
            timezone="UTC",
        )
        db.session.add(newcomer)
        db.session.flush()
        db.session.add(
            Consent(contact_id=newcomer.id, channel="email", status="granted", source="t")
        )
        db.session.commit()
        changed = services.refresh_recipients(campaign_id, user(world.people.maker))
        assert changed is not None and changed.id == submission_id
        assert changed.status == "invalidated"
        last = services.decisions_of(campaign_id)[-1]
        assert last.decision == "invalidate"
        assert last.comment.startswith("recipient snapshot changed: 3 → 4 recipients, root 0x")


# -- inbox ------------------------------------------------------------------------------------


def test_the_inbox_lists_what_each_person_can_decide_now(world: World) -> None:
    _campaign, submission_id, version_id = _submit(world, ("email", "sms"))
    with world.app.app_context():

        def inbox_of(person: int) -> list[int]:
            return [item.submission.id for item in services.inbox(user(person))]

        assert inbox_of(world.people.anna) == [submission_id]
        assert inbox_of(world.people.clara) == []  # compliance comes second
        assert inbox_of(world.people.maker) == []
        _approve(world, submission_id, version_id, world.people.anna)
        assert inbox_of(world.people.anna) == []
        assert inbox_of(world.people.clara) == [submission_id]
        (item,) = services.inbox(user(world.people.clara))
        assert item.expires_at is not None and not item.expiring_soon
