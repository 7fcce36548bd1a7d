"""ApprovalLog: append-only checkpoints of the RFC 9162 approval log, anchored by ANCHORERs.

The consortium has one governor (so its proposals pass as they are made), two members
holding the ANCHORER role, of which the second is suspended in the tests that need it,
and an operator without the role.  The log's leaves are those of ``ledger.merkle``, and
the property test checks that the contract and ``ledger.merkle.verify_consistency``
accept and refuse exactly the same proofs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from ledger.errors import ContractRevertError
from ledger.merkle import MerkleLog, leaf_hash, root_from_leaf_hashes, verify_consistency

if TYPE_CHECKING:
    from conftest import Chain  # tests/contracts/conftest.py, the contract test harness

GOVERNOR = Web3.keccak(text="GOVERNOR")
OPERATOR = Web3.keccak(text="OPERATOR")
ANCHORER = Web3.keccak(text="ANCHORER")
ZERO = b"\0" * 32
MAX_PROOF_LENGTH = 64

LEAVES = [leaf_hash(b"approval entry %d" % i) for i in range(1200)]
LOG = MerkleLog(LEAVES)


@dataclass
class People:
    governor: LocalAccount
    anchorer: LocalAccount
    second_anchorer: LocalAccount
    operator: LocalAccount
    stranger: LocalAccount


@pytest.fixture(scope="module")
def people(session_chain: Chain) -> People:
    a = session_chain.accounts
    return People(a[0], a[1], a[2], a[3], a[9])


@pytest.fixture(scope="module")
def registry(session_chain: Chain, people: People) -> Contract:
    def member(account: LocalAccount, name: str, code: str, roles: list[bytes]) -> Any:
        return (account.address, name, b"GB", code, [b"EUR"], roles)

    return session_chain.deploy(
        "OperatorRegistry",
        [
            member(people.governor, "Alpha Telecom plc", "GBRAL", [GOVERNOR]),
            member(people.anchorer, "Beta Mobile Ltd", "GBRBM", [ANCHORER]),
            member(people.second_anchorer, "Gamma Wireless Ltd", "GBRGW", [ANCHORER, OPERATOR]),
            member(people.operator, "Delta Networks Ltd", "GBRDN", [OPERATOR]),
        ],
    )


@pytest.fixture(scope="module")
def approval_log(session_chain: Chain, registry: Contract) -> Contract:
    return session_chain.deploy("ApprovalLog", registry.address)


def anchor(
    chain: Chain, log: Contract, by: LocalAccount, size: int, proof_from: int | None = None
) -> Any:
    """Anchor the true checkpoint of ``size`` leaves, proven from ``proof_from``."""
    proof = [] if proof_from is None else LOG.consistency_proof(proof_from, size)
    return chain.transact(log.functions.anchor(size, LOG.root(size), proof), by)


def forged_leaves(size: int, rewritten: int) -> list[bytes]:
    leaves = list(LEAVES[:size])
    leaves[rewritten] = leaf_hash(b"a rewritten decision")
    return leaves


# -- anchoring ----------------------------------------------------------------------------


def test_the_first_checkpoint_needs_no_proof(
    chain: Chain, approval_log: Contract, people: People, events: Any
) -> None:
    receipt = anchor(chain, approval_log, people.anchorer, 3)

    assert events(receipt, approval_log, "CheckpointAnchored") == [
        {"size": 3, "root": LOG.root(3), "by": people.anchorer.address}
    ]
    assert approval_log.functions.rootAt(3).call() == LOG.root(3)
    assert approval_log.functions.latest().call() == [3, LOG.root(3)]
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert approval_log.functions.latestCheckpoint().call() == [
        3,
        LOG.root(3),
        receipt["blockNumber"],
        block["timestamp"],
        1,
    ]


def test_a_consistent_extension_is_anchored_and_every_anchored_root_stays_readable(
    chain: Chain, approval_log: Contract, people: People, events: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 3)
    anchor(chain, approval_log, people.second_anchorer, 8, proof_from=3)
    receipt = anchor(chain, approval_log, people.anchorer, 100, proof_from=8)

    assert events(receipt, approval_log, "CheckpointAnchored") == [
        {"size": 100, "root": LOG.root(100), "by": people.anchorer.address}
    ]
    assert [approval_log.functions.rootAt(size).call() for size in (3, 8, 100)] == [
        LOG.root(3),
        LOG.root(8),
        LOG.root(100),
    ]
    assert approval_log.functions.latest().call() == [100, LOG.root(100)]
    assert approval_log.functions.latestCheckpoint().call()[4] == 3


def test_before_any_checkpoint_the_latest_is_empty(approval_log: Contract) -> None:
    assert approval_log.functions.latest().call() == [0, ZERO]
    assert approval_log.functions.latestCheckpoint().call() == [0, ZERO, 0, 0, 0]


def test_the_contract_names_its_registry_and_role(
    approval_log: Contract, registry: Contract
) -> None:
    assert approval_log.functions.registry().call() == registry.address
    assert approval_log.functions.ANCHORER_ROLE().call() == ANCHORER
    assert (
        approval_log.functions.ANCHORER_ROLE().call() == registry.functions.ANCHORER_ROLE().call()
    )
    assert approval_log.functions.MAX_PROOF_LENGTH().call() == MAX_PROOF_LENGTH


# -- who may anchor -------------------------------------------------------------------------


def test_a_non_member_cannot_anchor(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    expect_revert(
        lambda: anchor(chain, approval_log, people.stranger, 3),
        "ApprovalLogNotAnchorer",
        caller=people.stranger.address,
    )


def test_a_member_without_the_anchorer_role_cannot_anchor(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    expect_revert(
        lambda: anchor(chain, approval_log, people.operator, 3),
        "ApprovalLogNotAnchorer",
        caller=people.operator.address,
    )


def test_a_suspended_anchorer_cannot_anchor(
    chain: Chain, approval_log: Contract, registry: Contract, people: People, expect_revert: Any
) -> None:
    chain.transact(
        registry.functions.proposeSuspension(people.second_anchorer.address), people.governor
    )
    assert registry.functions.hasRoleRaw(ANCHORER, people.second_anchorer.address).call()

    expect_revert(
        lambda: anchor(chain, approval_log, people.second_anchorer, 3),
        "ApprovalLogNotAnchorer",
        caller=people.second_anchorer.address,
    )


def test_a_registry_that_is_not_a_contract_is_refused(
    chain: Chain, people: People, expect_revert: Any
) -> None:
    expect_revert(
        lambda: chain.deploy("ApprovalLog", people.stranger.address),
        "ApprovalLogInvalidRegistry",
        registry=people.stranger.address,
    )


# -- what may be anchored -------------------------------------------------------------------


def test_a_checkpoint_that_rewrites_history_is_refused(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 4)
    forged = forged_leaves(8, rewritten=2)
    forged_root = root_from_leaf_hashes(forged)
    proof = MerkleLog(forged).consistency_proof(4, 8)

    expect_revert(
        lambda: chain.transact(
            approval_log.functions.anchor(8, forged_root, proof), people.anchorer
        ),
        "ApprovalLogInvalidProof",
        oldSize=4,
        newSize=8,
        oldRoot=LOG.root(4),
        newRoot=forged_root,
    )


def test_a_proof_cannot_pass_off_a_smaller_tree_as_a_bigger_one(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    # The proof from 1 to 2 leaves, presented for 3 leaves with the 2-leaf root: every
    # hash matches, only RFC 9162's final "sn is 0" check notices the size is wrong.
    anchor(chain, approval_log, people.anchorer, 1)
    proof = LOG.consistency_proof(1, 2)

    expect_revert(
        lambda: chain.transact(
            approval_log.functions.anchor(3, LOG.root(2), proof), people.anchorer
        ),
        "ApprovalLogInvalidProof",
        oldSize=1,
        newSize=3,
        oldRoot=LOG.root(1),
        newRoot=LOG.root(2),
    )


def test_a_smaller_tree_is_refused(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 8)

    expect_revert(
        lambda: anchor(chain, approval_log, people.anchorer, 5),
        "ApprovalLogNotExtension",
        oldSize=8,
        newSize=5,
    )


def test_the_same_size_with_another_root_is_refused(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 8)
    forged_root = root_from_leaf_hashes(forged_leaves(8, rewritten=7))

    expect_revert(
        lambda: chain.transact(approval_log.functions.anchor(8, forged_root, []), people.anchorer),
        "ApprovalLogNotExtension",
        oldSize=8,
        newSize=8,
    )


def test_anchoring_the_latest_checkpoint_again_is_refused(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 8)

    expect_revert(
        lambda: anchor(chain, approval_log, people.anchorer, 8),
        "ApprovalLogAlreadyAnchored",
        size=8,
        root=LOG.root(8),
    )


def test_an_empty_tree_is_not_a_checkpoint(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    expect_revert(
        lambda: chain.transact(approval_log.functions.anchor(0, LOG.root(0), []), people.anchorer),
        "ApprovalLogNotExtension",
        oldSize=0,
        newSize=0,
    )


def test_the_first_checkpoint_refuses_a_proof(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    expect_revert(
        lambda: chain.transact(
            approval_log.functions.anchor(8, LOG.root(8), [LOG.root(4)]), people.anchorer
        ),
        "ApprovalLogInvalidProof",
        oldSize=0,
        newSize=8,
        oldRoot=ZERO,
        newRoot=LOG.root(8),
    )


def test_a_zero_root_is_refused(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    expect_revert(
        lambda: chain.transact(approval_log.functions.anchor(8, ZERO, []), people.anchorer),
        "ApprovalLogZeroRoot",
    )


def test_a_proof_longer_than_any_real_one_is_refused(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 3)
    too_long = [LOG.root(1)] * (MAX_PROOF_LENGTH + 1)

    expect_revert(
        lambda: chain.transact(
            approval_log.functions.anchor(8, LOG.root(8), too_long), people.anchorer
        ),
        "ApprovalLogProofTooLong",
        length=MAX_PROOF_LENGTH + 1,
        maxLength=MAX_PROOF_LENGTH,
    )


def test_a_size_never_anchored_has_no_root(
    chain: Chain, approval_log: Contract, people: People, expect_revert: Any
) -> None:
    anchor(chain, approval_log, people.anchorer, 8)

    expect_revert(
        lambda: approval_log.functions.rootAt(5).call(), "ApprovalLogUnknownCheckpoint", size=5
    )


# -- gas ------------------------------------------------------------------------------------


def test_anchoring_a_hundred_entries_costs_a_fixed_amount_not_one_per_entry(
    chain: Chain, approval_log: Contract, people: People
) -> None:
    anchor(chain, approval_log, people.anchorer, 100)
    gas = [
        anchor(chain, approval_log, people.anchorer, size, proof_from=size - 100)["gasUsed"]
        for size in range(200, 1100, 100)
    ]

    # The root's fresh slot (22,100), the intrinsic 21,000, the head (5,000), the previous
    # root (2,100), the registry call and about ten proof hashes in calldata and SHA-256.
    assert max(gas) < 75_000, gas


# -- the contract and ledger.merkle agree ---------------------------------------------------


@st.composite
def candidate_checkpoints(draw: st.DrawFn) -> tuple[int, int, bytes, list[bytes]]:
    """An anchored size, then a claimed (size, root, proof): genuine or tampered."""
    old_size = draw(st.integers(1, 600))
    new_size = draw(st.integers(old_size + 1, old_size + 600))
    root = LOG.root(new_size)
    proof = LOG.consistency_proof(old_size, new_size)
    tampering = draw(
        st.sampled_from(
            ["none", "flip", "drop", "add", "swap", "rewrite", "claim_other_size", "other_root"]
        )
    )
    if tampering == "flip":
        which, byte = draw(st.integers(0, len(proof) - 1)), draw(st.integers(0, 31))
        node = bytearray(proof[which])
        node[byte] ^= 1 << draw(st.integers(0, 7))
        proof[which] = bytes(node)
    elif tampering == "drop":
        del proof[draw(st.integers(0, len(proof) - 1))]
    elif tampering == "add":
        proof.insert(draw(st.integers(0, len(proof))), draw(st.binary(min_size=32, max_size=32)))
    elif tampering == "swap" and len(proof) > 1:
        i = draw(st.integers(0, len(proof) - 2))
        proof[i], proof[i + 1] = proof[i + 1], proof[i]
    elif tampering == "rewrite":
        forged = forged_leaves(new_size, draw(st.integers(0, old_size - 1)))
        root = root_from_leaf_hashes(forged)
        proof = MerkleLog(forged).consistency_proof(old_size, new_size)
    elif tampering == "claim_other_size":
        new_size = draw(st.integers(old_size + 1, old_size + 700).filter(lambda s: s != new_size))
    elif tampering == "other_root":
        root = LOG.root(draw(st.integers(old_size + 1, len(LEAVES))))
    return old_size, new_size, root, proof


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(candidate_checkpoints())
def test_the_contract_accepts_exactly_the_proofs_ledger_merkle_accepts(
    chain: Chain,
    approval_log: Contract,
    people: People,
    checkpoint: tuple[int, int, bytes, list[bytes]],
) -> None:
    old_size, new_size, root, proof = checkpoint
    expected = verify_consistency(old_size, new_size, LOG.root(old_size), root, proof)
    event("valid proof" if expected else "invalid proof")
    with chain.isolated():
        anchor(chain, approval_log, people.anchorer, old_size)
        try:
            chain.transact(approval_log.functions.anchor(new_size, root, proof), people.anchorer)
        except ContractRevertError as error:
            assert not expected, f"the contract refused a valid proof: {error}"
            assert error.error_name == "ApprovalLogInvalidProof"
            assert error.error_args["oldRoot"] == LOG.root(old_size)
        else:
            assert expected, "the contract accepted a proof ledger.merkle refuses"
            assert approval_log.functions.latest().call() == [new_size, root]
