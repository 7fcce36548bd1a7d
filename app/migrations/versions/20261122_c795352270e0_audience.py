"""audience: organisations, subscriptions, contacts, consents, suppressions, imports

Revision ID: c795352270e0
Revises: a6c201b10e53
Create Date: 2026-11-22 16:24:19

Generated with ``flask --app app db migrate`` and reviewed: timestamps use the plain
``DateTime(timezone=True)`` under ``app.database.UTCDateTime``; enumerated columns are
``VARCHAR`` with named CHECK constraints (no database enum, so a new product or role is a
constraint swap, identical on SQLite and PostgreSQL); every column the segment engine
filters on has an index.  The unique (organisation, email) and (organisation, phone)
indexes deduplicate contacts; NULLs are distinct in both databases, so a contact
without an email or phone never clashes on it.
"""

import sqlalchemy as sa
from alembic import op

revision = "c795352270e0"
down_revision = "a6c201b10e53"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("empty", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('organisations', 'contacts', 'subscriptions', 'consents', 'suppressions')",
            name=op.f("ck_import_jobs_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('uploaded', 'queued', 'running', 'completed', 'failed')",
            name=op.f("ck_import_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_import_jobs_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index(op.f("ix_import_jobs_created_at"), "import_jobs", ["created_at"])
    op.create_index(op.f("ix_import_jobs_created_by_id"), "import_jobs", ["created_by_id"])
    op.create_index(op.f("ix_import_jobs_file_sha256"), "import_jobs", ["file_sha256"])
    op.create_index(op.f("ix_import_jobs_kind"), "import_jobs", ["kind"])

    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("legal_name", sa.String(length=255), nullable=False),
        sa.Column("tax_id", sa.String(length=32), nullable=True),
        sa.Column("industry_code", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("employee_band", sa.String(length=16), nullable=False),
        sa.Column("revenue_band", sa.String(length=16), nullable=False),
        sa.Column("is_key_account", sa.Boolean(), nullable=False),
        sa.Column("account_manager_id", sa.Integer(), nullable=True),
        sa.Column("contract_start", sa.Date(), nullable=True),
        sa.Column("contract_end", sa.Date(), nullable=True),
        sa.Column("monthly_spend", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "employee_band IN ('1-9', '10-49', '50-249', '250-999', '1000+')",
            name=op.f("ck_organisations_employee_band"),
        ),
        sa.CheckConstraint(
            "revenue_band IN ('<1M', '1M-10M', '10M-50M', '50M-250M', '250M+')",
            name=op.f("ck_organisations_revenue_band"),
        ),
        sa.CheckConstraint(
            "monthly_spend >= 0", name=op.f("ck_organisations_monthly_spend_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["account_manager_id"],
            ["users.id"],
            name=op.f("fk_organisations_account_manager_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("external_id", name=op.f("uq_organisations_external_id")),
    )
    op.create_index(
        op.f("ix_organisations_account_manager_id"), "organisations", ["account_manager_id"]
    )
    op.create_index(op.f("ix_organisations_contract_end"), "organisations", ["contract_end"])
    op.create_index(op.f("ix_organisations_contract_start"), "organisations", ["contract_start"])
    op.create_index(op.f("ix_organisations_employee_band"), "organisations", ["employee_band"])
    op.create_index(op.f("ix_organisations_industry_code"), "organisations", ["industry_code"])
    op.create_index(op.f("ix_organisations_is_key_account"), "organisations", ["is_key_account"])
    op.create_index(op.f("ix_organisations_legal_name"), "organisations", ["legal_name"])
    op.create_index(op.f("ix_organisations_monthly_spend"), "organisations", ["monthly_spend"])
    op.create_index(op.f("ix_organisations_region"), "organisations", ["region"])
    op.create_index(op.f("ix_organisations_revenue_band"), "organisations", ["revenue_band"])
    op.create_index(op.f("ix_organisations_tax_id"), "organisations", ["tax_id"])

    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "channel IS NULL OR channel IN ('email', 'sms', 'webhook')",
            name=op.f("ck_suppressions_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_suppressions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("address", name=op.f("uq_suppressions_address")),
    )
    op.create_index(op.f("ix_suppressions_channel"), "suppressions", ["channel"])
    op.create_index(op.f("ix_suppressions_created_by"), "suppressions", ["created_by"])

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("job_title", sa.String(length=150), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("messenger_handle", sa.String(length=500), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('decision_maker', 'billing', 'technical', 'legal', 'other')",
            name=op.f("ck_contacts_role"),
        ),
        sa.CheckConstraint(
            "email IS NOT NULL OR phone IS NOT NULL OR messenger_handle IS NOT NULL",
            name=op.f("ck_contacts_reachable"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_contacts_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(op.f("ix_contacts_email"), "contacts", ["email"])
    op.create_index(op.f("ix_contacts_language"), "contacts", ["language"])
    op.create_index(op.f("ix_contacts_last_name"), "contacts", ["last_name"])
    op.create_index(op.f("ix_contacts_organisation_id"), "contacts", ["organisation_id"])
    op.create_index(op.f("ix_contacts_phone"), "contacts", ["phone"])
    op.create_index(op.f("ix_contacts_role"), "contacts", ["role"])
    op.create_index(op.f("ix_contacts_timezone"), "contacts", ["timezone"])
    op.create_index(
        "uq_contacts_organisation_email", "contacts", ["organisation_id", "email"], unique=True
    )
    op.create_index(
        "uq_contacts_organisation_phone", "contacts", ["organisation_id", "phone"], unique=True
    )

    op.create_table(
        "import_files",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_files_import_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_import_files")),
    )
    op.create_table(
        "import_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_rejections_import_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_rejections")),
    )
    op.create_index("ix_import_rejections_import_line", "import_rejections", ["import_id", "line"])

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("mrr", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(
            "product IN ('voice', 'mobile', 'internet', 'vpn', 'cloud', 'iot', "
            "'sms_gateway', 'data_center', 'security')",
            name=op.f("ck_subscriptions_product"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'cancelled', 'pending')",
            name=op.f("ck_subscriptions_status"),
        ),
        sa.CheckConstraint("mrr >= 0", name=op.f("ck_subscriptions_mrr_not_negative")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_subscriptions_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_mrr"), "subscriptions", ["mrr"])
    op.create_index(op.f("ix_subscriptions_organisation_id"), "subscriptions", ["organisation_id"])
    op.create_index(op.f("ix_subscriptions_product"), "subscriptions", ["product"])
    op.create_index(
        "ix_subscriptions_product_status_org",
        "subscriptions",
        ["product", "status", "organisation_id"],
    )
    op.create_index(op.f("ix_subscriptions_start_date"), "subscriptions", ["start_date"])
    op.create_index(op.f("ix_subscriptions_status"), "subscriptions", ["status"])
    op.create_index(
        "uq_subscriptions_organisation_product_start",
        "subscriptions",
        ["organisation_id", "product", "start_date"],
        unique=True,
    )

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'webhook')", name=op.f("ck_consents_channel")
        ),
        sa.CheckConstraint(
            "status IN ('granted', 'denied', 'withdrawn')", name=op.f("ck_consents_status")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consents_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        "ix_consents_channel_status_contact", "consents", ["channel", "status", "contact_id"]
    )
    op.create_index(
        "uq_consents_contact_channel", "consents", ["contact_id", "channel"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_consents_contact_channel", table_name="consents")
    op.drop_index("ix_consents_channel_status_contact", table_name="consents")

    op.drop_table("consents")
    op.drop_index("uq_subscriptions_organisation_product_start", table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_status"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_start_date"), table_name="subscriptions")
    op.drop_index("ix_subscriptions_product_status_org", table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_product"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_organisation_id"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_mrr"), table_name="subscriptions")

    op.drop_table("subscriptions")
    op.drop_index("ix_import_rejections_import_line", table_name="import_rejections")

    op.drop_table("import_rejections")
    op.drop_table("import_files")
    op.drop_index("uq_contacts_organisation_phone", table_name="contacts")
    op.drop_index("uq_contacts_organisation_email", table_name="contacts")
    op.drop_index(op.f("ix_contacts_timezone"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_role"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_phone"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_organisation_id"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_last_name"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_language"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_email"), table_name="contacts")

    op.drop_table("contacts")
    op.drop_index(op.f("ix_suppressions_created_by"), table_name="suppressions")
    op.drop_index(op.f("ix_suppressions_channel"), table_name="suppressions")

    op.drop_table("suppressions")
    op.drop_index(op.f("ix_organisations_tax_id"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_revenue_band"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_region"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_monthly_spend"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_legal_name"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_is_key_account"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_industry_code"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_employee_band"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_contract_start"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_contract_end"), table_name="organisations")
    op.drop_index(op.f("ix_organisations_account_manager_id"), table_name="organisations")

    op.drop_table("organisations")
    op.drop_index(op.f("ix_import_jobs_kind"), table_name="import_jobs")
    op.drop_index(op.f("ix_import_jobs_file_sha256"), table_name="import_jobs")
    op.drop_index(op.f("ix_import_jobs_created_by_id"), table_name="import_jobs")
    op.drop_index(op.f("ix_import_jobs_created_at"), table_name="import_jobs")

    op.drop_table("import_jobs")
