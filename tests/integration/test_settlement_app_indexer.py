"""The settlement index (SQLite and PostgreSQL, embedded chain): it folds every event
kind into the tables, replaying blocks changes nothing, syncing in steps gives what one
pass gives, and it agrees with the chain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect

from app.extensions import db
from app.settlement import indexer
from app.settlement.models import (
    IndexedCycle,
    IndexedMember,
    IndexedObligation,
    IndexedPosition,
    IndexedTransfer,
    SyncState,
)
from app.settlement.tasks import SYNC_TASK, sync_task
from ledger.settlement import DisputeReason, Obligation
from tests.settlement_app_support import Consortium, consortium_app, record

INDEX = (IndexedMember, IndexedObligation, IndexedCycle, IndexedPosition, IndexedTransfer)


@pytest.fixture
def busy(make_app: Callable[..., Flask], tmp_path: Path) -> tuple[Consortium, dict[str, Any]]:
    """A ledger with every kind of event: a settled EUR cycle, an open USD cycle, a
    withdrawal, a dispute and an amendment."""
    consortium = consortium_app(make_app, tmp_path)
    a, b, c, agent = consortium.a, consortium.b, consortium.c, consortium.agent
    client = consortium.client()
    later = client.chain_time() + 86400
    eur = client.open_cycle(agent.signer, "EUR", later).cycle.id
    usd = client.open_cycle(agent.signer, "USD", later).cycle.id
    deals = [record(a, b, 10_000, "B-1"), record(b, c, 4_000, "C-1"), record(c, a, 1_000, "A-1")]
    for ob, proposer, confirmer in zip(deals, (b, c, a), (a, b, c), strict=True):
        client.propose(proposer.signer, ob)
        client.confirm(confirmer.signer, ob)
    dollars = record(a, c, 2_500, "C-2", currency="USD")
    client.propose(c.signer, dollars)
    client.confirm(a.signer, dollars)
    withdrawn = record(b, a, 300, "A-2")
    disputed = record(c, b, 9_900, "B-2")
    client.propose_batch(a.signer, [withdrawn])
    client.withdraw(a.signer, withdrawn)
    client.propose(b.signer, disputed)
    client.dispute(c.signer, disputed, DisputeReason.WRONG_PERIOD)
    amended = Obligation.create(
        c.address, b.address, "EUR", 9_000, "roaming", 202510, reference="B-2"
    )
    client.amend(b.signer, disputed, amended)
    client.close_cycle(agent.signer, eur)
    client.submit_plan(agent.signer, eur)
    for party in (a, b, c):
        client.confirm_position(party.signer, eur)
    for t in client.transfers(eur):
        client.mark_paid(a.signer, eur, t.index, f"SEPA-{t.index}")
        payee = b if t.payee == b.address else c
        client.confirm_received(payee.signer, eur, t.index)
    ids = {
        "deals": [o.id for o in deals],
        "dollars": dollars.id,
        "withdrawn": withdrawn.id,
        "disputed": disputed.id,
        "amended": amended.id,
        "eur": eur,
        "usd": usd,
    }
    return consortium, ids


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every index row, as plain values, in primary-key order."""
    found = {}
    for model in INDEX:
        columns = [c.key for c in inspect(model).column_attrs]
        rows = db.session.scalars(db.select(model).order_by(*inspect(model).primary_key)).all()
        found[model.__tablename__] = [{c: getattr(r, c) for c in columns} for r in rows]
    return found


