"""Segment use cases: preview, create and version segments, snapshot and prove recipients.

Each function is one transaction.  Rules and targets arrive as JSON and are checked by
:func:`parse_definition`; counts and lists come from one SQL statement each
(:mod:`app.segments.compiler`).  Date-relative rules are evaluated against UTC today
unless a ``today`` is given.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import rfc8785
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db
from app.segments import compiler
from app.segments.fields import FIELDS, OPERATORS, Arity
from app.segments.models import (
    Segment,
    SegmentSnapshot,
    SegmentSnapshotMember,
    SegmentVersion,
    member_record,
)
from app.segments.rules import Problem, RuleTree, RuleTreeError, parse_rules
from app.segments.targets import Target, TargetError, parse_target
from ledger.merkle import (
    canonical_record,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_inclusion,
)

NAME_MAX = 120
NOTE_MAX = 500


def utc_today() -> date:
    return datetime.now(UTC).date()


# -- definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    """A checked rule tree and target, with the hash that identifies them."""

    tree: RuleTree
    target: Target

    @property
    def document(self) -> dict[str, Any]:
        return {"rules": self.tree.document, "target": self.target.as_json()}

    @property
    def hash(self) -> str:
        """SHA-256 (hex) of the RFC 8785 canonical JSON of ``{"rules", "target"}``."""
        return hashlib.sha256(rfc8785.dumps(self.document)).hexdigest()


def parse_definition(rules: Any, target: Any) -> Definition:
    """Check both parts; one :class:`RuleTreeError` lists the problems of both."""
    problems: list[Problem] = []
    tree = parsed_target = None
    try:
        tree = parse_rules(rules)
    except RuleTreeError as exc:
        problems.extend(exc.problems)
    try:
        parsed_target = parse_target(target)
    except TargetError as exc:
        if not problems:
            raise
        problems.extend(exc.problems)
    if problems or tree is None or parsed_target is None:
        raise RuleTreeError(problems)
    return Definition(tree, parsed_target)


def version_definition(version: SegmentVersion) -> Definition:
    return parse_definition(version.rules, version.target)


# -- preview -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[dict[str, Any]]
    definition: Definition
    evaluated_on: date
    by_channel: dict[str, int] | None  # only when the target has several channels


def preview(
    rules: Any, target: Any, *, today: date | None = None, sample_size: int = compiler.SAMPLE_SIZE
) -> Preview:
    """The count and the first rows of what ``rules`` and ``target`` select."""
    definition = parse_definition(rules, target)
    return preview_definition(definition, today=today, sample_size=sample_size)


def preview_definition(
    definition: Definition, *, today: date | None = None, sample_size: int = compiler.SAMPLE_SIZE
) -> Preview:
    day = today or utc_today()
    root, chosen = definition.tree.root, definition.target
    session = db.session
    count = session.scalar(compiler.count_query(root, chosen, day)) or 0
    rows = session.execute(compiler.sample_query(root, chosen, day, sample_size)).mappings()
    by_channel = None
    if len(chosen.channels) > 1:
        by_channel = {
            channel: session.scalar(compiler.count_query(root, chosen, day, (channel,))) or 0
            for channel in chosen.channels
        }
    return Preview(int(count), [_plain(dict(row)) for row in rows], definition, day, by_channel)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        if isinstance(value, Decimal):
            row[key] = format(value, "f")
        elif isinstance(value, date):
            row[key] = value.isoformat()
    return row


def count_version(version_id: int, *, today: date | None = None) -> int:
    """How many the version's target counts today (or on ``today``)."""
    definition = version_definition(get_version(version_id))
    query = compiler.count_query(definition.tree.root, definition.target, today or utc_today())
    return int(db.session.scalar(query) or 0)


# -- segments and versions -----------------------------------------------------------------


def list_segments() -> list[Segment]:
    return list(
        db.session.scalars(
            select(Segment).options(selectinload(Segment.versions)).order_by(Segment.name)
        )
    )


def get_segment(segment_id: int) -> Segment:
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        raise NotFoundError(f"there is no segment {segment_id}; list them at /api/segments")
    return segment


