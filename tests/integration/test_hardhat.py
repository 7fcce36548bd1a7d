"""A real Hardhat node over JSON-RPC: locally signed deployment and the registry flow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import HARDHAT_CHAIN_ID, Chain, connect
from ledger.deploy import GenesisMember, deploy, load_deployment, registry_plan
from ledger.errors import ChainUnavailableError, ContractRevertError, DeploymentError
from ledger.registry import MemberProfile, MemberStatus, ProposalStatus, RegistryClient, Role
from ledger.transactions import transact
from tests.conftest import free_port
from tests.integration.chain_fixtures import HardhatNode

pytestmark = pytest.mark.hardhat


@pytest.fixture
def chain(hardhat_url: str) -> Iterator[Chain]:
    with connect(hardhat_url) as opened:
        yield opened


def governor(name: str, account: LocalAccount, code: str) -> GenesisMember:
    return GenesisMember(account.address, name, "FR", code, ("EUR",), ("GOVERNOR",))


def test_the_node_is_a_hardhat_chain_reached_over_json_rpc(chain: Chain) -> None:
    info = chain.info()
    assert info["kind"] == "http"
    assert info["chain_id"] == HARDHAT_CHAIN_ID
    assert info["client_version"].startswith("HardhatNetwork/2.")
    assert chain.is_dev


def test_deploy_and_govern_the_registry_with_locally_signed_transactions(
    chain: Chain, tmp_path: Path
) -> None:
    alice, bob, carol = Account.create(), Account.create(), Account.create()
    for account in (alice, bob):
        chain.fund(account.address, 10**18)  # from Hardhat's dev account #0, signed here
    genesis = [governor("Alpha Telecom", alice, "FRAAA"), governor("Beta Mobile", bob, "FRBBB")]
    deployment = deploy(chain, alice, tmp_path / "deployment.json", registry_plan(genesis))

    assert "OperatorRegistry" in deployment.created
    registry = RegistryClient(chain, deployment.address("OperatorRegistry"))
    assert (
        chain.w3.eth.get_transaction(deployment.contracts["OperatorRegistry"].tx_hash)["from"]
        == alice.address
    )
    assert registry.active_governor_count() == 2

    profile = MemberProfile("Gamma Networks", "SE", "SWEGA", ("SEK", "EUR"))
    proposed = registry.propose_admission(alice, carol.address, profile, [Role.OPERATOR])
    assert proposed.proposal.status is ProposalStatus.PENDING  # 1 of 2 is not more than half
    assert not registry.is_active_member(carol.address)

    with pytest.raises(ContractRevertError) as caught:
        registry.vote(alice, proposed.proposal.id)
    assert caught.value.error_name == "OperatorRegistryAlreadyVoted"
    assert caught.value.error_args == {"proposalId": proposed.proposal.id, "voter": alice.address}

    executed = registry.vote(bob, proposed.proposal.id)
    assert executed.proposal.status is ProposalStatus.EXECUTED
    assert (executed.proposal.yes_votes, executed.proposal.no_votes) == (2, 0)

    members = registry.members()
    assert [m.account for m in members] == [alice.address, bob.address, carol.address]
    assert members[2].legal_name == "Gamma Networks"
    assert members[2].roles == (Role.OPERATOR,)
    assert registry.has_role(Role.OPERATOR, carol.address)

    suspension = registry.propose_suspension(bob, carol.address)
    registry.vote(alice, suspension.proposal.id)
    assert registry.member(carol.address).status is MemberStatus.SUSPENDED
    assert not registry.has_role(Role.OPERATOR, carol.address)
    assert registry.has_role_raw(Role.OPERATOR, carol.address)

    with pytest.raises(ContractRevertError) as caught:
        registry.vote(bob, suspension.proposal.id)
    assert caught.value.error_name == "OperatorRegistryProposalClosed"
    assert str(caught.value) == (
        f"proposal {suspension.proposal.id} is already executed; it takes no more votes"
    )

    names = [
        e.name
        for e in registry.events(from_block=deployment.contracts["OperatorRegistry"].block_number)
    ]
    assert names.count("MemberAdmitted") == 3
    assert names.count("MemberSuspended") == 1
    assert names.count("ProposalExecuted") == 2

    again = load_deployment(chain, deployment.file)
    assert again.address("OperatorRegistry") == registry.address


def test_a_mined_revert_on_the_node_is_replayed_and_decoded(chain: Chain, tmp_path: Path) -> None:
    alice, outsider = Account.create(), Account.create()
    chain.fund(outsider.address, 10**18)
    deployment = deploy(
        chain, alice, tmp_path / "deployment.json", registry_plan([governor("A", alice, "FRAAA")])
    )
    registry = RegistryClient(chain, deployment.address("OperatorRegistry"))

    with pytest.raises(ContractRevertError) as caught:
        transact(
            chain, outsider, registry.contract.functions.proposeQuorumChange(6000), gas=200_000
        )

    assert caught.value.error_name == "OperatorRegistryNotGovernor"
    assert caught.value.error_args == {"caller": outsider.address}


def test_the_chain_is_also_reached_over_websocket(hardhat_node: HardhatNode, chain: Chain) -> None:
    with connect(hardhat_node.ws_url) as ws:
        assert ws.kind == "ws"
        assert ws.chain_id == HARDHAT_CHAIN_ID
        recipient = Account.create().address
        chain.fund(recipient, 5)
        assert ws.balance(recipient) == 5


def test_a_restarted_node_is_detected_from_the_deployment_file(
    start_hardhat: Callable[[], HardhatNode], tmp_path: Path
) -> None:
    alice = Account.create()
    first = start_hardhat()
    with connect(first.url) as chain:
        deployment = deploy(
            chain,
            alice,
            tmp_path / "deployment.json",
            registry_plan([governor("A", alice, "FRAAA")]),
        )
    first.stop()
    restarted = start_hardhat()  # a fresh node: same chain id, empty state
    with connect(restarted.url) as chain, pytest.raises(DeploymentError) as caught:
        load_deployment(chain, deployment.file)
    address = deployment.address("OperatorRegistry")
    assert str(caught.value) == (
        f"OperatorRegistry is recorded at {address} in {deployment.file} but the chain has no "
        f"code there; the chain was reset: remove {deployment.file} to deploy anew"
    )


def test_an_unreachable_node_gives_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ChainUnavailableError) as caught:
        connect(url)
    assert time.monotonic() - started < 5
    assert str(caught.value) == (
        f"cannot reach the chain at {url}: Connection refused; check the URL or start the node"
    )


def test_an_unreachable_websocket_node_gives_one_line_naming_the_url() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    with pytest.raises(ChainUnavailableError) as caught:
        connect(url)
    assert str(caught.value) == (
        f"cannot reach the chain at {url}: Connection refused; check the URL or start the node"
    )
