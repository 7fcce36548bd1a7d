"""Segments, their immutable versions, and snapshots freezing a version's recipients.

A :class:`SegmentVersion` is the definition an approval refers to: its rules, target and
the SHA-256 of their RFC 8785 canonical JSON.  A :class:`SegmentSnapshot` is the exact
recipient list of a version on one channel at one moment, stored member by member in
sorted order with the Merkle root (RFC 9162, :mod:`ledger.merkle`) of their records, so
a recipient's presence in the approved list can be proven by an inclusion proof.

Versions, snapshots and their members are never updated: the ORM refuses to.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.database import UTCDateTime, utcnow
from app.extensions import db

TARGET_LEVELS = ("organisations", "contacts")


class Segment(db.Model):  # type: ignore[name-defined]
    """A named segment; what it selects is its latest :class:`SegmentVersion`."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    created_by: Mapped[User] = relationship(lazy="joined")
    versions: Mapped[list[SegmentVersion]] = relationship(
        back_populates="segment", order_by="SegmentVersion.number"
    )

    @property
    def latest_version(self) -> SegmentVersion:
        return self.versions[-1]

    def __repr__(self) -> str:
        return f"<Segment {self.id} {self.name!r}>"


class SegmentVersion(db.Model):  # type: ignore[name-defined]
    """One immutable definition of a segment."""

    __tablename__ = "segment_versions"
    __table_args__ = (
        UniqueConstraint("segment_id", "number", name="uq_segment_versions_segment_number"),
        CheckConstraint("target_level IN ('organisations', 'contacts')", name="target_level"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by the unique (segment_id, number).
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the segment
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)  # the normalised rule tree
    target_level: Mapped[str] = mapped_column(String(16))
    roles: Mapped[list[str]] = mapped_column(JSON)  # in priority order; [] = every role
    channels: Mapped[list[str]] = mapped_column(JSON)  # sorted, at least one
    # SHA-256 (hex) of the RFC 8785 canonical JSON of {"rules", "target"}.
    definition_hash: Mapped[str] = mapped_column(String(64), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    segment: Mapped[Segment] = relationship(back_populates="versions")
    author: Mapped[User] = relationship(lazy="joined")
    snapshots: Mapped[list[SegmentSnapshot]] = relationship(
        back_populates="version", order_by="SegmentSnapshot.id"
    )

    @property
    def target(self) -> dict[str, Any]:
        return {"level": self.target_level, "roles": self.roles, "channels": self.channels}

    def __repr__(self) -> str:
        return f"<SegmentVersion {self.id} segment={self.segment_id} v{self.number}>"


class SegmentSnapshot(db.Model):  # type: ignore[name-defined]
    """The frozen recipient list of a version on one channel."""

    __tablename__ = "segment_snapshots"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'webhook')", name="channel"),
        CheckConstraint("member_count >= 0", name="member_count_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("segment_versions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The day date-relative rules were evaluated against (UTC).
    evaluated_on: Mapped[date] = mapped_column(Date)
    member_count: Mapped[int] = mapped_column(Integer)
    # RFC 9162 Merkle tree hash (hex) of the members' record_leaf() hashes, in order.
    merkle_root: Mapped[str] = mapped_column(String(64), index=True)
    # SHA-256 (hex) of the RFC 8785 canonical JSON array of the member records, in order.
    members_sha256: Mapped[str] = mapped_column(String(64))
    # Who took it; None for snapshots taken by the system (e.g. a campaign task).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[SegmentVersion] = relationship(back_populates="snapshots")
    created_by: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<SegmentSnapshot {self.id} version={self.version_id} {self.channel}>"


class SegmentSnapshotMember(db.Model):  # type: ignore[name-defined]
    """One recipient of a snapshot, at its position in the sorted list.

    ``contact_id`` is kept without a foreign key: the frozen list outlives the contact.
    """

    __tablename__ = "segment_snapshot_members"
    __table_args__ = (
        Index(
            "uq_segment_snapshot_members_snapshot_contact_channel",
            "snapshot_id",
            "contact_id",
            "channel",
            unique=True,
        ),
    )

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("segment_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-based leaf index
    contact_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))

    def record(self) -> dict[str, str]:
        """The member's log record, as its Merkle leaf hashes it."""
        return member_record(self.contact_id, self.channel, self.address)

    def __repr__(self) -> str:
        return f"<SegmentSnapshotMember {self.snapshot_id}#{self.position} {self.contact_id}>"


def member_record(contact_id: int, channel: str, address: str) -> dict[str, str]:
    """A recipient as a Merkle log record: ids as strings, as the log requires."""
    return {"contact_id": str(contact_id), "channel": channel, "address": address}


class ImmutableRecordError(RuntimeError):
    """Something tried to change a stored version or snapshot."""


def _refuse_update(_mapper: Any, _connection: Any, target: Any) -> None:
    raise ImmutableRecordError(
        f"{target!r} is immutable; edit the segment to make a new version, or take a new snapshot"
    )


for _model in (SegmentVersion, SegmentSnapshot, SegmentSnapshotMember):
    event.listen(_model, "before_update", _refuse_update)
