"""Settlement statements: what one operator owes and is owed in one cycle, and how it
was settled, traceable to the chain.

A :class:`Statement` lists every obligation of the cycle the operator is party to
(payable or receivable), the gross sums, the net position, and the plan's transfers the
operator pays or receives with their payment references and statuses, together with the
chain id, the contract address and the block numbers that let anyone check it on chain.
It renders as CSV (:func:`statement_csv`), JSON (:meth:`Statement.to_json`) and a
printable HTML page (``settlement/statement.html``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from app.errors import NotFoundError
from app.extensions import db
from app.settlement import queries
from app.settlement.models import IndexedCycle, IndexedObligation, SyncState
from ledger.settlement import ServiceType, format_amount

CSV_COLUMNS = (
    "section",
    "id",
    "direction",
    "counterparty",
    "counterparty_code",
    "service",
    "period",
    "reference",
    "amount",
    "status",
    "block",
    "tx_hash",
    "payment_ref",
    "paid_block",
    "received_block",
)


@dataclass(frozen=True)
class StatementLine:
    """One obligation of the cycle, from the operator's side."""

    obligation_id: str
    direction: str  # payable | receivable
    counterparty: str
    counterparty_code: str
    service: str
    period: int
    reference: str  # the invoice number when known, else its hash
    amount: int
    proposed_block: int
    confirmed_block: int | None
    confirmed_tx: str | None


@dataclass(frozen=True)
class StatementTransfer:
    """A transfer of the plan the operator pays or receives."""

    index: int
    direction: str  # pay | receive
    counterparty: str
    counterparty_code: str
    amount: int
    status: str
    payment_ref: str | None  # the bank reference when known, else its hash
    planned_block: int
    paid_block: int | None
    received_block: int | None