def get_version(version_id: int) -> SegmentVersion:
    version = db.session.get(SegmentVersion, version_id)
    if version is None:
        raise NotFoundError(f"there is no segment version {version_id}")
    return version


def get_segment_version(segment_id: int, number: int | None = None) -> SegmentVersion:
    """Version ``number`` of the segment, its latest by default."""
    segment = get_segment(segment_id)
    if number is None:
        return segment.latest_version
    for version in segment.versions:
        if version.number == number:
            return version
    raise NotFoundError(
        f"segment {segment_id} has no version {number}; it has versions 1 to "
        f"{segment.latest_version.number}"
    )


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("the segment needs a name", details={"path": "name", "allowed": None})
    cleaned = " ".join(name.split())
    if len(cleaned) > NAME_MAX:
        raise ValidationError(
            f"the segment name is at most {NAME_MAX} characters, got {len(cleaned)}",
            details={"path": "name", "allowed": None},
        )
    return cleaned


def _clean_text(value: Any, path: str, limit: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"'{path}' must be text", details={"path": path, "allowed": None})
    if limit is not None and len(value) > limit:
        raise ValidationError(
            f"'{path}' is at most {limit} characters, got {len(value)}",
            details={"path": path, "allowed": None},
        )
    return value.strip()


def _ensure_name_free(name: str, segment_id: int | None = None) -> None:
    clash = db.session.scalar(select(Segment).where(func.lower(Segment.name) == name.lower()))
    if clash is not None and clash.id != segment_id:
        raise ConflictError(
            f"a segment named {clash.name!r} already exists; choose another name",
            details={"path": "name", "segment_id": clash.id},
        )


def _new_version(
    segment: Segment, number: int, definition: Definition, author: User, note: str
) -> SegmentVersion:
    version = SegmentVersion(
        segment=segment,
        number=number,
        rules=definition.tree.document,
        target_level=definition.target.level,
        roles=list(definition.target.roles),
        channels=list(definition.target.channels),
        definition_hash=definition.hash,
        note=note,
        author_id=author.id,
    )
    db.session.add(version)
    return version


def create_segment(
    name: str,
    rules: Any,
    target: Any,
    author: User,
    *,
    description: str = "",
    note: str = "",
) -> Segment:
    """A new segment with its version 1."""
    cleaned = _clean_name(name)
    definition = parse_definition(rules, target)
    _ensure_name_free(cleaned)
    segment = Segment(
        name=cleaned,
        description=_clean_text(description, "description"),
        created_by_id=author.id,
    )
    _new_version(segment, 1, definition, author, _clean_text(note, "note", NOTE_MAX))
    db.session.add(segment)
    _commit_or_conflict()
    return segment


@dataclass(frozen=True)
class Revision:
    version: SegmentVersion
    created: bool  # False when the definition equals the latest version's


def revise_segment(
    segment_id: int,
    rules: Any,
    target: Any,
    author: User,
    *,
    name: str | None = None,
    description: str | None = None,
    note: str = "",
    base_version: int | None = None,
) -> Revision:
    """Make a new version from ``rules`` and ``target``, unless they equal the latest.

    ``base_version`` is the version the editor started from: if another version was
    made since, the edit is refused (409) instead of silently overwriting it.
    """
    segment = get_segment(segment_id)
    latest = segment.latest_version
    if base_version is not None and base_version != latest.number:
        raise ConflictError(
            f"segment {segment.id} is at version {latest.number} now, not {base_version}; "
            "reload it and apply your changes again",
            details={"latest_version": latest.number},
        )
    definition = parse_definition(rules, target)
    if name is not None:
        cleaned = _clean_name(name)
        _ensure_name_free(cleaned, segment.id)
        segment.name = cleaned
    if description is not None:
        segment.description = _clean_text(description, "description")
    if definition.hash == latest.definition_hash:
        _commit_or_conflict()
        return Revision(latest, False)
    version = _new_version(
        segment, latest.number + 1, definition, author, _clean_text(note, "note", NOTE_MAX)
    )
    segment.updated_at = datetime.now(UTC)
    _commit_or_conflict()
    return Revision(version, True)


