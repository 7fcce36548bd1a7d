"""Anchoring the approval log through its outbox (SQLite and PostgreSQL, embedded chain).

The job reads the last checkpoint from the chain, proves the new tree extends it and
sends the transaction with the anchoring key that ``init`` admitted with ANCHORER.  While
the chain cannot be reached the entries stay pending, every attempt and its error are
recorded with an exponentially growing wait, ``/healthz`` reports it, and everything is
anchored once the chain is back.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from app.audit import services
from app.audit.anchoring import anchorer_account
from app.audit.models import Checkpoint
from app.audit.tasks import anchor_pending_task
from app.database import utcnow
from app.extensions import chain as chain_ext
from app.extensions import db
from ledger.approval_log import ApprovalLogClient
from ledger.errors import ContractRevertError
from ledger.merkle import MerkleLog, leaf_hash, verify_inclusion
from ledger.registry import RegistryClient, Role
from tests.audit_support import APPROVERS, deployed_app, log_decision

ROOT = Path(__file__).resolve().parents[2]
ANNA, BORIS, _ = APPROVERS


@pytest.fixture
def log_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    return deployed_app(make_app, tmp_path, ANCHOR_RETRY_BASE_SECONDS=60.0)


def client_of(app: Flask) -> ApprovalLogClient:
    return ApprovalLogClient(chain_ext.get(app), services.log_domain().contract)


def test_init_admits_a_separate_anchoring_key_holding_anchorer(log_app: Flask) -> None:
    with log_app.app_context():
        account = anchorer_account(log_app)
        domain = services.log_domain()
        registry = RegistryClient(chain_ext.get(log_app), client_of(log_app).registry())
        member = registry.member(account.address)
        assert member.roles == (Role.ANCHORER,)
        assert member.legal_name == "Ledgerline approval-log anchorer"
        assert registry.has_role(Role.ANCHORER, account.address)
        assert domain.chain_id == chain_ext.get(log_app).chain_id
    result = log_app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert f"chain: approval-log anchoring key {account.address}: holds ANCHORER" in result.output


def test_anchor_now_anchors_every_pending_entry_and_the_chain_proves_it(log_app: Flask) -> None:
    with log_app.app_context():
        assert services.anchor_now() is None  # an empty log: nothing to anchor
        ids = [log_decision(ANNA, campaign=1), log_decision(BORIS, campaign=1)]
        assert not services.entry_status(ids[0]).anchored
        checkpoint = services.anchor_now()
        assert checkpoint is not None
        assert (checkpoint.status, checkpoint.tree_size, checkpoint.attempts) == ("anchored", 2, 1)
        client = client_of(log_app)
        assert client.root_at(2).hex() == checkpoint.root.removeprefix("0x")
        event = client.anchored_event(2)
        assert event is not None
        assert (event.tx_hash, event.block_number) == (checkpoint.tx_hash, checkpoint.block_number)
        assert event.by == anchorer_account(log_app).address
        assert services.is_anchored(ids[1])
        status = services.entry_status(ids[0])
        assert (status.anchored, status.reason) == (True, "in the checkpoint of 2 entries on-chain")
        proof = services.entry_proof(ids[0])
        assert verify_inclusion(
            bytes.fromhex(proof.leaf_hash[2:]),
            ids[0],
            proof.tree_size,
            [bytes.fromhex(p[2:]) for p in proof.inclusion_proof],
            bytes.fromhex(proof.root[2:]),
        )
        third = log_decision(ANNA, campaign=2)
        assert not services.is_anchored(third)
        with pytest.raises(services.NotAnchoredError, match="entry 2 is not anchored yet"):
            services.evidence_for(third)
        again = services.anchor_now()
        assert again is not None and again.tree_size == 3
        assert services.anchor_pending().state == "up_to_date"


def test_a_checkpoint_the_database_missed_is_read_back_from_the_chain(log_app: Flask) -> None:
    with log_app.app_context():
        log_decision(ANNA, campaign=1)
        log_decision(BORIS, campaign=1)
        # The transaction is mined but the process dies before recording it.
        rows = [services.get_entry(i) for i in range(2)]
        log = MerkleLog(leaf_hash(e.record_json.encode()) for e in rows)
        sent = client_of(log_app).anchor_log(anchorer_account(log_app), log)
        assert sent is not None
        assert services.anchored_size() == 0
        log_decision(ANNA, campaign=2)
        outcome = services.anchor_pending()
        assert (outcome.state, outcome.anchored_size) == ("anchored", 3)
        recorded = db.session.scalars(db.select(Checkpoint).order_by(Checkpoint.tree_size)).all()
        assert [(c.tree_size, c.status, c.tx_hash) for c in recorded] == [
            (2, "anchored", sent.tx_hash),
            (3, "anchored", outcome.tx_hash),
        ]


def test_a_database_whose_history_was_rewritten_is_never_anchored(log_app: Flask) -> None:
    with log_app.app_context():
        log_decision(ANNA, campaign=1)
        log_decision(BORIS, campaign=1)
        services.anchor_now()
        # Someone rewrites entry 0 *and* its stored hash, then a new decision arrives.
        entry = services.get_entry(0)
        entry.record_json = entry.record_json.replace('"marketing"', '"legal"')
        entry.leaf_hash = "0x" + leaf_hash(entry.record_json.encode()).hex()
        db.session.commit()
        log_decision(ANNA, campaign=3)
        outcome = services.anchor_pending(force=True)
        assert outcome.state == "failed"
        assert outcome.error is not None and outcome.error.startswith(
            "the log's first 2 entries no longer hash to the root anchored on-chain (0x"
        )
        assert services.anchored_size() == 2


def test_a_checkpoint_rewriting_history_reverts_on_chain_through_the_client(
    log_app: Flask,
) -> None:
    with log_app.app_context():
        for campaign in (1, 2, 3):
            log_decision(ANNA, campaign=campaign)
        services.anchor_now()
        honest = MerkleLog(leaf_hash(services.get_entry(i).record_json.encode()) for i in range(3))
        forked = MerkleLog([honest.leaf(0), leaf_hash(b"a forged entry 1"), honest.leaf(2)])
        forked.append(leaf_hash(b"entry 3"))
        client = client_of(log_app)
        with pytest.raises(ContractRevertError) as error:
            client.anchor(anchorer_account(log_app), 4, forked.root(), forked.consistency_proof(3))
        assert error.value.error_name == "ApprovalLogInvalidProof"
        assert str(error.value) == (
            f"the tree of 4 entries with root 0x{forked.root().hex()} does not extend the "
            f"anchored tree of 3 entries (root 0x{honest.root().hex()}): the log's history was "
            "changed; run the log verification to find the entry"
        )
        assert client.latest() == (3, honest.root())


# -- the outbox while the chain is away ------------------------------------------------------


@pytest.fixture
def chain_taken_away(log_app: Flask) -> Iterator[Callable[[], None]]:
    """Take the app's embedded chain away (another process opens the file); call the
    yielded function to give it back."""
    chain_ext.close(log_app)
    url = log_app.config["CHAIN_URL"]
    code = (
        "import sys\nfrom ledger.chain import connect\n"
        f"c = connect({url!r})\nprint('ready', flush=True)\nsys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None and owner.stdin is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and owner.stdout.readline().strip() != "ready":
        pass

    def give_back() -> None:
        if owner.poll() is None:
            owner.stdin.close()  # type: ignore[union-attr]
            owner.wait(timeout=30)

    try:
        yield give_back
    finally:
        give_back()


def test_while_the_chain_is_away_entries_wait_with_backoff_and_catch_up_when_it_returns(
    log_app: Flask, chain_taken_away: Callable[[], None]
) -> None:
    client = log_app.test_client()
    with log_app.app_context():
        first = log_decision(ANNA, campaign=1)
        log_decision(BORIS, campaign=1)

        failed = services.anchor_pending()
        assert failed.state == "failed"
        assert failed.error is not None and "is already open in process" in failed.error
        assert failed.retry_in == 60.0
        outbox = services.pending_checkpoint()
        assert outbox is not None
        assert (outbox.status, outbox.attempts, outbox.tree_size) == ("pending", 1, 2)
        assert outbox.last_error == failed.error

        waiting = services.anchor_pending()  # too early: the outbox says when to retry
        assert waiting.state == "backing_off"
        assert waiting.retry_in is not None and 0 < waiting.retry_in <= 60

        with pytest.raises(services.AnchoringFailedError, match="entries stay pending"):
            services.anchor_now()  # before a dispatch: tries at once, and says why it failed
        db.session.expire_all()
        outbox = services.pending_checkpoint()
        assert outbox is not None and outbox.attempts == 2
        assert outbox.next_attempt_at is not None and outbox.last_attempt_at is not None
        assert outbox.next_attempt_at - outbox.last_attempt_at == timedelta(seconds=120)

        log_decision(ANNA, campaign=2)  # decisions keep being logged meanwhile
        assert services.anchoring_status().pending_entries == 3

    health = client.get("/healthz").json["components"]["anchoring"]
    assert health["status"] == "error"
    assert health["pending_entries"] == 3
    assert health["outbox"]["attempts"] == 2
    assert health["error"].startswith("anchoring failed 2 time(s), 3 entries wait; next attempt ")

    chain_taken_away()
    with log_app.app_context():
        outbox = services.pending_checkpoint()
        assert outbox is not None
        outbox.next_attempt_at = utcnow() - timedelta(seconds=1)  # the wait is over
        db.session.commit()
        done = services.anchor_pending()
        assert (done.state, done.anchored_size) == ("anchored", 3)
        assert services.pending_checkpoint() is None
        checkpoint = services.latest_anchored()
        assert checkpoint is not None
        assert (checkpoint.tree_size, checkpoint.attempts, checkpoint.last_error) == (3, 3, None)
        assert services.is_anchored(first)
        assert services.verify_log().ok
    health = client.get("/healthz").json["components"]["anchoring"]
    assert health["status"] == "ok"
    assert (health["pending_entries"], health["outbox"]) == (0, None)
    assert health["last_anchor"]["tree_size"] == 3


def test_backoff_doubles_up_to_the_configured_maximum(make_app: Callable[..., Flask]) -> None:
    app = make_app(ANCHOR_RETRY_BASE_SECONDS=5.0, ANCHOR_RETRY_MAX_SECONDS=60.0)
    with app.app_context():
        assert [services.backoff_seconds(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_an_unreachable_node_is_recorded_as_the_outboxs_last_error(
    make_app: Callable[..., Flask], unreachable_chain_url: str
) -> None:
    app = make_app()
    with app.app_context():
        log_decision(campaign=1)
        outcome = services.anchor_pending()
        assert outcome.state == "failed"
        assert outcome.error == (
            f"cannot reach the chain at {unreachable_chain_url}: Connection refused; "
            "check the URL or start the node"
        )
        assert services.anchoring_status().failing


# -- scheduling -------------------------------------------------------------------------------


def test_anchoring_is_enqueued_after_the_commit_that_makes_n_entries_wait(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = deployed_app(make_app, tmp_path, ANCHOR_EVERY_ENTRIES=3)
    with app.app_context():
        log_decision(ANNA, campaign=1)
        log_decision(BORIS, campaign=1)
        assert services.anchored_size() == 0
        log_decision(ANNA, campaign=2)  # the third waiting entry: anchored after commit
        assert services.anchored_size() == 3
        log_decision(ANNA, campaign=3)
        assert services.anchored_size() == 3


def test_a_rolled_back_append_enqueues_nothing(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = deployed_app(make_app, tmp_path, ANCHOR_EVERY_ENTRIES=1)
    with app.app_context():
        from tests.audit_support import decision

        record = services.new_record(**decision(1))
        services.append_entry(record, signature=None, signer=None)
        db.session.rollback()
        db.session.commit()
        assert services.anchored_size() == 0 and services.log_size() == 0


def test_beat_runs_the_anchoring_task_on_the_configured_interval(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(ANCHOR_INTERVAL_SECONDS=120)
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["ledgerline.audit.anchor_pending"] == {
        "task": "ledgerline.audit.anchor_pending",
        "schedule": 120.0,
    }
    assert "app.audit.tasks" in app.extensions["celery"].conf.imports


def test_the_task_reports_what_the_run_did(log_app: Flask) -> None:
    with log_app.app_context():
        log_decision(ANNA, campaign=1)
    result = anchor_pending_task.delay().get()
    assert result["state"] == "anchored"
    assert (result["log_size"], result["anchored_size"]) == (1, 1)
    assert result["tx_hash"].startswith("0x")