@dataclass(frozen=True)
class Statement:
    operator: str
    operator_code: str
    operator_name: str
    cycle_id: int
    currency: str
    cycle_status: str
    cutoff: datetime
    chain_id: int
    contract: str
    indexed_block: int
    opened_block: int
    closed_block: int | None
    planned_block: int | None
    settled_block: int | None
    lines: tuple[StatementLine, ...]
    transfers: tuple[StatementTransfer, ...]
    position_confirmed: bool

    @property
    def gross_payable(self) -> int:
        return sum(line.amount for line in self.lines if line.direction == "payable")

    @property
    def gross_receivable(self) -> int:
        return sum(line.amount for line in self.lines if line.direction == "receivable")

    @property
    def net_position(self) -> int:
        """Positive: the operator receives."""
        return self.gross_receivable - self.gross_payable

    def money(self, amount: int | None) -> str:
        return "" if amount is None else format_amount(amount, self.currency)

    def facts(self) -> list[tuple[str, str]]:
        """The statement's header, as (field, value) pairs."""

        def block(value: int | None) -> str:
            return "" if value is None else str(value)

        return [
            ("operator", self.operator),
            ("operator_code", self.operator_code),
            ("operator_name", self.operator_name),
            ("cycle", str(self.cycle_id)),
            ("currency", self.currency),
            ("cycle_status", self.cycle_status),
            ("cutoff", self.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("chain_id", str(self.chain_id)),
            ("contract", self.contract),
            ("opened_block", str(self.opened_block)),
            ("closed_block", block(self.closed_block)),
            ("planned_block", block(self.planned_block)),
            ("settled_block", block(self.settled_block)),
            ("indexed_block", str(self.indexed_block)),
            ("obligations", str(len(self.lines))),
            ("gross_payable", self.money(self.gross_payable)),
            ("gross_receivable", self.money(self.gross_receivable)),
            ("net_position", self.money(self.net_position)),
            ("position_confirmed", "yes" if self.position_confirmed else "no"),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "operatorCode": self.operator_code,
            "operatorName": self.operator_name,
            "cycle": self.cycle_id,
            "currency": self.currency,
            "cycleStatus": self.cycle_status,
            "cutoff": self.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "chainId": self.chain_id,
            "contract": self.contract,
            "indexedBlock": self.indexed_block,
            "openedBlock": self.opened_block,
            "closedBlock": self.closed_block,
            "plannedBlock": self.planned_block,
            "settledBlock": self.settled_block,
            "grossPayable": self.gross_payable,
            "grossReceivable": self.gross_receivable,
            "netPosition": self.net_position,
            "positionConfirmed": self.position_confirmed,
            "obligations": [
                {
                    "id": line.obligation_id,
                    "direction": line.direction,
                    "counterparty": line.counterparty,
                    "counterpartyCode": line.counterparty_code,
                    "service": line.service,
                    "period": line.period,
                    "reference": line.reference,
                    "amount": line.amount,
                    "proposedBlock": line.proposed_block,
                    "confirmedBlock": line.confirmed_block,
                    "confirmedTx": line.confirmed_tx,
                }
                for line in self.lines
            ],
            "transfers": [
                {
                    "index": t.index,
                    "direction": t.direction,
                    "counterparty": t.counterparty,
                    "counterpartyCode": t.counterparty_code,
                    "amount": t.amount,
                    "status": t.status,
                    "paymentRef": t.payment_ref,
                    "plannedBlock": t.planned_block,
                    "paidBlock": t.paid_block,
                    "receivedBlock": t.received_block,
                }
                for t in self.transfers
            ],
        }


def build_statement(cycle_id: int, member: str) -> Statement:
    """The statement of ``member`` in cycle ``cycle_id``, from the index."""
    cycle: IndexedCycle = queries.get_cycle(cycle_id)
    names = queries.member_map()
    if member not in names:
        raise NotFoundError(
            f"{member} is not a registry member; GET /api/settlement/members lists them"
        )
    sync = db.session.get(SyncState, "ledger")
    assert sync is not None  # a cycle in the index means the index was synced
    rows = list(
        db.session.scalars(
            select(IndexedObligation)
            .where(
                IndexedObligation.cycle_id == cycle_id,
                IndexedObligation.status == "confirmed",
                or_(IndexedObligation.debtor == member, IndexedObligation.creditor == member),
            )
            .order_by(IndexedObligation.settled_block, IndexedObligation.id)
        )
    )
    found_transfers = [t for t in queries.transfers(cycle_id) if member in (t.payer, t.payee)]
    texts = queries.reference_texts(
        [r.external_ref for r in rows] + [t.payment_ref or "" for t in found_transfers]
    )
    lines = []
    for row in rows:
        payable = row.debtor == member
        other = row.creditor if payable else row.debtor
        lines.append(
            StatementLine(
                row.id,
                "payable" if payable else "receivable",
                other,
                queries.member_label(other, names),
                _service(row.service_type),
                row.period,
                texts.get(row.external_ref, row.external_ref),
                row.amount,
                row.proposed_block,
                row.settled_block,
                row.settled_tx,
            )
        )
    moves = []
    for t in found_transfers:
        pays = t.payer == member
        other = t.payee if pays else t.payer
        moves.append(
            StatementTransfer(
                t.index,
                "pay" if pays else "receive",
                other,
                queries.member_label(other, names),
                t.amount,
                t.status,
                texts.get(t.payment_ref, t.payment_ref) if t.payment_ref else None,
                t.planned_block,
                t.paid_block,
                t.received_block,
            )
        )
    position = next((p for p in queries.positions(cycle_id) if p.member == member), None)
    me = names[member]
    return Statement(
        operator=member,
        operator_code=me.code,
        operator_name=me.legal_name,
        cycle_id=cycle.id,
        currency=cycle.currency,
        cycle_status=cycle.status,
        cutoff=cycle.cutoff,
        chain_id=sync.chain_id,
        contract=sync.ledger_address,
        indexed_block=sync.last_block,
        opened_block=cycle.opened_block,
        closed_block=cycle.closed_block,
        planned_block=cycle.planned_block,
        settled_block=cycle.settled_block,
        lines=tuple(lines),
        transfers=tuple(moves),
        position_confirmed=bool(position and position.confirmed),
    )


def _service(code: int) -> str:
    try:
        return ServiceType(code).label
    except ValueError:
        return str(code)


def statement_csv(statement: Statement) -> str:
    """The statement as CSV: ``field,value`` header lines, a blank line, then one row per
    obligation (``section`` obligation) and per transfer (``section`` transfer).  Amounts
    are decimals in major units, as in the billing export."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["field", "value"])
    for name, value in statement.facts():
        writer.writerow([name, value])
    writer.writerow([])
    rows = csv.DictWriter(out, CSV_COLUMNS, restval="", lineterminator="\n")
    rows.writeheader()
    for line in statement.lines:
        rows.writerow(
            {
                "section": "obligation",
                "id": line.obligation_id,
                "direction": line.direction,
                "counterparty": line.counterparty,
                "counterparty_code": line.counterparty_code,
                "service": line.service,
                "period": line.period,
                "reference": line.reference,
                "amount": statement.money(line.amount),
                "status": "confirmed",
                "block": line.confirmed_block if line.confirmed_block is not None else "",
                "tx_hash": line.confirmed_tx or "",
            }
        )
    for t in statement.transfers:
        rows.writerow(
            {
                "section": "transfer",
                "id": t.index,
                "direction": t.direction,
                "counterparty": t.counterparty,
                "counterparty_code": t.counterparty_code,
                "amount": statement.money(t.amount),
                "status": t.status,
                "block": t.planned_block,
                "payment_ref": t.payment_ref or "",
                "paid_block": t.paid_block if t.paid_block is not None else "",
                "received_block": t.received_block if t.received_block is not None else "",
            }
        )
    return out.getvalue()


def statement_filename(statement: Statement, extension: str) -> str:
    return f"statement-cycle{statement.cycle_id}-{statement.operator_code}.{extension}"
