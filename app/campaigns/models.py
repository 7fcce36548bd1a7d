"""Campaigns and their immutable versions.

A :class:`Campaign` is the maker's working title; what gets approved and sent is a
:class:`CampaignVersion`: name, objective, the segment version and contact roles, the
channels and one template set per channel, with the SHA-256 of its RFC 8785 canonical
content.  Every edit adds a version; a version row is never updated (the ORM refuses),
so the hash logged at approval time can always be recomputed from the row.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.database import UTCDateTime, utcnow
from app.extensions import db


class CampaignStatus(enum.StrEnum):
    """Where a campaign stands in the workflow (approval itself is computed live, because
    approvals expire)."""

    DRAFT = "draft"  # editable, not submitted (or sent back by a rejection/invalidation)
    IN_REVIEW = "in_review"  # a submission is open
    REJECTED = "rejected"  # the last submission was rejected; edit and submit again
    DISPATCHED = "dispatched"  # sending started; the approved version is final

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


STATUS_VALUES = tuple(s.value for s in CampaignStatus)


class Campaign(db.Model):  # type: ignore[name-defined]
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUS_VALUES) + ")", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # the latest version's
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    # The approval policy this campaign follows; its newest version is frozen at submit.
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("approval_policies.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[CampaignVersion]] = relationship(
        back_populates="campaign", order_by="CampaignVersion.number", passive_deletes=True
    )
    owner = relationship("User", foreign_keys=[owner_id])

    @property
    def latest_version(self) -> CampaignVersion | None:
        return self.versions[-1] if self.versions else None

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.name!r} {self.status}>"


class CampaignVersion(db.Model):  # type: ignore[name-defined]
    """One immutable state of a campaign.  ``templates`` maps a channel to its fields:

    * ``email``: ``subject``, ``html``, ``text`` (empty: generated from the HTML);
    * ``sms``: ``text``;
    * ``webhook``: ``text``, ``payload`` (a JSON object template).
    """

    __tablename__ = "campaign_versions"
    __table_args__ = (
        Index("uq_campaign_versions_campaign_number", "campaign_id", "number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    objective: Mapped[str] = mapped_column(Text, default="")
    segment_version_id: Mapped[int] = mapped_column(
        ForeignKey("segment_versions.id", ondelete="RESTRICT"), index=True
    )
    contact_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON)  # sorted channel names
    templates: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(66), index=True)  # 0x + SHA-256 hex
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="versions")
    created_by = relationship("User", foreign_keys=[created_by_id])

    def content(self) -> dict[str, Any]:
        """What the content hash covers (see :func:`app.campaigns.content.version_content`)."""
        from app.campaigns.content import version_content

        return version_content(self)

    def __repr__(self) -> str:
        return f"<CampaignVersion {self.campaign_id}.{self.number} {self.content_hash[:10]}>"


@event.listens_for(Session, "before_flush")
def _versions_are_immutable(session: Session, _context: Any, _instances: Any) -> None:
    for instance in session.dirty:
        if isinstance(instance, CampaignVersion) and session.is_modified(instance):
            raise RuntimeError(
                f"campaign version {instance.campaign_id}.{instance.number} is immutable; "
                "save the campaign to create a new version"
            )


class CampaignTestSend(db.Model):  # type: ignore[name-defined]
    """A "send a test to myself": what was sent to whom, through which backend, and how it
    went.  With the capture backend this row *is* the message (nothing leaves)."""

    __tablename__ = "campaign_test_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_version_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_versions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))  # the campaign channel tested
    backend: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecipientSnapshot(db.Model):  # type: ignore[name-defined]
    """A campaign's frozen recipients: one segment snapshot per channel, combined.

    The segments feature snapshots one channel at a time; a campaign on email and SMS
    needs both, under one count and one Merkle root in the approval log.  The combined
    tree's leaves are the member records of the channels' snapshots, channels in
    alphabetical order, each in its stored order (see
    :func:`app.campaigns.recipients.combined_leaves`); for a one-channel campaign the
    root is exactly that channel's segment snapshot root.
    """

    __tablename__ = "campaign_recipient_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_version_id: Mapped[int] = mapped_column(
        ForeignKey("segment_versions.id", ondelete="RESTRICT"), index=True
    )
    # {channel: segment_snapshots.id}
    segment_snapshot_ids: Mapped[dict[str, int]] = mapped_column(JSON)
    member_count: Mapped[int] = mapped_column(Integer)
    merkle_root: Mapped[str] = mapped_column(String(66), index=True)  # 0x + 64 hex
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def channels(self) -> list[str]:
        return sorted(self.segment_snapshot_ids)

    @property
    def members(self) -> list[Any]:
        """Every member, combined positions (dispatch sends to exactly these)."""
        from app.campaigns.recipients import combined_members

        return combined_members(self)


@event.listens_for(RecipientSnapshot, "before_update")
def _recipient_snapshots_are_immutable(_mapper: Any, _connection: Any, target: Any) -> None:
    raise RuntimeError(f"recipient snapshot {target.id} is immutable; take a new one")
