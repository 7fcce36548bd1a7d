"""Dispatch state: one row per (campaign, contact, channel) and everything around it.

* :class:`Delivery` is the idempotency key of sending: ``UNIQUE (campaign_id,
  contact_id, channel)``.  Its status moves only through
  :mod:`app.dispatch.sending` and :mod:`app.dispatch.services`.
* :class:`OutboxMessage` is the transactional outbox: "send these deliveries" is
  written in the same transaction as the rows it names and relayed to the broker later.
* :class:`DeliveryEvent` is the history of every status change (the dashboard's chart).
* :class:`CapturedMessage` holds what the capture channel "sent".
* :class:`UnsubscribeToken` maps an opaque one-click token to its contact and channel.
* :class:`SmsPart` maps each SMSC ``message_id`` to its delivery, for delivery receipts.

Campaign, campaign-version and snapshot ids carry no foreign key: those tables belong
to the campaigns feature and a dispatch must outlive any edit of them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.database import UTCDateTime, utcnow
from app.extensions import db


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    SUPPRESSED = "suppressed"
    BOUNCED = "bounced"
    FAILED_TEMPORARY = "failed-temporary"
    FAILED_PERMANENT = "failed-permanent"
    NEEDS_REVIEW = "needs-review"
    CANCELLED = "cancelled"


#: Rows a worker may claim (when ``next_attempt_at`` has come).
CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.FAILED_TEMPORARY)
#: Nothing more will happen to these rows without a person (or a late DSN/receipt).
FINAL = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.SUPPRESSED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.FAILED_PERMANENT,
    DeliveryStatus.CANCELLED,
)
#: A first channel ending in one of these starts the campaign's fallback channel.
FALLBACK_TRIGGERS = (DeliveryStatus.BOUNCED, DeliveryStatus.FAILED_PERMANENT)
STATUS_VALUES = tuple(s.value for s in DeliveryStatus)


class DispatchState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


DISPATCH_STATE_VALUES = tuple(s.value for s in DispatchState)
CHANNEL_VALUES = ("email", "sms", "webhook")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DispatchSettings(db.Model):  # type: ignore[name-defined]
    """Per-campaign dispatch options, editable until the dispatch starts.

    ``fallback`` maps a first channel to the channel tried when it ends bounced or
    failed-permanent, e.g. ``{"email": "sms"}``.
    """

    __tablename__ = "dispatch_settings"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fallback: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Dispatch(db.Model):  # type: ignore[name-defined]
    """A campaign's one dispatch: what was approved, who started it, and its state."""

    __tablename__ = "dispatches"
    __table_args__ = (CheckConstraint(_one_of("state", DISPATCH_STATE_VALUES), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, unique=True)
    campaign_version_id: Mapped[int] = mapped_column(Integer)
    snapshot_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=DispatchState.RUNNING.value)
    fallback: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Dispatch {self.id} campaign={self.campaign_id} {self.state}>"


class Delivery(db.Model):  # type: ignore[name-defined]
    """One message to one contact on one channel; the unique key makes sending idempotent.

    ``claimed_by`` names the batch run that owns a ``sending`` row; ``handed_off_at`` is
    set (and committed) just before the provider's point of no return, so a row whose
    claim expired without it was provably never sent.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_one_of("status", STATUS_VALUES), name="status"),
        CheckConstraint(_one_of("channel", CHANNEL_VALUES), name="channel"),
        Index(
            "uq_deliveries_campaign_contact_channel",
            "campaign_id",
            "contact_id",
            "channel",
            unique=True,
        ),
        Index("ix_deliveries_dispatch_status", "dispatch_id", "status"),
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_deliveries_contact_sent", "contact_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    fallback_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Delivery {self.id} {self.channel} contact={self.contact_id} {self.status}>"


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    """A task to publish, written in the transaction that made it necessary.

    The relay publishes rows whose ``available_at`` has come and stamps ``relayed_at``;
    publishing twice is harmless because every delivery is claimed before it is sent.
    """

    __tablename__ = "dispatch_outbox"
    __table_args__ = (Index("ix_dispatch_outbox_pending", "relayed_at", "available_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryEvent(db.Model):  # type: ignore[name-defined]
    """One status change of a delivery, with what caused it."""

    __tablename__ = "delivery_events"
    __table_args__ = (Index("ix_delivery_events_campaign_time", "campaign_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CapturedMessage(db.Model):  # type: ignore[name-defined]
    """A message the capture channel kept instead of sending (the embedded outbox)."""

    __tablename__ = "captured_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    campaign_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(998))
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[Any | None] = mapped_column(JSON)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnsubscribeToken(db.Model):  # type: ignore[name-defined]
    """An issued one-click unsubscribe token; only its SHA-256 is stored."""

    __tablename__ = "unsubscribe_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsPart(db.Model):  # type: ignore[name-defined]
    """One submitted SMS part: the SMSC's ``message_id`` and its receipt status.

    A receipt that arrives before its submit was recorded creates the row with no
    delivery yet; recording the submit attaches it.
    """

    __tablename__ = "sms_parts"

    message_id: Mapped[str] = mapped_column(String(65), primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    part: Mapped[int] = mapped_column(Integer, default=1)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    receipt: Mapped[str | None] = mapped_column(String(16))  # DELIVRD, UNDELIV, ...
    receipt_error: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
