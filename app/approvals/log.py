"""The one seam between the approval workflow and the approval log (:mod:`app.audit`).

A decision becomes a record (:func:`app.audit.services.new_record` fills in the
previous entry hash of the campaign, the salt and the schema), is signed with EIP-712 by
the approver's unlocked key when there is one (:func:`app.audit.services.sign_record`
over :func:`~app.audit.services.decision_typed_data`), and is appended in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from app.audit import services as audit
from app.audit.models import ApprovalLogEntry


@dataclass(frozen=True)
class LoggedDecision:
    entry: ApprovalLogEntry
    record: dict[str, Any]
    signature: str | None


def log_decision(fields: Mapping[str, Any], *, account: LocalAccount | None) -> LoggedDecision:
    """Append one decision to the approval log (not committed: the caller's transaction)."""
    record = audit.new_record(**fields)
    signature = audit.sign_record(account, record) if account is not None else None
    entry = audit.append_entry(
        record, signature=signature, signer=account.address if account is not None else None
    )
    return LoggedDecision(entry, record, signature)


def entry(entry_id: int) -> ApprovalLogEntry | None:
    from app.extensions import db

    return db.session.get(ApprovalLogEntry, entry_id)


__all__ = ["LoggedDecision", "entry", "log_decision"]
