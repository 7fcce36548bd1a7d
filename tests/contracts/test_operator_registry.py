"""OperatorRegistry: the consortium's members, roles and governor votes.

The module's consortium has four governors (so a proposal passes on its third yes-vote
and is rejected on its second no-vote at the default quorum) and one plain operator.
A second, single-governor consortium shows proposals executing as they are created.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.errors import ContractRevertError

if TYPE_CHECKING:
    from conftest import Chain  # tests/contracts/conftest.py, the contract test harness

OPERATOR = Web3.keccak(text="OPERATOR")
CLEARING_AGENT = Web3.keccak(text="CLEARING_AGENT")
AUDITOR = Web3.keccak(text="AUDITOR")
GOVERNOR = Web3.keccak(text="GOVERNOR")
ANCHORER = Web3.keccak(text="ANCHORER")
ROLES = [OPERATOR, CLEARING_AGENT, AUDITOR, GOVERNOR, ANCHORER]  # in the contract's bit order
UNKNOWN_ROLE = Web3.keccak(text="JANITOR")
NO_ROLE = b"\0" * 32
ZERO_ADDRESS = "0x" + "00" * 20
VOTING_PERIOD = 7 * 24 * 3600
MAX_MEMBERS = 256
MAX_GENESIS = 32


class MemberStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class Kind(IntEnum):
    ADMIT = 0
    SUSPEND = 1
    REINSTATE = 2
    GRANT_ROLE = 3
    REVOKE_ROLE = 4
    CHANGE_QUORUM = 5


class Status(IntEnum):
    NONE = 0
    PENDING = 1
    EXECUTED = 2
    REJECTED = 3
    EXPIRED = 4


def genesis_member(
    account: LocalAccount | str,
    name: str,
    country: bytes,
    code: str,
    currencies: list[bytes],
    roles: list[bytes],
) -> tuple[Any, ...]:
    address = account if isinstance(account, str) else account.address
    return (address, name, country, code, currencies, roles)


def address_of(n: int) -> str:
    """A deterministic address nobody holds a key for, for members that never act."""
    return Web3.to_checksum_address(Web3.keccak(text=f"member {n}")[-20:])


# -- fixtures -------------------------------------------------------------------------


@dataclass
class People:
    g1: LocalAccount
    g2: LocalAccount
    g3: LocalAccount
    g4: LocalAccount
    op: LocalAccount
    outsiders: list[LocalAccount]

    @property
    def governors(self) -> list[LocalAccount]:
        return [self.g1, self.g2, self.g3, self.g4]

    @property
    def x(self) -> LocalAccount:
        return self.outsiders[0]


@pytest.fixture(scope="module")
def people(session_chain: Chain) -> People:
    a = session_chain.accounts
    return People(a[0], a[1], a[2], a[3], a[4], a[5:])


def consortium_genesis(p: People) -> list[tuple[Any, ...]]:
    return [
        genesis_member(
            p.g1, "Alpha Telecom plc", b"GB", "GBRAL", [b"GBP", b"EUR"], [GOVERNOR, OPERATOR]
        ),
        genesis_member(
            p.g2, "Beta Mobile SA", b"FR", "FRABM", [b"EUR"], [CLEARING_AGENT, GOVERNOR]
        ),
        genesis_member(p.g3, "Gamma Wireless Inc.", b"US", "310260", [b"USD"], [GOVERNOR]),
        genesis_member(p.g4, "Delta Netze GmbH", b"DE", "26201", [b"EUR"], [GOVERNOR, AUDITOR]),
        genesis_member(
            p.op, "Épsilon Conecta SL", b"ES", "ESPEC", [b"EUR", b"USD"], [OPERATOR, ANCHORER]
        ),
    ]


@pytest.fixture(scope="module")
def deployment(session_chain: Chain, people: People) -> tuple[Contract, TxReceipt]:
    return session_chain.deploy_with_receipt("OperatorRegistry", consortium_genesis(people))


@pytest.fixture(scope="module")
def registry(deployment: tuple[Contract, TxReceipt]) -> Contract:
    return deployment[0]


@pytest.fixture(scope="module")
def solo(session_chain: Chain, people: People) -> Contract:
    """A consortium whose only governor is g1, next to the operator op."""
    return session_chain.deploy(
        "OperatorRegistry",
        [
            genesis_member(people.g1, "Alpha Telecom plc", b"GB", "GBRAL", [b"GBP"], [GOVERNOR]),
            genesis_member(people.op, "Épsilon Conecta SL", b"ES", "ESPEC", [b"EUR"], [OPERATOR]),
        ],
    )


# -- helpers --------------------------------------------------------------------------


def _struct(registry: Contract, fn_name: str, value: tuple[Any, ...]) -> dict[str, Any]:
    abi = next(e for e in registry.abi if e.get("name") == fn_name)
    names = [c["name"] for c in abi["outputs"][0]["components"]]
    return {
        name: list(v) if isinstance(v, list | tuple) else v
        for name, v in zip(names, value, strict=True)
    }


def member(registry: Contract, account: str) -> dict[str, Any]:
    return _struct(registry, "memberOf", registry.functions.memberOf(account).call())


def proposal(registry: Contract, proposal_id: int) -> dict[str, Any]:
    return _struct(registry, "proposal", registry.functions.proposal(proposal_id).call())


def proposal_id(registry: Contract, receipt: TxReceipt) -> int:
    (created,) = registry.events.ProposalCreated().process_receipt(receipt, DISCARD)
    return int(created["args"]["proposalId"])


def block_time(chain: Chain, receipt: TxReceipt) -> int:
    return int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def admission(
    account: str,
    name: str = "Zeta Telecom AG",
    country: bytes = b"CH",
    code: str = "CHEZT",
    currencies: list[bytes] | None = None,
    roles: list[bytes] | None = None,
) -> tuple[Any, ...]:
    return (
        account,
        name,
        country,
        code,
        [b"CHF", b"EUR"] if currencies is None else currencies,
        [OPERATOR] if roles is None else roles,
    )


def decide(
    chain: Chain,
    registry: Contract,
    fn: Any,
    proposer: LocalAccount,
    voters: list[LocalAccount],
) -> tuple[int, TxReceipt]:
    """``proposer`` proposes, each of ``voters`` votes yes; the last receipt is returned."""
    receipt = chain.transact(fn, proposer)
    pid = proposal_id(registry, receipt)
    for voter in voters:
        receipt = chain.transact(registry.functions.vote(pid, True), voter)
    return pid, receipt


def passed(chain: Chain, registry: Contract, people: People, fn: Any) -> tuple[int, TxReceipt]:
    """g1 proposes and g2, g3, g4 vote yes in turn until the proposal executes."""
    receipt = chain.transact(fn, people.g1)
    pid = proposal_id(registry, receipt)
    for voter in (people.g2, people.g3, people.g4):
        if proposal(registry, pid)["status"] == Status.EXECUTED:
            break
        receipt = chain.transact(registry.functions.vote(pid, True), voter)
    assert proposal(registry, pid)["status"] == Status.EXECUTED
    return pid, receipt


# -- genesis --------------------------------------------------------------------------


def test_the_role_constants_are_the_keccak_of_their_names(registry: Contract) -> None:
    f = registry.functions
    got = [
        f.OPERATOR_ROLE().call(),
        f.CLEARING_AGENT_ROLE().call(),
        f.AUDITOR_ROLE().call(),
        f.GOVERNOR_ROLE().call(),
        f.ANCHORER_ROLE().call(),
    ]
    assert got == ROLES


def test_genesis_members_are_admitted_with_their_metadata_and_roles(
    chain: Chain, registry: Contract, deployment: tuple[Contract, TxReceipt], people: People
) -> None:
    admitted_at = block_time(chain, deployment[1])
    assert registry.functions.memberCount().call() == 5
    assert member(registry, people.g1.address) == {
        "account": people.g1.address,
        "status": MemberStatus.ACTIVE,
        "admittedAt": admitted_at,
        "legalName": "Alpha Telecom plc",
        "country": b"GB",
        "code": "GBRAL",
        "currencies": [b"GBP", b"EUR"],
        "roles": [OPERATOR, GOVERNOR],
    }
    assert member(registry, people.op.address)["legalName"] == "Épsilon Conecta SL"
    listed = [
        _struct(registry, "memberAt", registry.functions.memberAt(i).call())["account"]
        for i in range(5)
    ]
    assert listed == [p.address for p in [*people.governors, people.op]]
    assert registry.functions.activeGovernorCount().call() == 4
    assert registry.functions.quorumBps().call() == 5000
    assert registry.functions.proposalCount().call() == 0
    assert registry.functions.hasRole(ANCHORER, people.op.address).call()
    assert not registry.functions.hasRole(GOVERNOR, people.op.address).call()


def test_deployment_announces_every_genesis_member_and_role_with_proposal_zero(
    chain: Chain, registry: Contract, deployment: tuple[Contract, TxReceipt], people: People
) -> None:
    receipt = deployment[1]
    admitted = chain.events(receipt, registry, "MemberAdmitted")
    assert admitted[0] == {
        "member": people.g1.address,
        "legalName": "Alpha Telecom plc",
        "country": b"GB",
        "code": "GBRAL",
        "currencies": [b"GBP", b"EUR"],
        "proposalId": 0,
    }
    assert [e["member"] for e in admitted] == [p.address for p in [*people.governors, people.op]]
    assert chain.events(receipt, registry, "RoleGranted")[:2] == [
        {"role": OPERATOR, "account": people.g1.address, "proposalId": 0},
        {"role": GOVERNOR, "account": people.g1.address, "proposalId": 0},
    ]
    assert chain.event_names(receipt, registry)[:3] == [
        "MemberAdmitted",
        "RoleGranted",
        "RoleGranted",
    ]
    assert len(chain.events(receipt, registry, "RoleGranted")) == 9  # 2+2+1+2+2


def test_an_empty_genesis_is_refused(chain: Chain) -> None:
    chain.expect_revert(
        lambda: chain.deploy("OperatorRegistry", []),
        "OperatorRegistryInvalidGenesisSize",
        size=0,
        maxSize=MAX_GENESIS,
    )


def test_a_genesis_larger_than_the_limit_is_refused(chain: Chain) -> None:
    genesis = [
        genesis_member(address_of(i), f"Member {i}", b"GB", f"{10000 + i}", [b"GBP"], [GOVERNOR])
        for i in range(MAX_GENESIS + 1)
    ]
    chain.expect_revert(
        lambda: chain.deploy("OperatorRegistry", genesis),
        "OperatorRegistryInvalidGenesisSize",
        size=MAX_GENESIS + 1,
        maxSize=MAX_GENESIS,
    )


def test_a_genesis_without_a_governor_is_refused(chain: Chain, people: People) -> None:
    genesis = [genesis_member(people.op, "Épsilon", b"ES", "ESPEC", [b"EUR"], [OPERATOR])]
    chain.expect_revert(
        lambda: chain.deploy("OperatorRegistry", genesis), "OperatorRegistryNoGenesisGovernor"
    )


@pytest.mark.parametrize(
    ("second", "error", "args"),
    [
        pytest.param(
            ("g1", "Alpha Again", b"GB", "GBRAA", [b"GBP"], []),
            "OperatorRegistryAlreadyMember",
            {"account": "g1"},
            id="the same account twice",
        ),
        pytest.param(
            (ZERO_ADDRESS, "Nobody", b"GB", "GBRAA", [b"GBP"], []),
            "OperatorRegistryZeroAddress",
            {},
            id="the zero address",
        ),
        pytest.param(
            ("op", "Copycat", b"GB", "GBRAL", [b"GBP"], []),
            "OperatorRegistryCodeTaken",
            {"code": "GBRAL", "holder": "g1"},
            id="a code already taken",
        ),
        pytest.param(
            ("op", "Épsilon", b"ES", "ESPEC", [b"EUR"], [UNKNOWN_ROLE]),
            "OperatorRegistryUnknownRole",
            {"role": UNKNOWN_ROLE},
            id="an unknown role",
        ),
        pytest.param(
            ("op", "Épsilon", b"ES", "ESPEC", [b"EUR"], [OPERATOR, AUDITOR, OPERATOR]),
            "OperatorRegistryDuplicateRole",
            {"role": OPERATOR},
            id="a role twice",
        ),
        pytest.param(
            ("op", "Épsilon", b"es", "ESPEC", [b"EUR"], []),
            "OperatorRegistryInvalidCountry",
            {"country": b"es"},
            id="invalid metadata",
        ),
    ],
)
def test_a_genesis_member_that_could_not_be_admitted_is_refused(
    chain: Chain, people: People, second: tuple[Any, ...], error: str, args: dict[str, Any]
) -> None:
    def who(value: Any) -> Any:
        return getattr(people, value).address if value in ("g1", "op") else value

    first = genesis_member(people.g1, "Alpha Telecom plc", b"GB", "GBRAL", [b"GBP"], [GOVERNOR])
    genesis = [first, (who(second[0]), *second[1:])]
    chain.expect_revert(
        lambda: chain.deploy("OperatorRegistry", genesis),
        error,
        **{k: who(v) for k, v in args.items()},
    )


# -- who may propose and vote ---------------------------------------------------------


PROPOSALS: dict[str, Callable[[Contract, People], Any]] = {
    "admission": lambda r, p: r.functions.proposeAdmission(*admission(p.x.address)),
    "suspension": lambda r, p: r.functions.proposeSuspension(p.op.address),
    "reinstatement": lambda r, p: r.functions.proposeReinstatement(p.op.address),
    "role grant": lambda r, p: r.functions.proposeRoleGrant(AUDITOR, p.op.address),
    "role revocation": lambda r, p: r.functions.proposeRoleRevocation(OPERATOR, p.op.address),
    "quorum change": lambda r, p: r.functions.proposeQuorumChange(6000),
}


@pytest.mark.parametrize("kind", PROPOSALS)
def test_a_non_member_cannot_propose(
    chain: Chain, registry: Contract, people: People, kind: str
) -> None:
    chain.expect_revert(
        lambda: chain.transact(PROPOSALS[kind](registry, people), people.x),
        "OperatorRegistryNotGovernor",
        caller=people.x.address,
    )


@pytest.mark.parametrize("kind", PROPOSALS)
def test_a_member_without_the_governor_role_cannot_propose(
    chain: Chain, registry: Contract, people: People, kind: str
) -> None:
    chain.expect_revert(
        lambda: chain.transact(PROPOSALS[kind](registry, people), people.op),
        "OperatorRegistryNotGovernor",
        caller=people.op.address,
    )


def test_a_non_governor_cannot_vote(chain: Chain, registry: Contract, people: People) -> None:
    pid = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    for stranger in (people.op, people.x):
        chain.expect_revert(
            lambda s=stranger: chain.transact(registry.functions.vote(pid, True), s),
            "OperatorRegistryNotGovernor",
            caller=stranger.address,
        )


def test_a_suspended_governor_can_neither_propose_nor_vote(
    chain: Chain, registry: Contract, people: People
) -> None:
    pending = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    passed(chain, registry, people, registry.functions.proposeSuspension(people.g4.address))
    chain.expect_revert(
        lambda: chain.transact(registry.functions.proposeQuorumChange(7000), people.g4),
        "OperatorRegistryNotGovernor",
        caller=people.g4.address,
    )
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(pending, True), people.g4),
        "OperatorRegistryNotGovernor",
        caller=people.g4.address,
    )


# -- proposing and voting -------------------------------------------------------------


def test_proposing_records_the_proposal_and_counts_as_the_proposers_yes_vote(
    chain: Chain, registry: Contract, people: People
) -> None:
    receipt = chain.transact(registry.functions.proposeSuspension(people.op.address), people.g2)
    deadline = block_time(chain, receipt) + VOTING_PERIOD
    assert chain.event_names(receipt, registry) == ["ProposalCreated", "VoteCast"]
    assert chain.events(receipt, registry, "ProposalCreated") == [
        {
            "proposalId": 1,
            "kind": Kind.SUSPEND,
            "proposer": people.g2.address,
            "account": people.op.address,
            "role": NO_ROLE,
            "quorumBps": 0,
            "deadline": deadline,
        }
    ]
    assert chain.events(receipt, registry, "VoteCast") == [
        {"proposalId": 1, "voter": people.g2.address, "support": True}
    ]
    assert proposal(registry, 1) == {
        "id": 1,
        "kind": Kind.SUSPEND,
        "status": Status.PENDING,
        "proposer": people.g2.address,
        "account": people.op.address,
        "role": NO_ROLE,
        "quorumBps": 0,
        "yesVotes": 1,
        "noVotes": 0,
        "deadline": deadline,
        "legalName": "",
        "country": b"\0\0",
        "code": "",
        "currencies": [],
        "roles": [],
    }
    assert registry.functions.hasVoted(1, people.g2.address).call()
    assert not registry.functions.hasVoted(1, people.g1.address).call()
    assert registry.functions.proposalCount().call() == 1


def test_proposal_ids_count_up_from_one(chain: Chain, registry: Contract, people: People) -> None:
    first = chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    second = chain.transact(registry.functions.proposeQuorumChange(7000), people.g2)
    assert [proposal_id(registry, first), proposal_id(registry, second)] == [1, 2]
    assert registry.functions.proposalCount().call() == 2


def test_half_of_the_governors_is_not_enough_to_pass(
    chain: Chain, registry: Contract, people: People
) -> None:
    receipt = chain.transact(registry.functions.proposeSuspension(people.op.address), people.g1)
    pid = proposal_id(registry, receipt)
    receipt = chain.transact(registry.functions.vote(pid, True), people.g2)
    assert chain.event_names(receipt, registry) == ["VoteCast"]
    assert proposal(registry, pid)["status"] == Status.PENDING
    assert registry.functions.isActiveMember(people.op.address).call()


def test_a_proposal_executes_on_the_vote_that_gives_it_more_than_half_of_the_governors(
    chain: Chain, registry: Contract, people: People
) -> None:
    pid, receipt = passed(
        chain, registry, people, registry.functions.proposeSuspension(people.op.address)
    )
    assert chain.event_names(receipt, registry) == [
        "VoteCast",
        "MemberSuspended",
        "ProposalExecuted",
    ]
    assert chain.events(receipt, registry, "VoteCast") == [
        {"proposalId": pid, "voter": people.g3.address, "support": True}
    ]
    assert chain.events(receipt, registry, "MemberSuspended") == [
        {"member": people.op.address, "proposalId": pid}
    ]
    assert chain.events(receipt, registry, "ProposalExecuted") == [
        {"proposalId": pid, "yesVotes": 3, "noVotes": 0, "activeGovernors": 4}
    ]
    assert proposal(registry, pid)["status"] == Status.EXECUTED


def test_with_a_single_governor_a_proposal_executes_in_the_transaction_that_creates_it(
    chain: Chain, solo: Contract, people: People
) -> None:
    receipt = chain.transact(solo.functions.proposeRoleGrant(AUDITOR, people.op.address), people.g1)
    assert chain.event_names(receipt, solo) == [
        "ProposalCreated",
        "VoteCast",
        "RoleGranted",
        "ProposalExecuted",
    ]
    assert chain.events(receipt, solo, "ProposalExecuted") == [
        {"proposalId": 1, "yesVotes": 1, "noVotes": 0, "activeGovernors": 1}
    ]
    assert solo.functions.hasRole(AUDITOR, people.op.address).call()


def test_a_proposal_is_rejected_once_no_votes_make_passing_impossible(
    chain: Chain, registry: Contract, people: People
) -> None:
    pid = proposal_id(
        registry, chain.transact(registry.functions.proposeSuspension(people.op.address), people.g1)
    )
    chain.transact(registry.functions.vote(pid, True), people.g2)
    first_no = chain.transact(registry.functions.vote(pid, False), people.g3)
    assert chain.event_names(first_no, registry) == ["VoteCast"]
    assert proposal(registry, pid)["status"] == Status.PENDING

    receipt = chain.transact(registry.functions.vote(pid, False), people.g4)
    assert chain.event_names(receipt, registry) == ["VoteCast", "ProposalRejected"]
    assert chain.events(receipt, registry, "VoteCast") == [
        {"proposalId": pid, "voter": people.g4.address, "support": False}
    ]
    assert chain.events(receipt, registry, "ProposalRejected") == [
        {"proposalId": pid, "yesVotes": 2, "noVotes": 2, "activeGovernors": 4}
    ]
    assert proposal(registry, pid)["status"] == Status.REJECTED
    assert registry.functions.isActiveMember(people.op.address).call()


def test_a_governor_cannot_vote_twice(chain: Chain, registry: Contract, people: People) -> None:
    pid = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    chain.transact(registry.functions.vote(pid, False), people.g2)
    for again in (True, False):
        chain.expect_revert(
            lambda a=again: chain.transact(registry.functions.vote(pid, a), people.g2),
            "OperatorRegistryAlreadyVoted",
            proposalId=pid,
            voter=people.g2.address,
        )


def test_the_proposer_cannot_vote_again_on_its_own_proposal(
    chain: Chain, registry: Contract, people: People
) -> None:
    pid = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(pid, True), people.g1),
        "OperatorRegistryAlreadyVoted",
        proposalId=pid,
        voter=people.g1.address,
    )


def test_an_executed_proposal_takes_no_more_votes(
    chain: Chain, registry: Contract, people: People
) -> None:
    pid, _ = passed(chain, registry, people, registry.functions.proposeQuorumChange(6000))
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(pid, False), people.g4),
        "OperatorRegistryProposalClosed",
        proposalId=pid,
        status=Status.EXECUTED,
    )


def test_a_rejected_proposal_takes_no_more_votes(
    chain: Chain, registry: Contract, people: People
) -> None:
    pid = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    chain.transact(registry.functions.vote(pid, False), people.g2)
    chain.transact(registry.functions.vote(pid, False), people.g3)
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(pid, True), people.g4),
        "OperatorRegistryProposalClosed",
        proposalId=pid,
        status=Status.REJECTED,
    )


@pytest.mark.parametrize("pid", [0, 1, 2**256 - 1], ids=["zero", "never created", "max"])
def test_an_unknown_proposal_can_be_neither_voted_on_nor_read(
    chain: Chain, registry: Contract, people: People, pid: int
) -> None:
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(pid, True), people.g1),
        "OperatorRegistryUnknownProposal",
        proposalId=pid,
    )
    chain.expect_revert(
        lambda: registry.functions.proposal(pid).call(),
        "OperatorRegistryUnknownProposal",
        proposalId=pid,
    )


def test_votes_are_taken_until_the_deadline_and_refused_after_it(
    chain: Chain, registry: Contract, people: People
) -> None:
    receipt = chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    pid = proposal_id(registry, receipt)
    deadline = block_time(chain, receipt) + VOTING_PERIOD

    chain.travel_to(deadline)
    on_time = chain.transact(registry.functions.vote(pid, True), people.g2)
    assert block_time(chain, on_time) == deadline
    assert chain.event_names(on_time, registry) == ["VoteCast"]

    chain.travel_to(deadline + 1)
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(pid, True), people.g3),
        "OperatorRegistryProposalExpired",
        proposalId=pid,
        deadline=deadline,
    )
    chain.travel_to(deadline + 2)  # let `latest`, which views read, pass the deadline
    assert proposal(registry, pid)["status"] == Status.EXPIRED
    assert registry.functions.quorumBps().call() == 5000


# -- admission ------------------------------------------------------------------------


def test_governors_admit_a_member_with_its_metadata_and_initial_roles(
    chain: Chain, registry: Contract, people: People
) -> None:
    x = people.x.address
    pid, receipt = passed(
        chain,
        registry,
        people,
        registry.functions.proposeAdmission(
            *admission(x, roles=[ANCHORER, OPERATOR, CLEARING_AGENT])
        ),
    )
    assert chain.event_names(receipt, registry) == [
        "VoteCast",
        "MemberAdmitted",
        "RoleGranted",
        "RoleGranted",
        "RoleGranted",
        "ProposalExecuted",
    ]
    assert chain.events(receipt, registry, "MemberAdmitted") == [
        {
            "member": x,
            "legalName": "Zeta Telecom AG",
            "country": b"CH",
            "code": "CHEZT",
            "currencies": [b"CHF", b"EUR"],
            "proposalId": pid,
        }
    ]
    assert chain.events(receipt, registry, "RoleGranted") == [
        {"role": role, "account": x, "proposalId": pid}
        for role in (OPERATOR, CLEARING_AGENT, ANCHORER)
    ]
    assert member(registry, x) == {
        "account": x,
        "status": MemberStatus.ACTIVE,
        "admittedAt": block_time(chain, receipt),
        "legalName": "Zeta Telecom AG",
        "country": b"CH",
        "code": "CHEZT",
        "currencies": [b"CHF", b"EUR"],
        "roles": [OPERATOR, CLEARING_AGENT, ANCHORER],
    }
    assert registry.functions.memberCount().call() == 6
    assert _struct(registry, "memberAt", registry.functions.memberAt(5).call())["account"] == x
    assert registry.functions.isActiveMember(x).call()
    assert registry.functions.hasRole(ANCHORER, x).call()
    assert registry.functions.settlesIn(x, b"CHF").call()


def test_a_pending_admission_shows_the_proposed_metadata(
    chain: Chain, registry: Contract, people: People
) -> None:
    x = people.x.address
    receipt = chain.transact(
        registry.functions.proposeAdmission(*admission(x, roles=[GOVERNOR, AUDITOR])), people.g1
    )
    pid = proposal_id(registry, receipt)
    assert chain.events(receipt, registry, "ProposalCreated")[0]["kind"] == Kind.ADMIT
    assert proposal(registry, pid) == {
        "id": pid,
        "kind": Kind.ADMIT,
        "status": Status.PENDING,
        "proposer": people.g1.address,
        "account": x,
        "role": NO_ROLE,
        "quorumBps": 0,
        "yesVotes": 1,
        "noVotes": 0,
        "deadline": block_time(chain, receipt) + VOTING_PERIOD,
        "legalName": "Zeta Telecom AG",
        "country": b"CH",
        "code": "CHEZT",
        "currencies": [b"CHF", b"EUR"],
        "roles": [AUDITOR, GOVERNOR],
    }
    assert not registry.functions.isActiveMember(x).call()


def test_admitting_a_governor_raises_the_active_governor_count(
    chain: Chain, registry: Contract, people: People
) -> None:
    passed(
        chain,
        registry,
        people,
        registry.functions.proposeAdmission(*admission(people.x.address, roles=[GOVERNOR])),
    )
    assert registry.functions.activeGovernorCount().call() == 5
    assert registry.functions.hasRole(GOVERNOR, people.x.address).call()


@pytest.mark.parametrize("who", ["op", "g2"])
def test_an_existing_member_cannot_be_admitted_again(
    chain: Chain, registry: Contract, people: People, who: str
) -> None:
    account = getattr(people, who).address
    chain.expect_revert(
        lambda: chain.transact(registry.functions.proposeAdmission(*admission(account)), people.g1),
        "OperatorRegistryAlreadyMember",
        account=account,
    )


def test_a_suspended_member_cannot_be_admitted_again(
    chain: Chain, registry: Contract, people: People
) -> None:
    passed(chain, registry, people, registry.functions.proposeSuspension(people.op.address))
    chain.expect_revert(
        lambda: chain.transact(
            registry.functions.proposeAdmission(*admission(people.op.address)), people.g1
        ),
        "OperatorRegistryAlreadyMember",
        account=people.op.address,
    )


def test_the_zero_address_cannot_be_admitted(
    chain: Chain, registry: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(
            registry.functions.proposeAdmission(*admission(ZERO_ADDRESS)), people.g1
        ),
        "OperatorRegistryZeroAddress",
    )


BAD_METADATA: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"name": ""}, "OperatorRegistryEmptyLegalName", {}),
    (
        {"name": "é" * 65},
        "OperatorRegistryLegalNameTooLong",
        {"length": 130, "maxLength": 128},
    ),
    ({"country": b"ch"}, "OperatorRegistryInvalidCountry", {"country": b"ch"}),
    ({"country": b"C1"}, "OperatorRegistryInvalidCountry", {"country": b"C1"}),
    ({"country": b"\0\0"}, "OperatorRegistryInvalidCountry", {"country": b"\0\0"}),
    ({"code": ""}, "OperatorRegistryInvalidCode", {"code": ""}),
    ({"code": "CHE"}, "OperatorRegistryInvalidCode", {"code": "CHE"}),
    ({"code": "chezt"}, "OperatorRegistryInvalidCode", {"code": "chezt"}),
    ({"code": "CH1ZT"}, "OperatorRegistryInvalidCode", {"code": "CH1ZT"}),
    ({"code": "CHEZTX"}, "OperatorRegistryInvalidCode", {"code": "CHEZTX"}),
    ({"code": "228-01"}, "OperatorRegistryInvalidCode", {"code": "228-01"}),
    ({"code": "2280"}, "OperatorRegistryInvalidCode", {"code": "2280"}),
    ({"code": "2280123"}, "OperatorRegistryInvalidCode", {"code": "2280123"}),
    ({"code": "GBRAL"}, "OperatorRegistryCodeTaken", {"code": "GBRAL", "holder": "g1"}),
    ({"code": "310260"}, "OperatorRegistryCodeTaken", {"code": "310260", "holder": "g3"}),
    (
        {"currencies": []},
        "OperatorRegistryInvalidCurrencyCount",
        {"count": 0, "maxCurrencies": 8},
    ),
    (
        {"currencies": [b"AA" + bytes([65 + i]) for i in range(9)]},
        "OperatorRegistryInvalidCurrencyCount",
        {"count": 9, "maxCurrencies": 8},
    ),
    ({"currencies": [b"CHF", b"eur"]}, "OperatorRegistryInvalidCurrency", {"currency": b"eur"}),
    ({"currencies": [b"US1"]}, "OperatorRegistryInvalidCurrency", {"currency": b"US1"}),
    (
        {"currencies": [b"CHF", b"EUR", b"CHF"]},
        "OperatorRegistryDuplicateCurrency",
        {"currency": b"CHF"},
    ),
    ({"roles": [UNKNOWN_ROLE]}, "OperatorRegistryUnknownRole", {"role": UNKNOWN_ROLE}),
    ({"roles": [NO_ROLE]}, "OperatorRegistryUnknownRole", {"role": NO_ROLE}),
    (
        {"roles": [GOVERNOR, OPERATOR, GOVERNOR]},
        "OperatorRegistryDuplicateRole",
        {"role": GOVERNOR},
    ),
]


def _bad_metadata_id(case: tuple[dict[str, Any], str, dict[str, Any]]) -> str:
    ((field, value),) = case[0].items()
    shown = repr(value) if len(repr(value)) <= 24 else repr(value)[:21] + "..."
    return f"{field}={shown}->{case[1].removeprefix('OperatorRegistry')}"


@pytest.mark.parametrize(
    ("changes", "error", "args"), BAD_METADATA, ids=[_bad_metadata_id(c) for c in BAD_METADATA]
)
def test_an_admission_with_bad_metadata_is_refused(
    chain: Chain,
    registry: Contract,
    people: People,
    changes: dict[str, Any],
    error: str,
    args: dict[str, Any],
) -> None:
    holders = {"g1": people.g1.address, "g3": people.g3.address}
    args = {k: holders.get(v, v) if isinstance(v, str) else v for k, v in args.items()}
    fn = registry.functions.proposeAdmission(*admission(people.x.address, **changes))
    chain.expect_revert(lambda: chain.transact(fn, people.g1), error, **args)


@pytest.mark.parametrize("code", ["CHEZT", "CHE01", "USA9Z", "22801", "310410"])
def test_tadig_and_mcc_mnc_codes_are_accepted(
    chain: Chain, registry: Contract, people: People, code: str
) -> None:
    fn = registry.functions.proposeAdmission(*admission(people.x.address, code=code))
    pid = proposal_id(registry, chain.transact(fn, people.g1))
    assert proposal(registry, pid)["code"] == code


def test_a_legal_name_of_exactly_the_limit_is_accepted(
    chain: Chain, registry: Contract, people: People
) -> None:
    name = "é" * 64  # 128 bytes of UTF-8
    fn = registry.functions.proposeAdmission(*admission(people.x.address, name=name))
    pid = proposal_id(registry, chain.transact(fn, people.g1))
    assert proposal(registry, pid)["legalName"] == name


def test_of_two_admissions_of_the_same_account_only_the_first_to_pass_executes(
    chain: Chain, registry: Contract, people: People
) -> None:
    x = people.x.address
    first = proposal_id(
        registry,
        chain.transact(registry.functions.proposeAdmission(*admission(x)), people.g1),
    )
    second = proposal_id(
        registry,
        chain.transact(registry.functions.proposeAdmission(*admission(x, code="22801")), people.g2),
    )
    chain.transact(registry.functions.vote(first, True), people.g2)
    chain.transact(registry.functions.vote(first, True), people.g3)
    chain.transact(registry.functions.vote(second, True), people.g1)
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(second, True), people.g3),
        "OperatorRegistryAlreadyMember",
        account=x,
    )
    assert proposal(registry, second)["status"] == Status.PENDING
    assert member(registry, x)["code"] == "CHEZT"


def test_a_code_taken_while_an_admission_was_pending_blocks_its_execution(
    chain: Chain, registry: Contract, people: People
) -> None:
    x, y = people.outsiders[0].address, people.outsiders[1].address
    first = proposal_id(
        registry, chain.transact(registry.functions.proposeAdmission(*admission(x)), people.g1)
    )
    second = proposal_id(
        registry, chain.transact(registry.functions.proposeAdmission(*admission(y)), people.g1)
    )
    for voter in (people.g2, people.g3):
        chain.transact(registry.functions.vote(first, True), voter)
    chain.transact(registry.functions.vote(second, True), people.g2)
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(second, True), people.g3),
        "OperatorRegistryCodeTaken",
        code="CHEZT",
        holder=x,
    )


@pytest.mark.slow
def test_no_member_is_admitted_beyond_the_limit(chain: Chain, people: People) -> None:
    g = people.g1
    genesis = [genesis_member(g, "Alpha Telecom plc", b"GB", "GBRAL", [b"GBP"], [GOVERNOR])] + [
        genesis_member(address_of(i), f"Member {i}", b"GB", f"{10000 + i}", [b"GBP"], [])
        for i in range(1, MAX_GENESIS)
    ]
    registry = chain.deploy("OperatorRegistry", genesis)
    for i in range(MAX_GENESIS, MAX_MEMBERS):
        fn = registry.functions.proposeAdmission(
            address_of(i), f"Member {i}", b"GB", f"{10000 + i}", [b"GBP"], []
        )
        assert chain.transact(fn, g, gas=600_000)["status"] == 1  # no dry run: 224 admissions
    assert registry.functions.memberCount().call() == MAX_MEMBERS
    late = registry.functions.proposeAdmission(*admission(people.x.address))
    chain.expect_revert(
        lambda: chain.transact(late, g),
        "OperatorRegistryMemberLimitReached",
        maxMembers=MAX_MEMBERS,
    )
    chain.expect_revert(
        lambda: registry.functions.memberAt(MAX_MEMBERS).call(),
        "OperatorRegistryIndexOutOfRange",
        index=MAX_MEMBERS,
        count=MAX_MEMBERS,
    )
    holders = registry.functions.roleHolders(GOVERNOR).call()
    assert holders == [g.address]


# -- suspension and reinstatement -----------------------------------------------------


def test_a_suspended_member_has_no_effective_roles(
    chain: Chain, registry: Contract, people: People
) -> None:
    op = people.op.address
    passed(chain, registry, people, registry.functions.proposeSuspension(op))
    f = registry.functions
    assert not f.isActiveMember(op).call()
    assert [f.hasRole(role, op).call() for role in ROLES] == [False] * 5
    assert [f.hasRoleRaw(role, op).call() for role in ROLES] == [
        True,
        False,
        False,
        False,
        True,
    ]
    assert not f.settlesIn(op, b"EUR").call()
    assert member(registry, op)["status"] == MemberStatus.SUSPENDED
    assert member(registry, op)["roles"] == [OPERATOR, ANCHORER]


def test_a_suspended_member_cannot_be_suspended_again(
    chain: Chain, registry: Contract, people: People
) -> None:
    passed(chain, registry, people, registry.functions.proposeSuspension(people.op.address))
    chain.expect_revert(
        lambda: chain.transact(registry.functions.proposeSuspension(people.op.address), people.g1),
        "OperatorRegistryMemberAlreadySuspended",
        account=people.op.address,
    )


def test_governors_reinstate_a_suspended_member_whose_roles_are_effective_again(
    chain: Chain, registry: Contract, people: People
) -> None:
    op = people.op.address
    passed(chain, registry, people, registry.functions.proposeSuspension(op))
    pid, receipt = passed(chain, registry, people, registry.functions.proposeReinstatement(op))
    assert chain.event_names(receipt, registry) == [
        "VoteCast",
        "MemberReinstated",
        "ProposalExecuted",
    ]
    assert chain.events(receipt, registry, "MemberReinstated") == [
        {"member": op, "proposalId": pid}
    ]
    assert registry.functions.isActiveMember(op).call()
    assert registry.functions.hasRole(ANCHORER, op).call()
    assert registry.functions.settlesIn(op, b"EUR").call()


def test_an_active_member_cannot_be_reinstated(
    chain: Chain, registry: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(
            registry.functions.proposeReinstatement(people.op.address), people.g1
        ),
        "OperatorRegistryMemberNotSuspended",
        account=people.op.address,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda r, a: r.functions.proposeSuspension(a),
        lambda r, a: r.functions.proposeReinstatement(a),
        lambda r, a: r.functions.proposeRoleGrant(OPERATOR, a),
        lambda r, a: r.functions.proposeRoleRevocation(OPERATOR, a),
    ],
    ids=["suspend", "reinstate", "grant", "revoke"],
)
def test_proposals_about_an_unknown_member_are_refused(
    chain: Chain, registry: Contract, people: People, make: Callable[[Contract, str], Any]
) -> None:
    for account in (people.x.address, ZERO_ADDRESS):
        chain.expect_revert(
            lambda a=account: chain.transact(make(registry, a), people.g1),
            "OperatorRegistryUnknownMember",
            account=account,
        )


def test_suspending_a_governor_lowers_the_active_governor_count_and_reinstating_restores_it(
    chain: Chain, registry: Contract, people: People
) -> None:
    count = registry.functions.activeGovernorCount
    passed(chain, registry, people, registry.functions.proposeSuspension(people.g4.address))
    assert count().call() == 3
    assert registry.functions.roleHolders(GOVERNOR).call() == [p.address for p in people.governors]
    passed(chain, registry, people, registry.functions.proposeReinstatement(people.g4.address))
    assert count().call() == 4


def test_the_quorum_is_counted_against_the_governors_active_at_the_vote(
    chain: Chain, registry: Contract, people: People
) -> None:
    # Two of four would not pass; once g4 is suspended two of three do.
    pid = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    passed(chain, registry, people, registry.functions.proposeSuspension(people.g4.address))
    receipt = chain.transact(registry.functions.vote(pid, True), people.g2)
    assert chain.events(receipt, registry, "ProposalExecuted") == [
        {"proposalId": pid, "yesVotes": 2, "noVotes": 0, "activeGovernors": 3}
    ]


def test_the_last_active_governor_cannot_be_suspended(
    chain: Chain, solo: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(solo.functions.proposeSuspension(people.g1.address), people.g1),
        "OperatorRegistryLastGovernor",
        account=people.g1.address,
    )


def test_the_last_active_governor_cannot_lose_the_governor_role(
    chain: Chain, solo: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(
            solo.functions.proposeRoleRevocation(GOVERNOR, people.g1.address), people.g1
        ),
        "OperatorRegistryLastGovernor",
        account=people.g1.address,
    )


def test_a_pending_proposal_that_would_remove_the_last_governor_cannot_execute(
    chain: Chain, people: People
) -> None:
    g1, g2 = people.g1, people.g2
    registry = chain.deploy(
        "OperatorRegistry",
        [
            genesis_member(g1, "Alpha Telecom plc", b"GB", "GBRAL", [b"GBP"], [GOVERNOR]),
            genesis_member(g2, "Beta Mobile SA", b"FR", "FRABM", [b"EUR"], [GOVERNOR]),
        ],
    )
    suspend_g2 = proposal_id(
        registry, chain.transact(registry.functions.proposeSuspension(g2.address), g1)
    )
    demote_g1 = proposal_id(
        registry, chain.transact(registry.functions.proposeRoleRevocation(GOVERNOR, g1.address), g2)
    )
    chain.transact(registry.functions.vote(suspend_g2, True), g2)
    assert registry.functions.activeGovernorCount().call() == 1
    chain.expect_revert(
        lambda: chain.transact(registry.functions.vote(demote_g1, True), g1),
        "OperatorRegistryLastGovernor",
        account=g1.address,
    )
    assert registry.functions.hasRole(GOVERNOR, g1.address).call()


def test_a_suspended_governor_is_not_the_last_one_guarded(
    chain: Chain, solo: Contract, people: People
) -> None:
    # op becomes a second governor, is suspended, and may then lose the role freely.
    op = people.op.address
    chain.transact(solo.functions.proposeRoleGrant(GOVERNOR, op), people.g1)
    assert solo.functions.activeGovernorCount().call() == 2
    pid = proposal_id(solo, chain.transact(solo.functions.proposeSuspension(op), people.g1))
    chain.transact(solo.functions.vote(pid, True), people.op)
    assert solo.functions.activeGovernorCount().call() == 1
    pid = proposal_id(
        solo, chain.transact(solo.functions.proposeRoleRevocation(GOVERNOR, op), people.g1)
    )
    assert proposal(solo, pid)["status"] == Status.EXECUTED
    assert not solo.functions.hasRoleRaw(GOVERNOR, op).call()
    assert solo.functions.activeGovernorCount().call() == 1


# -- roles ----------------------------------------------------------------------------


def test_governors_grant_a_role(chain: Chain, registry: Contract, people: People) -> None:
    op = people.op.address
    pid, receipt = passed(chain, registry, people, registry.functions.proposeRoleGrant(AUDITOR, op))
    assert chain.event_names(receipt, registry) == ["VoteCast", "RoleGranted", "ProposalExecuted"]
    assert chain.events(receipt, registry, "RoleGranted") == [
        {"role": AUDITOR, "account": op, "proposalId": pid}
    ]
    assert registry.functions.hasRole(AUDITOR, op).call()
    assert registry.functions.roleHolders(AUDITOR).call() == [people.g4.address, op]
    assert proposal(registry, pid)["role"] == AUDITOR


def test_governors_revoke_a_role(chain: Chain, registry: Contract, people: People) -> None:
    op = people.op.address
    pid, receipt = passed(
        chain, registry, people, registry.functions.proposeRoleRevocation(ANCHORER, op)
    )
    assert chain.event_names(receipt, registry) == ["VoteCast", "RoleRevoked", "ProposalExecuted"]
    assert chain.events(receipt, registry, "RoleRevoked") == [
        {"role": ANCHORER, "account": op, "proposalId": pid}
    ]
    assert not registry.functions.hasRole(ANCHORER, op).call()
    assert registry.functions.roleHolders(ANCHORER).call() == []


def test_a_role_already_held_cannot_be_granted(
    chain: Chain, registry: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(
            registry.functions.proposeRoleGrant(OPERATOR, people.op.address), people.g1
        ),
        "OperatorRegistryRoleAlreadyGranted",
        role=OPERATOR,
        account=people.op.address,
    )


def test_a_role_not_held_cannot_be_revoked(
    chain: Chain, registry: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(
            registry.functions.proposeRoleRevocation(GOVERNOR, people.op.address), people.g1
        ),
        "OperatorRegistryRoleNotHeld",
        role=GOVERNOR,
        account=people.op.address,
    )


@pytest.mark.parametrize("action", ["proposeRoleGrant", "proposeRoleRevocation"])
def test_an_unknown_role_can_be_neither_granted_nor_revoked(
    chain: Chain, registry: Contract, people: People, action: str
) -> None:
    fn = getattr(registry.functions, action)(UNKNOWN_ROLE, people.op.address)
    chain.expect_revert(
        lambda: chain.transact(fn, people.g1), "OperatorRegistryUnknownRole", role=UNKNOWN_ROLE
    )


def test_granting_and_revoking_the_governor_role_moves_the_active_governor_count(
    chain: Chain, registry: Contract, people: People
) -> None:
    count = registry.functions.activeGovernorCount
    passed(
        chain, registry, people, registry.functions.proposeRoleGrant(GOVERNOR, people.op.address)
    )
    assert count().call() == 5
    decide(
        chain,
        registry,
        registry.functions.proposeRoleRevocation(GOVERNOR, people.g4.address),
        people.g1,
        [people.g2, people.g3],
    )
    assert count().call() == 4
    assert registry.functions.roleHolders(GOVERNOR).call() == [
        people.g1.address,
        people.g2.address,
        people.g3.address,
        people.op.address,
    ]


def test_a_role_granted_to_a_suspended_member_takes_effect_on_reinstatement(
    chain: Chain, registry: Contract, people: People
) -> None:
    op = people.op.address
    passed(chain, registry, people, registry.functions.proposeSuspension(op))
    passed(chain, registry, people, registry.functions.proposeRoleGrant(GOVERNOR, op))
    assert registry.functions.hasRoleRaw(GOVERNOR, op).call()
    assert not registry.functions.hasRole(GOVERNOR, op).call()
    assert registry.functions.activeGovernorCount().call() == 4
    passed(chain, registry, people, registry.functions.proposeReinstatement(op))
    assert registry.functions.hasRole(GOVERNOR, op).call()
    assert registry.functions.activeGovernorCount().call() == 5


def test_role_holders_of_an_unknown_role_are_refused(chain: Chain, registry: Contract) -> None:
    chain.expect_revert(
        lambda: registry.functions.roleHolders(UNKNOWN_ROLE).call(),
        "OperatorRegistryUnknownRole",
        role=UNKNOWN_ROLE,
    )


def test_nobody_has_an_unknown_role_and_non_members_have_none(
    registry: Contract, people: People
) -> None:
    f = registry.functions
    assert not f.hasRole(UNKNOWN_ROLE, people.g1.address).call()
    assert not f.hasRoleRaw(UNKNOWN_ROLE, people.g1.address).call()
    assert [f.hasRole(role, people.x.address).call() for role in ROLES] == [False] * 5
    assert not f.isActiveMember(people.x.address).call()


# -- quorum ---------------------------------------------------------------------------


def test_governors_change_the_quorum(chain: Chain, registry: Contract, people: People) -> None:
    pid, receipt = passed(chain, registry, people, registry.functions.proposeQuorumChange(7500))
    assert chain.event_names(receipt, registry) == ["VoteCast", "QuorumChanged", "ProposalExecuted"]
    assert chain.events(receipt, registry, "QuorumChanged") == [
        {"previousBps": 5000, "newBps": 7500, "proposalId": pid}
    ]
    assert registry.functions.quorumBps().call() == 7500
    assert proposal(registry, pid)["quorumBps"] == 7500


@pytest.mark.parametrize("bps", [0, 1, 4999, 10000, 10001, 65535])
def test_a_quorum_outside_a_majority_short_of_unanimity_bound_is_refused(
    chain: Chain, registry: Contract, people: People, bps: int
) -> None:
    chain.expect_revert(
        lambda: chain.transact(registry.functions.proposeQuorumChange(bps), people.g1),
        "OperatorRegistryInvalidQuorum",
        quorumBps=bps,
    )


def test_the_current_quorum_cannot_be_proposed_again(
    chain: Chain, registry: Contract, people: People
) -> None:
    chain.expect_revert(
        lambda: chain.transact(registry.functions.proposeQuorumChange(5000), people.g1),
        "OperatorRegistryQuorumUnchanged",
        quorumBps=5000,
    )


def test_a_higher_quorum_needs_more_yes_votes_and_fewer_no_votes_reject(
    chain: Chain, registry: Contract, people: People
) -> None:
    passed(chain, registry, people, registry.functions.proposeQuorumChange(7500))
    # 7500 of 4 governors is 3: passing needs all 4, and a single no-vote rejects.
    pid, receipt = decide(
        chain,
        registry,
        registry.functions.proposeSuspension(people.op.address),
        people.g1,
        [people.g2, people.g3],
    )
    assert chain.event_names(receipt, registry) == ["VoteCast"]
    receipt = chain.transact(registry.functions.vote(pid, True), people.g4)
    assert chain.events(receipt, registry, "ProposalExecuted") == [
        {"proposalId": pid, "yesVotes": 4, "noVotes": 0, "activeGovernors": 4}
    ]
    other = proposal_id(
        registry, chain.transact(registry.functions.proposeQuorumChange(6000), people.g1)
    )
    receipt = chain.transact(registry.functions.vote(other, False), people.g2)
    assert chain.events(receipt, registry, "ProposalRejected") == [
        {"proposalId": other, "yesVotes": 1, "noVotes": 1, "activeGovernors": 4}
    ]


def test_the_quorum_can_return_to_a_simple_majority(
    chain: Chain, solo: Contract, people: People
) -> None:
    chain.transact(solo.functions.proposeQuorumChange(9999), people.g1)
    receipt = chain.transact(solo.functions.proposeQuorumChange(5000), people.g1)
    assert chain.events(receipt, solo, "QuorumChanged") == [
        {"previousBps": 9999, "newBps": 5000, "proposalId": 2}
    ]


# -- views ----------------------------------------------------------------------------


def test_an_unknown_member_cannot_be_read(chain: Chain, registry: Contract, people: People) -> None:
    chain.expect_revert(
        lambda: registry.functions.memberOf(people.x.address).call(),
        "OperatorRegistryUnknownMember",
        account=people.x.address,
    )


def test_reading_past_the_last_member_is_refused(chain: Chain, registry: Contract) -> None:
    chain.expect_revert(
        lambda: registry.functions.memberAt(5).call(),
        "OperatorRegistryIndexOutOfRange",
        index=5,
        count=5,
    )


def test_settles_in_names_only_an_active_members_currencies(
    registry: Contract, people: People
) -> None:
    f = registry.functions
    assert [f.settlesIn(people.g1.address, c).call() for c in (b"GBP", b"EUR", b"USD")] == [
        True,
        True,
        False,
    ]
    assert not f.settlesIn(people.x.address, b"EUR").call()


# -- properties -----------------------------------------------------------------------

TADIG = re.compile(r"[A-Z]{3}[A-Z0-9]{2}")
MCC_MNC = re.compile(r"[0-9]{5,6}")
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(code=st.text(alphabet="ABCZaz0159-é ", max_size=7))
def test_a_code_is_accepted_exactly_when_it_is_a_tadig_or_mcc_mnc_code(
    session_chain: Chain, registry: Contract, people: People, code: str
) -> None:
    chain = session_chain  # calls only: nothing to isolate
    fn = registry.functions.proposeAdmission(*admission(people.x.address, code=code))
    valid = bool(TADIG.fullmatch(code) or MCC_MNC.fullmatch(code))
    if valid and code not in {"GBRAL", "FRABM", "310260", "26201", "ESPEC"}:
        assert fn.call({"from": people.g1.address}) == registry.functions.proposalCount().call() + 1
    elif not valid:
        chain.expect_revert(
            lambda: fn.call({"from": people.g1.address}), "OperatorRegistryInvalidCode", code=code
        )


@PROPERTY_SETTINGS
@given(
    country=st.binary(min_size=2, max_size=2),
    currencies=st.lists(st.binary(min_size=3, max_size=3), min_size=1, max_size=8),
)
def test_country_and_currencies_are_accepted_exactly_when_upper_case_letters(
    session_chain: Chain,
    registry: Contract,
    people: People,
    country: bytes,
    currencies: list[bytes],
) -> None:
    chain = session_chain  # calls only: nothing to isolate

    def upper(b: bytes) -> bool:
        return all(65 <= c <= 90 for c in b)

    fn = registry.functions.proposeAdmission(
        *admission(people.x.address, country=country, currencies=currencies)
    )

    def run() -> Any:
        return fn.call({"from": people.g1.address})

    if not upper(country):
        chain.expect_revert(run, "OperatorRegistryInvalidCountry", country=country)
        return
    for i, currency in enumerate(currencies):
        if not upper(currency):
            chain.expect_revert(run, "OperatorRegistryInvalidCurrency", currency=currency)
            return
        if currency in currencies[:i]:
            chain.expect_revert(run, "OperatorRegistryDuplicateCurrency", currency=currency)
            return
    assert run() == 1


@PROPERTY_SETTINGS
@given(bps=st.integers(min_value=0, max_value=2**16 - 1))
def test_a_quorum_is_accepted_exactly_between_a_simple_majority_and_unanimity(
    session_chain: Chain, registry: Contract, people: People, bps: int
) -> None:
    chain = session_chain  # calls only: nothing to isolate

    def run() -> Any:
        return registry.functions.proposeQuorumChange(bps).call({"from": people.g1.address})

    if bps == 5000:
        chain.expect_revert(run, "OperatorRegistryQuorumUnchanged", quorumBps=bps)
    elif 5000 < bps < 10000:
        assert run() == 1
    else:
        chain.expect_revert(run, "OperatorRegistryInvalidQuorum", quorumBps=bps)


# A random governance session, in rounds: someone proposes something about someone, a few
# accounts vote on the newest or the previous proposal, and time may pass. Senders,
# targets and kinds are arbitrary, so many steps are refused; the votes that go through
# are checked against the quorum rule, and the whole registry against its invariants.
ACTORS = 7  # g1..g4, op, and two outsiders
_sender = st.sampled_from([0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6])  # governors twice as likely
_target = st.integers(min_value=0, max_value=ACTORS - 1)
_proposal = st.one_of(
    st.tuples(st.just("admit"), _sender, _target, st.sets(st.sampled_from(ROLES), max_size=2)),
    st.tuples(st.just("suspend"), _sender, _target),
    st.tuples(st.just("reinstate"), _sender, _target),
    st.tuples(st.just("grant"), _sender, _target, st.sampled_from(ROLES)),
    st.tuples(st.just("revoke"), _sender, _target, st.sampled_from(ROLES)),
    st.tuples(st.just("quorum"), _sender, st.sampled_from([5000, 6000, 6667, 7500, 9999])),
)
_votes = st.lists(  # (sender, 0 for the newest proposal or 1 for the one before, support)
    st.tuples(_sender, st.sampled_from([0, 0, 0, 1]), st.booleans()), max_size=4
)
_wait = st.sampled_from([0, 0, 0, 3 * 24 * 3600, VOTING_PERIOD + 1])
_round = st.tuples(_proposal, _votes, _wait)


def _proposal_call(f: Any, spec: tuple[Any, ...], addresses: list[str]) -> Any:
    kind = spec[0]
    if kind == "quorum":
        return f.proposeQuorumChange(spec[2])
    target = addresses[spec[2]]
    if kind == "admit":
        n = spec[2]
        return f.proposeAdmission(
            target, f"Member {n}", b"GB", f"{20000 + n}", [b"GBP"], sorted(spec[3])
        )
    if kind == "suspend":
        return f.proposeSuspension(target)
    if kind == "reinstate":
        return f.proposeReinstatement(target)
    if kind == "grant":
        return f.proposeRoleGrant(spec[3], target)
    return f.proposeRoleRevocation(spec[3], target)


def _check_step(chain: Chain, registry: Contract, fn: Any, sender: LocalAccount) -> None:
    """Send one propose/vote and check the decision it caused against the quorum rule."""
    f = registry.functions
    quorum, governors = f.quorumBps().call(), f.activeGovernorCount().call()
    try:
        receipt = chain.transact(fn, sender)
    except ContractRevertError as exc:
        assert exc.error_name.startswith("OperatorRegistry"), exc
        event(f"refused: {exc.error_name.removeprefix('OperatorRegistry')}")
        return
    (vote,) = chain.events(receipt, registry, "VoteCast")
    tally = proposal(registry, vote["proposalId"])
    yes, no = tally["yesVotes"], tally["noVotes"]
    executed = chain.events(receipt, registry, "ProposalExecuted")
    rejected = chain.events(receipt, registry, "ProposalRejected")
    if vote["support"]:
        assert bool(executed) == (yes * 10000 > quorum * governors)
        assert not rejected
    else:
        assert not executed
        cannot_pass = no >= governors or (governors - no) * 10000 <= quorum * governors
        assert bool(rejected) == cannot_pass
    outcome = executed or rejected
    event("executed" if executed else "rejected" if rejected else "left pending")
    if outcome:
        assert outcome == [
            {
                "proposalId": vote["proposalId"],
                "yesVotes": yes,
                "noVotes": no,
                "activeGovernors": governors,
            }
        ]


def _check_invariants(registry: Contract, actors: list[str]) -> None:
    f = registry.functions
    records = {
        record["account"]: record
        for record in (
            _struct(registry, "memberAt", f.memberAt(i).call())
            for i in range(f.memberCount().call())
        )
    }
    governors = 0
    for account in actors:
        effective = [f.hasRole(role, account).call() for role in ROLES]
        record = records.get(account)
        if record is None or record["status"] == MemberStatus.SUSPENDED:
            assert effective == [False] * 5, "a suspended member or a stranger has no role"
        else:
            assert effective == [role in record["roles"] for role in ROLES]
            governors += GOVERNOR in record["roles"]
    assert f.activeGovernorCount().call() == governors >= 1
    assert 5000 <= f.quorumBps().call() < 10000


# Each step is a transaction and a few calls, so few examples, and no shrinking: it would
# replay hundreds of sessions. A failure prints the whole session, which reads well enough.
@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rounds=st.lists(_round, min_size=2, max_size=5))
@example(  # one session that surely executes, rejects and expires a proposal
    rounds=[
        (("quorum", 0, 6000), [(1, 0, True), (2, 0, True)], 0),
        (("suspend", 1, 4), [(0, 0, False), (2, 0, False)], 0),
        (("quorum", 3, 7500), [], VOTING_PERIOD + 1),
        (("revoke", 2, 3, GOVERNOR), [(1, 1, True), (0, 0, True), (1, 0, True)], 0),
    ]
)
def test_any_governance_session_keeps_the_registrys_invariants(
    session_chain: Chain, registry: Contract, people: People, rounds: list[tuple[Any, ...]]
) -> None:
    chain = session_chain
    actors = [*people.governors, people.op, *people.outsiders[:2]]
    addresses = [a.address for a in actors]
    f = registry.functions
    with chain.isolated():
        for spec, votes, wait in rounds:
            _check_step(chain, registry, _proposal_call(f, spec, addresses), actors[spec[1]])
            for sender, back, support in votes:
                pid = max(f.proposalCount().call() - back, 1)
                _check_step(chain, registry, f.vote(pid, support), actors[sender])
            if wait:
                chain.travel_to(chain.now() + wait)
        _check_invariants(registry, addresses)
