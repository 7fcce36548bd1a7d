"""Settlement tables: the event index of SettlementLedger and the registry, and what the
web app keeps beside the chain (operator keys, reference texts, dispute comments,
uploaded billing exports).

The index (``settlement_sync``, ``settlement_members``, ``settlement_obligations``,
``settlement_cycles``, ``settlement_positions``, ``settlement_transfers``) is derived
data: :mod:`app.settlement.indexer` rebuilds it from the chain's events at any time.
Amounts are integers of any size (the contract allows up to 2**96 per obligation and
2**128 per cycle), stored as decimal text by :class:`Amount` and summed in Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.database import UTCDateTime, utcnow
from app.extensions import db


class Amount(TypeDecorator[int]):
    """A signed integer of any size, stored as its decimal text."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.__class__ is not int:
            raise TypeError(f"amount {value!r} must be an int")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class SyncState(db.Model):  # type: ignore[name-defined]
    """How far the index has read the chain (one row, ``name`` = ``ledger``)."""

    __tablename__ = "settlement_sync"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    ledger_address: Mapped[str] = mapped_column(String(42))
    registry_address: Mapped[str] = mapped_column(String(42))
    start_block: Mapped[int] = mapped_column(BigInteger)
    last_block: Mapped[int] = mapped_column(BigInteger)  # the last block fully indexed
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IndexedMember(db.Model):  # type: ignore[name-defined]
    """A registry member as the registry reported it at the last sync."""

    __tablename__ = "settlement_members"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currencies: Mapped[list[str]] = mapped_column(JSON)
    roles: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    position: Mapped[int] = mapped_column(Integer)  # admission order

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def has_role(self, role: str) -> bool:
        """Effective role: held and the member is active (as ledger.registry.Member)."""
        return self.is_active and role.upper() in self.roles


class IndexedObligation(db.Model):  # type: ignore[name-defined]
    """An obligation: its full record (from ObligationProposed) and where it stands."""

    __tablename__ = "settlement_obligations"

    id: Mapped[str] = mapped_column(String(66), primary_key=True)
    debtor: Mapped[str] = mapped_column(String(42), index=True)
    creditor: Mapped[str] = mapped_column(String(42), index=True)
    currency: Mapped[str] = mapped_column(String(3), index=True)
    amount: Mapped[int] = mapped_column(Amount)
    service_type: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer, index=True)
    external_ref: Mapped[str] = mapped_column(String(66))
    evidence_hash: Mapped[str] = mapped_column(String(66))
    salt: Mapped[str] = mapped_column(String(66))
    proposer: Mapped[str] = mapped_column(String(42))
    # The party that confirms or disputes: the one that did not propose.
    counterparty: Mapped[str] = mapped_column(String(42))
    status: Mapped[str] = mapped_column(String(16))
    cycle_id: Mapped[int | None] = mapped_column(Integer, index=True)
    dispute_reason: Mapped[int | None] = mapped_column(Integer)
    amended_by: Mapped[str | None] = mapped_column(String(66))
    amends: Mapped[str | None] = mapped_column(String(66))
    proposed_block: Mapped[int] = mapped_column(BigInteger, index=True)
    proposed_tx: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    settled_block: Mapped[int | None] = mapped_column(BigInteger)  # confirmed/disputed/...
    settled_tx: Mapped[str | None] = mapped_column(String(66))

    __table_args__ = (
        Index("ix_settlement_obligations_counterparty_status", "counterparty", "status"),
        Index("ix_settlement_obligations_proposer_status", "proposer", "status"),
    )


class IndexedCycle(db.Model):  # type: ignore[name-defined]
    """A settlement cycle as its events tell it."""

    __tablename__ = "settlement_cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(String(3), index=True)
    status: Mapped[str] = mapped_column(String(16))
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(String(42))
    closed_by: Mapped[str | None] = mapped_column(String(42))
    obligation_count: Mapped[int] = mapped_column(Integer)
    gross_value: Mapped[int] = mapped_column(Amount)
    participant_count: Mapped[int] = mapped_column(Integer)
    transfer_count: Mapped[int] = mapped_column(Integer)
    net_value: Mapped[int | None] = mapped_column(Amount)
    pending_positions: Mapped[int] = mapped_column(Integer)
    opened_block: Mapped[int] = mapped_column(BigInteger)
    opened_tx: Mapped[str] = mapped_column(String(66))
    closed_block: Mapped[int | None] = mapped_column(BigInteger)
    planned_block: Mapped[int | None] = mapped_column(BigInteger)
    planned_tx: Mapped[str | None] = mapped_column(String(66))
    confirmed_block: Mapped[int | None] = mapped_column(BigInteger)
    settled_block: Mapped[int | None] = mapped_column(BigInteger)


class IndexedPosition(db.Model):  # type: ignore[name-defined]
    """An operator's net position in a cycle (positive receives)."""

    __tablename__ = "settlement_positions"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("settlement_cycles.id", ondelete="CASCADE"), primary_key=True
    )
    member: Mapped[str] = mapped_column(String(42), primary_key=True)
    position: Mapped[int] = mapped_column(Amount)
    joined_block: Mapped[int] = mapped_column(BigInteger)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_block: Mapped[int | None] = mapped_column(BigInteger)


class IndexedTransfer(db.Model):  # type: ignore[name-defined]
    """Transfer ``index`` of a cycle's accepted plan."""

    __tablename__ = "settlement_transfers"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("settlement_cycles.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(
        "transfer_index", Integer, primary_key=True, autoincrement=False
    )
    payer: Mapped[str] = mapped_column(String(42), index=True)
    payee: Mapped[str] = mapped_column(String(42), index=True)
    amount: Mapped[int] = mapped_column(Amount)
    status: Mapped[str] = mapped_column(String(16))
    payment_ref: Mapped[str | None] = mapped_column(String(66))
    planned_block: Mapped[int] = mapped_column(BigInteger)
    paid_block: Mapped[int | None] = mapped_column(BigInteger)
    paid_tx: Mapped[str | None] = mapped_column(String(66))
    received_block: Mapped[int | None] = mapped_column(BigInteger)


class ReferenceText(db.Model):  # type: ignore[name-defined]
    """The text behind a hash the chain stores: an invoice number (``externalRef``) or a
    bank payment reference (``paymentRef``), when it passed through this app."""

    __tablename__ = "settlement_reference_texts"

    hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DisputeNote(db.Model):  # type: ignore[name-defined]
    """The comment a disputer typed (the chain keeps only the reason code)."""

    __tablename__ = "settlement_dispute_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    obligation_id: Mapped[str] = mapped_column(String(66), index=True)
    member: Mapped[str] = mapped_column(String(42))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OperatorKey(db.Model):  # type: ignore[name-defined]
    """A member's on-chain key held for a user: a V3 keystore encrypted with the user's
    sign-in password, decrypted only while the user acts."""

    __tablename__ = "settlement_operator_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(42), index=True)
    keystore: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_reason: Mapped[str | None] = mapped_column(String(200))


class BillingUpload(db.Model):  # type: ignore[name-defined]
    """A billing export an operator uploaded to reconcile against the ledger."""

    __tablename__ = "settlement_billing_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    member: Mapped[str] = mapped_column(String(42))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    tolerance_abs: Mapped[int] = mapped_column(BigInteger)
    tolerance_pct: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
