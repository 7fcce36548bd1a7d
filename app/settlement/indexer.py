"""The settlement index: SettlementLedger's and the registry's events folded into tables,
so the pages stay fast with thousands of obligations.

The chain stays the source of truth.  :func:`sync_ledger` reads the events of the blocks
after the last indexed one (``settlement_sync.last_block``), applies them in chain order
and advances the cursor in the same transaction, a chunk of blocks at a time.  Every
event handler is idempotent: it only moves a record forward (proposed → disputed →
confirmed / withdrawn / amended; open → closed → planned → confirmed → settled; planned
→ paid → received) and applies a confirmation's amounts to the cycle and positions only
on the transition to confirmed, so replaying blocks already indexed changes nothing.
Members are re-read from the registry whenever the registry logged anything in the
blocks read (and at the first sync).

:func:`rebuild_index` (the "re-sync" action) empties the index and reads everything
again.  A new chain or contract address (a reset dev chain) rebuilds it by itself.
:func:`refresh_index` is what pages call before they render: it syncs in-process when
few blocks are new, else leaves it to the ``ledgerline.settlement.sync`` task (Celery
beat runs it every ``SETTLEMENT_SYNC_INTERVAL_SECONDS``) and shows the index as it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from kombu.exceptions import OperationalError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from web3.exceptions import Web3Exception

from app.database import utcnow
from app.errors import AppError
from app.extensions import db
from app.settlement.models import (
    IndexedCycle,
    IndexedMember,
    IndexedObligation,
    IndexedPosition,
    IndexedTransfer,
    SyncState,
)
from app.settlement.onchain import Contracts, contracts
from ledger.errors import LedgerError
from ledger.settlement import LOG_BLOCK_RANGE, SettlementEvent, hex32

log = logging.getLogger(__name__)

STATE_KEY = "ledger"
#: Blocks read and committed per step: a crash resumes after the last committed chunk.
CHUNK_BLOCKS = LOG_BLOCK_RANGE
#: Pages sync in-process when at most this many blocks are new (config
#: ``SETTLEMENT_SYNC_INLINE_BLOCKS``); beyond it the Celery task catches up.
DEFAULT_INLINE_BLOCKS = 5_000
DEFAULT_SYNC_INTERVAL_SECONDS = 60

_OBLIGATION_RANK = {"proposed": 1, "disputed": 2, "confirmed": 3, "withdrawn": 3, "amended": 3}
_CYCLE_RANK = {"open": 1, "closed": 2, "planned": 3, "confirmed": 4, "settled": 5}
_TRANSFER_RANK = {"planned": 1, "paid": 2, "received": 3}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync_ledger` run read and where the index stands."""

    from_block: int
    to_block: int
    events: int
    indexed_block: int
    members_refreshed: bool
    rebuilt: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "fromBlock": self.from_block,
            "toBlock": self.to_block,
            "events": self.events,
            "indexedBlock": self.indexed_block,
            "membersRefreshed": self.members_refreshed,
            "rebuilt": self.rebuilt,
        }


@dataclass(frozen=True)
class IndexStatus:
    """The index as a page shows it: how far it is, and why it may be behind."""

    indexed_block: int | None
    head_block: int | None
    synced_at: datetime | None
    chain_id: int | None = None
    ledger_address: str | None = None
    problem: str | None = None
    pending: bool = False  # left to the Celery task

    @property
    def behind(self) -> int:
        if self.indexed_block is None or self.head_block is None:
            return 0
        return max(self.head_block - self.indexed_block, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "indexedBlock": self.indexed_block,
            "headBlock": self.head_block,
            "behind": self.behind,
            "syncedAt": self.synced_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.synced_at else None,
            "chainId": self.chain_id,
            "contract": self.ledger_address,
            "problem": self.problem,
            "pending": self.pending,
        }


def state() -> SyncState | None:
    return db.session.get(SyncState, STATE_KEY)


