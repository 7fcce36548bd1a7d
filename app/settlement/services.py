"""Settlement use cases: each checks who acts, unlocks the member's key with the password
the user typed (or sent), sends the transaction(s) through :mod:`ledger.settlement`, and
brings the index up to date so the next page shows the result.

A contract revert reaches the caller as :class:`~ledger.errors.ContractRevertError` whose
message is the client's one-sentence translation; the views flash it, the API returns it
as a 409 with the error name.  Bad input is a :class:`~app.errors.ValidationError` (or a
``LedgerValueError``) naming what is wrong.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount

from app.accounts.models import Role, User
from app.database import utcnow
from app.errors import PermissionDeniedError, ValidationError
from app.extensions import db
from app.settlement import indexer, keys, queries
from app.settlement.models import DisputeNote, IndexedObligation, ReferenceText
from app.settlement.onchain import contracts
from ledger.errors import LedgerValueError
from ledger.reconcile import PartnerDirectory, RejectedRow, read_billing_csv
from ledger.settlement import (
    BatchResult,
    CycleResult,
    DisputeReason,
    Obligation,
    ServiceType,
    check_currency,
    hex32,
    parse_amount,
    payment_ref,
    reference_hash,
)

MAX_COMMENT = 2000


@dataclass(frozen=True)
class ObligationsOutcome:
    """What an obligation action sent, and the rows it left out with why."""

    result: BatchResult | None
    rejected: tuple[RejectedRow, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (obligation id, why)

    @property
    def count(self) -> int:
        return len(self.result.ids) if self.result is not None else 0

    def to_json(self) -> dict[str, Any]:
        data = self.result.to_json() if self.result is not None else {"ids": [], "count": 0}
        data["rejected"] = [{"line": r.line, "reason": r.reason} for r in self.rejected]
        data["skipped"] = [{"id": i, "reason": why} for i, why in self.skipped]
        return data


# -- who acts -----------------------------------------------------------------------------------


def require_operator(user: User) -> queries.Viewer:
    viewer = queries.viewer_of(user)
    if not viewer.operator:
        raise PermissionDeniedError(
            "this needs the operator role: only operators propose, confirm and dispute "
            "obligations and settle their positions",
            details={"required_roles": [Role.OPERATOR.value]},
        )
    return viewer


def require_agent(user: User) -> queries.Viewer:
    viewer = queries.viewer_of(user)
    if not viewer.agent:
        raise PermissionDeniedError(
            "this needs the clearing_agent role: only the clearing agent opens and closes "
            "cycles and submits their plans",
            details={"required_roles": [Role.CLEARING_AGENT.value]},
        )
    return viewer


def _unlock(user: User, password: str) -> LocalAccount:
    return keys.unlock(user, password)


def _after() -> None:
    """Index what the action just mined (a chain hiccup now only leaves the index behind:
    the transaction went through)."""
    indexer.refresh_index()


def remember_reference(text: str, kind: str = "invoice") -> str:
    """Record the text behind a reference hash; returns the hash (0x-hex)."""
    digest = hex32(reference_hash(text) if kind == "invoice" else payment_ref(text))
    if db.session.get(ReferenceText, digest) is None:
        db.session.add(ReferenceText(hash=digest, kind=kind, text=text.strip()[:200]))
    return digest


# -- obligations --------------------------------------------------------------------------------


def build_obligation(
    viewer: queries.Viewer,
    *,
    counterparty: str,
    direction: str,
    currency: str,
    amount: str,
    service: str,
    period: str | int,
    reference: str,
    evidence: bytes | None = None,
) -> Obligation:
    """A checked record between ``viewer``'s member and ``counterparty``.

    ``direction`` is ``payable`` (we owe) or ``receivable`` (they owe us); ``amount`` is a
    decimal in major units.
    """
    other = queries.resolve_member(counterparty)
    if other == viewer.member:
        raise ValidationError(
            "the counterparty is your own member; an obligation needs two different operators",
            details={"counterparty": "yourself"},
        )
    if direction not in ("payable", "receivable"):
        raise ValidationError(
            f"direction {direction!r} must be payable (we owe them) or receivable (they owe us)",
            details={"direction": direction},
        )
    if not (reference or "").strip():
        raise ValidationError(
            "the reference is empty; give the invoice or agreement number",
            details={"reference": "required"},
        )
    code = check_currency(currency)
    debtor, creditor = (viewer.member, other) if direction == "payable" else (other, viewer.member)
    return Obligation.create(
        debtor,
        creditor,
        code,
        parse_amount(str(amount), code),
        ServiceType.parse(service),
        period,
        reference=reference,
        evidence="0x" + _sha256(evidence).hex() if evidence else None,
    )


def _sha256(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


def propose(
    user: User, password: str, records: Sequence[Obligation], references: Sequence[str] = ()
) -> ObligationsOutcome:
    """Propose ``records`` (batches of 100) signed with ``user``'s member key."""
    viewer = require_operator(user)
    if not records:
        raise ValidationError("there is nothing to propose", details={"obligations": "empty"})
    for record in records:
        if viewer.member not in (record.debtor, record.creditor):
            raise ValidationError(
                f"obligation {record.id} is between {record.debtor} and {record.creditor}; "
                "you may only propose obligations your member is party to"
            )
    account = _unlock(user, password)
    for text in references:
        remember_reference(text)
    db.session.commit()
    client = contracts().settlement
    result = (
        client.propose(account, records[0])
        if len(records) == 1
        else client.propose_batch(account, records)
    )
    _after()
    return ObligationsOutcome(result)


