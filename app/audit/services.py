"""The approval log's rules: appending entries, anchoring them, proving and verifying them.

For the campaigns and approvals features:

* :func:`new_record` builds a decision's record (previous-entry hash, salt and time
  filled in, the field set checked) and :func:`decision_typed_data` the EIP-712 typed
  data the approver's key signs (:func:`sign_record` does it with an unlocked key);
* :func:`append_entry` adds the signed record to the log *inside the caller's
  transaction* (it flushes, never commits), safe under concurrency;
* :func:`anchor_now` anchors everything pending before a dispatch, :func:`is_anchored`
  and :func:`entry_status` check an entry against the chain, :func:`entry_proof` gives
  its inclusion proof.

Anchoring goes through an outbox (:class:`~app.audit.models.Checkpoint` rows in status
``pending``): :func:`anchor_pending` reads the last checkpoint from the chain, proves the
new tree extends it, and sends the anchoring transaction; when the chain cannot be
reached the attempt, its error and the next attempt time (exponential backoff) are
recorded and nothing is lost.  :func:`verify_log` re-derives the whole log from the
database and checks it against every root anchored on-chain; :func:`evidence_for` and
:func:`recipient_evidence` export the bundles ``ledgerline audit verify`` checks.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from eth_account.signers.local import LocalAccount
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.audit.models import ApprovalLogEntry, Checkpoint, CheckpointStatus, LogHead
from app.database import utcnow
from app.errors import AppError, ConflictError, NotFoundError, ValidationError
from app.extensions import db
from ledger import eip712
from ledger._utils.addresses import to_address
from ledger.approval_log import ApprovalLogClient, check_extends
from ledger.approval_record import canonical_bytes, make_record, validate_record
from ledger.chain import Chain
from ledger.errors import LedgerError, LedgerValueError
from ledger.evidence import AnchorInfo, build_approval_evidence, build_recipient_evidence
from ledger.merkle import MerkleLog, leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from app.audit.verification import LogReport

log = logging.getLogger(__name__)

APPROVAL_LOG = "ApprovalLog"
_ANCHOR_AFTER_COMMIT = "ledgerline.audit.anchor_after_commit"
_HEAD_ID = 1
ANCHOR_TASK = "ledgerline.audit.anchor_pending"


# -- errors ----------------------------------------------------------------------------------


class LogConflictError(ConflictError):
    """The record names a previous entry that is no longer its campaign's latest."""

    code = "log_conflict"


class NotAnchoredError(ConflictError):
    code = "not_anchored"


class LogIntegrityError(AppError):
    """The stored log contradicts itself or the chain: an entry was changed or lost."""

    status_code = 409
    code = "log_integrity"


class AnchoringFailedError(AppError):
    status_code = 503
    code = "anchoring_failed"


class AuditConfigError(AppError):
    status_code = 503
    code = "audit_not_configured"


# -- the EIP-712 domain ------------------------------------------------------------------------


@dataclass(frozen=True)
class LogDomain:
    """Where the log is anchored, which is also the EIP-712 domain of its signatures."""

    chain_id: int
    contract: str
    deploy_block: int = 0


