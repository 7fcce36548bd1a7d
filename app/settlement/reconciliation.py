"""Reconciling an operator's billing export in the web app.

The operator uploads its export (the columns of :mod:`ledger.reconcile`); the file is
kept (:class:`~app.settlement.models.BillingUpload`) so the report can be shown,
downloaded as CSV or JSON and applied later.  The report is computed from the index on
each view (:func:`report_for`): :func:`ledger.reconcile.reconcile` against the member's
indexed obligations in the periods the file covers, so it reflects the ledger as last
synced.  :func:`apply_upload` unlocks the member's key and proposes the missing,
confirms the matched and disputes the mismatched obligations, in batches.
"""

from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from app.accounts.models import User
from app.database import utcnow
from app.errors import NotFoundError, ValidationError
from app.extensions import db
from app.settlement import indexer, keys, queries, services
from app.settlement.models import BillingUpload
from app.settlement.onchain import contracts
from ledger.errors import LedgerValueError
from ledger.reconcile import (
    ApplyResult,
    ReconciliationReport,
    Tolerance,
    apply_reconciliation,
    planned_actions,
    read_billing_csv,
    reconcile,
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def parse_tolerance(absolute: str | int | None, percent: str | float | None) -> Tolerance:
    """A tolerance from form or JSON values: minor units, and a percentage."""
    abs_text = str(absolute if absolute is not None else "").strip() or "0"
    pct_text = str(percent if percent is not None else "").strip() or "0"
    if not (abs_text.isascii() and abs_text.isdigit()):
        raise ValidationError(
            f"absolute tolerance {abs_text!r} must be a whole number of minor units (cents)",
            details={"tolerance_abs": abs_text},
        )
    try:
        pct = Decimal(pct_text)
    except InvalidOperation:
        raise ValidationError(
            f"tolerance {pct_text!r} % is not a number; give e.g. 0.5",
            details={"tolerance_pct": pct_text},
        ) from None
    try:
        return Tolerance(int(abs_text), pct)
    except LedgerValueError as exc:
        raise ValidationError(str(exc), details={"tolerance_pct": pct_text}) from None


def upload_billing(
    user: User, filename: str, content: bytes, tolerance: Tolerance
) -> BillingUpload:
    """Keep an uploaded billing export of ``user``'s member and commit."""
    viewer = queries.viewer_of(user)
    if not content:
        raise ValidationError(
            "the billing file is empty; choose the CSV export of your billing system",
            details={"file": "empty"},
        )
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"the billing file has {len(content)} bytes, over the limit of {MAX_UPLOAD_BYTES}; "
            "split it by period",
            details={"file": "too large"},
        )
    text = content.decode("utf-8-sig", errors="replace")
    upload = BillingUpload(
        user_id=user.id,
        member=viewer.member,
        filename=(filename or "billing.csv")[:255],
        content=text,
        tolerance_abs=tolerance.absolute,
        tolerance_pct=str(tolerance.percent),
        created_at=utcnow(),
    )
    # A file missing a required column is refused now, not at every view.
    read_billing_csv(io.StringIO(text), viewer.member, services.partner_directory())
    db.session.add(upload)
    db.session.commit()
    return upload


def uploads_of(user: User) -> list[BillingUpload]:
    return list(
        db.session.scalars(
            select(BillingUpload)
            .where(BillingUpload.user_id == user.id)
            .order_by(BillingUpload.id.desc())
        )
    )


def get_upload(user: User, upload_id: int) -> BillingUpload:
    upload = db.session.get(BillingUpload, upload_id)
    if upload is None or upload.user_id != user.id:
        raise NotFoundError(f"no billing upload {upload_id} among yours")
    return upload


def tolerance_of(upload: BillingUpload) -> Tolerance:
    return Tolerance(upload.tolerance_abs, Decimal(upload.tolerance_pct))


def report_for(upload: BillingUpload) -> ReconciliationReport:
    """The upload reconciled against the index (the member's obligations in its periods)."""
    directory = services.partner_directory()
    billing = read_billing_csv(io.StringIO(upload.content), upload.member, directory)
    ledger = queries.ledger_entries_of(upload.member, billing.periods)
    return reconcile(
        billing.lines,
        ledger,
        upload.member,
        tolerance=tolerance_of(upload),
        periods=billing.periods,
        rejected=billing.rejected,
        partner_names=directory.name,
    )


def apply_upload(user: User, password: str, upload_id: int) -> ApplyResult:
    """Act on the report with the member's key: propose, confirm, dispute (batches)."""
    upload = get_upload(user, upload_id)
    services.require_operator(user)
    indexer.sync_ledger()
    report = report_for(upload)
    client = contracts().settlement
    directory = services.partner_directory()
    actions = planned_actions(client, report, inactive=directory.inactive)
    account = keys.unlock(user, password)
    references = {
        item.billing.obligation(upload.member).id: item.billing.reference
        for item in report.items
        if item.billing is not None and item.label.value == "missing_on_ledger"
    }
    for obligation in actions.propose:
        if obligation.id in references:
            services.remember_reference(references[obligation.id])
    db.session.commit()
    result = apply_reconciliation(client, account, report, actions=actions)
    upload.applied_at = utcnow()
    upload.applied_summary = _summary(result)
    db.session.commit()
    indexer.refresh_index()
    return result


def _summary(result: ApplyResult) -> dict[str, Any]:
    return {
        "proposed": len(result.actions.propose),
        "confirmed": len(result.actions.confirm),
        "disputed": len(result.actions.dispute),
        "skipped": [s.to_json() for s in result.actions.skipped],
    }
