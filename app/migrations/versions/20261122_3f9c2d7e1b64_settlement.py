"""settlement: the event index of SettlementLedger and the registry (members, obligations,
cycles, positions, transfers, the sync cursor) and what the app keeps beside the chain
(operator keys, reference texts, dispute comments, billing uploads)

Revision ID: 3f9c2d7e1b64
Revises: 76071930e5bc
Create Date: 2026-11-22 17:17:25

Written from ``app.settlement.models``: amounts are integers of any size stored as
decimal text (``String(80)``), block numbers and chain ids ``BIGINT``.
"""

import sqlalchemy as sa
from alembic import op

revision = "3f9c2d7e1b64"
down_revision = "76071930e5bc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_cycles",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=42), nullable=False),
        sa.Column("closed_by", sa.String(length=42), nullable=True),
        sa.Column("obligation_count", sa.Integer(), nullable=False),
        sa.Column("gross_value", sa.String(length=80), nullable=False),
        sa.Column("participant_count", sa.Integer(), nullable=False),
        sa.Column("transfer_count", sa.Integer(), nullable=False),
        sa.Column("net_value", sa.String(length=80), nullable=True),
        sa.Column("pending_positions", sa.Integer(), nullable=False),
        sa.Column("opened_block", sa.BigInteger(), nullable=False),
        sa.Column("opened_tx", sa.String(length=66), nullable=False),
        sa.Column("closed_block", sa.BigInteger(), nullable=True),
        sa.Column("planned_block", sa.BigInteger(), nullable=True),
        sa.Column("planned_tx", sa.String(length=66), nullable=True),
        sa.Column("confirmed_block", sa.BigInteger(), nullable=True),
        sa.Column("settled_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_cycles")),
    )
    op.create_index(op.f("ix_settlement_cycles_currency"), "settlement_cycles", ["currency"])

    op.create_table(
        "settlement_members",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currencies", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_settlement_members")),
    )
    op.create_index(op.f("ix_settlement_members_code"), "settlement_members", ["code"])

    op.create_table(
        "settlement_obligations",
        sa.Column("id", sa.String(length=66), nullable=False),
        sa.Column("debtor", sa.String(length=42), nullable=False),
        sa.Column("creditor", sa.String(length=42), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.String(length=80), nullable=False),
        sa.Column("service_type", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=66), nullable=False),
        sa.Column("evidence_hash", sa.String(length=66), nullable=False),
        sa.Column("salt", sa.String(length=66), nullable=False),
        sa.Column("proposer", sa.String(length=42), nullable=False),
        sa.Column("counterparty", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("dispute_reason", sa.Integer(), nullable=True),
        sa.Column("amended_by", sa.String(length=66), nullable=True),
        sa.Column("amends", sa.String(length=66), nullable=True),
        sa.Column("proposed_block", sa.BigInteger(), nullable=False),
        sa.Column("proposed_tx", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("settled_block", sa.BigInteger(), nullable=True),
        sa.Column("settled_tx", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_obligations")),
    )
    op.create_index(
        op.f("ix_settlement_obligations_counterparty_status"),
        "settlement_obligations",
        ["counterparty", "status"],
    )
    op.create_index(
        op.f("ix_settlement_obligations_creditor"), "settlement_obligations", ["creditor"]
    )
    op.create_index(
        op.f("ix_settlement_obligations_currency"), "settlement_obligations", ["currency"]
    )
    op.create_index(
        op.f("ix_settlement_obligations_cycle_id"), "settlement_obligations", ["cycle_id"]
    )
    op.create_index(op.f("ix_settlement_obligations_debtor"), "settlement_obligations", ["debtor"])
    op.create_index(op.f("ix_settlement_obligations_period"), "settlement_obligations", ["period"])
    op.create_index(
        op.f("ix_settlement_obligations_proposed_block"),
        "settlement_obligations",
        ["proposed_block"],
    )
    op.create_index(
        op.f("ix_settlement_obligations_proposer_status"),
        "settlement_obligations",
        ["proposer", "status"],
    )

    op.create_table(
        "settlement_reference_texts",
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_settlement_reference_texts")),
    )
    op.create_table(
        "settlement_sync",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("ledger_address", sa.String(length=42), nullable=False),
        sa.Column("registry_address", sa.String(length=42), nullable=False),
        sa.Column("start_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_settlement_sync")),
    )
    op.create_table(
        "settlement_billing_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tolerance_abs", sa.BigInteger(), nullable=False),
        sa.Column("tolerance_pct", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_summary", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_settlement_billing_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_billing_uploads")),
    )
    op.create_index(
        op.f("ix_settlement_billing_uploads_user_id"), "settlement_billing_uploads", ["user_id"]
    )

    op.create_table(
        "settlement_dispute_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("obligation_id", sa.String(length=66), nullable=False),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_settlement_dispute_notes_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_dispute_notes")),
    )
    op.create_index(
        op.f("ix_settlement_dispute_notes_obligation_id"),
        "settlement_dispute_notes",
        ["obligation_id"],
    )

    op.create_table(
        "settlement_operator_keys",
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
            name=op.f("fk_settlement_operator_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_operator_keys")),
    )
    op.create_index(
        op.f("ix_settlement_operator_keys_address"), "settlement_operator_keys", ["address"]
    )
    op.create_index(
        op.f("ix_settlement_operator_keys_user_id"), "settlement_operator_keys", ["user_id"]
    )

    op.create_table(
        "settlement_positions",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("position", sa.String(length=80), nullable=False),
        sa.Column("joined_block", sa.BigInteger(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("confirmed_block", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["settlement_cycles.id"],
            name=op.f("fk_settlement_positions_cycle_id_settlement_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", "member", name=op.f("pk_settlement_positions")),
    )
    op.create_table(
        "settlement_transfers",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("transfer_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("payee", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_ref", sa.String(length=66), nullable=True),
        sa.Column("planned_block", sa.BigInteger(), nullable=False),
        sa.Column("paid_block", sa.BigInteger(), nullable=True),
        sa.Column("paid_tx", sa.String(length=66), nullable=True),
        sa.Column("received_block", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["settlement_cycles.id"],
            name=op.f("fk_settlement_transfers_cycle_id_settlement_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", "transfer_index", name=op.f("pk_settlement_transfers")),
    )
    op.create_index(op.f("ix_settlement_transfers_payee"), "settlement_transfers", ["payee"])
    op.create_index(op.f("ix_settlement_transfers_payer"), "settlement_transfers", ["payer"])


def downgrade() -> None:
    op.drop_index(op.f("ix_settlement_transfers_payer"), table_name="settlement_transfers")
    op.drop_index(op.f("ix_settlement_transfers_payee"), table_name="settlement_transfers")

    op.drop_table("settlement_transfers")
    op.drop_table("settlement_positions")
    op.drop_index(
        op.f("ix_settlement_operator_keys_user_id"), table_name="settlement_operator_keys"
    )
    op.drop_index(
        op.f("ix_settlement_operator_keys_address"), table_name="settlement_operator_keys"
    )

    op.drop_table("settlement_operator_keys")
    op.drop_index(
        op.f("ix_settlement_dispute_notes_obligation_id"), table_name="settlement_dispute_notes"
    )

    op.drop_table("settlement_dispute_notes")
    op.drop_index(
        op.f("ix_settlement_billing_uploads_user_id"), table_name="settlement_billing_uploads"
    )

    op.drop_table("settlement_billing_uploads")
    op.drop_table("settlement_sync")
    op.drop_table("settlement_reference_texts")
    op.drop_index(
        op.f("ix_settlement_obligations_proposer_status"), table_name="settlement_obligations"
    )
    op.drop_index(
        op.f("ix_settlement_obligations_proposed_block"), table_name="settlement_obligations"
    )
    op.drop_index(op.f("ix_settlement_obligations_period"), table_name="settlement_obligations")
    op.drop_index(op.f("ix_settlement_obligations_debtor"), table_name="settlement_obligations")
    op.drop_index(op.f("ix_settlement_obligations_cycle_id"), table_name="settlement_obligations")
    op.drop_index(op.f("ix_settlement_obligations_currency"), table_name="settlement_obligations")
    op.drop_index(op.f("ix_settlement_obligations_creditor"), table_name="settlement_obligations")
    op.drop_index(
        op.f("ix_settlement_obligations_counterparty_status"), table_name="settlement_obligations"
    )

    op.drop_table("settlement_obligations")
    op.drop_index(op.f("ix_settlement_members_code"), table_name="settlement_members")

    op.drop_table("settlement_members")
    op.drop_index(op.f("ix_settlement_cycles_currency"), table_name="settlement_cycles")

    op.drop_table("settlement_cycles")