def log_domain() -> LogDomain:
    """The chain id and ApprovalLog address recorded in the app's deployment file.

    Read from the file alone (no chain connection), so approvers can sign while the
    chain is down; anchoring and verification check the chain itself.
    """
    path = Path(current_app.config["DEPLOYMENT_FILE"])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data["contracts"][APPROVAL_LOG]
        return LogDomain(
            int(data["chainId"]),
            to_address(entry["address"], "ApprovalLog address"),
            int(entry.get("blockNumber", 0)),
        )
    except FileNotFoundError:
        raise AuditConfigError(
            f"no contracts are deployed ({path} does not exist); run `flask --app app init`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, LedgerValueError) as exc:
        raise AuditConfigError(
            f"the deployment file {path} records no ApprovalLog ({exc}); run `flask --app app init`"
        ) from None


def _chain_client() -> tuple[Chain, ApprovalLogClient, LogDomain]:
    from app.extensions import chain as chain_ext
    from ledger.deploy import load_deployment

    chain = chain_ext.get()
    deployment = load_deployment(chain, Path(current_app.config["DEPLOYMENT_FILE"]))
    recorded = deployment.contracts.get(APPROVAL_LOG)
    if recorded is None:
        raise AuditConfigError(
            f"ApprovalLog is not deployed on chain {chain.chain_id}; run `flask --app app init`"
        )
    client = ApprovalLogClient(chain, recorded.address)
    return chain, client, LogDomain(chain.chain_id, client.address, recorded.block_number)


# -- records and signatures --------------------------------------------------------------------


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def latest_entry_hash(campaign_id: str) -> str | None:
    """The leaf hash of the campaign's latest entry, None before its first."""
    query = (
        select(ApprovalLogEntry.leaf_hash)
        .where(ApprovalLogEntry.campaign_id == str(campaign_id))
        .order_by(ApprovalLogEntry.id.desc())
        .limit(1)
    )
    return db.session.scalar(query)


def new_record(**fields: Any) -> dict[str, Any]:
    """A decision's record, ready to sign and append.

    Give every field of :data:`ledger.approval_record.RECORD_FIELDS` except
    ``prev_entry_hash`` (the campaign's latest entry, read here), ``salt`` (32 random
    bytes) and ``schema``; ``decided_at`` defaults to now.  Integer ids become strings,
    hashes may be bytes, times aware datetimes.  A missing, extra or malformed field is
    a ValidationError naming it.
    """
    for name in ("prev_entry_hash", "salt", "schema"):
        if name in fields:
            raise ValidationError(
                f"{name} is filled in by new_record; leave it out", details={name: "generated"}
            )
    campaign = fields.get("campaign_id")
    previous = latest_entry_hash(str(campaign)) if campaign is not None else None
    try:
        return make_record({**fields, "prev_entry_hash": previous})
    except LedgerValueError as exc:
        raise ValidationError(str(exc)) from None


def decision_typed_data(record: Mapping[str, Any]) -> dict[str, Any]:
    """The EIP-712 typed data the record's approver signs (domain: this app's ApprovalLog)."""
    domain = log_domain()
    try:
        return eip712.decision_typed_data(record, domain.chain_id, domain.contract)
    except LedgerValueError as exc:
        raise ValidationError(str(exc)) from None


def sign_record(account: LocalAccount, record: Mapping[str, Any]) -> str:
    """The approver's EIP-712 signature of ``record`` with their unlocked key."""
    domain = log_domain()
    try:
        return eip712.sign_decision(account, record, domain.chain_id, domain.contract)
    except LedgerValueError as exc:
        raise ValidationError(str(exc)) from None


def _checked_signature(
    record: Mapping[str, Any], signature: str | None, signer: str | None
) -> str | None:
    """The signer's address once the signature is the approver's; None for unsigned entries."""
    approver = record["approver_address"]
    if approver is None:
        if signature or signer:
            raise ValidationError(
                "the record names no approver_address, so it cannot carry a signature; "
                "set the approver's address or drop the signature"
            )
        return None
    if not signature:
        raise ValidationError(
            f"the {record['decision']} by {approver} must be signed with the approver's key "
            "(sign decision_typed_data(record) with EIP-712)",
            details={"signature": "required"},
        )
    domain = log_domain()
    try:
        recovered = eip712.recover_signer(record, signature, domain.chain_id, domain.contract)
        claimed = to_address(signer, "signer") if signer else recovered
    except LedgerValueError as exc:
        raise ValidationError(str(exc), details={"signature": "malformed"}) from None
    if recovered != approver:
        raise ValidationError(
            f"the signature was made by {recovered}, not by the approver {approver}; "
            "sign with the approver's own key",
            details={"signature": "not the approver's"},
        )
    if claimed != recovered:
        raise ValidationError(f"signer {claimed} did not make this signature ({recovered} did)")
    return recovered


# -- appending ---------------------------------------------------------------------------------


def _lock_head() -> int:
    """Lock the head row for this transaction and return the log's size.

    The insert (a no-op once the row exists) takes SQLite's write lock; PostgreSQL's
    ``SELECT … FOR UPDATE`` holds the row until the caller commits or rolls back.
    """
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(LogHead).values(id=_HEAD_ID, size=0).on_conflict_do_nothing(index_elements=["id"])
    )
    size = db.session.scalar(select(LogHead.size).where(LogHead.id == _HEAD_ID).with_for_update())
    return int(size or 0)