def test_the_index_holds_every_event_kind_and_agrees_with_the_chain(
    busy: tuple[Consortium, dict[str, Any]],
) -> None:
    consortium, ids = busy
    client = consortium.client()
    with consortium.app.app_context():
        result = indexer.sync_ledger()
        assert result.rebuilt and result.members_refreshed
        assert result.indexed_block == client.chain.block_number()
        statuses = {r.id: r.status for r in db.session.scalars(db.select(IndexedObligation))}
        assert statuses == {o.id: o.status.label for o in client.obligations()}
        assert statuses[ids["withdrawn"]] == "withdrawn"
        assert statuses[ids["amended"]] == "proposed"
        disputed = db.session.get(IndexedObligation, ids["disputed"])
        assert disputed is not None
        assert (disputed.status, disputed.dispute_reason, disputed.amended_by) == (
            "amended",
            int(DisputeReason.WRONG_PERIOD),
            ids["amended"],
        )
        for cycle_id in (ids["eur"], ids["usd"]):
            chain_cycle = client.cycle(cycle_id)
            row = db.session.get(IndexedCycle, cycle_id)
            assert row is not None
            assert (
                row.status,
                row.obligation_count,
                row.gross_value,
                row.participant_count,
                row.transfer_count,
                row.net_value or 0,
            ) == (
                chain_cycle.status.label,
                chain_cycle.obligation_count,
                chain_cycle.gross_value,
                chain_cycle.participant_count,
                chain_cycle.transfer_count,
                chain_cycle.net_value,
            )
            positions = db.session.scalars(
                db.select(IndexedPosition).where(IndexedPosition.cycle_id == cycle_id)
            ).all()
            assert {p.member: p.position for p in positions} == client.positions(cycle_id)
        transfers = db.session.scalars(db.select(IndexedTransfer)).all()
        assert [(t.index, t.status, t.paid_block is not None) for t in transfers] == [
            (t.index, t.status.label, True) for t in client.transfers(ids["eur"])
        ]
        members = db.session.scalars(db.select(IndexedMember).order_by(IndexedMember.position))
        assert [m.code for m in members] == ["GOVXX", "LLANC", "SWENM", "AUTAF", "ESPIM", "LUXMC"]


def test_replaying_blocks_already_indexed_changes_nothing(
    busy: tuple[Consortium, dict[str, Any]],
) -> None:
    consortium, _ = busy
    with consortium.app.app_context():
        first = indexer.sync_ledger()
        before = snapshot()
        again = indexer.sync_ledger(from_block=0)
        assert again.events == first.events and not again.rebuilt
        assert snapshot() == before
        nothing = indexer.sync_ledger()
        assert nothing.events == 0
        assert snapshot() == before
        rebuilt = indexer.rebuild_index()
        assert rebuilt.rebuilt
        assert snapshot() == before


def test_syncing_in_steps_gives_what_one_pass_gives(
    busy: tuple[Consortium, dict[str, Any]],
) -> None:
    consortium, _ = busy
    client = consortium.client()
    head = client.chain.block_number()
    with consortium.app.app_context():
        indexer.sync_ledger()
        whole = snapshot()
        indexer.rebuild_index()
        db.session.query(SyncState).update({"last_block": client.start_block - 1})
        for model in INDEX[1:]:
            db.session.query(model).delete()
        db.session.commit()
        for end in range(client.start_block, head + 1, 3):
            indexer.sync_ledger(to_block=end)
        indexer.sync_ledger()
        assert snapshot() == whole


def test_an_index_of_another_deployment_is_rebuilt(
    busy: tuple[Consortium, dict[str, Any]],
) -> None:
    consortium, ids = busy
    with consortium.app.app_context():
        indexer.sync_ledger()
        before = snapshot()
        row = db.session.get(SyncState, "ledger")
        assert row is not None
        row.ledger_address = "0x" + "11" * 20  # as if the chain had been reset
        db.session.query(IndexedObligation).filter_by(id=ids["dollars"]).delete()
        db.session.commit()
        result = indexer.sync_ledger()
        assert result.rebuilt
        assert snapshot() == before


def test_the_sync_task_indexes_and_beat_runs_it(
    busy: tuple[Consortium, dict[str, Any]],
) -> None:
    consortium, _ = busy
    client = consortium.client()
    with consortium.app.app_context():
        outcome = sync_task.delay().get()
        assert outcome["indexedBlock"] == client.chain.block_number()
        assert outcome["events"] > 20
    schedule = consortium.app.extensions["celery"].conf.beat_schedule
    assert schedule[SYNC_TASK] == {"task": SYNC_TASK, "schedule": 60.0}
