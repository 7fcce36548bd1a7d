"""campaigns and approvals: campaigns, immutable versions, recipient snapshots, test sends,
approval policies (versioned), submissions, decisions and approvers' signing keys

Revision ID: 76071930e5bc
Revises: 8a310a35a725
Create Date: 2026-11-22 16:45:26

Generated with ``flask --app app db migrate`` and reviewed: timestamps use the plain
``DateTime(timezone=True)`` under ``app.database.UTCDateTime``; statuses and decisions are
``VARCHAR`` with named CHECK constraints.  ``approval_decisions.log_entry_id`` points at
the approval log entry each decision appended (``approval_log_entries``, the audit
revision); ``approval_submissions.snapshot_id`` at the campaign's combined recipient
snapshot, itself made of ``segment_snapshots`` (the segments revision).
"""

import sqlalchemy as sa
from alembic import op

revision = "76071930e5bc"
down_revision = "8a310a35a725"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_approval_policies_name")),
    )
    with op.batch_alter_table("approval_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_policies_is_default"), ["is_default"], unique=False
        )

    op.create_table(
        "approval_policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("definition_hash", sa.String(length=66), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_approval_policy_versions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_approval_policy_versions_policy_id_approval_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_policy_versions")),
    )
    with op.batch_alter_table("approval_policy_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_policy_versions_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_policy_versions_policy_id"), ["policy_id"], unique=False
        )
        batch_op.create_index(
            "uq_approval_policy_versions_policy_number", ["policy_id", "number"], unique=True
        )

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'in_review', 'rejected', 'dispatched')",
            name=op.f("ck_campaigns_status"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_campaigns_owner_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_campaigns_policy_id_approval_policies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_policy_id"), ["policy_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_status"), ["status"], unique=False)

    op.create_table(
        "user_signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("keystore", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_signing_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_signing_keys")),
        sa.UniqueConstraint("address", name=op.f("uq_user_signing_keys_address")),
    )
    with op.batch_alter_table("user_signing_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_signing_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "campaign_recipient_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_version_id", sa.Integer(), nullable=False),
        sa.Column("segment_snapshot_ids", sa.JSON(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("merkle_root", sa.String(length=66), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_campaign_recipient_snapshots_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["segment_version_id"],
            ["segment_versions.id"],
            name=op.f("fk_campaign_recipient_snapshots_segment_version_id_segment_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipient_snapshots")),
    )
    with op.batch_alter_table("campaign_recipient_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_recipient_snapshots_created_by_id"),
            ["created_by_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_recipient_snapshots_merkle_root"), ["merkle_root"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_recipient_snapshots_segment_version_id"),
            ["segment_version_id"],
            unique=False,
        )

    op.create_table(
        "campaign_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("segment_version_id", sa.Integer(), nullable=False),
        sa.Column("contact_roles", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("templates", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=66), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_versions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_campaign_versions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["segment_version_id"],
            ["segment_versions.id"],
            name=op.f("fk_campaign_versions_segment_version_id_segment_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_versions")),
    )
    with op.batch_alter_table("campaign_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_versions_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_versions_content_hash"), ["content_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_versions_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_versions_segment_version_id"),
            ["segment_version_id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_campaign_versions_campaign_number", ["campaign_id", "number"], unique=True
        )

    op.create_table(
        "approval_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("campaign_version_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'rejected', 'invalidated', 'dispatched')",
            name=op.f("ck_approval_submissions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_approval_submissions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_version_id"],
            ["campaign_versions.id"],
            name=op.f("fk_approval_submissions_campaign_version_id_campaign_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["approval_policy_versions.id"],
            name=op.f("fk_approval_submissions_policy_version_id_approval_policy_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["campaign_recipient_snapshots.id"],
            name=op.f("fk_approval_submissions_snapshot_id_campaign_recipient_snapshots"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
            name=op.f("fk_approval_submissions_submitted_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_submissions")),
    )
    with op.batch_alter_table("approval_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_approval_submissions_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_submissions_campaign_version_id"),
            ["campaign_version_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_approval_submissions_policy_version_id"),
            ["policy_version_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_approval_submissions_snapshot_id"), ["snapshot_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_submissions_submitted_by_id"), ["submitted_by_id"], unique=False
        )

    op.create_table(
        "campaign_test_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_version_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_version_id"],
            ["campaign_versions.id"],
            name=op.f("fk_campaign_test_sends_campaign_version_id_campaign_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_campaign_test_sends_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_test_sends")),
    )
    with op.batch_alter_table("campaign_test_sends", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_test_sends_campaign_version_id"),
            ["campaign_version_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_test_sends_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "approval_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=True),
        sa.Column("stage_name", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("approver_address", sa.String(length=42), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("log_entry_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=True),
        sa.CheckConstraint(
            "decision IN ('submit', 'approve', 'reject', 'revoke', 'invalidate')",
            name=op.f("ck_approval_decisions_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_approval_decisions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["log_entry_id"],
            ["approval_log_entries.id"],
            name=op.f("fk_approval_decisions_log_entry_id_approval_log_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["approval_decisions.id"],
            name=op.f("fk_approval_decisions_revoked_by_id_approval_decisions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["approval_submissions.id"],
            name=op.f("fk_approval_decisions_submission_id_approval_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_approval_decisions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_decisions")),
    )
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_decisions_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_decisions_log_entry_id"), ["log_entry_id"], unique=False
        )
        batch_op.create_index(
            "ix_approval_decisions_submission_stage", ["submission_id", "stage_index"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_decisions_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_decisions_user_id"))
        batch_op.drop_index("ix_approval_decisions_submission_stage")
        batch_op.drop_index(batch_op.f("ix_approval_decisions_log_entry_id"))
        batch_op.drop_index(batch_op.f("ix_approval_decisions_campaign_id"))

    op.drop_table("approval_decisions")
    with op.batch_alter_table("campaign_test_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_test_sends_user_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_test_sends_campaign_version_id"))

    op.drop_table("campaign_test_sends")
    with op.batch_alter_table("approval_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_submissions_submitted_by_id"))
        batch_op.drop_index(batch_op.f("ix_approval_submissions_snapshot_id"))
        batch_op.drop_index(batch_op.f("ix_approval_submissions_policy_version_id"))
        batch_op.drop_index(batch_op.f("ix_approval_submissions_campaign_version_id"))
        batch_op.drop_index("ix_approval_submissions_campaign_status")

    op.drop_table("approval_submissions")
    with op.batch_alter_table("campaign_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_campaign_versions_campaign_number")
        batch_op.drop_index(batch_op.f("ix_campaign_versions_segment_version_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_versions_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_versions_content_hash"))
        batch_op.drop_index(batch_op.f("ix_campaign_versions_campaign_id"))

    op.drop_table("campaign_versions")
    with op.batch_alter_table("campaign_recipient_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_recipient_snapshots_segment_version_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_recipient_snapshots_merkle_root"))
        batch_op.drop_index(batch_op.f("ix_campaign_recipient_snapshots_created_by_id"))

    op.drop_table("campaign_recipient_snapshots")
    with op.batch_alter_table("user_signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_signing_keys_user_id"))

    op.drop_table("user_signing_keys")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_status"))
        batch_op.drop_index(batch_op.f("ix_campaigns_policy_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_owner_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_name"))

    op.drop_table("campaigns")
    with op.batch_alter_table("approval_policy_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_approval_policy_versions_policy_number")
        batch_op.drop_index(batch_op.f("ix_approval_policy_versions_policy_id"))
        batch_op.drop_index(batch_op.f("ix_approval_policy_versions_created_by_id"))

    op.drop_table("approval_policy_versions")
    with op.batch_alter_table("approval_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_policies_is_default"))

    op.drop_table("approval_policies")
