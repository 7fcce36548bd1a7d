"""The embedded chain: persistence across a killed process, one owner, deployments, reverts."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.exceptions import Web3RPCError

from ledger.chain import Chain, connect, embedded_url, parse_chain_url
from ledger.deploy import Deployment, default_genesis, deploy, load_deployment, registry_plan
from ledger.embedded import lock_path
from ledger.errors import (
    ChainLockedError,
    ChainUnavailableError,
    ContractRevertError,
    DeploymentError,
)
from ledger.registry import MemberProfile, RegistryClient, Role
from ledger.transactions import nonce_tracker, send_transaction, transact

ROOT = Path(__file__).resolve().parents[2]
GOVERNOR_KEY = "0x" + "11" * 32
OPERATOR_KEY = "0x" + "22" * 32
ORANGE = MemberProfile("Orange SA", "FR", "FRAF1", ("EUR", "XDR"))

WORKER = r"""
import json, os, sys, time
from pathlib import Path
from eth_account import Account
from ledger.chain import connect
from ledger.deploy import default_genesis, deploy, registry_plan
from ledger.registry import MemberProfile, RegistryClient, Role
from ledger.transactions import send_transaction

url, deployment_file, mode = sys.argv[1:]
chain = connect(url)
if mode == "hold":
    print(json.dumps({"pid": os.getpid()}), flush=True)
    time.sleep(600)
governor = Account.from_key("0x" + "11" * 32)
operator = Account.from_key("0x" + "22" * 32)
plan = registry_plan(default_genesis(governor.address))
deployment = deploy(chain, governor, Path(deployment_file), plan)
registry = RegistryClient(chain, deployment.address("OperatorRegistry"))
registry.propose_admission(
    governor, operator.address, MemberProfile("Orange SA", "FR", "FRAF1", ("EUR",)), [Role.OPERATOR]
)
send_transaction(chain, governor, {"to": operator.address, "value": 12345})
print(json.dumps({
    "block": chain.block_number(),
    "registry": registry.address,
    "code": chain.w3.eth.get_code(registry.address).hex(),
    "operator_balance": chain.balance(operator.address),
}), flush=True)
while True:  # keep mining one-wei transfers until killed
    send_transaction(chain, governor, {"to": operator.address, "value": 1})
    print(json.dumps({"block": chain.block_number()}), flush=True)
