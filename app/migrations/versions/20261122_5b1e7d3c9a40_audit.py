"""audit: the approval log's entries, head counter and checkpoints (the anchoring outbox)

Revision ID: 5b1e7d3c9a40
Revises: c795352270e0
Create Date: 2026-11-22 17:10:00

Written by hand to match ``app.audit.models``: an entry's ``id`` is its leaf index
(assigned under the ``approval_log_head`` row lock, never by a sequence) and its
``record_json`` holds the canonical record verbatim.  Chain ids and block numbers are
``BIGINT`` (an embedded chain's id exceeds 32 bits).
"""

import sqlalchemy as sa
from alembic import op

revision = "5b1e7d3c9a40"
down_revision = "c795352270e0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_log_head")),
    )
    op.create_table(
        "approval_log_entries",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=66), nullable=False),
        sa.Column("prev_entry_hash", sa.String(length=66), nullable=True),
        sa.Column("signature", sa.String(length=132), nullable=True),
        sa.Column("signer", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_log_entries")),
        sa.UniqueConstraint("leaf_hash", name=op.f("uq_approval_log_entries_leaf_hash")),
    )
    op.create_index(
        op.f("ix_approval_log_entries_campaign_id"), "approval_log_entries", ["campaign_id"]
    )
    op.create_table(
        "approval_log_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("contract", sa.String(length=42), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'anchored')", name=op.f("ck_approval_log_checkpoints_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_log_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_approval_log_checkpoints_tree_size")),
    )


def downgrade() -> None:
    op.drop_table("approval_log_checkpoints")
    op.drop_index(op.f("ix_approval_log_entries_campaign_id"), table_name="approval_log_entries")
    op.drop_table("approval_log_entries")
    op.drop_table("approval_log_head")
