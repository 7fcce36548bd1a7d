"""Reading the settlement index: who sees what, obligation lists with filters and paging,
cycles with their positions, plan and gross flows, and the JSON shapes of the API.

An operator sees the obligations it is party to; a clearing agent sees every obligation
(it runs the cycles).  Everyone with a settlement role sees every cycle, its positions
and its plan: they are what the consortium settles together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from eth_utils import is_address, to_checksum_address
from flask import g
from sqlalchemy import Select, func, or_, select

from app.accounts.models import Role, User
from app.api import MAX_ID
from app.errors import NotFoundError, PermissionDeniedError, ValidationError
from app.extensions import db
from app.settlement.models import (
    DisputeNote,
    IndexedCycle,
    IndexedMember,
    IndexedObligation,
    IndexedPosition,
    IndexedTransfer,
    ReferenceText,
)
from ledger.errors import LedgerValueError
from ledger.netting import NettingMetrics, Transfer, netting_metrics, settlement_plan
from ledger.settlement import (
    LedgerObligation,
    Obligation,
    ObligationStatus,
    ServiceType,
    check_currency,
    format_amount,
    parse_period,
    reason_label,
    to_bytes32,
)

T = TypeVar("T")

SETTLEMENT_ROLES = (Role.OPERATOR, Role.CLEARING_AGENT)
OBLIGATION_STATUSES = ("proposed", "confirmed", "disputed", "withdrawn", "amended")
CYCLE_STATUSES = ("open", "closed", "planned", "confirmed", "settled")
BOXES = ("inbox", "proposed", "disputes")
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
DEFAULT_PER_PAGE = 50


# -- who is asking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A settlement user: the member it acts for and what it may do."""

    user: User
    member: str
    operator: bool
    agent: bool

    @property
    def sees_everything(self) -> bool:
        return self.agent


def viewer_of(user: User) -> Viewer:
    """The settlement viewer for ``user``; PermissionDeniedError without a settlement role
    or member address."""
    if not user.has_role(*SETTLEMENT_ROLES):
        raise PermissionDeniedError(
            "settlement needs the operator or clearing_agent role; ask an administrator for it",
            details={"required_roles": [r.value for r in SETTLEMENT_ROLES]},
        )
    if not user.member_address:
        raise PermissionDeniedError(
            f"{user.email} is not linked to a registry member; ask an administrator to set "
            "the member address on your account"
        )
    return Viewer(
        user,
        to_checksum_address(user.member_address),
        user.has_role(Role.OPERATOR),
        user.has_role(Role.CLEARING_AGENT),
    )


# -- members ------------------------------------------------------------------------------------


def members() -> list[IndexedMember]:
    """Every registry member, in admission order."""
    return list(db.session.scalars(select(IndexedMember).order_by(IndexedMember.position)))


def member_map() -> dict[str, IndexedMember]:
    """Members by address, read once per request."""
    cached = g.get("settlement_members")
    if cached is None:
        cached = {m.address: m for m in members()}
        g.settlement_members = cached
    return dict(cached)


def member_label(address: str | None, names: dict[str, IndexedMember] | None = None) -> str:
    """The member code of ``address`` (its address when it is not a member)."""
    if not address:
        return ""
    found = (names if names is not None else member_map()).get(address)
    return found.code if found is not None else address


def operators() -> list[IndexedMember]:
    """Active members holding OPERATOR."""
    return [m for m in members() if m.has_role("OPERATOR")]


def resolve_member(text: str, what: str = "counterparty") -> str:
    """A member given by 0x address or member code, as its checksummed address."""
    value = (text or "").strip()
    if is_address(value):
        return to_checksum_address(value)
    for member in members():
        if member.code.upper() == value.upper():
            return member.address
    raise ValidationError(
        f"{what} {value!r} is neither a registry member code nor a 0x address; "
        "GET /api/settlement/members lists the members",
        details={what: "unknown member"},
    )