def _commit_or_conflict() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(
            "the segment changed at the same time (same name or version number); "
            "reload it and try again"
        ) from None


# -- history -------------------------------------------------------------------------------


def describe_rules(document: dict[str, Any]) -> list[str]:
    """The rule tree as indented lines of text, for reading and diffing versions."""
    lines: list[str] = []

    def group(node: dict[str, Any], depth: int) -> None:
        pad = "  " * depth
        word = node["combinator"].upper()
        lines.append(f"{pad}{'NOT ' if node.get('not') else ''}{word} (")
        for child in node["rules"]:
            if "rules" in child:
                group(child, depth + 1)
            else:
                lines.append(f"{pad}  {_describe_rule(child)}")
        lines.append(f"{pad})")

    group(document, 0)
    return lines


def _describe_rule(rule: dict[str, Any]) -> str:
    spec = FIELDS.get(rule["field"])
    label = spec.label if spec else rule["field"]
    operator = OPERATORS.get(rule["operator"])
    words = operator.label if operator else rule["operator"]
    value: Any = rule.get("value")
    if operator is None or operator.arity is Arity.NONE:
        return f"{label} {words}"
    if operator.arity is Arity.DAYS:
        return f"{label} within the {'next' if 'Next' in operator.name else 'last'} {value} days"
    if operator.arity is Arity.TWO:
        return f"{label} between {value[0]} and {value[1]}"
    if operator.arity is Arity.LIST:
        return f"{label} {words} {', '.join(str(v) for v in value)}"
    return f"{label} {words} {value}"


def describe_target(version: SegmentVersion) -> str:
    roles = ", ".join(version.roles) if version.roles else "every role"
    return f"{version.target_level} · {roles} · via {', '.join(version.channels)}"


def diff_versions(older: SegmentVersion, newer: SegmentVersion) -> list[str]:
    """A unified diff of two versions' rules and targets, as text lines."""
    before = [*describe_rules(older.rules), f"target: {describe_target(older)}"]
    after = [*describe_rules(newer.rules), f"target: {describe_target(newer)}"]
    return list(
        difflib.unified_diff(
            before, after, f"version {older.number}", f"version {newer.number}", lineterm=""
        )
    )


# -- snapshots -----------------------------------------------------------------------------


def snapshot_segment(
    version_id: int,
    channel: str | None = None,
    *,
    created_by: User | None = None,
    today: date | None = None,
) -> SegmentSnapshot:
    """Freeze the version's recipients on ``channel`` (its only channel by default).

    The members are stored sorted by contact id, with the Merkle root of their records
    and the SHA-256 of the records' canonical JSON array.
    """
    version = get_version(version_id)
    definition = version_definition(version)
    chosen = _snapshot_channel(version, channel)
    day = today or utc_today()
    rows = db.session.execute(
        compiler.recipients_query(definition.tree.root, definition.target, chosen, day)
    ).all()
    leaves: list[bytes] = []
    members_hash = hashlib.sha256(b"[")
    for position, (contact_id, address) in enumerate(rows):
        record = canonical_record(member_record(contact_id, chosen, address))
        leaves.append(leaf_hash(record))
        members_hash.update(b"," + record if position else record)
    members_hash.update(b"]")
    snapshot = SegmentSnapshot(
        version_id=version.id,
        channel=chosen,
        evaluated_on=day,
        member_count=len(rows),
        merkle_root=root_from_leaf_hashes(leaves).hex(),
        members_sha256=members_hash.hexdigest(),
        created_by_id=created_by.id if created_by is not None else None,
    )
    db.session.add(snapshot)
    db.session.flush()
    if rows:
        db.session.execute(
            insert(SegmentSnapshotMember),
            [
                {
                    "snapshot_id": snapshot.id,
                    "position": position,
                    "contact_id": contact_id,
                    "channel": chosen,
                    "address": address,
                }
                for position, (contact_id, address) in enumerate(rows)
            ],
        )
    db.session.commit()
    return snapshot


