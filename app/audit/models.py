"""The approval log's tables: its entries, its head counter and its checkpoints.

* :class:`ApprovalLogEntry`: one row per leaf; ``id`` *is* the leaf index.  The record's
  RFC 8785 canonical JSON is stored verbatim (``record_json``): it is the exact byte
  string that was hashed, so anyone can recompute the leaf hash from the row.
* :class:`LogHead`: a single counter row, locked by every append, so two concurrent
  appends never get the same index (``SELECT … FOR UPDATE`` on PostgreSQL, the database
  write lock on SQLite).
* :class:`Checkpoint`: a tree size and root.  ``pending`` rows are the anchoring outbox
  (attempts, next attempt, last error); ``anchored`` rows record the transaction.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.database import UTCDateTime, utcnow
from app.extensions import db


class CheckpointStatus(enum.StrEnum):
    PENDING = "pending"  # in the outbox: to be anchored, retried with backoff
    ANCHORED = "anchored"  # mined: tx_hash and block_number are set


class LogHead(db.Model):  # type: ignore[name-defined]
    """The number of entries in the log (one row, id 1)."""

    __tablename__ = "approval_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer, default=0)


class ApprovalLogEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "approval_log_entries"

    # The leaf index: 0, 1, 2, … without gaps, assigned under the LogHead lock.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    campaign_id: Mapped[str] = mapped_column(String(200), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(200), default="")
    # The canonical (RFC 8785) JSON of the record, exactly the bytes hashed.
    record_json: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(66), unique=True)  # 0x + SHA-256
    prev_entry_hash: Mapped[str | None] = mapped_column(String(66))
    signature: Mapped[str | None] = mapped_column(String(132))  # EIP-712, 0x + 65 bytes
    signer: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def leaf_index(self) -> int:
        return self.id

    @property
    def record(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.record_json)
        return value

    def __repr__(self) -> str:
        return f"<ApprovalLogEntry {self.id} {self.decision} campaign={self.campaign_id}>"


class Checkpoint(db.Model):  # type: ignore[name-defined]
    __tablename__ = "approval_log_checkpoints"
    __table_args__ = (CheckConstraint("status IN ('pending', 'anchored')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=CheckpointStatus.PENDING.value)
    tree_size: Mapped[int] = mapped_column(Integer, unique=True)
    root: Mapped[str | None] = mapped_column(String(66))  # unknown until first computed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    contract: Mapped[str | None] = mapped_column(String(42))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    anchored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_anchored(self) -> bool:
        return self.status == CheckpointStatus.ANCHORED.value

    def __repr__(self) -> str:
        return f"<Checkpoint {self.tree_size} {self.status}>"