def status(
    head: int | None = None, problem: str | None = None, pending: bool = False
) -> IndexStatus:
    row = state()
    if row is None:
        return IndexStatus(None, head, None, problem=problem, pending=pending)
    return IndexStatus(
        row.last_block,
        head,
        row.synced_at,
        row.chain_id,
        row.ledger_address,
        problem,
        pending,
    )


# -- syncing ------------------------------------------------------------------------------------


def sync_ledger(*, from_block: int | None = None, to_block: int | None = None) -> SyncResult:
    """Index the blocks after the last indexed one, up to ``to_block`` (default: the head).

    ``from_block`` re-reads from that block on (already indexed blocks change nothing).
    """
    handle = contracts()
    with _LOCK:
        try:
            return _sync(handle, from_block, to_block, rebuild=False)
        except IntegrityError:
            # Another process indexed the same blocks first: its rows are the same ones.
            db.session.rollback()
            row = state()
            indexed = row.last_block if row is not None else handle.start_block - 1
            return SyncResult(indexed + 1, indexed, 0, indexed, False)


def rebuild_index() -> SyncResult:
    """Empty the index and read every block again (the "re-sync" action)."""
    handle = contracts()
    with _LOCK:
        return _sync(handle, None, None, rebuild=True)


def refresh_index() -> IndexStatus:
    """Bring the index up to date before a page renders, when that is cheap.

    Never raises for a chain problem: the page then shows the index as it is, with the
    problem.
    """
    try:
        handle = contracts()
        head = handle.chain.block_number()
    except (LedgerError, AppError, Web3Exception, OSError) as exc:
        return status(problem=_problem(exc))
    row = state()
    indexed = row.last_block if row is not None else handle.start_block - 1
    fresh = row is not None and row.chain_id == handle.chain_id
    if fresh and head <= indexed:
        return status(head)
    limit = int(current_app.config.get("SETTLEMENT_SYNC_INLINE_BLOCKS", DEFAULT_INLINE_BLOCKS))
    if fresh and head - indexed > limit and not _eager():
        from app.settlement.tasks import sync_task

        try:
            sync_task.delay()
        except OperationalError as exc:  # a broker outage must not break the page
            return status(
                head,
                f"the index is {head - indexed} blocks behind and the sync "
                f"task could not be queued ({exc})",
            )
        return status(head, pending=True)
    try:
        sync_ledger()
    except (LedgerError, Web3Exception, OSError) as exc:
        db.session.rollback()
        return status(head, _problem(exc))
    return status(head)


def _eager() -> bool:
    from app.celery_app import is_eager

    return is_eager(current_app._get_current_object())  # type: ignore[attr-defined]


def _problem(exc: Exception) -> str:
    return f"the chain could not be read ({exc}); showing the index as last synced"


def _sync(
    handle: Contracts, from_block: int | None, to_block: int | None, *, rebuild: bool
) -> SyncResult:
    row = db.session.get(SyncState, STATE_KEY, with_for_update=True)
    moved = row is not None and (
        row.chain_id != handle.chain_id
        or row.ledger_address != handle.settlement.address
        or row.registry_address != handle.registry.address
    )
    if row is None or moved or rebuild:
        if row is not None and moved:
            log.warning(
                "settlement index was built for chain %s / %s; rebuilding it for chain %s / %s",
                row.chain_id,
                row.ledger_address,
                handle.chain_id,
                handle.settlement.address,
            )
        _clear()
        row = SyncState(
            name=STATE_KEY,
            chain_id=handle.chain_id,
            ledger_address=handle.settlement.address,
            registry_address=handle.registry.address,
            start_block=handle.start_block,
            last_block=handle.start_block - 1,
            synced_at=utcnow(),
        )
        db.session.add(row)
        db.session.flush()
        rebuilt = True
    else:
        rebuilt = False
    head = handle.chain.block_number() if to_block is None else to_block
    start = row.last_block + 1 if from_block is None else max(from_block, handle.start_block)
    first = start
    count = 0
    refreshed = False
    if rebuilt:
        _refresh_members(handle)
        refreshed = True
    while start <= head:
        end = min(start + CHUNK_BLOCKS - 1, head)
        events = handle.settlement.events(from_block=start, to_block=end)
        _apply(events)
        count += len(events)
        if not refreshed and _registry_logged(handle, start, end):
            _refresh_members(handle)
            refreshed = True
        row.last_block = max(row.last_block, end)
        row.synced_at = utcnow()
        db.session.commit()
        row = db.session.get(SyncState, STATE_KEY)
        assert row is not None
        start = end + 1
    row.synced_at = utcnow()
    db.session.commit()
    return SyncResult(first, head, count, row.last_block, refreshed, rebuilt)


