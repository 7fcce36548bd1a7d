"""Whole-log verification: every entry re-derived from the database, every anchored
root checked against the re-derived tree and against the chain.

Each problem is a :class:`Finding` naming the entry it is about, so ``flask --app app
audit verify-log`` can say which entry no longer matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.audit.models import ApprovalLogEntry, Checkpoint, CheckpointStatus
from app.audit.services import AuditConfigError, LogDomain, _chain_client, _hex, log_domain
from app.errors import AppError
from app.extensions import db
from ledger import eip712
from ledger.approval_record import validate_record
from ledger.errors import LedgerError, LedgerValueError
from ledger.merkle import MerkleLog, canonical_record, leaf_hash


@dataclass(frozen=True)
class Finding:
    """One result of :func:`verify_log`; ``entry_id`` names the entry a problem is about."""

    check: str
    ok: bool
    message: str
    entry_id: int | None = None

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "message": self.message,
            "entry_id": self.entry_id,
        }


@dataclass(frozen=True)
class LogReport:
    entries: int
    findings: tuple[Finding, ...]
    chain_checked: bool

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def bad_entries(self) -> list[int]:
        return sorted({f.entry_id for f in self.problems if f.entry_id is not None})

    def lines(self) -> list[str]:
        verdict = (
            "the approval log verifies"
            if self.ok
            else f"the approval log does NOT verify: {len(self.problems)} problem(s)"
            + (f", entries {', '.join(map(str, self.bad_entries))}" if self.bad_entries else "")
        )
        return [*(f.line() for f in self.findings), verdict]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "chain_checked": self.chain_checked,
            "bad_entries": self.bad_entries,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class _Row:
    id: int
    campaign_id: str
    decision: str
    stage: str
    record_json: str
    leaf_hash: str
    prev_entry_hash: str | None
    signature: str | None
    signer: str | None
    record: dict[str, Any] | None = None
    leaf: bytes = b""


@dataclass
class _Verifier:
    rows: list[_Row]
    domain: LogDomain | None
    findings: list[Finding] = field(default_factory=list)

    def problem(self, check: str, message: str, entry_id: int | None = None) -> None:
        self.findings.append(Finding(check, False, message, entry_id))

    def good(self, check: str, message: str) -> None:
        self.findings.append(Finding(check, True, message))


def verify_log(*, check_chain: bool = True) -> LogReport:
    """Re-derive every entry from the database and check the log against the chain.

    Per entry: its canonical record hashes to its stored leaf hash, the record is well
    formed and agrees with the row, its ``prev_entry_hash`` is its campaign's previous
    entry, its signature is its approver's.  Then every anchored checkpoint (database
    rows and, with ``check_chain``, every ``CheckpointAnchored`` size, read back with
    ``rootAt``) must equal the root of the re-derived log.  Each problem names its entry.
    """
    rows = [
        _Row(*row)
        for row in db.session.execute(
            select(
                ApprovalLogEntry.id,
                ApprovalLogEntry.campaign_id,
                ApprovalLogEntry.decision,
                ApprovalLogEntry.stage,
                ApprovalLogEntry.record_json,
                ApprovalLogEntry.leaf_hash,
                ApprovalLogEntry.prev_entry_hash,
                ApprovalLogEntry.signature,
                ApprovalLogEntry.signer,
            ).order_by(ApprovalLogEntry.id)
        ).all()
    ]
    try:
        domain: LogDomain | None = log_domain()
    except AuditConfigError:
        domain = None
    v = _Verifier(rows, domain)
    merkle = _verify_entries(v)
    _verify_db_checkpoints(v, merkle)
    if check_chain:
        _verify_chain(v, merkle)
    return LogReport(len(rows), tuple(v.findings), check_chain)


def _verify_entries(v: _Verifier) -> MerkleLog:
    merkle = MerkleLog()
    bad_before = len(v.findings)
    previous: dict[str, _Row] = {}
    signed = 0
    for expected, row in enumerate(v.rows):
        if row.id != expected:
            v.problem("sequence", f"entry {expected} is missing: entry {row.id} follows", expected)
        raw = row.record_json.encode("utf-8")
        row.leaf = leaf_hash(raw)
        merkle.append(row.leaf)
        where = f"entry {row.id}"
        if _hex(row.leaf) != row.leaf_hash:
            v.problem(
                "leaf_hash",
                f"{where}: its record hashes to {_hex(row.leaf)} but the row says "
                f"{row.leaf_hash}: the entry was edited",
                row.id,
            )
        try:
            parsed = json.loads(row.record_json)
            if canonical_record(parsed) != raw:
                v.problem(
                    "canonical", f"{where}: its record is not RFC 8785 canonical JSON", row.id
                )
            row.record = validate_record(parsed)
        except (ValueError, LedgerValueError) as exc:
            v.problem("record", f"{where}: its record is malformed ({exc})", row.id)
            continue
        record = row.record
        mismatched = [
            name
            for name, stored in (
                ("campaign_id", row.campaign_id),
                ("decision", row.decision),
                ("stage", row.stage),
                ("prev_entry_hash", row.prev_entry_hash),
            )
            if record[name] != stored
        ]
        if mismatched:
            v.problem(
                "columns",
                f"{where}: the row's {', '.join(mismatched)} no longer match its record",
                row.id,
            )
        before = previous.get(record["campaign_id"])
        expected_prev = _hex(before.leaf) if before else None
        if record["prev_entry_hash"] != expected_prev:
            named = f"entry {before.id}" if before else "no earlier entry"
            v.problem(
                "campaign_chain",
                f"{where}: it names {record['prev_entry_hash']} as campaign "
                f"{record['campaign_id']}'s previous entry, but {named} "
                f"{'hashes to ' + str(expected_prev) if before else 'exists'}: "
                f"{where} or {named} was changed",
                row.id,
            )
        previous[record["campaign_id"]] = row
        signed += _verify_signature(v, row, record)
    if len(v.findings) == bad_before:
        v.good(
            "entries",
            f"{len(v.rows)} entries re-derived: leaf hashes, canonical records, "
            f"campaign hash chains and {signed} approver signatures",
        )
    return merkle


def _verify_signature(v: _Verifier, row: _Row, record: dict[str, Any]) -> int:
    approver = record["approver_address"]
    where = f"entry {row.id}"
    if approver is None:
        if row.signature:
            v.problem("signature", f"{where}: signed, but its record names no approver", row.id)
        return 0
    if not row.signature:
        v.problem("signature", f"{where}: its approver {approver} did not sign it", row.id)
        return 0
    if v.domain is None:
        v.problem(
            "signature",
            f"{where}: the signature cannot be checked: no ApprovalLog deployed",
            row.id,
        )
        return 0
    try:
        recovered = eip712.recover_signer(
            record, row.signature, v.domain.chain_id, v.domain.contract
        )
    except LedgerValueError as exc:
        v.problem("signature", f"{where}: {exc}", row.id)
        return 0
    if recovered != approver or (row.signer and row.signer != recovered):
        v.problem(
            "signature",
            f"{where}: the signature recovers to {recovered}, not to its approver {approver}",
            row.id,
        )
        return 0
    return 1


# Findings that show the entry itself changed (a broken campaign chain may only point at
# the entry before it).
_SELF_EVIDENT = ("sequence", "leaf_hash", "canonical", "record", "columns", "signature")


def _suspects(v: _Verifier, low: int, high: int) -> str:
    """The entries in [low, high) already found changed, else the range itself."""
    for checks in (_SELF_EVIDENT, None):
        named = sorted(
            {
                f.entry_id
                for f in v.findings
                if f.entry_id is not None
                and not f.ok
                and low <= f.entry_id < high
                and (checks is None or f.check in checks)
            }
        )
        if named:
            return "entr" + ("y " if len(named) == 1 else "ies ") + ", ".join(map(str, named))
    return f"one of entries {low}..{high - 1}"


def _verify_db_checkpoints(v: _Verifier, merkle: MerkleLog) -> None:
    anchored = db.session.scalars(
        select(Checkpoint)
        .where(Checkpoint.status == CheckpointStatus.ANCHORED.value)
        .order_by(Checkpoint.tree_size)
    ).all()
    good_size = 0
    bad = 0
    for checkpoint in anchored:
        size = checkpoint.tree_size
        if size > merkle.size:
            v.problem(
                "checkpoint",
                f"checkpoint {size} (tx {checkpoint.tx_hash}) covers entries the database "
                f"no longer has (it holds {merkle.size}): entries were deleted",
            )
            bad += 1
            continue
        if _hex(merkle.root(size)) != checkpoint.root:
            v.problem(
                "checkpoint",
                f"the log's first {size} entries hash to {_hex(merkle.root(size))}, not to "
                f"the root {checkpoint.root} recorded when they were anchored: "
                f"{_suspects(v, good_size, size)} changed",
            )
            bad += 1
        else:
            good_size = size
    if anchored and not bad:
        v.good("checkpoints", f"{len(anchored)} recorded checkpoints match the log's roots")


def _verify_chain(v: _Verifier, merkle: MerkleLog) -> None:
    try:
        _chain, client, domain = _chain_client()
        events = client.events(from_block=domain.deploy_block)
        good_size = 0
        bad = 0
        for anchored in events:
            size = anchored.size
            onchain = client.root_at(size)
            if size > merkle.size:
                v.problem(
                    "chain",
                    f"the chain anchored {size} entries in {anchored.tx_hash} but the "
                    f"database holds {merkle.size}: entries were deleted",
                )
                bad += 1
            elif merkle.root(size) != onchain:
                v.problem(
                    "chain",
                    f"the log's first {size} entries hash to {_hex(merkle.root(size))} but the "
                    f"chain anchored {_hex(onchain)} in {anchored.tx_hash}: "
                    f"{_suspects(v, good_size, size)} changed",
                )
                bad += 1
            else:
                good_size = size
        recorded = db.session.scalars(
            select(Checkpoint).where(Checkpoint.status == CheckpointStatus.ANCHORED.value)
        ).all()
        sizes = {e.size for e in events}
        for checkpoint in recorded:
            if checkpoint.tree_size not in sizes:
                v.problem(
                    "chain",
                    f"the database says {checkpoint.tree_size} entries were anchored in "
                    f"{checkpoint.tx_hash}, but the chain has no such checkpoint",
                )
                bad += 1
        if not bad:
            latest = max(sizes) if sizes else 0
            v.good(
                "chain",
                f"{len(events)} checkpoints on chain {domain.chain_id} at {domain.contract} "
                f"match the log (latest: {latest} of {merkle.size} entries)",
            )
    except (LedgerError, AppError) as exc:
        message = exc.message if isinstance(exc, AppError) else str(exc)
        v.problem("chain", f"the chain could not be checked: {message}")