def append_entry(
    record: Mapping[str, Any], *, signature: str | None, signer: str | None
) -> ApprovalLogEntry:
    """Append ``record`` to the log in the caller's transaction (flushed, not committed).

    The record must be complete (:func:`new_record`); if it names an approver address,
    ``signature`` must be that approver's EIP-712 signature of it.  Its
    ``prev_entry_hash`` must still be its campaign's latest entry, else
    :class:`LogConflictError`: rebuild the record and sign again.
    """
    try:
        checked = validate_record(record)
        canonical = canonical_bytes(checked)
    except LedgerValueError as exc:
        raise ValidationError(str(exc)) from None
    signed_by = _checked_signature(checked, signature, signer)

    index = _lock_head()
    latest = latest_entry_hash(checked["campaign_id"])
    if checked["prev_entry_hash"] != latest:
        raise LogConflictError(
            f"campaign {checked['campaign_id']}'s latest log entry is {latest}, but the record "
            f"follows {checked['prev_entry_hash']}; another decision was logged meanwhile: "
            "build the record again with new_record and sign it again"
        )
    db.session.execute(update(LogHead).where(LogHead.id == _HEAD_ID).values(size=index + 1))
    entry = ApprovalLogEntry(
        id=index,
        campaign_id=checked["campaign_id"],
        decision=checked["decision"],
        stage=checked["stage"],
        record_json=canonical.decode("utf-8"),
        leaf_hash=_hex(leaf_hash(canonical)),
        prev_entry_hash=checked["prev_entry_hash"],
        signature=signature if signed_by else None,
        signer=signed_by,
        created_at=utcnow(),
    )
    db.session.add(entry)
    db.session.flush()
    _schedule_anchoring_if_due(index + 1)
    return entry


def _schedule_anchoring_if_due(size: int) -> None:
    every = int(current_app.config.get("ANCHOR_EVERY_ENTRIES") or 0)
    if every <= 0:
        return
    if size - anchored_size() >= every:
        db.session.info[_ANCHOR_AFTER_COMMIT] = True


def _after_commit(session: Session) -> None:
    if not session.info.pop(_ANCHOR_AFTER_COMMIT, False) or not has_app_context():
        return
    from kombu.exceptions import OperationalError

    # This app's own Celery (its task class runs in this app's context), not the default.
    task = current_app.extensions["celery"].tasks[ANCHOR_TASK]
    try:
        task.delay()
    except OperationalError as exc:  # the broker is down: Celery beat catches up later
        log.warning("could not enqueue anchoring (%s); the next scheduled run will", exc)


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_ANCHOR_AFTER_COMMIT, None)


def init_audit(app: Flask) -> None:
    """Enqueue anchoring after the commit that makes N entries wait; schedule it in beat."""
    importlib.import_module("app.audit.tasks")  # registers the task with this app's Celery

    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
    interval = int(app.config.get("ANCHOR_INTERVAL_SECONDS") or 0)
    celery_app = app.extensions.get("celery")
    if celery_app is not None and interval > 0:
        schedule = dict(celery_app.conf.beat_schedule or {})
        schedule[ANCHOR_TASK] = {
            "task": ANCHOR_TASK,
            "schedule": float(interval),
        }
        celery_app.conf.beat_schedule = schedule


# -- reading the log -----------------------------------------------------------------------------


def get_entry(entry_id: int) -> ApprovalLogEntry:
    entry = db.session.get(ApprovalLogEntry, entry_id)
    if entry is None:
        raise NotFoundError(f"the approval log has no entry {entry_id}")
    return entry


def log_size() -> int:
    return int(db.session.scalar(select(func.count()).select_from(ApprovalLogEntry)) or 0)


def latest_anchored() -> Checkpoint | None:
    return db.session.scalar(
        select(Checkpoint)
        .where(Checkpoint.status == CheckpointStatus.ANCHORED.value)
        .order_by(Checkpoint.tree_size.desc())
        .limit(1)
    )


def anchored_size() -> int:
    last = latest_anchored()
    return last.tree_size if last else 0


def pending_checkpoint() -> Checkpoint | None:
    return db.session.scalar(
        select(Checkpoint).where(Checkpoint.status == CheckpointStatus.PENDING.value).limit(1)
    )


