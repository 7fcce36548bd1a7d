"""The campaigns' and approvals' one seam to the segments feature (:mod:`app.segments`).

A campaign version names a segment version; its contact roles are that version's target
roles.  Submitting freezes the recipients: one segment snapshot per channel
(:func:`app.segments.services.snapshot_segment`), combined into a
:class:`~app.campaigns.models.RecipientSnapshot` whose count and RFC 9162 Merkle root go
into the approval log.  The combined leaves are the members' records
(``{"contact_id", "channel", "address"}``, :func:`ledger.merkle.record_leaf`) of the
channels' snapshots, channels in alphabetical order, each in its stored (sorted) order.
For a one-channel campaign the combined root equals that segment snapshot's root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from app.audience.models import Contact, Organisation
from app.campaigns.models import RecipientSnapshot
from app.database import utcnow
from app.errors import NotFoundError, ValidationError
from app.extensions import db
from app.segments import compiler
from app.segments import services as segments
from app.segments.models import SegmentSnapshotMember, SegmentVersion, member_record
from ledger.merkle import canonical_record, leaf_hash, root_from_leaf_hashes

if TYPE_CHECKING:
    from app.accounts.models import User
    from app.campaigns.models import CampaignVersion


@dataclass(frozen=True)
class SnapshotSummary:
    """What the approval log records about the recipients."""

    id: int
    segment_version_id: int
    definition_hash: str  # 0x + 64 hex
    count: int
    root: str  # 0x + 64 hex


@dataclass(frozen=True)
class KeyAccount:
    organisation_id: int
    legal_name: str
    account_manager_id: int | None


@dataclass(frozen=True)
class Member:
    """One recipient of a combined snapshot (what dispatch reads)."""

    position: int  # in the combined tree
    contact_id: int
    channel: str
    address: str

    def record(self) -> dict[str, str]:
        return member_record(self.contact_id, self.channel, self.address)


def _hex(value: str) -> str:
    text = value.lower()
    return text if text.startswith("0x") else "0x" + text


# -- segment versions ---------------------------------------------------------------------


def get_segment_version(segment_version_id: int) -> SegmentVersion:
    version = db.session.get(SegmentVersion, segment_version_id)
    if version is None:
        raise NotFoundError(
            f"no segment version with id {segment_version_id}; pick one from the segments list",
            details={"segment_version_id": "unknown"},
        )
    return version


def check_channels(segment_version: SegmentVersion, channels: list[str]) -> None:
    """A campaign can only use channels its segment version targets."""
    missing = [c for c in channels if c not in segment_version.channels]
    if missing:
        raise ValidationError(
            f"channels: segment {segment_version.segment.name!r} version "
            f"{segment_version.number} targets {', '.join(segment_version.channels)}, not "
            f"{', '.join(missing)}; choose a segment version that targets them",
            details={"channels": f"not targeted by the segment: {', '.join(missing)}"},
        )


def segment_version_choices() -> list[tuple[int, str]]:
    """(id, label) of every segment version, by segment name then newest first."""
    choices: list[tuple[int, str]] = []
    for segment in segments.list_segments():
        for version in reversed(segment.versions):
            choices.append(
                (
                    version.id,
                    f"{segment.name} · version {version.number} ({', '.join(version.channels)}"
                    f"; {', '.join(version.roles) or 'every role'})",
                )
            )
    return choices


def definition_hash(segment_version: SegmentVersion) -> str:
    return _hex(segment_version.definition_hash)


# -- combined snapshots ---------------------------------------------------------------------


def get_snapshot(snapshot_id: int) -> RecipientSnapshot:
    snapshot = db.session.get(RecipientSnapshot, snapshot_id)
    if snapshot is None:
        raise NotFoundError(f"no recipient snapshot with id {snapshot_id}")
    return snapshot


def _member_rows(segment_snapshot_id: int) -> list[tuple[int, str, str]]:
    return [
        (int(contact_id), str(channel), str(address))
        for contact_id, channel, address in db.session.execute(
            select(
                SegmentSnapshotMember.contact_id,
                SegmentSnapshotMember.channel,
                SegmentSnapshotMember.address,
            )
            .where(SegmentSnapshotMember.snapshot_id == segment_snapshot_id)
            .order_by(SegmentSnapshotMember.position)
        )
    ]


def combined_members(snapshot: RecipientSnapshot) -> list[Member]:
    """The members of every channel's snapshot, in combined order, read from the rows."""
    members: list[Member] = []
    for channel in snapshot.channels:
        for contact_id, member_channel, address in _member_rows(
            snapshot.segment_snapshot_ids[channel]
        ):
            members.append(Member(len(members), contact_id, member_channel, address))
    return members


def combined_leaves(snapshot: RecipientSnapshot) -> list[bytes]:
    return [leaf_hash(canonical_record(m.record())) for m in combined_members(snapshot)]


