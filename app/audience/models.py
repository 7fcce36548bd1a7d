"""The B2B audience: customer organisations, their subscriptions, contacts and consents,
the global suppression list, and the history of file imports.

Enumerated columns are plain strings guarded by CHECK constraints (no database enum, so
adding a product or a role is a one-line migration on SQLite and PostgreSQL alike); the
allowed values are the ``*_VALUES`` tuples below, which the importer and the segment
rule engine read.  Every column a segment rule can filter on is indexed.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import UTCDateTime, utcnow
from app.extensions import db


class EmployeeBand(enum.StrEnum):
    MICRO = "1-9"
    SMALL = "10-49"
    MEDIUM = "50-249"
    LARGE = "250-999"
    ENTERPRISE = "1000+"


class RevenueBand(enum.StrEnum):
    UNDER_1M = "<1M"
    FROM_1M = "1M-10M"
    FROM_10M = "10M-50M"
    FROM_50M = "50M-250M"
    OVER_250M = "250M+"


class Product(enum.StrEnum):
    VOICE = "voice"
    MOBILE = "mobile"
    INTERNET = "internet"
    VPN = "vpn"
    CLOUD = "cloud"
    IOT = "iot"
    SMS_GATEWAY = "sms_gateway"
    DATA_CENTER = "data_center"
    SECURITY = "security"


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    PENDING = "pending"


class ContactRole(enum.StrEnum):
    DECISION_MAKER = "decision_maker"
    BILLING = "billing"
    TECHNICAL = "technical"
    LEGAL = "legal"
    OTHER = "other"


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class ConsentStatus(enum.StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"


class ImportKind(enum.StrEnum):
    ORGANISATIONS = "organisations"
    CONTACTS = "contacts"
    SUBSCRIPTIONS = "subscriptions"
    CONSENTS = "consents"
    SUPPRESSIONS = "suppressions"


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # file stored, mapping not confirmed yet
    QUEUED = "queued"  # committed by the user, waiting for a worker
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


EMPLOYEE_BAND_VALUES = tuple(e.value for e in EmployeeBand)
REVENUE_BAND_VALUES = tuple(e.value for e in RevenueBand)
PRODUCT_VALUES = tuple(e.value for e in Product)
SUBSCRIPTION_STATUS_VALUES = tuple(e.value for e in SubscriptionStatus)
CONTACT_ROLE_VALUES = tuple(e.value for e in ContactRole)
CHANNEL_VALUES = tuple(e.value for e in Channel)
CONSENT_STATUS_VALUES = tuple(e.value for e in ConsentStatus)
IMPORT_KIND_VALUES = tuple(e.value for e in ImportKind)
IMPORT_STATUS_VALUES = tuple(e.value for e in ImportStatus)


def _one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    check = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {check}" if nullable else check


class Organisation(db.Model):  # type: ignore[name-defined]
    """A business customer, keyed by its CRM/billing ``external_id``."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(_one_of("employee_band", EMPLOYEE_BAND_VALUES), name="employee_band"),
        CheckConstraint(_one_of("revenue_band", REVENUE_BAND_VALUES), name="revenue_band"),
        CheckConstraint("monthly_spend >= 0", name="monthly_spend_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    legal_name: Mapped[str] = mapped_column(String(255), index=True)
    tax_id: Mapped[str | None] = mapped_column(String(32), index=True)
    industry_code: Mapped[str] = mapped_column(String(16), index=True)  # NACE, e.g. "61.10"
    region: Mapped[str] = mapped_column(String(100), index=True)
    employee_band: Mapped[str] = mapped_column(String(16), index=True)
    revenue_band: Mapped[str] = mapped_column(String(16), index=True)
    is_key_account: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    contract_start: Mapped[date | None] = mapped_column(Date, index=True)
    contract_end: Mapped[date | None] = mapped_column(Date, index=True)
    monthly_spend: Mapped[Decimal] = mapped_column(
        Numeric(14, 2, asdecimal=True), default=Decimal("0.00"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Contact.id",
    )
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Subscription.id",
    )

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.external_id}>"


