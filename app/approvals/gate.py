"""The dispatch gate: may this campaign start sending, right now?

:func:`check_dispatch_gate` answers from the approval log's records (the evidence), not
from the workflow's working rows, and re-checks them against the chain at the moment it
is called.  A campaign passes only when all of these hold:

``approved``
    every applying stage of the open submission has its quorum of approvals in the log,
    no rejection or invalidation followed, and no approval is by one of the makers;
``revoked``
    no approval that the quorum needs was revoked;
``expired``
    no approval that the quorum needs has expired;
``hashes``
    the logged content hash, segment definition hash, snapshot count and Merkle root
    still equal what is recomputed from the database rows now (the campaign version's
    columns and the snapshot's members), the decision rows still say what their log
    records say, and every signature recovers to its approver;
``anchored``
    after anchoring on demand (:func:`app.audit.services.anchor_now`), the final
    approval's entry, as stored now, is proven into the root the ApprovalLog contract
    holds.

Each failure is one line starting with the check's name, e.g.
``"expired: stage 'compliance': the approval by Clara (log entry 7) expired at ..."``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.approvals import services
from app.approvals.models import ApprovalDecision, Decision, Submission, SubmissionStatus
from app.approvals.policy import ResolvedStage
from app.audit import services as audit
from app.audit.models import ApprovalLogEntry
from app.campaigns import recipients
from app.campaigns.content import recompute_content_hash
from app.campaigns.models import Campaign, CampaignVersion
from app.database import utcnow
from app.errors import AppError, ConflictError, NotFoundError
from app.extensions import db
from ledger import eip712
from ledger.approval_record import parse_time
from ledger.errors import LedgerError

CHECKS = ("approved", "revoked", "expired", "hashes", "anchored")


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: ``ok`` only when ``failures`` is empty."""

    ok: bool
    failures: list[str]
    campaign_id: int = 0
    submission_id: int | None = None
    final_entry_id: int | None = None
    checked_at: datetime | None = None
    failed_checks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failures": list(self.failures),
            "failed_checks": list(self.failed_checks),
            "campaign_id": self.campaign_id,
            "submission_id": self.submission_id,
            "final_entry_id": self.final_entry_id,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }


@dataclass
class _Logged:
    entry: ApprovalLogEntry
    record: dict[str, Any]


@dataclass
class _Gate:
    campaign_id: int
    failures: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, check: str, message: str) -> None:
        self.failures.append((check, f"{check}: {message}"))

    def result(
        self, submission: Submission | None = None, final_entry: int | None = None
    ) -> GateResult:
        return GateResult(
            ok=not self.failures,
            failures=[m for _, m in self.failures],
            campaign_id=self.campaign_id,
            submission_id=submission.id if submission else None,
            final_entry_id=final_entry,
            checked_at=utcnow(),
            failed_checks=tuple(dict.fromkeys(c for c, _ in self.failures)),
        )


def _entries_since_submit(submission: Submission) -> list[_Logged] | None:
    submit_row = next(
        (d for d in submission.decisions if d.decision == Decision.SUBMIT.value), None
    )
    if submit_row is None:
        return None
    rows = db.session.scalars(
        select(ApprovalLogEntry)
        .where(
            ApprovalLogEntry.campaign_id == str(submission.campaign_id),
            ApprovalLogEntry.id >= submit_row.log_entry_id,
        )
        .order_by(ApprovalLogEntry.id)
    ).all()
    logged: list[_Logged] = []
    for entry in rows:
        try:
            record = json.loads(entry.record_json)
        except ValueError:
            record = {}
        logged.append(_Logged(entry, record))
    return logged


def _who(user_id: str, names: dict[int, str]) -> str:
    return names.get(int(user_id), f"user {user_id}") if user_id.isdigit() else user_id