def _clear() -> None:
    for model in (IndexedTransfer, IndexedPosition, IndexedCycle, IndexedObligation, IndexedMember):
        db.session.execute(delete(model))
    db.session.execute(delete(SyncState))
    db.session.flush()


def _registry_logged(handle: Contracts, start: int, end: int) -> bool:
    logs = handle.chain.w3.eth.get_logs(
        {"address": handle.registry.address, "fromBlock": start, "toBlock": end}
    )
    return bool(logs)


def _refresh_members(handle: Contracts) -> None:
    existing = {m.address: m for m in db.session.scalars(select(IndexedMember))}
    for position, member in enumerate(handle.registry.members()):
        row = existing.get(member.account)
        if row is None:
            row = IndexedMember(address=member.account)
            db.session.add(row)
        row.code = member.code
        row.legal_name = member.legal_name
        row.country = member.country
        row.currencies = list(member.currencies)
        row.roles = [r.value for r in member.roles]
        row.status = member.status.name.lower()
        row.admitted_at = member.admitted_at
        row.position = position


# -- applying events ----------------------------------------------------------------------------


class _Batch:
    """The rows one chunk of events touches, loaded once."""

    def __init__(self, events: Sequence[SettlementEvent]) -> None:
        ids = {hex32(e.args["obligationId"]) for e in events if "obligationId" in e.args} | {
            hex32(e.args["amendmentId"]) for e in events if "amendmentId" in e.args
        }
        self.obligations: dict[str, IndexedObligation] = {}
        ordered = sorted(ids)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            query = select(IndexedObligation).where(IndexedObligation.id.in_(chunk))
            for row in db.session.scalars(query):
                self.obligations[row.id] = row
        self.cycles: dict[int, IndexedCycle | None] = {}
        self.positions: dict[tuple[int, str], IndexedPosition | None] = {}
        self.transfers: dict[tuple[int, int], IndexedTransfer | None] = {}

    def cycle(self, cycle_id: int) -> IndexedCycle | None:
        if cycle_id not in self.cycles:
            self.cycles[cycle_id] = db.session.get(IndexedCycle, cycle_id)
        return self.cycles[cycle_id]

    def position(self, cycle_id: int, member: str) -> IndexedPosition | None:
        key = (cycle_id, member)
        if key not in self.positions:
            self.positions[key] = db.session.get(IndexedPosition, key)
        return self.positions[key]

    def transfer(self, cycle_id: int, index: int) -> IndexedTransfer | None:
        key = (cycle_id, index)
        if key not in self.transfers:
            self.transfers[key] = db.session.get(IndexedTransfer, key)
        return self.transfers[key]


def _apply(events: Iterable[SettlementEvent]) -> None:
    listed = list(events)
    if not listed:
        return
    batch = _Batch(listed)
    for event in listed:
        handler = _HANDLERS.get(event.name)
        if handler is not None:
            handler(batch, event)


def _forward(current: str, new: str, ranks: dict[str, int]) -> bool:
    return ranks.get(new, 0) > ranks.get(current, 0)