def freeze_snapshot(version: CampaignVersion, actor: User | None = None) -> int:
    """Snapshot the version's recipients on each of its channels now; the combined
    snapshot's id.  (The segments service commits each channel's snapshot itself.)"""
    segment_version = get_segment_version(version.segment_version_id)
    check_channels(segment_version, list(version.channels))
    ids: dict[str, int] = {}
    leaves: list[bytes] = []
    for channel in sorted(version.channels):
        snapshot = segments.snapshot_segment(segment_version.id, channel, created_by=actor)
        ids[channel] = int(snapshot.id)
        leaves.extend(
            leaf_hash(canonical_record(member_record(*row))) for row in _member_rows(snapshot.id)
        )
    combined = RecipientSnapshot(
        segment_version_id=segment_version.id,
        segment_snapshot_ids=ids,
        member_count=len(leaves),
        merkle_root="0x" + root_from_leaf_hashes(leaves).hex(),
        created_by_id=actor.id if actor is not None else None,
        created_at=utcnow(),
    )
    db.session.add(combined)
    db.session.flush()
    return int(combined.id)


def snapshot_summary(snapshot_id: int) -> SnapshotSummary:
    """The combined snapshot's count and root as stored on its row."""
    snapshot = get_snapshot(snapshot_id)
    version = get_segment_version(snapshot.segment_version_id)
    return SnapshotSummary(
        id=snapshot.id,
        segment_version_id=snapshot.segment_version_id,
        definition_hash=definition_hash(version),
        count=snapshot.member_count,
        root=snapshot.merkle_root,
    )


def recompute_snapshot(snapshot_id: int) -> SnapshotSummary:
    """Count and root recomputed from the member rows now, and the segment definition
    hash recomputed from the version's stored rules and target."""
    snapshot = get_snapshot(snapshot_id)
    leaves = combined_leaves(snapshot)
    version = get_segment_version(snapshot.segment_version_id)
    try:
        recomputed = segments.version_definition(version).hash
    except ValidationError as exc:  # the stored rules no longer parse: edited
        recomputed = f"unparseable ({exc.message})"
    return SnapshotSummary(
        id=snapshot.id,
        segment_version_id=snapshot.segment_version_id,
        definition_hash=_hex(recomputed)
        if not recomputed.startswith("unparseable")
        else recomputed,
        count=len(leaves),
        root="0x" + root_from_leaf_hashes(leaves).hex(),
    )


def contact_ids(snapshot_id: int) -> list[int]:
    snapshot = get_snapshot(snapshot_id)
    return sorted({m.contact_id for m in combined_members(snapshot)})


def key_accounts(snapshot_id: int) -> list[KeyAccount]:
    """The key-account organisations among the snapshot's recipients."""
    snapshot = get_snapshot(snapshot_id)
    rows = db.session.execute(
        select(Organisation.id, Organisation.legal_name, Organisation.account_manager_id)
        .join(Contact, Contact.organisation_id == Organisation.id)
        .join(SegmentSnapshotMember, SegmentSnapshotMember.contact_id == Contact.id)
        .where(
            SegmentSnapshotMember.snapshot_id.in_(list(snapshot.segment_snapshot_ids.values())),
            Organisation.is_key_account.is_(True),
        )
        .distinct()
        .order_by(Organisation.id)
    ).all()
    return [KeyAccount(int(i), str(n), int(m) if m is not None else None) for i, n, m in rows]


def sample_contacts(
    segment_version_id: int, *, channel: str | None = None, limit: int = 50
) -> list[Contact]:
    """The first recipients of a segment version today, to preview a template for."""
    version = get_segment_version(segment_version_id)
    definition = segments.version_definition(version)
    chosen = channel if channel in version.channels else version.channels[0]
    query = compiler.recipients_query(
        definition.tree.root, definition.target, chosen, segments.utc_today()
    ).limit(limit)
    ids = [int(row[0]) for row in db.session.execute(query)]
    if not ids:
        return []
    contacts = db.session.scalars(select(Contact).where(Contact.id.in_(ids))).all()
    order = {cid: i for i, cid in enumerate(ids)}
    return sorted(contacts, key=lambda c: order.get(c.id, 0))


def members_and_root(snapshot_id: int) -> tuple[list[dict[str, str]], str]:
    """The combined snapshot's member records in leaf order and its stored root, for
    recipient evidence (a Merkle inclusion proof of one recipient)."""
    snapshot = get_snapshot(snapshot_id)
    return [m.record() for m in combined_members(snapshot)], snapshot.merkle_root


__all__ = [
    "KeyAccount",
    "Member",
    "SnapshotSummary",
    "check_channels",
    "combined_leaves",
    "combined_members",
    "contact_ids",
    "definition_hash",
    "freeze_snapshot",
    "get_segment_version",
    "get_snapshot",
    "key_accounts",
    "members_and_root",
    "recompute_snapshot",
    "sample_contacts",
    "segment_version_choices",
    "snapshot_summary",
]