class Subscription(db.Model):  # type: ignore[name-defined]
    """A product an organisation subscribes to; re-imports match on (org, product, start)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_one_of("product", PRODUCT_VALUES), name="product"),
        CheckConstraint(_one_of("status", SUBSCRIPTION_STATUS_VALUES), name="status"),
        CheckConstraint("mrr >= 0", name="mrr_not_negative"),
        Index(
            "uq_subscriptions_organisation_product_start",
            "organisation_id",
            "product",
            "start_date",
            unique=True,
        ),
        # "has an active subscription to product X": product+status first, org last.
        Index("ix_subscriptions_product_status_org", "product", "status", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    product: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_date: Mapped[date] = mapped_column(Date, index=True)
    mrr: Mapped[Decimal] = mapped_column(Numeric(12, 2, asdecimal=True), index=True)

    organisation: Mapped[Organisation] = relationship(back_populates="subscriptions")

    def __repr__(self) -> str:
        return f"<Subscription {self.id} org={self.organisation_id} {self.product}>"


class Contact(db.Model):  # type: ignore[name-defined]
    """A person at an organisation.  Unique within it by email and by phone."""

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint(_one_of("role", CONTACT_ROLE_VALUES), name="role"),
        CheckConstraint(
            "email IS NOT NULL OR phone IS NOT NULL OR messenger_handle IS NOT NULL",
            name="reachable",
        ),
        # NULLs are distinct in unique indexes on both SQLite and PostgreSQL, so a
        # contact without email (or phone) never clashes on it.
        Index("uq_contacts_organisation_email", "organisation_id", "email", unique=True),
        Index("uq_contacts_organisation_phone", "organisation_id", "phone", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    job_title: Mapped[str | None] = mapped_column(String(150))
    role: Mapped[str] = mapped_column(String(16), default=ContactRole.OTHER.value, index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)  # lower-case
    phone: Mapped[str | None] = mapped_column(String(16), index=True)  # E.164
    messenger_handle: Mapped[str | None] = mapped_column(String(500))  # handle or webhook URL
    language: Mapped[str] = mapped_column(String(16), default="en", index=True)  # BCP 47
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", index=True)  # IANA
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="contacts")
    consents: Mapped[list[Consent]] = relationship(
        back_populates="contact",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Consent.channel",
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def __repr__(self) -> str:
        return f"<Contact {self.id} org={self.organisation_id} {self.email or self.phone}>"


class Consent(db.Model):  # type: ignore[name-defined]
    """A contact's consent for one channel: the latest status, where it came from, when."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_one_of("channel", CHANNEL_VALUES), name="channel"),
        CheckConstraint(_one_of("status", CONSENT_STATUS_VALUES), name="status"),
        Index("uq_consents_contact_channel", "contact_id", "channel", unique=True),
        # "consent for channel C": channel+status first, contact last.
        Index("ix_consents_channel_status_contact", "channel", "status", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="consents")

    def __repr__(self) -> str:
        return f"<Consent contact={self.contact_id} {self.channel}={self.status}>"


class Suppression(db.Model):  # type: ignore[name-defined]
    """An address that must never be contacted (on ``channel``, or on any when null)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        CheckConstraint(_one_of("channel", CHANNEL_VALUES, nullable=True), name="channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Normalised: lower-case email, E.164 phone, or the handle/URL as given.
    address: Mapped[str] = mapped_column(String(500), unique=True)
    channel: Mapped[str | None] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    def __repr__(self) -> str:
        return f"<Suppression {self.address} channel={self.channel}>"


class ImportJob(db.Model):  # type: ignore[name-defined]
    """One file import: what was uploaded, how its columns map, and what became of it.

    ``inserted + updated + unchanged + rejected + empty == total`` once completed, where
    ``total`` counts the data lines after the header.
    """

    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint(_one_of("kind", IMPORT_KIND_VALUES), name="kind"),
        CheckConstraint(_one_of("status", IMPORT_STATUS_VALUES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.UPLOADED.value)
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))  # "csv" or "xlsx"
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_size: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str | None] = mapped_column(String(32))  # detected, CSV only
    headers: Mapped[list[str]] = mapped_column(JSON, default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # header -> field
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    empty: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<ImportJob {self.id} {self.kind} {self.status}>"


class ImportFile(db.Model):  # type: ignore[name-defined]
    """The uploaded bytes, kept in the database so any worker can read them.

    Deleted once the import completes: the hash stays on the job and every rejected row
    is kept in ``import_rejections``.
    """

    __tablename__ = "import_files"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRejection(db.Model):  # type: ignore[name-defined]
    """A rejected line: its number in the file, the raw values, and why."""

    __tablename__ = "import_rejections"
    __table_args__ = (Index("ix_import_rejections_import_line", "import_id", "line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)  # 1-based, the header is line 1
    field: Mapped[str | None] = mapped_column(String(64))  # the model field at fault
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[list[str]] = mapped_column(JSON)  # the line's cells as read

    def __repr__(self) -> str:
        return f"<ImportRejection import={self.import_id} line={self.line}>"
