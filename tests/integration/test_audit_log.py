"""Appending to the approval log, and re-deriving it from the database (SQLite, PostgreSQL).

An entry is appended in the caller's transaction, under a lock on the log's head row, so
concurrent appends never share an index; a record must name its campaign's latest entry
and, when it names an approver, carry that approver's EIP-712 signature.  ``verify-log``
re-derives every entry and names the one a direct database edit changed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from app.audit import services
from app.audit.models import ApprovalLogEntry, LogHead
from app.errors import ValidationError
from app.extensions import db
from ledger.merkle import canonical_record, leaf_hash
from tests.audit_support import APPROVERS, decision, deployed_app, log_decision

ANNA, BORIS, CLARA = APPROVERS


@pytest.fixture
def log_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    return deployed_app(make_app, tmp_path)


def test_entries_are_numbered_from_zero_and_store_their_canonical_record_verbatim(
    log_app: Flask,
) -> None:
    with log_app.app_context():
        first = log_decision(campaign=7, decision="submit", stage="")
        second = log_decision(ANNA, campaign=8)
        third = log_decision(BORIS, campaign=7, stage="compliance")
        assert (first, second, third) == (0, 1, 2)
        entries = db.session.scalars(select(ApprovalLogEntry).order_by(ApprovalLogEntry.id)).all()
        for entry in entries:
            raw = entry.record_json.encode()
            assert canonical_record(json.loads(raw)) == raw
            assert entry.leaf_hash == "0x" + leaf_hash(raw).hex()
        assert entries[0].prev_entry_hash is None
        assert entries[1].prev_entry_hash is None  # campaign 8's first entry
        assert entries[2].prev_entry_hash == entries[0].leaf_hash
        assert entries[2].record["prev_entry_hash"] == entries[0].leaf_hash
        assert (entries[0].signer, entries[2].signer) == (None, BORIS.address)
        assert (entries[2].campaign_id, entries[2].decision, entries[2].stage) == (
            "7",
            "approve",
            "compliance",
        )
        assert db.session.get(LogHead, 1).size == 3


def test_appending_joins_the_callers_transaction_and_a_rollback_undoes_it(log_app: Flask) -> None:
    with log_app.app_context():
        record = services.new_record(**decision(3))
        entry = services.append_entry(record, signature=None, signer=None)
        assert entry.id == 0
        db.session.rollback()
        assert services.log_size() == 0
        assert log_decision(campaign=3) == 0


def test_a_record_built_before_another_decision_of_its_campaign_is_a_conflict(
    log_app: Flask,
) -> None:
    with log_app.app_context():
        log_decision(campaign=5, decision="submit")
        stale = services.new_record(**decision(5, approver=ANNA))
        latest = log_decision(BORIS, campaign=5)
        latest_hash = services.get_entry(latest).leaf_hash
        with pytest.raises(services.LogConflictError) as error:
            services.append_entry(
                stale, signature=services.sign_record(ANNA, stale), signer=ANNA.address
            )
        assert error.value.message == (
            f"campaign 5's latest log entry is {latest_hash}, but the record follows "
            f"{stale['prev_entry_hash']}; another decision was logged meanwhile: build the "
            "record again with new_record and sign it again"
        )
        db.session.rollback()
        assert services.log_size() == 2


def test_an_approvers_decision_must_carry_the_approvers_own_signature(log_app: Flask) -> None:
    with log_app.app_context():
        record = services.new_record(**decision(1, approver=ANNA))
        with pytest.raises(ValidationError) as unsigned:
            services.append_entry(record, signature=None, signer=None)
        assert unsigned.value.message == (
            f"the approve by {ANNA.address} must be signed with the approver's key "
            "(sign decision_typed_data(record) with EIP-712)"
        )
        typed = services.decision_typed_data(record)
        from eth_account import Account

        forged = (
            "0x" + bytes(Account.sign_typed_data(BORIS.key, full_message=typed).signature).hex()
        )
        with pytest.raises(ValidationError) as wrong:
            services.append_entry(record, signature=forged, signer=BORIS.address)
        assert wrong.value.message == (
            f"the signature was made by {BORIS.address}, not by the approver {ANNA.address}; "
            "sign with the approver's own key"
        )
        with pytest.raises(ValidationError, match="cannot carry a signature"):
            services.append_entry(services.new_record(**decision(2)), signature=forged, signer=None)
        assert services.log_size() == 0


def test_new_record_checks_the_field_set(log_app: Flask) -> None:
    with log_app.app_context():
        fields = decision(1)
        del fields["policy_version"]
        with pytest.raises(ValidationError) as missing:
            services.new_record(**fields)
        assert missing.value.message == "the approval record lacks policy_version; give every field"
        with pytest.raises(ValidationError) as generated:
            services.new_record(**decision(1), salt="0x" + "00" * 32)
        assert generated.value.message == "salt is filled in by new_record; leave it out"
        with pytest.raises(ValidationError) as floats:
            services.new_record(**decision(1, snapshot_count=2.0))
        assert floats.value.message == (
            "record field 'snapshot_count' is 2.0; expected a whole number >= 0"
        )


def test_concurrent_appends_never_share_an_index(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    workers, per_worker = 6, 5
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(worker: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for _ in range(per_worker):
                    log_decision(campaign=f"c{worker}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        ids = db.session.scalars(select(ApprovalLogEntry.id).order_by(ApprovalLogEntry.id)).all()
        assert ids == list(range(workers * per_worker))
        assert db.session.get(LogHead, 1).size == workers * per_worker
        report = services.verify_log(check_chain=False)
        assert report.ok, report.lines()


def test_concurrent_decisions_of_one_campaign_keep_its_hash_chain_linear(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def work() -> None:
        with app.app_context():
            record = services.new_record(**decision(9))
            start.wait()
            try:
                services.append_entry(record, signature=None, signer=None)
                db.session.commit()
                outcomes.append("logged")
            except services.LogConflictError:
                db.session.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "logged"]
    with app.app_context():
        assert services.log_size() == 1
        assert services.verify_log(check_chain=False).ok


# -- verify-log --------------------------------------------------------------------------------


def test_verify_log_passes_on_an_untouched_anchored_log(log_app: Flask) -> None:
    with log_app.app_context():
        for approver in APPROVERS:
            log_decision(approver, campaign=4)
        services.anchor_now()
        log_decision(ANNA, campaign=5)
    result = log_app.test_cli_runner().invoke(args=["audit", "verify-log"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "✓ 4 entries re-derived: leaf hashes, canonical records, campaign hash chains and "
        "4 approver signatures"
    )
    assert lines[1] == "✓ 1 recorded checkpoints match the log's roots"
    assert lines[2].startswith("✓ 1 checkpoints on chain ")
    assert lines[2].endswith("match the log (latest: 3 of 4 entries)")
    assert lines[-1] == "the approval log verifies"


def test_verify_log_names_an_entry_edited_in_the_database(log_app: Flask) -> None:
    with log_app.app_context():
        for approver in APPROVERS:
            log_decision(approver, campaign=4)
        log_decision(ANNA, campaign=6)
        services.anchor_now()
        db.session.execute(
            text(
                "UPDATE approval_log_entries SET record_json = "
                'replace(record_json, \'"stage":"marketing"\', \'"stage":"legal"\') '
                "WHERE id = 1"
            )
        )
        db.session.commit()
        report = services.verify_log()
        assert report.bad_entries == [1, 2]  # 2 names 1 as its campaign's previous entry
        assert {(f.check, f.entry_id) for f in report.problems} == {
            ("leaf_hash", 1),
            ("columns", 1),
            ("signature", 1),
            ("campaign_chain", 2),
            ("checkpoint", None),
            ("chain", None),
        }
    result = log_app.test_cli_runner().invoke(args=["audit", "verify-log"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("✗ entry 1: its record hashes to 0x")
    assert lines[0].endswith(": the entry was edited")
    assert any(
        line.startswith("✗ the log's first 4 entries hash to 0x")
        and line.endswith("entry 1 changed")
        for line in lines
    )
    assert lines[-1] == "the approval log does NOT verify: 6 problem(s), entries 1, 2"


def test_an_edit_that_also_rewrites_the_stored_hash_is_still_named(log_app: Flask) -> None:
    with log_app.app_context():
        for approver in APPROVERS:
            log_decision(approver, campaign=4)
        services.anchor_now()
        entry = services.get_entry(2)
        forged = entry.record | {"stage": "legal"}
        raw = canonical_record(forged)
        db.session.execute(
            text("UPDATE approval_log_entries SET record_json = :r, leaf_hash = :h WHERE id = 2"),
            {"r": raw.decode(), "h": "0x" + leaf_hash(raw).hex()},
        )
        db.session.commit()
        report = services.verify_log()
        assert report.bad_entries == [2]
        chain = [f for f in report.problems if f.check == "chain"]
        assert len(chain) == 1 and chain[0].message.endswith("entry 2 changed")


def test_verify_log_names_a_deleted_entry(log_app: Flask) -> None:
    with log_app.app_context():
        for campaign in (1, 2, 3):
            log_decision(campaign=campaign)
        db.session.execute(text("DELETE FROM approval_log_entries WHERE id = 1"))
        db.session.commit()
        report = services.verify_log(check_chain=False)
        assert [(f.check, f.entry_id, f.message) for f in report.problems] == [
            ("sequence", 1, "entry 1 is missing: entry 2 follows")
        ]
