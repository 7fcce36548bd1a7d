"""The maker-checker workflow: policies, submissions and decisions, with every rule
enforced here (views only call these functions).

Rules:

* only the campaign's owner submits; submitting freezes the campaign version, a
  recipient snapshot (through the segments service) and the policy's newest version,
  and resolves which stages apply;
* stages are approved in order; a stage needs ``k`` approvals from distinct eligible
  users;
* the maker (the owner or any author of a version so far) cannot approve or reject;
* one person cannot approve in two stages of the same submission;
* the same person cannot approve the same stage twice while their approval stands;
* an approval of a version other than the one in review (a stale version) is refused;
* a rejection needs a comment and closes the submission;
* an approver may revoke their own approval until dispatch starts;
* approvals expire ``APPROVAL_TTL_HOURS`` (default 72) after they are given;
* any change to the content, the segment version or the recipient snapshot after
  submission invalidates the submission and every approval given.

Each decision appends exactly one entry to the approval log, in the same transaction as
the decision row; approve, reject and revoke are signed with EIP-712 by the approver's
own key, unlocked with the password typed on the form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from eth_account.signers.local import LocalAccount
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, User, UserRole
from app.approvals import keys
from app.approvals.log import log_decision
from app.approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalPolicyVersion,
    Decision,
    Submission,
    SubmissionStatus,
)
from app.approvals.policy import (
    ACCOUNT_MANAGERS,
    DEFAULT_POLICY,
    DEFAULT_POLICY_NAME,
    ResolvedStage,
    SubmissionFacts,
    parse_policy,
    resolve_stages,
)
from app.campaigns import recipients
from app.campaigns.models import Campaign, CampaignStatus, CampaignVersion
from app.database import utcnow
from app.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from app.extensions import db

MAX_COMMENT = 2000
EXPIRING_SOON = timedelta(hours=24)


# -- policies -----------------------------------------------------------------------------


def definition_hash(definition: Mapping[str, Any]) -> str:
    return "0x" + hashlib.sha256(rfc8785.dumps(dict(definition))).hexdigest()


def list_policies() -> list[ApprovalPolicy]:
    return list(
        db.session.scalars(
            select(ApprovalPolicy)
            .options(selectinload(ApprovalPolicy.versions))
            .order_by(ApprovalPolicy.name)
        )
    )


def get_policy(policy_id: int) -> ApprovalPolicy:
    policy = db.session.get(ApprovalPolicy, policy_id)
    if policy is None:
        raise NotFoundError(f"no approval policy with id {policy_id}; see the policies page")
    return policy


def default_policy() -> ApprovalPolicy | None:
    return db.session.scalar(
        select(ApprovalPolicy)
        .where(ApprovalPolicy.is_default.is_(True))
        .order_by(ApprovalPolicy.id)
    )


def ensure_default_policy(actor: User | None = None) -> ApprovalPolicy:
    """The default policy, created with :data:`DEFAULT_POLICY` if there is none (init/demo)."""
    existing = default_policy()
    if existing is not None:
        return existing
    return create_policy(DEFAULT_POLICY_NAME, DEFAULT_POLICY, actor, is_default=True)


def create_policy(
    name: str, definition: Any, actor: User | None, *, is_default: bool = False
) -> ApprovalPolicy:
    """A new policy with ``definition`` as its version 1 (``actor`` None: the system's
    seeding of the default policy)."""
    if actor is not None and not actor.has_role(Role.ADMIN):
        raise PermissionDeniedError("only administrators change approval policies")
    label = (name or "").strip()
    if not label or len(label) > 120:
        raise ValidationError(
            "name: give the policy a name of 1 to 120 characters", details={"name": "1 to 120"}
        )
    parse_policy(definition)
    if db.session.scalar(select(ApprovalPolicy.id).where(ApprovalPolicy.name == label)):
        raise ConflictError(f"a policy named {label!r} exists; add a version to it instead")
    if is_default:
        for other in db.session.scalars(select(ApprovalPolicy).where(ApprovalPolicy.is_default)):
            other.is_default = False
    policy = ApprovalPolicy(name=label, is_default=is_default, created_at=utcnow())
    db.session.add(policy)
    db.session.flush()
    _add_policy_version(policy, definition, actor, "initial version")
    db.session.commit()
    return policy


def add_policy_version(
    policy_id: int, definition: Any, actor: User, comment: str = ""
) -> ApprovalPolicyVersion:
    """A new version of a policy; submissions already made keep the version they froze."""
    if not actor.has_role(Role.ADMIN):
        raise PermissionDeniedError("only administrators change approval policies")
    policy = get_policy(policy_id)
    parse_policy(definition)
    latest = policy.latest_version
    if latest is not None and latest.definition_hash == definition_hash(definition):
        raise ConflictError(
            f"version {latest.number} of {policy.name!r} already has exactly this definition"
        )
    version = _add_policy_version(policy, definition, actor, comment)
    db.session.commit()
    return version


def _add_policy_version(
    policy: ApprovalPolicy, definition: Any, actor: User | None, comment: str
) -> ApprovalPolicyVersion:
    number = (policy.latest_version.number + 1) if policy.latest_version else 1
    version = ApprovalPolicyVersion(
        policy=policy,
        number=number,
        definition=dict(definition),
        definition_hash=definition_hash(definition),
        comment=(comment or "").strip()[:MAX_COMMENT],
        created_by_id=actor.id if actor is not None else None,
        created_at=utcnow(),
    )
    db.session.add(version)
    db.session.flush()
    return version


def policy_for(campaign: Campaign) -> ApprovalPolicyVersion:
    """The newest version of the campaign's policy (the default one, seeded if missing)."""
    policy = get_policy(campaign.policy_id) if campaign.policy_id else ensure_default_policy()
    if policy.latest_version is None:
        raise ConflictError(
            "no approval policy is configured; an administrator runs `flask --app app init` "
            "or creates a default policy on the policies page"
        )
    return policy.latest_version