# -- obligations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObligationFilters:
    box: str | None = None
    status: str | None = None
    counterparty: str | None = None
    currency: str | None = None
    period: int | None = None
    cycle_id: int | None = None

    @classmethod
    def parse(cls, args: Any) -> ObligationFilters:
        """From query arguments; bad values raise ValidationError naming the parameter."""
        box = (args.get("box") or "").strip() or None
        if box is not None and box not in BOXES:
            raise ValidationError(
                f"box {box!r} is unknown; use one of {', '.join(BOXES)}", details={"box": box}
            )
        status = (args.get("status") or "").strip().lower() or None
        if status is not None and status not in OBLIGATION_STATUSES:
            raise ValidationError(
                f"status {status!r} is unknown; use one of {', '.join(OBLIGATION_STATUSES)}",
                details={"status": status},
            )
        counterparty_text = (args.get("counterparty") or "").strip()
        counterparty = resolve_member(counterparty_text) if counterparty_text else None
        currency = (args.get("currency") or "").strip() or None
        period_text = (args.get("period") or "").strip()
        cycle_text = (args.get("cycle") or "").strip()
        try:
            if currency is not None:
                currency = check_currency(currency)
            period = parse_period(period_text) if period_text else None
        except LedgerValueError as exc:
            raise ValidationError(str(exc)) from None
        if cycle_text and not (
            cycle_text.isascii() and cycle_text.isdigit() and int(cycle_text) <= MAX_ID
        ):
            raise ValidationError(
                f"cycle {cycle_text!r} is not a cycle id (a positive whole number)",
                details={"cycle": cycle_text},
            )
        return cls(
            box, status, counterparty, currency, period, int(cycle_text) if cycle_text else None
        )

    def query_args(self) -> dict[str, Any]:
        """The filters as query arguments (for paging links)."""
        found = {
            "box": self.box,
            "status": self.status,
            "counterparty": self.counterparty,
            "currency": self.currency,
            "period": self.period,
            "cycle": self.cycle_id,
        }
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paging(args: Any) -> tuple[int, int]:
    """``page`` (1-based) and ``per_page`` (1..500) from query arguments."""
    values = []
    for name, default in (("page", 1), ("per_page", DEFAULT_PER_PAGE)):
        text = (args.get(name) or "").strip()
        if not text:
            values.append(default)
            continue
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ValidationError(
                f"{name} {text!r} must be a positive whole number", details={name: text}
            )
        if int(text) > MAX_PAGE:
            raise ValidationError(
                f"{name} {text} is over the limit of {MAX_PAGE}", details={name: text}
            )
        values.append(int(text))
    page, per_page = values
    if per_page > MAX_PER_PAGE:
        raise ValidationError(
            f"per_page {per_page} is over the limit of {MAX_PER_PAGE}; page through the list",
            details={"per_page": per_page},
        )
    return page, per_page


def _scoped(viewer: Viewer, query: Select[Any]) -> Select[Any]:
    if viewer.sees_everything:
        return query
    me = viewer.member
    return query.where(or_(IndexedObligation.debtor == me, IndexedObligation.creditor == me))


def _filtered(viewer: Viewer, filters: ObligationFilters, query: Select[Any]) -> Select[Any]:
    query = _scoped(viewer, query)
    me = viewer.member
    if filters.box == "inbox":
        query = query.where(
            IndexedObligation.counterparty == me, IndexedObligation.status == "proposed"
        )
    elif filters.box == "proposed":
        query = query.where(IndexedObligation.proposer == me)
    elif filters.box == "disputes":
        query = query.where(
            IndexedObligation.status == "disputed",
            or_(IndexedObligation.debtor == me, IndexedObligation.creditor == me),
        )
    if filters.status is not None:
        query = query.where(IndexedObligation.status == filters.status)
    if filters.counterparty is not None:
        other = filters.counterparty
        query = query.where(
            or_(IndexedObligation.debtor == other, IndexedObligation.creditor == other)
        )
    if filters.currency is not None:
        query = query.where(IndexedObligation.currency == filters.currency)
    if filters.period is not None:
        query = query.where(IndexedObligation.period == filters.period)
    if filters.cycle_id is not None:
        query = query.where(IndexedObligation.cycle_id == filters.cycle_id)
    return query