def _merkle_log() -> MerkleLog:
    """The log rebuilt from the stored canonical records (never from stored hashes alone).

    Raises LogIntegrityError naming the first entry that is missing or whose record no
    longer hashes to its stored leaf hash.
    """
    rows = db.session.execute(
        select(
            ApprovalLogEntry.id, ApprovalLogEntry.record_json, ApprovalLogEntry.leaf_hash
        ).order_by(ApprovalLogEntry.id)
    ).all()
    merkle = MerkleLog()
    for expected, (entry_id, record_json, stored) in enumerate(rows):
        if entry_id != expected:
            raise LogIntegrityError(
                f"approval log entry {expected} is missing; verify the log "
                "(`flask --app app audit verify-log`)"
            )
        leaf = leaf_hash(record_json.encode("utf-8"))
        if _hex(leaf) != stored:
            raise LogIntegrityError(
                f"approval log entry {entry_id}'s record no longer hashes to its leaf hash: "
                "the entry was changed; verify the log (`flask --app app audit verify-log`)"
            )
        merkle.append(leaf)
    return merkle


# -- anchoring -------------------------------------------------------------------------------


AnchorState = Literal["empty", "up_to_date", "anchored", "backing_off", "failed"]


@dataclass(frozen=True)
class AnchorOutcome:
    """What one run of the anchoring job did."""

    state: AnchorState
    log_size: int
    anchored_size: int
    tx_hash: str | None = None
    error: str | None = None
    retry_in: float | None = None
    next_attempt_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "log_size": self.log_size,
            "anchored_size": self.anchored_size,
            "tx_hash": self.tx_hash,
            "error": self.error,
            "retry_in": self.retry_in,
            "next_attempt_at": _iso(self.next_attempt_at),
        }


def backoff_seconds(attempts: int) -> float:
    """base * 2**(attempts - 1), capped: 5 s, 10 s, 20 s, … up to the configured maximum."""
    base = float(current_app.config.get("ANCHOR_RETRY_BASE_SECONDS", 5.0))
    cap = float(current_app.config.get("ANCHOR_RETRY_MAX_SECONDS", 900.0))
    return float(min(cap, base * 2 ** max(attempts - 1, 0)))


def anchor_pending(*, force: bool = False) -> AnchorOutcome:
    """Anchor every entry not yet anchored (one use case, its own transactions).

    Skips while the outbox's next attempt is in the future unless ``force``.  Failures
    the job knows (chain unreachable, transaction failed or reverted, key unavailable,
    log diverged) are recorded on the outbox row with the next attempt time and
    returned as ``failed``; the entries stay pending.
    """
    now = utcnow()
    size = log_size()
    done = anchored_size()
    pending = pending_checkpoint()
    if size == 0:
        return AnchorOutcome("empty", 0, 0)
    if size <= done and pending is None:
        return AnchorOutcome("up_to_date", size, done)
    waiting_until = pending.next_attempt_at if pending is not None and not force else None
    if waiting_until is not None and now < waiting_until:
        return AnchorOutcome(
            "backing_off",
            size,
            done,
            error=pending.last_error if pending else None,
            retry_in=(waiting_until - now).total_seconds(),
            next_attempt_at=waiting_until,
        )
    try:
        return _anchor(now)
    except (LedgerError, AppError) as exc:
        db.session.rollback()
        return _record_failure(now, exc)


def _anchor(now: datetime) -> AnchorOutcome:
    from app.audit.anchoring import anchorer_account

    merkle = _merkle_log()
    _chain, client, domain = _chain_client()
    chain_size, chain_root = client.latest()
    check_extends(merkle, chain_size, chain_root)
    pending = _reconcile(client, domain, chain_size, chain_root)
    if merkle.size <= chain_size:
        if pending is not None and pending.tree_size <= chain_size:
            db.session.delete(pending)
        db.session.commit()
        return AnchorOutcome("up_to_date", merkle.size, chain_size)

    # Persist the outbox row first: a crash after sending leaves a trace to reconcile.
    if pending is None:
        pending = Checkpoint(status=CheckpointStatus.PENDING.value, attempts=0, created_at=now)
        db.session.add(pending)
    pending.tree_size = merkle.size
    pending.root = _hex(merkle.root())
    pending.last_attempt_at = now
    db.session.commit()

    account = anchorer_account(current_app._get_current_object())  # type: ignore[attr-defined]
    result = client.anchor(
        account, merkle.size, merkle.root(), merkle.consistency_proof(chain_size, merkle.size)
    )
    pending.status = CheckpointStatus.ANCHORED.value
    pending.attempts += 1
    pending.chain_id = domain.chain_id
    pending.contract = domain.contract
    pending.tx_hash = result.tx_hash
    pending.block_number = result.block_number
    pending.gas_used = result.gas_used
    pending.anchored_at = utcnow()
    pending.next_attempt_at = None
    pending.last_error = None
    db.session.commit()
    log.info("anchored %d approval log entries in %s", merkle.size, result.tx_hash)
    return AnchorOutcome("anchored", merkle.size, merkle.size, tx_hash=result.tx_hash)


