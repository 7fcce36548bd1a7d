"""Shared helpers of the approval-log tests: decisions to log, and apps with a deployed log.

:func:`deployed_app` builds an app on its own embedded chain (or on the chain URL given),
runs the ``init`` chain setup (contracts, then the anchoring key admitted with ANCHORER)
and turns automatic anchoring off unless asked.  :func:`log_decision` appends one
decision the way the approvals feature does: record, EIP-712 signature, append, commit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from flask import Flask

APPROVERS = [Account.from_key(keccak(text=f"audit test approver {i}")) for i in range(3)]
SNAPSHOT_ROOT = "0x" + keccak(text="snapshot").hex()


def decision(
    campaign: int | str,
    decision: str = "approve",
    *,
    approver: LocalAccount | None = None,
    stage: str = "marketing",
    **overrides: Any,
) -> dict[str, Any]:
    """The fields :func:`app.audit.services.new_record` takes for one decision."""
    fields: dict[str, Any] = {
        "campaign_id": campaign,
        "campaign_version": 1,
        "content_hash": keccak(text=f"content of {campaign}"),
        "segment_version": 1,
        "segment_definition_hash": keccak(text="segment definition"),
        "snapshot_count": 3,
        "snapshot_root": SNAPSHOT_ROOT,
        "stage": stage,
        "decision": decision,
        "approver_id": "1",
        "approver_address": approver.address if approver else None,
        "policy_version": 1,
        "expires_at": None,
    }
    fields.update(overrides)
    return fields


def log_decision(approver: LocalAccount | None = None, **kwargs: Any) -> int:
    """Append one decision and commit (inside an app context); returns the entry id."""
    from app.audit import services
    from app.extensions import db

    campaign = kwargs.pop("campaign", 1)
    record = services.new_record(**decision(campaign, approver=approver, **kwargs))
    signature = services.sign_record(approver, record) if approver else None
    entry = services.append_entry(
        record, signature=signature, signer=approver.address if approver else None
    )
    db.session.commit()
    return int(entry.id)


def deployed_app(make_app: Callable[..., Flask], tmp_path: Path, **overrides: Any) -> Flask:
    """An app whose chain has the contracts and an anchoring key (as ``init`` leaves it)."""
    from app.chain_setup import ensure_contracts

    settings: dict[str, Any] = {
        "CHAIN_URL": f"embedded://{tmp_path / 'instance' / 'chain.db'}",
        "ANCHOR_EVERY_ENTRIES": 0,
        **overrides,
    }
    app = make_app(**settings)
    report = ensure_contracts(app)
    assert report.anchorer is not None and report.anchorer.problem is None, report.anchorer
    return app