# -- state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageState:
    """One applying stage of a submission, now."""

    stage: ResolvedStage
    required: int
    active: tuple[ApprovalDecision, ...]  # approvals that count
    expired: tuple[ApprovalDecision, ...]
    revoked: tuple[ApprovalDecision, ...]

    @property
    def complete(self) -> bool:
        return len(self.active) >= self.required

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.active))


@dataclass(frozen=True)
class SubmissionState:
    submission: Submission
    stages: tuple[StageState, ...]  # the applying stages, in order
    skipped: tuple[ResolvedStage, ...]

    @property
    def current(self) -> StageState | None:
        """The first stage still short of its quorum (None once all are complete)."""
        return next((s for s in self.stages if not s.complete), None)

    @property
    def approved(self) -> bool:
        return self.submission.status == SubmissionStatus.OPEN.value and self.current is None

    @property
    def label(self) -> str:
        status = self.submission.status
        if status != SubmissionStatus.OPEN.value:
            return status
        current = self.current
        return "approved" if current is None else f"awaiting {current.stage.name}"

    @property
    def expires_at(self) -> datetime | None:
        """When the first counted approval expires (the approval lapses then)."""
        times = [d.expires_at for s in self.stages for d in s.active if d.expires_at]
        return min(times) if times else None

    @property
    def final_approval(self) -> ApprovalDecision | None:
        approvals = [d for s in self.stages for d in s.active]
        return max(approvals, key=lambda d: d.id) if approvals else None


def stages_of(submission: Submission) -> list[ResolvedStage]:
    return [ResolvedStage.from_json(s) for s in submission.stages]


def submission_state(submission: Submission, now: datetime | None = None) -> SubmissionState:
    moment = now or utcnow()
    resolved = stages_of(submission)
    approvals = [d for d in submission.decisions if d.decision == Decision.APPROVE.value]
    states: list[StageState] = []
    for stage in resolved:
        if not stage.applies:
            continue
        mine = [d for d in approvals if d.stage_index == stage.index]
        revoked = tuple(d for d in mine if d.revoked_by_id is not None)
        live = [d for d in mine if d.revoked_by_id is None]
        expired = tuple(d for d in live if d.expires_at is not None and d.expires_at <= moment)
        active = tuple(d for d in live if d not in expired)
        states.append(StageState(stage, _required(submission, stage), active, expired, revoked))
    skipped = tuple(s for s in resolved if not s.applies)
    return SubmissionState(submission, tuple(states), skipped)