def _reconcile(
    client: ApprovalLogClient, domain: LogDomain, chain_size: int, chain_root: bytes
) -> Checkpoint | None:
    """Record a checkpoint the chain holds but the database does not know (a transaction
    mined just before a crash, or another anchorer's); returns the outbox row, if any."""
    pending = pending_checkpoint()
    if chain_size == 0 or anchored_size() >= chain_size:
        return pending
    found = client.anchored_event(chain_size, from_block=domain.deploy_block)
    if pending is not None and pending.tree_size == chain_size:
        row, pending = pending, None
    else:
        row = Checkpoint(attempts=0, created_at=utcnow())
        db.session.add(row)
    row.status = CheckpointStatus.ANCHORED.value
    row.tree_size = chain_size
    row.root = _hex(chain_root)
    row.chain_id = domain.chain_id
    row.contract = domain.contract
    row.tx_hash = found.tx_hash if found else None
    row.block_number = found.block_number if found else None
    row.anchored_at = utcnow()
    row.next_attempt_at = None
    row.last_error = None
    db.session.flush()
    return pending


def _record_failure(now: datetime, exc: BaseException) -> AnchorOutcome:
    message = " ".join(str(exc).split()) or type(exc).__name__
    pending = pending_checkpoint()
    if pending is None:
        pending = Checkpoint(
            status=CheckpointStatus.PENDING.value,
            tree_size=log_size(),
            attempts=0,
            created_at=now,
        )
        db.session.add(pending)
    pending.attempts += 1
    pending.last_attempt_at = now
    pending.last_error = message[:2000]
    delay = backoff_seconds(pending.attempts)
    pending.next_attempt_at = now + timedelta(seconds=delay)
    db.session.commit()
    log.warning(
        "anchoring attempt %d failed (%s); retrying in %.0f s", pending.attempts, message, delay
    )
    return AnchorOutcome(
        "failed",
        log_size(),
        anchored_size(),
        error=message,
        retry_in=delay,
        next_attempt_at=pending.next_attempt_at,
    )


def anchor_now() -> Checkpoint | None:
    """Anchor every pending entry now (before a dispatch); the latest anchored checkpoint.

    Raises :class:`AnchoringFailedError` with the reason when it cannot; the entries stay
    in the outbox and the scheduled job keeps retrying.
    """
    outcome = anchor_pending(force=True)
    if outcome.state == "failed":
        raise AnchoringFailedError(
            f"the approval log could not be anchored: {outcome.error}; the entries stay "
            "pending and anchoring is retried automatically"
        )
    return latest_anchored()


# -- checking entries against the chain --------------------------------------------------------


@dataclass(frozen=True)
class EntryStatus:
    """An entry checked against the chain: anchored means its record, as stored now, is
    proven by an inclusion proof into the root the contract holds."""

    entry_id: int
    anchored: bool
    reason: str
    tree_size: int = 0


