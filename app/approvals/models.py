"""Approval policies (versioned data), submissions, decisions and approvers' signing keys.

* :class:`ApprovalPolicy` / :class:`ApprovalPolicyVersion`: a policy's definition is
  JSON (see :mod:`app.approvals.policy`); a version is never changed, a new one is added.
* :class:`Submission`: one submission of one campaign version, with the recipient
  snapshot and policy version frozen, and the stages that apply to it.
* :class:`ApprovalDecision`: every decision (submit, approve, reject, revoke,
  invalidate), one row per approval-log entry.  The row is the working copy; the log
  record is the evidence, and the dispatch gate checks that both still agree.
* :class:`UserSigningKey`: an approver's Ethereum key as a V3 keystore encrypted with
  the approver's password, so nobody without the password can sign for them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.database import UTCDateTime, utcnow
from app.extensions import db


class SubmissionStatus(enum.StrEnum):
    OPEN = "open"  # waiting for (or holding) approvals
    REJECTED = "rejected"
    INVALIDATED = "invalidated"  # content, segment or recipients changed after submit
    DISPATCHED = "dispatched"  # sending started; approvals can no longer be revoked


class Decision(enum.StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    REVOKE = "revoke"
    INVALIDATE = "invalidate"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v.value}'" for v in values) + ")"


class ApprovalPolicy(db.Model):  # type: ignore[name-defined]
    __tablename__ = "approval_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[ApprovalPolicyVersion]] = relationship(
        back_populates="policy", order_by="ApprovalPolicyVersion.number"
    )

    @property
    def latest_version(self) -> ApprovalPolicyVersion | None:
        return self.versions[-1] if self.versions else None


class ApprovalPolicyVersion(db.Model):  # type: ignore[name-defined]
    __tablename__ = "approval_policy_versions"
    __table_args__ = (
        Index("uq_approval_policy_versions_policy_number", "policy_id", "number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(
        ForeignKey("approval_policies.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    definition_hash: Mapped[str] = mapped_column(String(66))  # 0x + SHA-256, RFC 8785
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    policy: Mapped[ApprovalPolicy] = relationship(back_populates="versions")
    created_by = relationship("User", foreign_keys=[created_by_id])


class Submission(db.Model):  # type: ignore[name-defined]
    __tablename__ = "approval_submissions"
    __table_args__ = (
        CheckConstraint(_one_of("status", SubmissionStatus), name="status"),
        Index("ix_approval_submissions_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    campaign_version_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_versions.id", ondelete="RESTRICT"), index=True
    )
    # The recipients frozen at submit (campaigns.models.RecipientSnapshot).
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_recipient_snapshots.id", ondelete="RESTRICT"), index=True
    )
    policy_version_id: Mapped[int] = mapped_column(
        ForeignKey("approval_policy_versions.id", ondelete="RESTRICT"), index=True
    )
    submitted_by_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=SubmissionStatus.OPEN.value)
    # The policy's stages as they apply here (ResolvedStage.as_json), frozen at submit.
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    campaign = relationship("Campaign")
    campaign_version = relationship("CampaignVersion")
    policy_version: Mapped[ApprovalPolicyVersion] = relationship()
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    decisions: Mapped[list[ApprovalDecision]] = relationship(
        back_populates="submission", order_by="ApprovalDecision.id"
    )


class ApprovalDecision(db.Model):  # type: ignore[name-defined]
    __tablename__ = "approval_decisions"
    __table_args__ = (
        CheckConstraint(_one_of("decision", Decision), name="decision"),
        Index("ix_approval_decisions_submission_stage", "submission_id", "stage_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("approval_submissions.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(16))
    stage_index: Mapped[int | None] = mapped_column(Integer)
    stage_name: Mapped[str] = mapped_column(String(80), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    approver_address: Mapped[str | None] = mapped_column(String(42))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An approval taken back: the revoke decision that did it.
    revoked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("approval_decisions.id", ondelete="SET NULL")
    )
    # The approval-log entry of this decision (app.audit) and its EIP-712 signature.
    log_entry_id: Mapped[int] = mapped_column(
        ForeignKey("approval_log_entries.id", ondelete="RESTRICT"), index=True
    )
    signature: Mapped[str | None] = mapped_column(String(132))

    submission: Mapped[Submission] = relationship(back_populates="decisions")
    user = relationship("User", foreign_keys=[user_id])
    revoked_by: Mapped[ApprovalDecision | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<ApprovalDecision {self.id} {self.decision} stage={self.stage_index}>"


class UserSigningKey(db.Model):  # type: ignore[name-defined]
    """A user's EIP-712 signing key, encrypted with their password (V3 keystore JSON).

    A user has at most one active key; a retired key (``retired_at``) stays, so old
    signatures keep a known owner.
    """

    __tablename__ = "user_signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    keystore: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_reason: Mapped[str | None] = mapped_column(String(200))

    user = relationship("User")


_IMMUTABLE = (ApprovalPolicyVersion,)


@event.listens_for(Session, "before_flush")
def _policy_versions_are_immutable(session: Session, _context: Any, _instances: Any) -> None:
    for instance in session.dirty:
        if isinstance(instance, _IMMUTABLE) and session.is_modified(instance):
            raise RuntimeError("a policy version is immutable; add a new version instead")