def _on_proposed(batch: _Batch, event: SettlementEvent) -> None:
    a = event.args
    key = hex32(a["obligationId"])
    if key in batch.obligations:
        return
    proposer = a["proposer"]
    row = IndexedObligation(
        id=key,
        debtor=a["debtor"],
        creditor=a["creditor"],
        currency=a["currency"],
        amount=int(a["amount"]),
        service_type=int(a["serviceType"]),
        period=int(a["period"]),
        external_ref=hex32(a["externalRef"]),
        evidence_hash=hex32(a["evidenceHash"]),
        salt=hex32(a["salt"]),
        proposer=proposer,
        counterparty=a["creditor"] if proposer == a["debtor"] else a["debtor"],
        status="proposed",
        proposed_block=event.block_number,
        proposed_tx=event.tx_hash,
        log_index=event.log_index,
    )
    db.session.add(row)
    batch.obligations[key] = row


def _settle(row: IndexedObligation, status: str, event: SettlementEvent) -> bool:
    if not _forward(row.status, status, _OBLIGATION_RANK):
        return False
    row.status = status
    row.settled_block = event.block_number
    row.settled_tx = event.tx_hash
    return True


def _on_confirmed(batch: _Batch, event: SettlementEvent) -> None:
    row = batch.obligations.get(hex32(event.args["obligationId"]))
    if row is None or not _settle(row, "confirmed", event):
        return
    cycle_id = int(event.args["cycleId"])
    row.cycle_id = cycle_id
    cycle = batch.cycle(cycle_id)
    if cycle is not None and cycle.status == "open":
        cycle.obligation_count += 1
        cycle.gross_value += row.amount
    for member, delta in ((row.creditor, row.amount), (row.debtor, -row.amount)):
        position = batch.position(cycle_id, member)
        if position is None:
            position = IndexedPosition(
                cycle_id=cycle_id,
                member=member,
                position=0,
                joined_block=event.block_number,
                confirmed=False,
            )
            db.session.add(position)
            batch.positions[(cycle_id, member)] = position
            if cycle is not None and cycle.status == "open":
                cycle.participant_count += 1
        position.position += delta


def _on_disputed(batch: _Batch, event: SettlementEvent) -> None:
    row = batch.obligations.get(hex32(event.args["obligationId"]))
    if row is not None and _settle(row, "disputed", event):
        row.dispute_reason = int(event.args["reason"])


def _on_withdrawn(batch: _Batch, event: SettlementEvent) -> None:
    row = batch.obligations.get(hex32(event.args["obligationId"]))
    if row is not None:
        _settle(row, "withdrawn", event)


def _on_amended(batch: _Batch, event: SettlementEvent) -> None:
    old = batch.obligations.get(hex32(event.args["obligationId"]))
    new_id = hex32(event.args["amendmentId"])
    if old is not None:
        _settle(old, "amended", event)
        old.amended_by = new_id
    new = batch.obligations.get(new_id)
    if new is not None and old is not None:
        new.amends = old.id


def _on_cycle_opened(batch: _Batch, event: SettlementEvent) -> None:
    a = event.args
    cycle_id = int(a["cycleId"])
    if batch.cycle(cycle_id) is not None:
        return
    row = IndexedCycle(
        id=cycle_id,
        currency=a["currency"],
        status="open",
        cutoff=datetime.fromtimestamp(int(a["cutoff"]), UTC),
        opened_by=a["openedBy"],
        obligation_count=0,
        gross_value=0,
        participant_count=0,
        transfer_count=0,
        pending_positions=0,
        opened_block=event.block_number,
        opened_tx=event.tx_hash,
    )
    db.session.add(row)
    batch.cycles[cycle_id] = row


def _cycle_step(batch: _Batch, event: SettlementEvent, status: str) -> IndexedCycle | None:
    cycle = batch.cycle(int(event.args["cycleId"]))
    if cycle is None or not _forward(cycle.status, status, _CYCLE_RANK):
        return None
    cycle.status = status
    return cycle