def _snapshot_channel(version: SegmentVersion, channel: str | None) -> str:
    if channel is None:
        if len(version.channels) == 1:
            return version.channels[0]
        raise ValidationError(
            f"version {version.number} targets {', '.join(version.channels)}; "
            "say which channel to snapshot",
            details={"path": "channel", "allowed": version.channels},
        )
    if channel not in version.channels:
        raise ValidationError(
            f"version {version.number} does not target {channel!r}; "
            f"snapshot one of {', '.join(version.channels)}",
            details={"path": "channel", "allowed": version.channels},
        )
    return channel


def get_snapshot(snapshot_id: int) -> SegmentSnapshot:
    snapshot = db.session.get(SegmentSnapshot, snapshot_id)
    if snapshot is None:
        raise NotFoundError(f"there is no segment snapshot {snapshot_id}")
    return snapshot


def snapshot_members(
    snapshot_id: int, *, offset: int = 0, limit: int | None = None
) -> list[SegmentSnapshotMember]:
    """The snapshot's members in their stored (sorted) order."""
    get_snapshot(snapshot_id)
    query = (
        select(SegmentSnapshotMember)
        .where(SegmentSnapshotMember.snapshot_id == snapshot_id)
        .order_by(SegmentSnapshotMember.position)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def _leaf_hashes(snapshot_id: int) -> list[bytes]:
    rows = db.session.execute(
        select(
            SegmentSnapshotMember.contact_id,
            SegmentSnapshotMember.channel,
            SegmentSnapshotMember.address,
        )
        .where(SegmentSnapshotMember.snapshot_id == snapshot_id)
        .order_by(SegmentSnapshotMember.position)
    )
    return [leaf_hash(canonical_record(member_record(*row))) for row in rows]


@dataclass(frozen=True)
class SnapshotProof:
    """An RFC 9162 inclusion proof that ``record`` is leaf ``index`` of the snapshot."""

    snapshot_id: int
    record: dict[str, str]
    index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    root: bytes

    def verify(self) -> bool:
        """Recompute the leaf from the record and check the path against the root."""
        leaf = leaf_hash(canonical_record(self.record))
        return leaf == self.leaf_hash and verify_inclusion(
            leaf, self.index, self.tree_size, self.path, self.root
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "record": self.record,
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [node.hex() for node in self.path],
            "root": self.root.hex(),
        }


def snapshot_proof(snapshot_id: int, contact_id: int, channel: str) -> SnapshotProof:
    """Prove that the contact (on ``channel``) is a member of the snapshot."""
    snapshot = get_snapshot(snapshot_id)
    member = db.session.scalar(
        select(SegmentSnapshotMember).where(
            SegmentSnapshotMember.snapshot_id == snapshot_id,
            SegmentSnapshotMember.contact_id == contact_id,
            SegmentSnapshotMember.channel == channel,
        )
    )
    if member is None:
        raise NotFoundError(
            f"contact {contact_id} is not a recipient of snapshot {snapshot_id} on {channel}"
        )
    leaves = _leaf_hashes(snapshot_id)
    return SnapshotProof(
        snapshot_id=snapshot.id,
        record=member.record(),
        index=member.position,
        tree_size=len(leaves),
        leaf_hash=leaves[member.position],
        path=inclusion_proof(leaves, member.position, len(leaves)),
        root=bytes.fromhex(snapshot.merkle_root),
    )


def verify_snapshot(snapshot_id: int) -> bool:
    """Whether the stored members still hash to the snapshot's root and count."""
    snapshot = get_snapshot(snapshot_id)
    leaves = _leaf_hashes(snapshot_id)
    return (
        len(leaves) == snapshot.member_count
        and root_from_leaf_hashes(leaves).hex() == snapshot.merkle_root
    )


def list_snapshots(segment_id: int) -> Sequence[SegmentSnapshot]:
    get_segment(segment_id)
    return list(
        db.session.scalars(
            select(SegmentSnapshot)
            .join(SegmentVersion, SegmentSnapshot.version_id == SegmentVersion.id)
            .where(SegmentVersion.segment_id == segment_id)
            .order_by(SegmentSnapshot.id.desc())
        )
    )