def propose_csv(user: User, password: str, text: str) -> ObligationsOutcome:
    """Propose every valid row of a billing export (the columns of :mod:`ledger.reconcile`);
    bad rows are listed with their line numbers; a row whose invoice is already live on
    the ledger between the same parties (same currency, service and period) is skipped,
    as is a repeated row."""
    viewer = require_operator(user)
    indexer.refresh_index()
    directory = partner_directory()
    billing = read_billing_csv(io.StringIO(text), viewer.member, directory)
    records = [line.obligation(viewer.member) for line in billing.lines]
    live: dict[tuple[Any, ...], str] = {}
    for entry in queries.ledger_entries_of(viewer.member, billing.periods):
        if entry.status.label in ("proposed", "confirmed", "disputed"):
            live.setdefault(_business_key(entry.obligation), entry.id)
    fresh: list[Obligation] = []
    refs: list[str] = []
    skipped: list[tuple[str, str]] = []
    for line, record in zip(billing.lines, records, strict=True):
        key = _business_key(record)
        if key in live:
            skipped.append((live[key], f"line {line.line} is already on the ledger as {live[key]}"))
            continue
        if line.partner_address in directory.inactive:
            skipped.append(
                (record.id, f"line {line.line}: {line.partner} is not an active operator")
            )
            continue
        live[key] = record.id
        fresh.append(record)
        refs.append(line.reference)
    if not fresh:
        return ObligationsOutcome(None, billing.rejected, tuple(skipped))
    outcome = propose(user, password, fresh, refs)
    return ObligationsOutcome(outcome.result, billing.rejected, tuple(skipped))


def _business_key(record: Obligation) -> tuple[Any, ...]:
    """What makes two records the same obligation for a billing export (as reconciliation
    keys them): parties, currency, service, period and invoice, whatever the evidence."""
    return (
        record.debtor,
        record.creditor,
        record.currency,
        record.service,
        record.period,
        record.external_ref,
    )


def partner_directory() -> PartnerDirectory:
    """Registry members by code and address, from the index."""
    return PartnerDirectory.from_members(_DirectoryMember(m) for m in queries.members())


class _DirectoryMember:
    def __init__(self, member: Any) -> None:
        self.account = member.address
        self.code = member.code
        self._member = member

    def has_role(self, role: str) -> bool:
        return bool(self._member.has_role(role))


def _awaiting(viewer: queries.Viewer, ids: Sequence[str], action: str) -> list[IndexedObligation]:
    if not ids:
        raise ValidationError(
            f"select at least one obligation to {action}", details={"ids": "empty"}
        )
    if len(set(ids)) != len(ids):
        raise ValidationError(f"an obligation is listed twice; {action} each one once")
    scoped = queries.Viewer(viewer.user, viewer.member, viewer.operator, agent=False)
    return queries.obligations_by_ids(scoped, ids)


def confirm(user: User, password: str, ids: Sequence[str]) -> ObligationsOutcome:
    """Confirm obligations the counterparties proposed (one batch transaction per 100)."""
    viewer = require_operator(user)
    rows = _awaiting(viewer, ids, "confirm")
    account = _unlock(user, password)
    client = contracts().settlement
    records = [queries.record_of(r) for r in rows]
    result = (
        client.confirm(account, records[0])
        if len(records) == 1
        else client.confirm_batch(account, records)
    )
    _after()
    return ObligationsOutcome(result)