"""


def start_worker(chain_file: Path, deployment_file: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, embedded_url(chain_file), str(deployment_file), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_line(process: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, Any]:
    stream: IO[str] | None = process.stdout
    assert stream is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"the worker printed nothing; stderr:\n{err[-2000:]}")
    data: dict[str, Any] = json.loads(result[0])
    return data


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with connect(embedded_url(tmp_path / "chain.db")) as opened:
        yield opened


@pytest.fixture
def governor() -> LocalAccount:
    return Account.create()


@pytest.fixture
def deployment(chain: Chain, governor: LocalAccount, tmp_path: Path) -> Deployment:
    return deploy(
        chain,
        governor,
        tmp_path / "deployment.json",
        registry_plan(default_genesis(governor.address)),
    )


@pytest.fixture
def registry(chain: Chain, deployment: Deployment) -> RegistryClient:
    return RegistryClient(chain, deployment.address("OperatorRegistry"))


# -- persistence ---------------------------------------------------------------------------------


def test_blocks_balances_code_and_events_survive_a_killed_process(tmp_path: Path) -> None:
    chain_file = tmp_path / "chain.db"
    worker = start_worker(chain_file, tmp_path / "deployment.json", "work")
    facts = read_line(worker)
    last_seen = [read_line(worker)["block"] for _ in range(3)][-1]
    kill(worker)

    with connect(embedded_url(chain_file)) as chain:
        head = chain.block_number()
        assert head >= last_seen
        operator = Account.from_key(OPERATOR_KEY).address
        # one one-wei transfer per block after the facts were printed, none lost or torn
        assert chain.balance(operator) == facts["operator_balance"] + head - facts["block"]
        assert chain.w3.eth.get_code(facts["registry"]).hex() == facts["code"]
        for number in range(1, head + 1):
            block = chain.w3.eth.get_block(number)
            assert block["parentHash"] == chain.w3.eth.get_block(number - 1)["hash"]

        registry = RegistryClient(chain, facts["registry"])
        admitted = registry.events("MemberAdmitted")
        assert [(e.args["member"], e.args["proposalId"]) for e in admitted] == [
            (Account.from_key(GOVERNOR_KEY).address, 0),
            (operator, 1),
        ]
        assert registry.member(operator).legal_name == "Orange SA"

        # the reopened chain keeps going from its head, with the right nonces
        sent = send_transaction(chain, Account.from_key(GOVERNOR_KEY), {"to": operator, "value": 7})
        assert sent.block_number == head + 1


def test_a_second_process_cannot_open_an_owned_embedded_chain(tmp_path: Path) -> None:
    chain_file = tmp_path / "chain.db"
    holder = start_worker(chain_file, tmp_path / "deployment.json", "hold")
    try:
        pid = read_line(holder)["pid"]
        started = time.monotonic()
        with pytest.raises(ChainLockedError) as caught:
            connect(embedded_url(chain_file))
        assert time.monotonic() - started < 5.0  # refused at once, not after a wait
        assert str(caught.value) == (
            f"embedded chain {chain_file.resolve()} is already open in process {pid}; "
            "use a JSON-RPC node (--rpc http://…) to share a chain between processes"
        )
    finally:
        kill(holder)
    with connect(embedded_url(chain_file)) as chain:  # the dead owner's lock is gone
        assert chain.block_number() == 0


def test_connections_in_one_process_share_the_chain_and_the_last_close_releases_it(
    tmp_path: Path,
) -> None:
    url = embedded_url(tmp_path / "chain.db")
    first = connect(url)
    second = connect(url)
    funded = Account.create().address
    first.fund(funded, 10**15)
    assert second.balance(funded) == 10**15
    first.close()
    assert second.block_number() == 1

    lock_file = lock_path((tmp_path / "chain.db").resolve())
    with lock_file.open("rb") as probe:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second.close()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_threads_sending_at_once_all_get_mined(chain: Chain) -> None:
    senders = [Account.create() for _ in range(4)]
    for sender in senders:
        chain.fund(sender.address, 10**18)
    recipient = Account.create().address
    errors: list[BaseException] = []

    def send(sender: LocalAccount) -> None:
        try:
            for _ in range(3):
                send_transaction(chain, sender, {"to": recipient, "value": 1})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert chain.balance(recipient) == 12


def test_the_embedded_chain_refuses_to_sign_for_anyone(chain: Chain) -> None:
    genesis_account = Account.from_key("0x" + "00" * 31 + "01").address
    assert chain.w3.eth.accounts == []
    with pytest.raises(Web3RPCError) as caught:
        chain.w3.eth.send_transaction({"from": genesis_account, "to": genesis_account, "value": 1})
    assert caught.value.rpc_response is not None
    assert caught.value.rpc_response["error"]["message"] == (
        "the embedded chain accepts only locally signed transactions (eth_sendRawTransaction)"
    )


def test_a_file_that_is_not_a_chain_is_refused_in_one_line(tmp_path: Path) -> None:
    not_a_chain = tmp_path / "notes.txt"
    not_a_chain.write_text("these are not blocks\n" * 100)
    with pytest.raises(ChainUnavailableError) as caught:
        connect(embedded_url(not_a_chain))
    assert str(caught.value) == (
        f"cannot open the embedded chain {not_a_chain}: file is not a database; "
        "the file may not be a Ledgerline chain — move it away to start afresh"
    )


def test_relative_embedded_urls_resolve_against_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    parsed = parse_chain_url("embedded://instance/chain.db")
    assert parsed.path == tmp_path.resolve() / "instance" / "chain.db"
    assert parsed.url == f"embedded://{tmp_path.resolve()}/instance/chain.db"


# -- deployments ---------------------------------------------------------------------------------


def test_a_later_deploy_reuses_the_recorded_addresses(
    chain: Chain, governor: LocalAccount, deployment: Deployment
) -> None:
    again = deploy(
        chain, governor, deployment.file, registry_plan(default_genesis(governor.address))
    )
    assert again.created == ()
    assert again.contracts == deployment.contracts
    recorded = json.loads(deployment.file.read_text())
    registry = recorded["contracts"]["OperatorRegistry"]
    assert recorded["chainId"] == chain.chain_id
    assert registry["address"] == deployment.address("OperatorRegistry")
    assert chain.has_code(registry["address"])
    assert registry["blockNumber"] == deployment.contracts["OperatorRegistry"].block_number
    assert len(registry["sourcesSha256"]) == 64


def test_a_deployment_file_of_another_chain_id_is_refused(
    chain: Chain, governor: LocalAccount, tmp_path: Path
) -> None:
    file = tmp_path / "other-chain.json"
    file.write_text(json.dumps({"version": 1, "chainId": 1, "contracts": {}}))
    expected = (
        f"deployment file {file} is for chain id 1 but {chain.url} is chain id "
        f"{chain.chain_id}; use the matching --deployment file or --rpc URL"
    )
    with pytest.raises(DeploymentError) as caught:
        deploy(chain, governor, file, registry_plan(default_genesis(governor.address)))
    assert str(caught.value) == expected
    with pytest.raises(DeploymentError) as caught:
        load_deployment(chain, file)
    assert str(caught.value) == expected


def test_a_reset_chain_is_detected_and_never_deployed_over(
    deployment: Deployment, governor: LocalAccount, tmp_path: Path
) -> None:
    recorded = deployment.file.read_text()
    address = deployment.address("OperatorRegistry")
    expected = (
        f"OperatorRegistry is recorded at {address} in {deployment.file} but the chain has no "
        f"code there; the chain was reset: remove {deployment.file} to deploy anew"
    )
    with connect(embedded_url(tmp_path / "fresh" / "chain.db")) as fresh:
        with pytest.raises(DeploymentError) as caught:
            load_deployment(fresh, deployment.file)
        assert str(caught.value) == expected
        with pytest.raises(DeploymentError) as caught:
            deploy(
                fresh, governor, deployment.file, registry_plan(default_genesis(governor.address))
            )
        assert str(caught.value) == expected
        assert fresh.block_number() == 0
    assert deployment.file.read_text() == recorded


def test_a_changed_artifact_is_reported_not_upgraded(chain: Chain, deployment: Deployment) -> None:
    data = json.loads(deployment.file.read_text())
    data["contracts"]["OperatorRegistry"]["sourcesSha256"] = "ab" * 32
    deployment.file.write_text(json.dumps(data))

    loaded = load_deployment(chain, deployment.file)

    assert loaded.address("OperatorRegistry") == deployment.address("OperatorRegistry")
    assert loaded.outdated["OperatorRegistry"].startswith(
        f"OperatorRegistry at {deployment.address('OperatorRegistry')} was deployed from sources "
        "abababababab… but the artifact is now "
    )
    assert loaded.outdated["OperatorRegistry"].endswith("; upgrading is not automatic")


# -- transactions and reverts --------------------------------------------------------------------


def test_a_revert_found_when_estimating_gas_is_decoded(
    chain: Chain, registry: RegistryClient, governor: LocalAccount
) -> None:
    with pytest.raises(ContractRevertError) as caught:
        transact(chain, governor, registry.contract.functions.vote(7, True))
    assert caught.value.error_name == "OperatorRegistryUnknownProposal"
    assert caught.value.error_args == {"proposalId": 7}
    assert caught.value.contract == "OperatorRegistry"
    assert str(caught.value) == "OperatorRegistryUnknownProposal(proposalId=7)"


def test_a_mined_revert_is_replayed_and_decoded(
    chain: Chain, registry: RegistryClient, governor: LocalAccount
) -> None:
    outsider = Account.create()
    chain.fund(outsider.address, 10**18)
    head = chain.block_number()
    fn = registry.contract.functions.proposeQuorumChange(6000)

    with pytest.raises(ContractRevertError) as caught:
        transact(chain, outsider, fn, gas=200_000)  # no estimate: the revert is mined

    assert chain.block_number() == head + 1
    failed = chain.w3.eth.get_block(head + 1, full_transactions=True)["transactions"][0]
    assert chain.w3.eth.get_transaction_receipt(failed["hash"])["status"] == 0
    assert caught.value.error_name == "OperatorRegistryNotGovernor"
    assert caught.value.error_args == {"caller": outsider.address}


def test_the_registry_client_explains_reverts_in_one_sentence(
    registry: RegistryClient, governor: LocalAccount
) -> None:
    stranger = Account.create().address
    with pytest.raises(ContractRevertError) as caught:
        registry.member(stranger)
    assert caught.value.error_name == "OperatorRegistryUnknownMember"
    assert caught.value.error_args == {"account": stranger}
    assert str(caught.value) == (
        f"{stranger} is not a member of the registry; "
        "`ledgerline registry members` lists the members"
    )
    with pytest.raises(ContractRevertError) as caught:
        registry.vote(governor, 1)
    assert str(caught.value) == (
        "there is no proposal 1; `ledgerline registry proposals` lists them"
    )


def test_a_stale_nonce_is_resynced_from_the_chain(chain: Chain, governor: LocalAccount) -> None:
    recipient = Account.create().address
    chain.fund(governor.address, 10**18)
    send_transaction(chain, governor, {"to": recipient, "value": 1})
    # another wallet with the same key sends behind the tracker's back
    nonce = chain.w3.eth.get_transaction_count(governor.address)
    tx = {
        "to": recipient,
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "nonce": nonce,
        "chainId": chain.chain_id,
    }
    chain.w3.eth.send_raw_transaction(governor.sign_transaction(tx).raw_transaction)
    assert nonce_tracker(chain).next_nonce(chain, governor.address) == nonce

    sent = send_transaction(chain, governor, {"to": recipient, "value": 1})

    assert chain.w3.eth.get_transaction(sent.tx_hash)["nonce"] == nonce + 1
    assert chain.balance(recipient) == 3


def test_the_registry_flow_on_the_embedded_chain(
    chain: Chain, registry: RegistryClient, governor: LocalAccount
) -> None:
    second = Account.create()
    result = registry.propose_admission(
        governor, second.address, ORANGE, [Role.GOVERNOR, Role.OPERATOR]
    )
    assert result.executed  # a single governor decides alone
    chain.fund(second.address, 10**18)

    pending = registry.propose_role_grant(second, Role.AUDITOR, governor.address)
    assert not pending.executed
    assert (pending.proposal.yes_votes, pending.proposal.no_votes) == (1, 0)
    with pytest.raises(ContractRevertError) as caught:
        registry.vote(second, pending.proposal.id)
    assert caught.value.error_name == "OperatorRegistryAlreadyVoted"
    decided = registry.vote(governor, pending.proposal.id)
    assert decided.executed
    assert registry.has_role(Role.AUDITOR, governor.address)
    assert [m.account for m in registry.members()] == [governor.address, second.address]
    assert registry.member(second.address).currencies == ("EUR", "XDR")
    assert registry.role_id(Role.GOVERNOR) == Role.GOVERNOR.id