def _required(submission: Submission, stage: ResolvedStage) -> int:
    data = submission.stages[stage.index]
    return int(data.get("required") or stage.quorum or 1)


def open_submission(campaign_id: int) -> Submission | None:
    return db.session.scalar(
        select(Submission).where(
            Submission.campaign_id == campaign_id,
            Submission.status.in_([SubmissionStatus.OPEN.value, SubmissionStatus.DISPATCHED.value]),
        )
    )


def latest_submission(campaign_id: int) -> Submission | None:
    return db.session.scalar(
        select(Submission)
        .where(Submission.campaign_id == campaign_id)
        .order_by(Submission.id.desc())
        .limit(1)
    )


def get_submission(submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        raise NotFoundError(f"no submission with id {submission_id}; open the approval inbox")
    return submission


def _lock_submission(submission_id: int) -> Submission:
    # The row lock serialises decisions on one submission, so two approvers cannot both
    # read the same previous log entry and fork the campaign's hash chain.
    submission = db.session.scalar(
        select(Submission).where(Submission.id == submission_id).with_for_update()
    )
    if submission is None:
        raise NotFoundError(f"no submission with id {submission_id}; open the approval inbox")
    return submission


def ttl() -> timedelta:
    """How long an approval counts: ``APPROVAL_TTL_HOURS`` (default 72), whole seconds."""
    hours = float(current_app.config.get("APPROVAL_TTL_HOURS", 72))
    return timedelta(seconds=max(1, round(hours * 3600)))


# -- the log record -----------------------------------------------------------------------


def _record_fields(
    submission: Submission,
    *,
    decision: Decision,
    stage: str,
    actor: User,
    address: str | None,
    decided_at: datetime,
    expires_at: datetime | None,
) -> dict[str, Any]:
    version: CampaignVersion = submission.campaign_version
    snapshot = recipients.snapshot_summary(submission.snapshot_id)
    return {
        "campaign_id": str(submission.campaign_id),
        "campaign_version": version.number,
        "content_hash": version.content_hash,
        "segment_version": snapshot.segment_version_id,
        "segment_definition_hash": snapshot.definition_hash,
        "snapshot_count": snapshot.count,
        "snapshot_root": snapshot.root,
        "stage": stage,
        "decision": decision.value,
        "approver_id": str(actor.id),
        "approver_address": address,
        "policy_version": submission.policy_version_id,
        "decided_at": decided_at,
        "expires_at": expires_at,
    }


def _decide(
    submission: Submission,
    *,
    decision: Decision,
    actor: User,
    account: LocalAccount | None,
    stage: ResolvedStage | None,
    comment: str = "",
    expires: bool = False,
    stage_name: str | None = None,
) -> ApprovalDecision:
    now = utcnow().replace(microsecond=0)
    expires_at = now + ttl() if expires else None
    name = stage_name if stage_name is not None else (stage.name if stage else "")
    fields = _record_fields(
        submission,
        decision=decision,
        stage=name,
        actor=actor,
        address=account.address if account else None,
        decided_at=now,
        expires_at=expires_at,
    )
    logged = log_decision(fields, account=account)
    row = ApprovalDecision(
        submission=submission,
        campaign_id=submission.campaign_id,
        decision=decision.value,
        stage_index=stage.index if stage else None,
        stage_name=name,
        user_id=actor.id,
        approver_address=account.address if account else None,
        comment=comment,
        decided_at=now,
        expires_at=expires_at,
        log_entry_id=logged.entry.id,
        signature=logged.signature,
    )
    db.session.add(row)
    db.session.flush()
    return row


# -- submit -------------------------------------------------------------------------------


def _makers(version: CampaignVersion) -> set[int]:
    from app.campaigns.services import makers_of

    return makers_of(version)


def _role_holders(role: str) -> list[int]:
    return list(
        db.session.scalars(
            select(User.id)
            .join(UserRole)
            .where(UserRole.role == Role(role), User.active.is_(True))
            .order_by(User.id)
        )
    )


def _facts(version: CampaignVersion, snapshot_id: int) -> SubmissionFacts:
    summary = recipients.snapshot_summary(snapshot_id)
    accounts = recipients.key_accounts(snapshot_id)
    return SubmissionFacts(
        channels=frozenset(version.channels),
        recipient_count=summary.count,
        key_account_manager_ids=frozenset(
            a.account_manager_id for a in accounts if a.account_manager_id is not None
        ),
        key_accounts_without_manager=tuple(
            a.legal_name for a in accounts if a.account_manager_id is None
        ),
        has_key_accounts=bool(accounts),
    )


def _resolve(
    policy_version: ApprovalPolicyVersion, facts: SubmissionFacts, makers: set[int]
) -> list[dict[str, Any]]:
    """The stages as JSON with ``required`` fixed, or ConflictError when one is unreachable."""
    policy = parse_policy(policy_version.definition)
    stages: list[dict[str, Any]] = []
    for stage in resolve_stages(policy, facts):
        data = stage.as_json()
        if not stage.applies:
            data["required"] = 0
            stages.append(data)
            continue
        if stage.approvers == ACCOUNT_MANAGERS:
            if facts.key_accounts_without_manager:
                names = ", ".join(facts.key_accounts_without_manager[:5])
                raise ConflictError(
                    f"stage {stage.name!r} needs the account managers of the key accounts, "
                    f"but {names} has no account manager; assign one in the audience first"
                )
            eligible = [i for i in (stage.eligible_user_ids or ()) if i not in makers]
            data["eligible_user_ids"] = eligible
        else:
            assert stage.role is not None
            eligible = [i for i in _role_holders(stage.role) if i not in makers]
        required = len(eligible) if stage.quorum is None else stage.quorum
        if required == 0 or len(eligible) < required:
            raise ConflictError(
                f"stage {stage.name!r} needs {required or 1} approval(s) from {stage.who}, "
                f"but only {len(eligible)} such user(s) other than the campaign's makers exist; "
                "an administrator must grant the role first"
            )
        data["required"] = required
        stages.append(data)
    if not any(s["applies"] for s in stages):
        raise ConflictError(
            f"no stage of policy version {policy_version.number} applies to this campaign; "
            "an administrator must fix the policy"
        )
    return stages


def submit(campaign_id: int, actor: User) -> Submission:
    """Submit the campaign's current version for approval."""
    from app.campaigns.services import _lock_campaign, get_campaign, latest_version

    def check(campaign: Campaign) -> None:
        if campaign.owner_id != actor.id:
            raise PermissionDeniedError(
                f"only the campaign's owner ({campaign.owner.display_name}) can submit it"
            )
        if campaign.status == CampaignStatus.DISPATCHED.value:
            raise ConflictError(f"campaign {campaign.id} is already being sent")
        if open_submission(campaign.id) is not None:
            raise ConflictError(
                f"campaign {campaign.id} is already in review; edit it to invalidate the "
                "review, or wait for the decisions"
            )

    campaign = get_campaign(campaign_id)
    check(campaign)
    version_id = latest_version(campaign).id
    policy_version = policy_for(campaign)
    # The segments service commits each snapshot, so freeze first, then lock and check
    # again: a concurrent edit or submit in between is caught below.
    snapshot_id = recipients.freeze_snapshot(latest_version(campaign), actor)
    db.session.commit()
    campaign = _lock_campaign(campaign_id)
    check(campaign)
    version = latest_version(campaign)
    if version.id != version_id:
        raise ConflictError(
            f"campaign {campaign.id} changed while it was being submitted (now version "
            f"{version.number}); submit again"
        )
    summary = recipients.snapshot_summary(snapshot_id)
    if summary.count == 0:
        raise ConflictError(
            f"segment version {version.segment_version_id} has no reachable recipient on "
            f"{', '.join(version.channels)}; choose another segment or channel"
        )
    stages = _resolve(policy_version, _facts(version, snapshot_id), _makers(version))
    submission = Submission(
        campaign_id=campaign.id,
        campaign_version=version,
        snapshot_id=snapshot_id,
        policy_version=policy_version,
        submitted_by_id=actor.id,
        submitted_at=utcnow(),
        status=SubmissionStatus.OPEN.value,
        stages=stages,
    )
    db.session.add(submission)
    db.session.flush()
    _decide(submission, decision=Decision.SUBMIT, actor=actor, account=None, stage=None)
    campaign.status = CampaignStatus.IN_REVIEW.value
    db.session.commit()
    return submission


# -- approve / reject ---------------------------------------------------------------------


def _check_fresh(submission: Submission, campaign_version_id: int) -> None:
    from app.campaigns.services import latest_version

    if submission.status != SubmissionStatus.OPEN.value or _dispatch_started(submission):
        status = "dispatched" if _dispatch_started(submission) else submission.status
        raise ConflictError(
            f"submission {submission.id} is {status}; there is nothing to decide. "
            "Open the approval inbox for the current reviews"
        )
    current = latest_version(submission.campaign)
    if campaign_version_id != submission.campaign_version_id or current.id != campaign_version_id:
        seen = db.session.get(CampaignVersion, campaign_version_id)
        seen_label = f"version {seen.number}" if seen else f"version id {campaign_version_id}"
        raise ConflictError(
            f"{seen_label} is stale: campaign {submission.campaign_id} is in review at version "
            f"{submission.campaign_version.number}; reload the page and review that version"
        )


def _check_not_maker(submission: Submission, actor: User, what: str) -> None:
    if actor.id in _makers(submission.campaign_version):
        raise PermissionDeniedError(f"you made this campaign; a maker cannot {what} their own work")


def is_eligible(user: User, stage: ResolvedStage) -> bool:
    if stage.approvers == ACCOUNT_MANAGERS:
        return user.id in (stage.eligible_user_ids or ())
    return stage.role is not None and user.active and user.has_role(stage.role)


def _current_stage(state: SubmissionState, stage_index: int | None) -> StageState:
    current = state.current
    if current is None:
        raise ConflictError(f"every stage of submission {state.submission.id} is already approved")
    if stage_index is not None and stage_index != current.stage.index:
        names = {s.stage.index: s.stage.name for s in state.stages}
        seen = names.get(stage_index, f"#{stage_index}")
        raise ConflictError(
            f"stage {seen!r} is not the one awaiting decisions; {current.stage.name!r} is. "
            "Reload the page"
        )
    return current


def approve(
    submission_id: int,
    *,
    campaign_version_id: int,
    actor: User,
    password: str,
    stage_index: int | None = None,
) -> ApprovalDecision:
    """Approve the current stage of a submission, signed with the actor's key."""
    submission = _lock_submission(submission_id)
    _check_fresh(submission, campaign_version_id)
    _check_not_maker(submission, actor, "approve")
    state = submission_state(submission)
    current = _current_stage(state, stage_index)
    if not is_eligible(actor, current.stage):
        raise PermissionDeniedError(
            f"stage {current.stage.name!r} is approved by {current.stage.who}; you are not one"
        )
    if any(d.user_id == actor.id for d in current.active):
        mine = next(d for d in current.active if d.user_id == actor.id)
        raise ConflictError(
            f"you already approved stage {current.stage.name!r}; your approval stands until "
            f"{mine.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    for other in state.stages:
        if other.stage.index == current.stage.index:
            continue
        if any(d.user_id == actor.id for d in (*other.active, *other.expired)):
            raise PermissionDeniedError(
                f"you approved stage {other.stage.name!r}; one person cannot approve two "
                "stages of the same campaign version"
            )
    account = keys.unlock(actor, password)
    row = _decide(
        submission,
        decision=Decision.APPROVE,
        actor=actor,
        account=account,
        stage=current.stage,
        expires=True,
    )
    db.session.commit()
    return row


def reject(
    submission_id: int,
    *,
    campaign_version_id: int,
    actor: User,
    password: str,
    comment: str,
) -> ApprovalDecision:
    """Reject the submission at its current stage; the comment says why (required)."""
    text = (comment or "").strip()
    if not text:
        raise ValidationError(
            "comment: a rejection needs a comment telling the maker what to change",
            details={"comment": "required"},
        )
    if len(text) > MAX_COMMENT:
        raise ValidationError(
            f"comment: at most {MAX_COMMENT} characters", details={"comment": "too long"}
        )
    submission = _lock_submission(submission_id)
    _check_fresh(submission, campaign_version_id)
    _check_not_maker(submission, actor, "reject")
    state = submission_state(submission)
    current = _current_stage(state, None)
    if not is_eligible(actor, current.stage):
        raise PermissionDeniedError(
            f"stage {current.stage.name!r} is decided by {current.stage.who}; you are not one"
        )
    account = keys.unlock(actor, password)
    row = _decide(
        submission,
        decision=Decision.REJECT,
        actor=actor,
        account=account,
        stage=current.stage,
        comment=text,
    )
    submission.status = SubmissionStatus.REJECTED.value
    submission.closed_at = row.decided_at
    submission.campaign.status = CampaignStatus.REJECTED.value
    db.session.commit()
    return row


def revoke(decision_id: int, *, actor: User, password: str, comment: str = "") -> ApprovalDecision:
    """Take back one's own approval, before dispatch starts."""
    approval = db.session.get(ApprovalDecision, decision_id)
    if approval is None or approval.decision != Decision.APPROVE.value:
        raise NotFoundError(f"no approval with id {decision_id}; open the campaign's timeline")
    submission = _lock_submission(approval.submission_id)
    if approval.user_id != actor.id:
        raise PermissionDeniedError("only the approver who gave an approval can revoke it")
    if _dispatch_started(submission):
        raise ConflictError(
            f"campaign {submission.campaign_id} has started sending; an approval cannot be "
            "revoked after dispatch. Cancel the dispatch instead"
        )
    if submission.status != SubmissionStatus.OPEN.value:
        raise ConflictError(f"submission {submission.id} is {submission.status}; nothing to revoke")
    if approval.revoked_by_id is not None:
        raise ConflictError("this approval is already revoked")
    account = keys.unlock(actor, password)
    stage = next(s for s in stages_of(submission) if s.index == approval.stage_index)
    row = _decide(
        submission,
        decision=Decision.REVOKE,
        actor=actor,
        account=account,
        stage=stage,
        comment=(comment or "").strip()[:MAX_COMMENT],
    )
    approval.revoked_by_id = row.id
    db.session.commit()
    return row


# -- invalidation -------------------------------------------------------------------------


def invalidate_open_submission(
    campaign: Campaign, actor: User, reason: str
) -> ApprovalDecision | None:
    """Close the campaign's open submission because something it froze changed.

    Every approval given stops counting; one ``invalidate`` entry is logged.  Does not
    commit: it runs inside the use case that made the change.
    """
    submission = open_submission(campaign.id)
    if submission is None:
        return None
    if submission.status == SubmissionStatus.DISPATCHED.value:
        raise ConflictError(f"campaign {campaign.id} is being sent; it can no longer change")
    submission = _lock_submission(submission.id)
    row = _decide(
        submission,
        decision=Decision.INVALIDATE,
        actor=actor,
        account=None,
        stage=None,
        comment=reason[:MAX_COMMENT],
    )
    submission.status = SubmissionStatus.INVALIDATED.value
    submission.closed_at = row.decided_at
    campaign.status = CampaignStatus.DRAFT.value
    return row


def refresh_recipients(campaign_id: int, actor: User) -> Submission | None:
    """Re-take the recipient snapshot of the campaign in review.

    When the recipients changed (another root or count), the submission is invalidated
    (the maker submits again); otherwise nothing happens.  Returns the invalidated
    submission, or None when the recipients are unchanged.
    """
    from app.campaigns.services import _lock_campaign, get_campaign

    def open_of(campaign: Campaign) -> Submission:
        if campaign.owner_id != actor.id:
            raise PermissionDeniedError("only the campaign's owner can refresh its recipients")
        submission = open_submission(campaign.id)
        if submission is None or submission.status != SubmissionStatus.OPEN.value:
            raise ConflictError(f"campaign {campaign.id} is not in review; submit it instead")
        return submission

    submission = open_of(get_campaign(campaign_id))
    new_id = recipients.freeze_snapshot(submission.campaign_version, actor)
    db.session.commit()
    campaign = _lock_campaign(campaign_id)
    if open_of(campaign).id != submission.id:
        raise ConflictError(f"campaign {campaign.id}'s review changed meanwhile; reload the page")
    old = recipients.snapshot_summary(submission.snapshot_id)
    new = recipients.snapshot_summary(new_id)
    if (new.root, new.count) == (old.root, old.count):
        db.session.commit()
        return None
    invalidate_open_submission(
        campaign,
        actor,
        f"recipient snapshot changed: {old.count} → {new.count} recipients, "
        f"root {old.root[:10]}… → {new.root[:10]}…",
    )
    db.session.commit()
    return submission


def mark_dispatched(campaign_id: int) -> Submission:
    """Record that sending started (call it once the gate passed, in the transaction that
    creates the deliveries; it does not commit): approvals can no longer be revoked and
    the campaign can no longer change."""
    from app.campaigns.services import _lock_campaign

    campaign = _lock_campaign(campaign_id)
    submission = open_submission(campaign.id)
    if submission is None:
        raise ConflictError(f"campaign {campaign_id} has no approved submission to dispatch")
    if submission.dispatched_at is None:
        submission.dispatched_at = utcnow()
        submission.status = SubmissionStatus.DISPATCHED.value
        campaign.status = CampaignStatus.DISPATCHED.value
        db.session.flush()
    return submission


def _dispatch_started(submission: Submission) -> bool:
    return (
        submission.dispatched_at is not None
        or submission.campaign.status == CampaignStatus.DISPATCHED.value
    )


# -- inbox and timeline -------------------------------------------------------------------


@dataclass(frozen=True)
class InboxItem:
    submission: Submission
    state: SubmissionState
    stage: StageState
    expires_at: datetime | None  # the earliest expiry of an approval already given

    @property
    def expiring_soon(self) -> bool:
        return self.expires_at is not None and self.expires_at - utcnow() <= EXPIRING_SOON


def inbox(user: User) -> list[InboxItem]:
    """Open submissions whose current stage ``user`` may decide (not their own work),
    soonest-expiring first."""
    submissions = db.session.scalars(
        select(Submission)
        .where(Submission.status == SubmissionStatus.OPEN.value)
        .options(selectinload(Submission.decisions))
        .order_by(Submission.submitted_at)
    )
    items: list[InboxItem] = []
    for submission in submissions:
        state = submission_state(submission)
        current = state.current
        if current is None or not is_eligible(user, current.stage):
            continue
        if user.id in _makers(submission.campaign_version):
            continue
        if any(d.user_id == user.id for s in state.stages for d in (*s.active, *s.expired)):
            continue
        items.append(InboxItem(submission, state, current, state.expires_at))
    far = datetime.max.replace(tzinfo=utcnow().tzinfo)
    items.sort(key=lambda i: (i.expires_at or far, i.submission.submitted_at))
    return items


def submissions_of(campaign_id: int) -> list[Submission]:
    return list(
        db.session.scalars(
            select(Submission)
            .where(Submission.campaign_id == campaign_id)
            .options(selectinload(Submission.decisions))
            .order_by(Submission.id)
        )
    )


def decisions_of(campaign_id: int) -> list[ApprovalDecision]:
    return list(
        db.session.scalars(
            select(ApprovalDecision)
            .where(ApprovalDecision.campaign_id == campaign_id)
            .order_by(ApprovalDecision.id)
        )
    )


def users_by_id(ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(set(ids))))}


__all__ = [
    "InboxItem",
    "StageState",
    "SubmissionState",
    "add_policy_version",
    "approve",
    "create_policy",
    "decisions_of",
    "default_policy",
    "ensure_default_policy",
    "inbox",
    "invalidate_open_submission",
    "is_eligible",
    "latest_submission",
    "list_policies",
    "mark_dispatched",
    "open_submission",
    "refresh_recipients",
    "reject",
    "revoke",
    "submission_state",
    "submissions_of",
    "submit",
    "ttl",
]