def dispute(
    user: User, password: str, ids: Sequence[str], reason: str | int, comment: str = ""
) -> ObligationsOutcome:
    """Dispute obligations the counterparties proposed, with one reason code (and comment)."""
    viewer = require_operator(user)
    try:
        code = int(DisputeReason.parse(reason))
    except LedgerValueError as exc:
        raise ValidationError(str(exc), details={"reason": reason}) from None
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise ValidationError(
            f"the comment has {len(text)} characters; keep it under {MAX_COMMENT}",
            details={"comment": "too long"},
        )
    rows = _awaiting(viewer, ids, "dispute")
    account = _unlock(user, password)
    client = contracts().settlement
    records = [queries.record_of(r) for r in rows]
    result = (
        client.dispute(account, records[0], code)
        if len(records) == 1
        else client.dispute_batch(account, records, code)
    )
    for row in rows:
        db.session.add(
            DisputeNote(
                obligation_id=row.id,
                member=viewer.member,
                user_id=user.id,
                reason=code,
                comment=text,
                created_at=utcnow(),
            )
        )
    db.session.commit()
    _after()
    return ObligationsOutcome(result)


def withdraw(user: User, password: str, obligation_id: str) -> ObligationsOutcome:
    """Withdraw an obligation the user's member proposed (proposed or disputed)."""
    viewer = require_operator(user)
    row = _awaiting(viewer, [obligation_id], "withdraw")[0]
    account = _unlock(user, password)
    result = contracts().settlement.withdraw(account, queries.record_of(row))
    _after()
    return ObligationsOutcome(result)


def amend(
    user: User,
    password: str,
    obligation_id: str,
    *,
    amount: str,
    service: str | None = None,
    period: str | int | None = None,
    reference: str | None = None,
) -> ObligationsOutcome:
    """Replace a disputed obligation the member proposed by a corrected one (same parties)."""
    viewer = require_operator(user)
    row = _awaiting(viewer, [obligation_id], "amend")[0]
    old = queries.record_of(row)
    ref_text = (reference or "").strip()
    try:
        amended = Obligation.create(
            old.debtor,
            old.creditor,
            old.currency,
            parse_amount(str(amount), old.currency),
            ServiceType.parse(service) if service else old.service,
            period if period else old.period,
            reference=ref_text or None,
            external_ref=None if ref_text else old.external_ref,
            evidence=old.evidence_hash,
        )
    except LedgerValueError as exc:
        raise ValidationError(str(exc)) from None
    account = _unlock(user, password)
    if ref_text:
        remember_reference(ref_text)
        db.session.commit()
    result = contracts().settlement.amend(account, old, amended)
    _after()
    return ObligationsOutcome(result)


# -- cycles -------------------------------------------------------------------------------------


def parse_cutoff(text: str) -> datetime:
    """A cut-off typed as ``YYYY-MM-DDTHH:MM`` (UTC), a date, or ISO 8601 with offset."""
    value = (text or "").strip()
    if not value:
        raise ValidationError(
            "the cut-off is empty; give a UTC date and time such as 2026-12-31T18:00",
            details={"cutoff": "required"},
        )
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"cut-off {value!r} is not a date and time; write it as 2026-12-31T18:00 (UTC)",
            details={"cutoff": value},
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def open_cycle(user: User, password: str, currency: str, cutoff: datetime) -> CycleResult:
    require_agent(user)
    code = check_currency(currency)
    account = _unlock(user, password)
    result = contracts().settlement.open_cycle(account, code, cutoff)
    _after()
    return result


def close_cycle(user: User, password: str, cycle_id: int) -> CycleResult:
    require_agent(user)
    account = _unlock(user, password)
    result = contracts().settlement.close_cycle(account, cycle_id)
    _after()
    return result


def submit_plan(user: User, password: str, cycle_id: int, *, exact: bool = False) -> CycleResult:
    """Submit the plan :func:`ledger.netting.settlement_plan` computes from the cycle's
    on-chain positions."""
    require_agent(user)
    account = _unlock(user, password)
    result = contracts().settlement.submit_plan(account, cycle_id, exact=exact)
    _after()
    return result


def confirm_position(user: User, password: str, cycle_id: int) -> CycleResult:
    require_operator(user)
    account = _unlock(user, password)
    result = contracts().settlement.confirm_position(account, cycle_id)
    _after()
    return result


def mark_paid(user: User, password: str, cycle_id: int, index: int, reference: str) -> CycleResult:
    """Mark transfer ``index`` paid with the bank's payment reference (its SHA-256 goes on
    chain unless it already is 0x + 64 hex digits)."""
    require_operator(user)
    text = (reference or "").strip()
    if not text:
        raise ValidationError(
            "the payment reference is empty; give the bank transfer's reference",
            details={"reference": "required"},
        )
    account = _unlock(user, password)
    remember_reference(text, "payment")
    db.session.commit()
    result = contracts().settlement.mark_paid(account, cycle_id, index, text)
    _after()
    return result


def confirm_received(user: User, password: str, cycle_id: int, index: int) -> CycleResult:
    require_operator(user)
    account = _unlock(user, password)
    result = contracts().settlement.confirm_received(account, cycle_id, index)
    _after()
    return result