def list_obligations(
    viewer: Viewer, filters: ObligationFilters, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[IndexedObligation]:
    """The obligations ``viewer`` may see that match ``filters``, newest first."""
    query = _filtered(viewer, filters, select(IndexedObligation))
    total_query = _filtered(viewer, filters, select(func.count()).select_from(IndexedObligation))
    total = int(db.session.scalar(total_query) or 0)
    rows = db.session.scalars(
        query.order_by(IndexedObligation.proposed_block.desc(), IndexedObligation.log_index.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Page(list(rows), page, per_page, total)


def count_obligations(viewer: Viewer, filters: ObligationFilters) -> int:
    query = _filtered(viewer, filters, select(func.count()).select_from(IndexedObligation))
    return int(db.session.scalar(query) or 0)


def get_obligation(viewer: Viewer, obligation_id: str) -> IndexedObligation:
    """One obligation ``viewer`` may see; NotFoundError otherwise."""
    try:
        key = "0x" + to_bytes32(obligation_id, "obligation id").hex()
    except LedgerValueError as exc:
        raise ValidationError(str(exc), details={"id": obligation_id}) from None
    row = db.session.get(IndexedObligation, key)
    if row is None or not (viewer.sees_everything or viewer.member in (row.debtor, row.creditor)):
        raise NotFoundError(
            f"no obligation {key} among yours in the index; it may be newer than the "
            "indexed block: re-sync, or check the id"
        )
    return row


def obligations_by_ids(viewer: Viewer, ids: Iterable[str]) -> list[IndexedObligation]:
    """The obligations named by ``ids``, in that order (each must be visible)."""
    return [get_obligation(viewer, i) for i in ids]


def record_of(row: IndexedObligation) -> Obligation:
    """The full record of an indexed obligation, as the contract takes it."""
    return Obligation(
        debtor=to_checksum_address(row.debtor),
        creditor=to_checksum_address(row.creditor),
        currency=row.currency,
        amount=row.amount,
        service=ServiceType(row.service_type),
        period=row.period,
        external_ref=bytes.fromhex(row.external_ref[2:]),
        evidence_hash=bytes.fromhex(row.evidence_hash[2:]),
        salt=bytes.fromhex(row.salt[2:]),
    )


def ledger_entry(row: IndexedObligation) -> LedgerObligation | None:
    """The indexed obligation as :class:`ledger.settlement.LedgerObligation` (None for a
    record this client cannot type, e.g. an unknown currency code)."""
    try:
        record = record_of(row)
    except (LedgerValueError, ValueError):
        return None
    return LedgerObligation(
        record,
        to_checksum_address(row.proposer),
        ObligationStatus[row.status.upper()],
        row.proposed_block,
        row.proposed_tx,
        row.cycle_id,
        row.dispute_reason,
        row.amended_by,
        row.amends,
    )


def ledger_entries_of(member: str, periods: Iterable[int]) -> list[LedgerObligation]:
    """Every obligation of ``member`` in ``periods``, as ledger entries (reconciliation)."""
    wanted = sorted(set(periods))
    if not wanted:
        return []
    rows = db.session.scalars(
        select(IndexedObligation)
        .where(
            or_(IndexedObligation.debtor == member, IndexedObligation.creditor == member),
            IndexedObligation.period.in_(wanted),
        )
        .order_by(IndexedObligation.proposed_block, IndexedObligation.log_index)
    )
    return [e for e in (ledger_entry(r) for r in rows) if e is not None]


def reference_texts(hashes: Iterable[str]) -> dict[str, str]:
    """The known texts of reference hashes (invoice numbers, payment references)."""
    wanted = sorted({h for h in hashes if h})
    found: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        for row in db.session.scalars(select(ReferenceText).where(ReferenceText.hash.in_(chunk))):
            found[row.hash] = row.text
    return found


def dispute_notes(obligation_ids: Iterable[str]) -> dict[str, list[DisputeNote]]:
    wanted = sorted(set(obligation_ids))
    found: dict[str, list[DisputeNote]] = defaultdict(list)
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        query = (
            select(DisputeNote).where(DisputeNote.obligation_id.in_(chunk)).order_by(DisputeNote.id)
        )
        for note in db.session.scalars(query):
            found[note.obligation_id].append(note)
    return found


def obligation_json(
    row: IndexedObligation,
    names: dict[str, IndexedMember] | None = None,
    references: dict[str, str] | None = None,
    notes: Sequence[DisputeNote] = (),
) -> dict[str, Any]:
    """The API shape of an obligation."""
    labels = names if names is not None else member_map()
    try:
        service = ServiceType(row.service_type).label
    except ValueError:
        service = str(row.service_type)
    return {
        "id": row.id,
        "debtor": row.debtor,
        "debtorCode": member_label(row.debtor, labels),
        "creditor": row.creditor,
        "creditorCode": member_label(row.creditor, labels),
        "currency": row.currency,
        "amount": row.amount,
        "amountText": format_amount(row.amount, row.currency),
        "service": service,
        "serviceType": row.service_type,
        "period": row.period,
        "externalRef": row.external_ref,
        "reference": (references or {}).get(row.external_ref),
        "evidenceHash": row.evidence_hash,
        "salt": row.salt,
        "proposer": row.proposer,
        "counterparty": row.counterparty,
        "status": row.status,
        "cycleId": row.cycle_id,
        "disputeReason": reason_label(row.dispute_reason) if row.dispute_reason else None,
        "disputeReasonCode": row.dispute_reason,
        "disputeComments": [
            {"member": n.member, "reason": reason_label(n.reason), "comment": n.comment}
            for n in notes
        ],
        "amendedBy": row.amended_by,
        "amends": row.amends,
        "block": row.proposed_block,
        "txHash": row.proposed_tx,
        "settledBlock": row.settled_block,
        "settledTx": row.settled_tx,
    }


# -- cycles ---------------------------------------------------------------------------------------


def list_cycles(currency: str | None = None, status: str | None = None) -> list[IndexedCycle]:
    """Cycles, newest first (of ``currency`` / in ``status`` if given)."""
    query = select(IndexedCycle)
    if currency:
        try:
            query = query.where(IndexedCycle.currency == check_currency(currency))
        except LedgerValueError as exc:
            raise ValidationError(str(exc), details={"currency": currency}) from None
    if status:
        if status not in CYCLE_STATUSES:
            raise ValidationError(
                f"status {status!r} is unknown; use one of {', '.join(CYCLE_STATUSES)}",
                details={"status": status},
            )
        query = query.where(IndexedCycle.status == status)
    return list(db.session.scalars(query.order_by(IndexedCycle.id.desc())))


def get_cycle(cycle_id: int) -> IndexedCycle:
    row = db.session.get(IndexedCycle, cycle_id)
    if row is None:
        raise NotFoundError(
            f"there is no cycle {cycle_id} in the index; the cycles page lists them"
        )
    return row


def open_cycle_of(currency: str) -> IndexedCycle | None:
    return db.session.scalar(
        select(IndexedCycle).where(IndexedCycle.currency == currency, IndexedCycle.status == "open")
    )


def positions(cycle_id: int) -> list[IndexedPosition]:
    """Every participant's position, in the order they joined the cycle."""
    return list(
        db.session.scalars(
            select(IndexedPosition)
            .where(IndexedPosition.cycle_id == cycle_id)
            .order_by(IndexedPosition.joined_block, IndexedPosition.member)
        )
    )


def transfers(cycle_id: int) -> list[IndexedTransfer]:
    return list(
        db.session.scalars(
            select(IndexedTransfer)
            .where(IndexedTransfer.cycle_id == cycle_id)
            .order_by(IndexedTransfer.index)
        )
    )


@dataclass(frozen=True)
class Flow:
    """Gross obligations from ``debtor`` to ``creditor`` in a cycle."""

    debtor: str
    creditor: str
    amount: int
    count: int


def gross_flows(cycle_id: int) -> list[Flow]:
    """The cycle's confirmed obligations aggregated per ordered (debtor, creditor) pair."""
    totals: dict[tuple[str, str], list[int]] = {}
    query = select(
        IndexedObligation.debtor, IndexedObligation.creditor, IndexedObligation.amount
    ).where(IndexedObligation.cycle_id == cycle_id, IndexedObligation.status == "confirmed")
    for debtor, creditor, amount in db.session.execute(query):
        entry = totals.setdefault((debtor, creditor), [0, 0])
        entry[0] += amount
        entry[1] += 1
    return [Flow(d, c, a, n) for (d, c), (a, n) in sorted(totals.items())]


@dataclass
class CycleView:
    """A cycle with everything its page and API show."""

    cycle: IndexedCycle
    positions: list[IndexedPosition]
    transfers: list[IndexedTransfer]
    flows: list[Flow]
    plan: list[Transfer]  # the accepted plan, else the one Ledgerline would submit
    plan_submitted: bool
    metrics: NettingMetrics
    names: dict[str, IndexedMember] = field(default_factory=dict)

    def position_of(self, member: str) -> IndexedPosition | None:
        return next((p for p in self.positions if p.member == member), None)

    def to_json(self) -> dict[str, Any]:
        c = self.cycle
        return {
            **cycle_json(c),
            "positions": [
                {
                    "member": p.member,
                    "code": member_label(p.member, self.names),
                    "position": p.position,
                    "positionText": format_amount(p.position, c.currency),
                    "confirmed": p.confirmed,
                }
                for p in self.positions
            ],
            "plan": [{"payer": t.payer, "payee": t.payee, "amount": t.amount} for t in self.plan],
            "planSubmitted": self.plan_submitted,
            "transfers": [transfer_json(t, self.names) for t in self.transfers],
            "grossFlows": [
                {"debtor": f.debtor, "creditor": f.creditor, "amount": f.amount, "count": f.count}
                for f in self.flows
            ],
            "metrics": {
                "gross": self.metrics.gross,
                "net": self.metrics.net,
                "savingPct": self.metrics.saving_pct,
                "paymentsBefore": self.metrics.payments_before,
                "paymentsAfter": self.metrics.payments_after,
            },
        }


def cycle_view(cycle_id: int) -> CycleView:
    cycle = get_cycle(cycle_id)
    found_positions = positions(cycle_id)
    found_transfers = transfers(cycle_id)
    flows = gross_flows(cycle_id)
    submitted = cycle.status in ("planned", "confirmed", "settled")
    if submitted:
        plan = [Transfer(t.payer, t.payee, t.amount) for t in found_transfers]
    else:
        plan = settlement_plan({p.member: p.position for p in found_positions})
    count = sum(f.count for f in flows)
    try:
        counted = netting_metrics([(f.debtor, f.creditor, f.amount) for f in flows], plan)
    except LedgerValueError:  # an index caught mid-way through a cycle step
        gross = sum(f.amount for f in flows)
        net = sum(t.amount for t in plan)
        saving = round((1 - net / gross) * 100, 2) if gross else 0.0
        counted = NettingMetrics(gross, net, saving, count, len(plan))
    # netting_metrics counts the flows it was given; the payments before are obligations.
    metrics = NettingMetrics(
        counted.gross, counted.net, counted.saving_pct, count, counted.payments_after
    )
    return CycleView(
        cycle, found_positions, found_transfers, flows, plan, submitted, metrics, member_map()
    )


def cycle_json(c: IndexedCycle) -> dict[str, Any]:
    return {
        "id": c.id,
        "currency": c.currency,
        "status": c.status,
        "cutoff": c.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "openedBy": c.opened_by,
        "obligationCount": c.obligation_count,
        "grossValue": c.gross_value,
        "participantCount": c.participant_count,
        "transferCount": c.transfer_count,
        "netValue": c.net_value,
        "pendingPositions": c.pending_positions,
        "openedBlock": c.opened_block,
        "closedBlock": c.closed_block,
        "plannedBlock": c.planned_block,
        "confirmedBlock": c.confirmed_block,
        "settledBlock": c.settled_block,
    }


def transfer_json(
    t: IndexedTransfer,
    names: dict[str, IndexedMember] | None = None,
    references: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "index": t.index,
        "payer": t.payer,
        "payerCode": member_label(t.payer, names),
        "payee": t.payee,
        "payeeCode": member_label(t.payee, names),
        "amount": t.amount,
        "status": t.status,
        "paymentRef": t.payment_ref,
        "paymentReference": (references or {}).get(t.payment_ref or ""),
        "paidBlock": t.paid_block,
        "receivedBlock": t.received_block,
    }


def member_json(m: IndexedMember) -> dict[str, Any]:
    return {
        "account": m.address,
        "code": m.code,
        "legalName": m.legal_name,
        "country": m.country,
        "currencies": list(m.currencies),
        "roles": list(m.roles),
        "status": m.status,
        "admittedAt": m.admitted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