def check_dispatch_gate(campaign_id: int, *, now: datetime | None = None) -> GateResult:
    """Whether campaign ``campaign_id`` may start sending now; every failed check named.

    Anchors pending log entries first (on demand, before a dispatch) and checks the final
    approval against the chain.  ``now`` (default: the current time) is the moment expiry
    is judged at.  Never raises for a failed check; raises NotFoundError for an unknown
    campaign.
    """
    gate = _Gate(campaign_id)
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"no campaign with id {campaign_id}")
    submission = services.open_submission(campaign_id)
    if submission is None:
        latest = services.latest_submission(campaign_id)
        state = latest.status if latest else "never submitted"
        gate.fail(
            "approved",
            f"campaign {campaign_id} has no submission in review (last: {state}); "
            "submit it and have it approved",
        )
        return gate.result()
    logged = _entries_since_submit(submission)
    if not logged or logged[0].record.get("decision") != Decision.SUBMIT.value:
        gate.fail(
            "hashes",
            f"the submit entry of submission {submission.id} is missing from the approval log; "
            "the database was edited: run `flask --app app audit verify-log`",
        )
        return gate.result(submission)

    counted = _check_stages(gate, submission, logged, now or utcnow())
    _check_rows(gate, submission, logged)
    _check_hashes(gate, submission, [logged[0], *counted])
    _check_signatures(
        gate,
        [item for item in logged if item.entry.signature or item.record.get("approver_address")],
    )
    final = max(counted, key=lambda item: item.entry.id) if counted else None
    if final is not None and not gate.failures:
        _check_anchored(gate, final.entry)
    return gate.result(submission, final.entry.id if final else None)


def _check_stages(
    gate: _Gate, submission: Submission, logged: list[_Logged], now: datetime
) -> list[_Logged]:
    """Evaluate every applying stage from the log; returns the approvals that count."""
    makers = {str(m) for m in services._makers(submission.campaign_version)}
    names = {
        u.id: u.display_name
        for u in services.users_by_id([d.user_id for d in submission.decisions]).values()
    }
    for item in logged[1:]:
        decision = item.record.get("decision")
        if decision in (Decision.REJECT.value, Decision.INVALIDATE.value):
            gate.fail(
                "approved",
                f"the submission was {decision}d in log entry {item.entry.id}; "
                "edit and submit the campaign again",
            )
            return []
    counted: list[_Logged] = []
    for data in submission.stages:
        stage = ResolvedStage.from_json(data)
        if not stage.applies:
            continue
        required = int(data.get("required") or stage.quorum or 1)
        live: dict[str, _Logged] = {}
        revoked: list[tuple[_Logged, _Logged]] = []
        for item in logged[1:]:
            record = item.record
            if record.get("stage") != stage.name:
                continue
            approver = str(record.get("approver_id"))
            if record.get("decision") == Decision.APPROVE.value:
                live[approver] = item
            elif record.get("decision") == Decision.REVOKE.value and approver in live:
                revoked.append((live.pop(approver), item))
        expired: list[_Logged] = []
        valid: list[_Logged] = []
        for approver, item in live.items():
            if approver in makers:
                gate.fail(
                    "approved",
                    f"stage {stage.name!r}: log entry {item.entry.id} is an approval by "
                    f"{_who(approver, names)}, one of the campaign's makers",
                )
                continue
            expires = item.record.get("expires_at")
            if expires is None or parse_time(expires) <= now:
                expired.append(item)
            else:
                valid.append(item)
        counted.extend(valid)
        if len(valid) >= required:
            continue
        for approval, revoke in revoked:
            gate.fail(
                "revoked",
                f"stage {stage.name!r}: the approval by "
                f"{_who(str(approval.record.get('approver_id')), names)} (log entry "
                f"{approval.entry.id}) was revoked in log entry {revoke.entry.id}",
            )
        for item in expired:
            gate.fail(
                "expired",
                f"stage {stage.name!r}: the approval by "
                f"{_who(str(item.record.get('approver_id')), names)} (log entry "
                f"{item.entry.id}) expired at {item.record.get('expires_at')}; "
                "it must be given again",
            )
        if not revoked and not expired:
            missing = required - len(valid)
            gate.fail(
                "approved",
                f"stage {stage.name!r} needs {missing} more approval(s) from {stage.who}",
            )
    return counted


def _check_rows(gate: _Gate, submission: Submission, logged: list[_Logged]) -> None:
    """The workflow's decision rows must still say what their log records say."""
    by_entry = {item.entry.id: item for item in logged}
    for row in submission.decisions:
        item = by_entry.get(row.log_entry_id)
        if item is None:
            gate.fail(
                "hashes",
                f"decision {row.id} ({row.decision}) points at log entry {row.log_entry_id}, "
                "which is not this submission's: the database was edited",
            )
            continue
        mismatched = _row_mismatches(row, item.record)
        if mismatched:
            gate.fail(
                "hashes",
                f"decision {row.id} ({row.decision}) no longer matches its log entry "
                f"{item.entry.id} ({', '.join(mismatched)}): the database was edited",
            )
    rows = {d.log_entry_id for d in submission.decisions}
    for item in logged:
        if item.entry.id not in rows:
            gate.fail(
                "hashes",
                f"log entry {item.entry.id} ({item.record.get('decision')}) has no decision row: "
                "the database was edited",
            )