def _on_cycle_closed(batch: _Batch, event: SettlementEvent) -> None:
    cycle = _cycle_step(batch, event, "closed")
    if cycle is None:
        return
    a = event.args
    cycle.closed_block = event.block_number
    cycle.closed_by = a["closedBy"]
    cycle.participant_count = int(a["participantCount"])
    cycle.obligation_count = int(a["obligationCount"])
    cycle.gross_value = int(a["grossValue"])


def _on_transfer_planned(batch: _Batch, event: SettlementEvent) -> None:
    a = event.args
    key = (int(a["cycleId"]), int(a["index"]))
    if batch.transfer(*key) is not None:
        return
    row = IndexedTransfer(
        cycle_id=key[0],
        index=key[1],
        payer=a["payer"],
        payee=a["payee"],
        amount=int(a["amount"]),
        status="planned",
        planned_block=event.block_number,
    )
    db.session.add(row)
    batch.transfers[key] = row


def _on_plan_submitted(batch: _Batch, event: SettlementEvent) -> None:
    cycle = _cycle_step(batch, event, "planned")
    if cycle is None:
        return
    a = event.args
    cycle.transfer_count = int(a["transferCount"])
    cycle.net_value = int(a["netValue"])
    cycle.pending_positions = int(a["pendingPositions"])
    cycle.planned_block = event.block_number
    cycle.planned_tx = event.tx_hash


def _on_position_confirmed(batch: _Batch, event: SettlementEvent) -> None:
    a = event.args
    cycle_id = int(a["cycleId"])
    position = batch.position(cycle_id, a["operator"])
    if position is None or position.confirmed:
        return
    position.confirmed = True
    position.confirmed_block = event.block_number
    position.position = int(a["position"])
    cycle = batch.cycle(cycle_id)
    if cycle is not None and cycle.status == "planned":
        cycle.pending_positions = int(a["remaining"])


def _on_positions_confirmed(batch: _Batch, event: SettlementEvent) -> None:
    cycle = _cycle_step(batch, event, "confirmed")
    if cycle is not None:
        cycle.confirmed_block = event.block_number
        cycle.pending_positions = 0


def _transfer_step(batch: _Batch, event: SettlementEvent, status: str) -> IndexedTransfer | None:
    row = batch.transfer(int(event.args["cycleId"]), int(event.args["index"]))
    if row is None or not _forward(row.status, status, _TRANSFER_RANK):
        return None
    row.status = status
    return row


def _on_transfer_paid(batch: _Batch, event: SettlementEvent) -> None:
    row = _transfer_step(batch, event, "paid")
    if row is not None:
        row.payment_ref = hex32(event.args["paymentRef"])
        row.paid_block = event.block_number
        row.paid_tx = event.tx_hash


def _on_transfer_received(batch: _Batch, event: SettlementEvent) -> None:
    row = _transfer_step(batch, event, "received")
    if row is not None:
        row.received_block = event.block_number


def _on_cycle_settled(batch: _Batch, event: SettlementEvent) -> None:
    cycle = _cycle_step(batch, event, "settled")
    if cycle is not None:
        cycle.settled_block = event.block_number
        if cycle.confirmed_block is None:
            cycle.confirmed_block = event.block_number


_HANDLERS = {
    "ObligationProposed": _on_proposed,
    "ObligationConfirmed": _on_confirmed,
    "ObligationDisputed": _on_disputed,
    "ObligationWithdrawn": _on_withdrawn,
    "ObligationAmended": _on_amended,
    "CycleOpened": _on_cycle_opened,
    "CycleClosed": _on_cycle_closed,
    "TransferPlanned": _on_transfer_planned,
    "SettlementPlanSubmitted": _on_plan_submitted,
    "PositionConfirmed": _on_position_confirmed,
    "CyclePositionsConfirmed": _on_positions_confirmed,
    "TransferPaid": _on_transfer_paid,
    "TransferReceived": _on_transfer_received,
    "CycleSettled": _on_cycle_settled,
}

__all__ = [
    "IndexStatus",
    "SyncResult",
    "rebuild_index",
    "refresh_index",
    "state",
    "status",
    "sync_ledger",
]
