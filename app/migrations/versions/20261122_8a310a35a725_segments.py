"""segments: segments, their immutable versions, snapshots and snapshot members

Revision ID: 8a310a35a725
Revises: 7d2e4f1a9c35
Create Date: 2026-11-22 16:44:41

Generated with ``flask --app app db migrate`` and reviewed: timestamps use the plain
``DateTime(timezone=True)`` under ``app.database.UTCDateTime``; the rules, roles and
channels of a version are JSON (``json`` on PostgreSQL); target levels and channels are
``VARCHAR`` guarded by CHECK constraints.  ``segment_versions.segment_id`` is indexed by
the unique (segment_id, number) and ``segment_snapshot_members.snapshot_id`` by the
primary key (snapshot_id, position); the members' ``contact_id`` has no foreign key, as
a frozen recipient list outlives the contact.
"""

import sqlalchemy as sa
from alembic import op

revision = "8a310a35a725"
down_revision = "7d2e4f1a9c35"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_segments_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_index(op.f("ix_segments_created_by_id"), "segments", ["created_by_id"])

    op.create_table(
        "segment_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("target_level", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "target_level IN ('organisations', 'contacts')",
            name=op.f("ck_segment_versions_target_level"),
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_segment_versions_number_positive")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_segment_versions_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_versions_segment_id_segments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_versions")),
        sa.UniqueConstraint("segment_id", "number", name="uq_segment_versions_segment_number"),
    )
    op.create_index(op.f("ix_segment_versions_author_id"), "segment_versions", ["author_id"])
    op.create_index(
        op.f("ix_segment_versions_definition_hash"), "segment_versions", ["definition_hash"]
    )

    op.create_table(
        "segment_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("merkle_root", sa.String(length=64), nullable=False),
        sa.Column("members_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'webhook')", name=op.f("ck_segment_snapshots_channel")
        ),
        sa.CheckConstraint(
            "member_count >= 0", name=op.f("ck_segment_snapshots_member_count_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_segment_snapshots_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["segment_versions.id"],
            name=op.f("fk_segment_snapshots_version_id_segment_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_snapshots")),
    )
    op.create_index(
        op.f("ix_segment_snapshots_created_by_id"), "segment_snapshots", ["created_by_id"]
    )
    op.create_index(op.f("ix_segment_snapshots_merkle_root"), "segment_snapshots", ["merkle_root"])
    op.create_index(op.f("ix_segment_snapshots_version_id"), "segment_snapshots", ["version_id"])

    op.create_table(
        "segment_snapshot_members",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["segment_snapshots.id"],
            name=op.f("fk_segment_snapshot_members_snapshot_id_segment_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "position", name=op.f("pk_segment_snapshot_members")
        ),
    )
    op.create_index(
        "uq_segment_snapshot_members_snapshot_contact_channel",
        "segment_snapshot_members",
        ["snapshot_id", "contact_id", "channel"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(
        "uq_segment_snapshot_members_snapshot_contact_channel",
        table_name="segment_snapshot_members",
    )
    op.drop_table("segment_snapshot_members")
    op.drop_index(op.f("ix_segment_snapshots_version_id"), table_name="segment_snapshots")
    op.drop_index(op.f("ix_segment_snapshots_merkle_root"), table_name="segment_snapshots")
    op.drop_index(op.f("ix_segment_snapshots_created_by_id"), table_name="segment_snapshots")
    op.drop_table("segment_snapshots")
    op.drop_index(op.f("ix_segment_versions_definition_hash"), table_name="segment_versions")
    op.drop_index(op.f("ix_segment_versions_author_id"), table_name="segment_versions")
    op.drop_table("segment_versions")
    op.drop_index(op.f("ix_segments_created_by_id"), table_name="segments")
    op.drop_table("segments")