def _row_mismatches(row: ApprovalDecision, record: dict[str, Any]) -> list[str]:
    def time(value: datetime | None) -> str | None:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

    pairs = (
        ("decision", row.decision, record.get("decision")),
        ("stage", row.stage_name, record.get("stage")),
        ("approver_id", str(row.user_id), record.get("approver_id")),
        ("approver_address", row.approver_address, record.get("approver_address")),
        ("decided_at", time(row.decided_at), record.get("decided_at")),
        ("expires_at", time(row.expires_at), record.get("expires_at")),
    )
    return [name for name, stored, logged in pairs if stored != logged]


def _check_hashes(gate: _Gate, submission: Submission, items: list[_Logged]) -> None:
    version: CampaignVersion = submission.campaign_version
    content = recompute_content_hash(version)
    try:
        now = recipients.recompute_snapshot(submission.snapshot_id)
    except AppError as exc:
        gate.fail("hashes", f"the recipient snapshot cannot be recomputed: {exc.message}")
        return
    expected = {
        "campaign_version": version.number,
        "content_hash": content,
        "segment_version": now.segment_version_id,
        "segment_definition_hash": now.definition_hash,
        "snapshot_count": now.count,
        "snapshot_root": now.root,
        "policy_version": submission.policy_version_id,
    }
    if content != version.content_hash:
        gate.fail(
            "hashes",
            f"campaign version {version.number}'s content hashes to {content}, not to its "
            f"stored {version.content_hash}: the content was edited in the database",
        )
    for item in items:
        wrong = [name for name, value in expected.items() if item.record.get(name) != value]
        if wrong:
            details = "; ".join(
                f"{name} logged {item.record.get(name)}, now {expected[name]}" for name in wrong
            )
            gate.fail(
                "hashes",
                f"log entry {item.entry.id} ({item.record.get('decision')}) no longer matches "
                f"the stored campaign and recipients: {details}",
            )


def _check_signatures(gate: _Gate, items: list[_Logged]) -> None:
    if not items:
        return
    try:
        domain = audit.log_domain()
    except AppError as exc:
        gate.fail("hashes", f"signatures cannot be checked: {exc.message}")
        return
    for item in items:
        approver = item.record.get("approver_address")
        signature = item.entry.signature
        if not signature or not approver:
            gate.fail("hashes", f"log entry {item.entry.id} is not signed by its approver")
            continue
        if not eip712.verify_decision(item.record, signature, domain.chain_id, domain.contract):
            gate.fail(
                "hashes",
                f"the signature of log entry {item.entry.id} does not recover to its approver "
                f"{approver}: the entry or its signature was edited",
            )


def _check_anchored(gate: _Gate, final: ApprovalLogEntry) -> None:
    try:
        audit.anchor_now()
        status = audit.entry_status(final.id)
    except AppError as exc:
        gate.fail(
            "anchored",
            f"the final approval (log entry {final.id}) cannot be anchored: {exc.message}",
        )
        return
    except LedgerError as exc:
        gate.fail("anchored", f"the chain cannot be checked: {exc}")
        return
    if not status.anchored:
        gate.fail(
            "anchored",
            f"the final approval (log entry {final.id}) is not in an anchored checkpoint: "
            f"{status.reason}",
        )


# -- what dispatch sends --------------------------------------------------------------------


def _approved_submission(campaign_id: int) -> Submission:
    submission = services.open_submission(campaign_id)
    if submission is None:
        raise ConflictError(
            f"campaign {campaign_id} has no approved submission; check_dispatch_gate says why"
        )
    if (
        submission.status == SubmissionStatus.OPEN.value
        and not services.submission_state(submission).approved
    ):
        raise ConflictError(
            f"campaign {campaign_id} is not approved yet; check_dispatch_gate says what is missing"
        )
    return submission


def approved_snapshot(campaign_id: int) -> Any:
    """The recipient snapshot (``app.segments`` model) that was approved for the campaign:
    dispatch sends to exactly its members.  ConflictError when nothing is approved."""
    return recipients.get_snapshot(_approved_submission(campaign_id).snapshot_id)


def approved_version(campaign_id: int) -> CampaignVersion:
    """The campaign version that was approved: dispatch renders exactly this one."""
    version: CampaignVersion = _approved_submission(campaign_id).campaign_version
    return version


__all__ = ["CHECKS", "GateResult", "approved_snapshot", "approved_version", "check_dispatch_gate"]