def entry_status(entry_id: int) -> EntryStatus:
    """Whether entry ``entry_id`` is in a checkpoint anchored on-chain, and why not."""
    entry = get_entry(entry_id)
    try:
        merkle = _merkle_log()
    except LogIntegrityError as exc:
        return EntryStatus(entry_id, False, exc.message)
    _chain, client, _domain = _chain_client()
    size, root = client.latest()
    if size <= entry.id:
        return EntryStatus(
            entry_id, False, f"the chain's latest checkpoint covers {size} entries; anchor first"
        )
    if size > merkle.size:
        return EntryStatus(
            entry_id, False, f"the chain anchored {size} entries but the log holds {merkle.size}"
        )
    leaf = leaf_hash(entry.record_json.encode("utf-8"))
    if not verify_inclusion(leaf, entry.id, size, merkle.inclusion_proof(entry.id, size), root):
        return EntryStatus(
            entry_id,
            False,
            f"entry {entry.id} is not proven by the root anchored for {size} entries: "
            "the log was changed",
            size,
        )
    return EntryStatus(entry_id, True, f"in the checkpoint of {size} entries on-chain", size)


def is_anchored(entry: ApprovalLogEntry | int) -> bool:
    """True when the entry, as stored now, is proven into the root anchored on-chain."""
    return entry_status(entry if isinstance(entry, int) else entry.id).anchored


@dataclass(frozen=True)
class EntryProof:
    entry_id: int
    leaf_hash: str
    tree_size: int
    root: str
    inclusion_proof: list[str]
    checkpoint: Checkpoint


def entry_proof(entry_id: int) -> EntryProof:
    """The entry's inclusion proof into the latest anchored checkpoint (from the database)."""
    entry = get_entry(entry_id)
    checkpoint = latest_anchored()
    if checkpoint is None or checkpoint.tree_size <= entry.id:
        raise NotAnchoredError(
            f"approval log entry {entry_id} is not anchored yet; anchor the log "
            "(`flask --app app audit anchor`) and try again"
        )
    merkle = _merkle_log()
    root = merkle.root(checkpoint.tree_size)
    if _hex(root) != checkpoint.root:
        raise LogIntegrityError(
            f"the log's first {checkpoint.tree_size} entries no longer hash to the anchored "
            "root: entries were changed; verify the log"
        )
    return EntryProof(
        entry_id,
        entry.leaf_hash,
        checkpoint.tree_size,
        checkpoint.root,
        [_hex(p) for p in merkle.inclusion_proof(entry.id, checkpoint.tree_size)],
        checkpoint,
    )


# -- evidence ------------------------------------------------------------------------------------


def _anchor_info(checkpoint: Checkpoint) -> AnchorInfo:
    if checkpoint.chain_id is None or checkpoint.contract is None or checkpoint.root is None:
        raise LogIntegrityError(f"checkpoint {checkpoint.tree_size} lacks its chain facts")
    return AnchorInfo(
        chain_id=int(checkpoint.chain_id),
        contract=checkpoint.contract,
        tree_size=checkpoint.tree_size,
        root=bytes.fromhex(checkpoint.root[2:]),
        tx_hash=checkpoint.tx_hash,
        block_number=checkpoint.block_number,
    )


def evidence_for(entry_id: int) -> dict[str, Any]:
    """The ``ledgerline-approval-evidence/1`` bundle of entry ``entry_id``.

    Proven into the latest anchored checkpoint; NotAnchoredError before it is anchored,
    LogIntegrityError if the stored log no longer reproduces the anchored root.
    """
    entry = get_entry(entry_id)
    checkpoint = latest_anchored()
    if checkpoint is None or checkpoint.tree_size <= entry.id:
        raise NotAnchoredError(
            f"approval log entry {entry_id} is not anchored yet; anchor the log "
            "(`flask --app app audit anchor`) and try again"
        )
    merkle = _merkle_log()
    try:
        return build_approval_evidence(
            record=json.loads(entry.record_json),
            leaf_index=entry.id,
            log=merkle,
            anchor=_anchor_info(checkpoint),
            signature=entry.signature,
            signer=entry.signer,
        )
    except LedgerError as exc:
        raise LogIntegrityError(str(exc)) from None


def recipient_evidence(snapshot_id: int, contact_id: int, channel: str) -> dict[str, Any]:
    """The ``ledgerline-recipient-evidence/1`` bundle: the recipient (``contact_id`` on
    ``channel``) is a leaf of the campaign recipient snapshot ``snapshot_id``
    (:func:`app.campaigns.recipients.members_and_root`), and the embedded approval
    evidence (the latest ``approve`` entry naming that snapshot's root) shows the snapshot
    was approved."""
    from app.campaigns.recipients import members_and_root

    members, root = members_and_root(snapshot_id)
    position = next(
        (
            i
            for i, member in enumerate(members)
            if str(member["contact_id"]) == str(contact_id) and member["channel"] == channel
        ),
        None,
    )
    if position is None:
        raise NotFoundError(
            f"contact {contact_id} on {channel} is not in recipient snapshot {snapshot_id}; "
            "it was not an approved recipient"
        )
    approval = _approval_naming(root)
    try:
        return build_recipient_evidence(
            snapshot_id=str(snapshot_id),
            members=members,
            index=position,
            approval=evidence_for(approval.id),
        )
    except LedgerError as exc:
        raise LogIntegrityError(str(exc)) from None


