"""Evidence bundles: built from a log anchored on an embedded chain, verified with
nothing but the bundle and the chain, and refused, naming the check, when tampered.

One embedded chain per module holds a registry (one governor who also anchors) and an
ApprovalLog with a checkpoint of ten signed decisions.  Each tampering case states the
exact set of checks that must fail, so a verifier that fails for the wrong reason, or
for too many or too few, fails the test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from ledger.approval_log import ApprovalLogClient, LogDivergedError
from ledger.approval_record import make_record
from ledger.chain import Chain, connect
from ledger.deploy import default_genesis, default_plan, deploy
from ledger.eip712 import decision_typed_data, sign_decision
from ledger.evidence import (
    APPROVAL_CHECKS,
    RECIPIENT_CHECKS,
    AnchorInfo,
    build_approval_evidence,
    build_recipient_evidence,
    snapshot_member,
    snapshot_root,
    verify_evidence,
)
from ledger.merkle import MerkleLog, record_leaf

GOVERNOR = Account.from_key(keccak(text="evidence test governor"))
APPROVER = Account.from_key(keccak(text="evidence test approver"))
STRANGER = Account.from_key(keccak(text="evidence test stranger"))
MEMBERS = [snapshot_member(str(100 + i), "email", f"buyer{i}@example.com") for i in range(7)]
INDEX = 6


@dataclass
class Anchored:
    chain: Chain
    client: ApprovalLogClient
    registry: str
    records: list[dict[str, Any]]
    signatures: list[str]
    log: MerkleLog
    anchor: AnchorInfo

    def bundle(self, index: int = INDEX) -> dict[str, Any]:
        return build_approval_evidence(
            record=self.records[index],
            leaf_index=index,
            log=self.log,
            anchor=self.anchor,
            signature=self.signatures[index],
            signer=APPROVER.address,
        )


def record(campaign: int, decision: str, prev: bytes | None, stage: str) -> dict[str, Any]:
    return make_record(
        {
            "campaign_id": str(campaign),
            "campaign_version": 1,
            "content_hash": keccak(text=f"content {campaign}"),
            "segment_version": 4,
            "segment_definition_hash": keccak(text="segment"),
            "snapshot_count": len(MEMBERS),
            "snapshot_root": snapshot_root(MEMBERS),
            "stage": stage,
            "decision": decision,
            "approver_id": "9",
            "approver_address": APPROVER.address,
            "policy_version": 2,
            "expires_at": None,
            "prev_entry_hash": prev,
        }
    )


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    workdir = tmp_path_factory.mktemp("evidence")
    chain = connect(f"embedded://{workdir / 'chain.db'}")
    try:
        chain.fund(GOVERNOR.address, 10**18)
        genesis = default_genesis(GOVERNOR.address, roles=("GOVERNOR", "ANCHORER"))
        deployment = deploy(chain, GOVERNOR, workdir / "deployment.json", default_plan(genesis))
        client = ApprovalLogClient(chain, deployment.address("ApprovalLog"))
        records: list[dict[str, Any]] = []
        previous: dict[int, bytes] = {}
        for i in range(10):
            campaign = i % 3
            decision = "approve" if i != 0 else "submit"
            one = record(campaign, decision, previous.get(campaign), f"stage {i}")
            previous[campaign] = record_leaf(one)
            records.append(one)
        signatures = [sign_decision(APPROVER, r, chain.chain_id, client.address) for r in records]
        log = MerkleLog(record_leaf(r) for r in records)
        result = client.anchor_log(GOVERNOR, log)
        assert result is not None
        anchor = AnchorInfo(
            chain.chain_id, client.address, 10, log.root(), result.tx_hash, result.block_number
        )
        yield Anchored(
            chain,
            client,
            deployment.address("OperatorRegistry"),
            records,
            signatures,
            log,
            anchor,
        )
    finally:
        chain.close()


def failed_checks(anchored: Anchored, bundle: dict[str, Any]) -> set[str]:
    return set(verify_evidence(json.loads(json.dumps(bundle)), anchored.chain).failed)


# -- the round trip --------------------------------------------------------------------------


def test_a_bundle_has_the_documented_shape(anchored: Anchored) -> None:
    bundle = anchored.bundle()
    assert list(bundle) == [
        "format",
        "record",
        "leaf_index",
        "leaf_hash",
        "tree_size",
        "inclusion_proof",
        "root",
        "signature",
        "signer",
        "anchor",
    ]
    assert bundle["format"] == "ledgerline-approval-evidence/1"
    assert bundle["leaf_index"] == INDEX
    assert bundle["tree_size"] == 10
    assert bundle["leaf_hash"] == "0x" + record_leaf(anchored.records[INDEX]).hex()
    assert bundle["root"] == "0x" + anchored.log.root().hex()
    assert len(bundle["inclusion_proof"]) == 4  # 3 inside D[0:8], then MTH(D[8:10])
    assert bundle["anchor"] == {
        "chain_id": anchored.chain.chain_id,
        "contract": anchored.client.address,
        "tx_hash": anchored.anchor.tx_hash,
        "block_number": anchored.anchor.block_number,
        "tree_size": 10,
        "root": bundle["root"],
    }


def test_an_untouched_bundle_passes_every_check(anchored: Anchored) -> None:
    for index in range(10):
        report = verify_evidence(anchored.bundle(index), anchored.chain)
        assert report.ok, report.lines()
        assert [c.name for c in report.checks] == list(APPROVAL_CHECKS)
        assert {c.status for c in report.checks} == {"ok"}
    lines = verify_evidence(anchored.bundle(), anchored.chain).lines()
    assert lines[-1] == "VERIFIED"
    assert lines[9] == f"✓ approver's EIP-712 signature: signed by the approver {APPROVER.address}"


# -- tampering -----------------------------------------------------------------------------


def _edit_record(b: dict[str, Any], a: Anchored) -> None:
    b["record"]["stage"] = "legal"


def _flip_proof_byte(b: dict[str, Any], a: Anchored) -> None:
    first = b["inclusion_proof"][1]
    b["inclusion_proof"][1] = first[:10] + ("0" if first[10] != "0" else "1") + first[11:]


def _wrong_root(b: dict[str, Any], a: Anchored) -> None:
    b["root"] = "0x" + a.log.root(9).hex()


def _wrong_root_everywhere(b: dict[str, Any], a: Anchored) -> None:
    b["root"] = b["anchor"]["root"] = "0x" + a.log.root(9).hex()


def _wrong_tree_size(b: dict[str, Any], a: Anchored) -> None:
    b["tree_size"] = b["anchor"]["tree_size"] = 9


def _wrong_contract(b: dict[str, Any], a: Anchored) -> None:
    b["anchor"]["contract"] = a.registry


def _wrong_chain(b: dict[str, Any], a: Anchored) -> None:
    b["anchor"]["chain_id"] = 31337


def _forged_signature(b: dict[str, Any], a: Anchored) -> None:
    typed = decision_typed_data(b["record"], a.chain.chain_id, a.client.address)
    forged = Account.sign_typed_data(STRANGER.key, full_message=typed).signature
    b["signature"] = "0x" + bytes(forged).hex()


def _replayed_signature(b: dict[str, Any], a: Anchored) -> None:
    b["signature"] = a.signatures[INDEX - 1]


def _no_signature(b: dict[str, Any], a: Anchored) -> None:
    b["signature"] = None


def _other_transaction(b: dict[str, Any], a: Anchored) -> None:
    b["anchor"]["tx_hash"] = "0x" + bytes(a.chain.w3.eth.get_block(1)["transactions"][0]).hex()


TAMPERING: dict[str, tuple[Callable[[dict[str, Any], Anchored], None], set[str]]] = {
    "record edited": (_edit_record, {"leaf_hash", "signature"}),
    "proof byte flipped": (_flip_proof_byte, {"inclusion_proof"}),
    "wrong root": (_wrong_root, {"inclusion_proof", "anchor", "anchored_root"}),
    "wrong root, anchor too": (
        _wrong_root_everywhere,
        {"inclusion_proof", "anchored_root", "anchor_transaction"},
    ),
    # The proof of leaf 6 is the same in trees of 9 and 10 leaves: only the chain, which
    # never anchored 9 entries, tells the sizes apart.
    "wrong tree size": (_wrong_tree_size, {"anchored_root", "anchor_transaction"}),
    "wrong contract": (
        _wrong_contract,
        {"contract", "anchored_root", "anchor_transaction", "signature"},
    ),
    "wrong chain": (_wrong_chain, {"chain_id", "signature"}),
    "forged signature": (_forged_signature, {"signature"}),
    "signature of another record": (_replayed_signature, {"signature"}),
    "signature removed": (_no_signature, {"signature"}),
    "another transaction": (_other_transaction, {"anchor_transaction"}),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_tampered_bundle_fails_exactly_the_checks_it_breaks(
    anchored: Anchored, case: str
) -> None:
    tamper, expected = TAMPERING[case]
    bundle = copy.deepcopy(anchored.bundle())
    tamper(bundle, anchored)
    report = verify_evidence(bundle, anchored.chain)
    assert not report.ok
    assert set(report.failed) == expected, report.lines()
    assert report.lines()[-1] == f"FAILED ({', '.join(report.failed)})"


def test_the_failing_lines_say_what_is_wrong(anchored: Anchored) -> None:
    bundle = anchored.bundle()
    bundle["record"]["stage"] = "legal"
    report = verify_evidence(bundle, anchored.chain)
    leaf = report.check("leaf_hash")
    assert leaf.line().startswith("✗ leaf hash: the record hashes to 0x")
    assert leaf.detail.endswith(
        f"not to the bundle's {bundle['leaf_hash']}: the record was changed"
    )
    bundle = anchored.bundle()
    bundle["anchor"]["chain_id"] = 31337
    assert verify_evidence(bundle, anchored.chain).check("chain_id").detail == (
        f"the bundle was anchored on chain 31337 but the node at {anchored.chain.url} is chain "
        f"{anchored.chain.chain_id}: ask a node of chain 31337"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, "format is 'other/1', not 'ledgerline-approval-evidence/1'"),
        ({"leaf_index": "6"}, "leaf_index is '6', not a whole number >= 0"),
        ({"root": "0x12"}, "root is '0x12', not 0x followed by 64 hex digits"),
        ({"inclusion_proof": "0x12"}, "inclusion_proof is not a list"),
        ({"anchor": None}, "anchor is not an object"),
    ],
)
def test_a_malformed_bundle_fails_only_its_format_check(
    anchored: Anchored, change: dict[str, Any], message: str
) -> None:
    report = verify_evidence({**anchored.bundle(), **change}, anchored.chain)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [("format", "failed", message)]


def test_a_bundle_missing_a_field_names_it(anchored: Anchored) -> None:
    bundle = anchored.bundle()
    del bundle["tree_size"]
    assert verify_evidence(bundle, anchored.chain).check("format").detail == (
        "the bundle lacks 'tree_size'"
    )


def test_evidence_is_refused_for_a_record_the_log_does_not_hold(anchored: Anchored) -> None:
    changed = {**anchored.records[INDEX], "stage": "legal"}
    with pytest.raises(LogDivergedError, match=r"^entry 6's record hashes to 0x[0-9a-f]{64}, not"):
        build_approval_evidence(
            record=changed,
            leaf_index=INDEX,
            log=anchored.log,
            anchor=anchored.anchor,
            signature=None,
            signer=None,
        )


def test_evidence_is_refused_when_the_log_does_not_reproduce_the_anchored_root(
    anchored: Anchored,
) -> None:
    other = MerkleLog(anchored.log.leaf(i) for i in range(10))
    other.append(record_leaf({"x": "y"}))
    wrong = AnchorInfo(anchored.chain.chain_id, anchored.client.address, 10, b"\1" * 32)
    with pytest.raises(LogDivergedError, match=r"^the log's first 10 entries hash to 0x"):
        build_approval_evidence(
            record=anchored.records[0], leaf_index=0, log=other, anchor=wrong, signature=None,
            signer=None,
        )  # fmt: skip


# -- recipients ------------------------------------------------------------------------------


def recipient_bundle(anchored: Anchored, index: int = 3) -> dict[str, Any]:
    return build_recipient_evidence(
        snapshot_id="17", members=MEMBERS, index=index, approval=anchored.bundle()
    )


def test_a_recipient_bundle_proves_the_member_was_in_the_approved_snapshot(
    anchored: Anchored,
) -> None:
    bundle = recipient_bundle(anchored)
    assert bundle["format"] == "ledgerline-recipient-evidence/1"
    assert bundle["member"] == {
        "contact_id": "103",
        "channel": "email",
        "address": "buyer3@example.com",
    }
    assert bundle["snapshot_size"] == 7
    report = verify_evidence(json.loads(json.dumps(bundle)), anchored.chain)
    assert report.ok, report.lines()
    names = [c.name for c in report.checks]
    assert names == [*RECIPIENT_CHECKS, *(f"approval.{n}" for n in APPROVAL_CHECKS)]


def test_a_recipient_not_in_the_snapshot_fails_the_member_checks(anchored: Anchored) -> None:
    bundle = recipient_bundle(anchored)
    bundle["member"]["address"] = "intruder@example.com"
    assert set(verify_evidence(bundle, anchored.chain).failed) == {"member_leaf"}
    bundle = recipient_bundle(anchored)
    bundle["leaf_hash"] = (
        "0x" + record_leaf(snapshot_member("999", "email", "intruder@example.com")).hex()
    )
    bundle["member"] = snapshot_member("999", "email", "intruder@example.com")
    assert set(verify_evidence(bundle, anchored.chain).failed) == {"member_inclusion"}


def test_a_recipient_of_another_snapshot_fails_the_approval_link(anchored: Anchored) -> None:
    others = [*MEMBERS, snapshot_member("200", "email", "late@example.com")]
    log = MerkleLog(record_leaf(m) for m in others)
    bundle = recipient_bundle(anchored)
    bundle.update(
        member=others[7],
        leaf_index=7,
        leaf_hash="0x" + log.leaf(7).hex(),
        snapshot_size=8,
        inclusion_proof=["0x" + p.hex() for p in log.inclusion_proof(7)],
        snapshot_root="0x" + log.root().hex(),
    )
    report = verify_evidence(bundle, anchored.chain)
    assert set(report.failed) == {"snapshot_approved"}
    assert report.check("snapshot_approved").detail.startswith("the approval names snapshot (7, ")


def test_a_recipient_bundle_embedding_a_tampered_approval_fails_its_approval_checks(
    anchored: Anchored,
) -> None:
    bundle = recipient_bundle(anchored)
    bundle["approval"]["signature"] = anchored.signatures[0]
    assert set(verify_evidence(bundle, anchored.chain).failed) == {"approval.signature"}


def test_a_submit_decision_does_not_prove_a_recipient(anchored: Anchored) -> None:
    bundle = build_recipient_evidence(
        snapshot_id="17", members=MEMBERS, index=0, approval=anchored.bundle(0)
    )
    report = verify_evidence(bundle, anchored.chain)
    assert set(report.failed) == {"snapshot_approved"}
    assert report.check("snapshot_approved").detail == (
        "the embedded record is a 'submit' decision, not an approval"
    )


def test_no_recipient_evidence_for_a_snapshot_its_approval_does_not_name(
    anchored: Anchored,
) -> None:
    with pytest.raises(LogDivergedError, match=r"^snapshot 17 hashes to 0x[0-9a-f]{64}, not to"):
        build_recipient_evidence(
            snapshot_id="17", members=MEMBERS[:-1], index=0, approval=anchored.bundle()
        )


def test_recipient_helpers_hash_members_as_snapshots_do() -> None:
    member = snapshot_member("5", "sms", "+33612345678")
    assert member == {"contact_id": "5", "channel": "sms", "address": "+33612345678"}
    assert snapshot_root([member]) == record_leaf(member)


# -- docs/audit.md -------------------------------------------------------------------------


def test_the_worked_example_in_docs_audit_md_is_what_the_code_computes() -> None:
    import hashlib

    from eth_account.messages import encode_typed_data

    from ledger.approval_record import canonical_bytes
    from ledger.eip712 import DECISION_TYPES, decision_digest, domain_separator

    docs = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    approver = Account.from_key(keccak(text="ledgerline docs example approver"))
    chain_id, contract = 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    members = [
        snapshot_member("1001", "email", "ana@example.com"),
        snapshot_member("1002", "email", "bo@example.com"),
    ]

    def example(i: int, prev: str | None, decision: str, stage: str, by: str | None) -> Any:
        return make_record(
            {
                "campaign_id": "42",
                "campaign_version": 3,
                "content_hash": hashlib.sha256(b"campaign 42 version 3").hexdigest(),
                "segment_version": 2,
                "segment_definition_hash": hashlib.sha256(b"segment 9 version 2").hexdigest(),
                "snapshot_count": 2,
                "snapshot_root": snapshot_root(members),
                "stage": stage,
                "decision": decision,
                "approver_id": str(10 + i),
                "approver_address": by,
                "policy_version": 1,
                "decided_at": f"2026-11-22T09:3{i}:00Z",
                "expires_at": "2026-11-29T09:31:00Z" if decision == "approve" else None,
                "prev_entry_hash": prev,
                "salt": hashlib.sha256(b"salt %d" % i).hexdigest(),
            }
        )

    r0 = example(0, None, "submit", "", None)
    r1 = example(1, "0x" + record_leaf(r0).hex(), "approve", "compliance", approver.address)
    r2 = example(2, "0x" + record_leaf(r1).hex(), "approve", "account management", approver.address)
    log = MerkleLog(record_leaf(r) for r in (r0, r1, r2))
    typed = decision_typed_data(r1, chain_id, contract)
    type_string = (
        "ApprovalDecision("
        + ",".join(f"{m['type']} {m['name']}" for m in DECISION_TYPES["ApprovalDecision"])
        + ")"
    )
    expected = [
        approver.address,
        canonical_bytes(r1).decode(),
        *("0x" + record_leaf(m).hex() for m in members),
        "0x" + snapshot_root(members).hex(),
        *("0x" + log.leaf(i).hex() for i in range(3)),
        "0x" + log.root(2).hex(),
        "0x" + log.root(3).hex(),
        type_string,
        "0x" + keccak(text=type_string).hex(),
        "0x" + domain_separator(chain_id, contract).hex(),
        "0x" + encode_typed_data(full_message=typed).body.hex(),
        "0x" + decision_digest(r1, chain_id, contract).hex(),
        sign_decision(approver, r1, chain_id, contract),
    ]
    assert [value for value in expected if value not in docs] == []
    assert log.inclusion_proof(1, 3) == [log.leaf(0), log.leaf(2)]
    assert log.consistency_proof(2, 3) == [log.leaf(2)]