def _approval_naming(snapshot_root: str) -> ApprovalLogEntry:
    """The latest ``approve`` entry whose record names ``snapshot_root``."""
    wanted = snapshot_root.lower()
    wanted = wanted if wanted.startswith("0x") else "0x" + wanted
    candidates = db.session.scalars(
        select(ApprovalLogEntry)
        .where(ApprovalLogEntry.decision == "approve")
        .order_by(ApprovalLogEntry.id.desc())
    )
    for entry in candidates:
        if entry.record.get("snapshot_root") == wanted:
            return entry
    raise NotAnchoredError(
        f"no approval in the log names the snapshot root {snapshot_root}; "
        "the snapshot was never approved"
    )


# -- verifying the whole log ---------------------------------------------------------------------


def verify_log(*, check_chain: bool = True) -> LogReport:
    """Re-derive the whole log from the database and check it against the chain
    (:func:`app.audit.verification.verify_log`)."""
    from app.audit.verification import verify_log as verify

    return verify(check_chain=check_chain)


# -- status for the auditor page and /healthz -------------------------------------------------


@dataclass(frozen=True)
class AnchoringStatus:
    log_size: int
    anchored_size: int
    last_anchor: Checkpoint | None
    outbox: Checkpoint | None
    oldest_pending_at: datetime | None

    @property
    def pending_entries(self) -> int:
        return self.log_size - self.anchored_size

    @property
    def failing(self) -> bool:
        return self.outbox is not None and self.outbox.last_error is not None

    def to_json(self) -> dict[str, Any]:
        last = self.last_anchor
        outbox = self.outbox
        return {
            "log_size": self.log_size,
            "anchored_size": self.anchored_size,
            "pending_entries": self.pending_entries,
            "oldest_pending_at": _iso(self.oldest_pending_at),
            "last_anchor": None
            if last is None
            else {
                "tree_size": last.tree_size,
                "root": last.root,
                "tx_hash": last.tx_hash,
                "block_number": last.block_number,
                "anchored_at": _iso(last.anchored_at),
            },
            "outbox": None
            if outbox is None
            else {
                "tree_size": outbox.tree_size,
                "attempts": outbox.attempts,
                "last_attempt_at": _iso(outbox.last_attempt_at),
                "next_attempt_at": _iso(outbox.next_attempt_at),
                "last_error": outbox.last_error,
            },
        }


def anchoring_status() -> AnchoringStatus:
    size = log_size()
    last = latest_anchored()
    done = last.tree_size if last else 0
    oldest = None
    if size > done:
        oldest = db.session.scalar(
            select(ApprovalLogEntry.created_at).where(ApprovalLogEntry.id == done)
        )
    return AnchoringStatus(size, done, last, pending_checkpoint(), oldest)


@dataclass(frozen=True)
class EntryRow:
    """An entry as the auditor page lists it."""

    entry: ApprovalLogEntry
    record_matches: bool
    anchored: bool

    @property
    def record(self) -> dict[str, Any]:
        try:
            return self.entry.record
        except ValueError:  # an edited row that is no longer JSON: shown as "changed"
            return {}


def list_entries(limit: int = 100, offset: int = 0) -> list[EntryRow]:
    """The newest entries first, each with its stored record re-hashed and whether a
    recorded checkpoint covers it (the chain is checked by :func:`verify_log`)."""
    done = anchored_size()
    entries: Sequence[ApprovalLogEntry] = db.session.scalars(
        select(ApprovalLogEntry).order_by(ApprovalLogEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return [
        EntryRow(e, _hex(leaf_hash(e.record_json.encode("utf-8"))) == e.leaf_hash, e.id < done)
        for e in entries
    ]


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
