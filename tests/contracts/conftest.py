"""Contract test harness: an in-process eth-tester chain with locally signed transactions.

One PyEVM chain is built per test session with ``N_ACCOUNTS`` funded accounts whose
private keys the tests hold (``chain.accounts``, eth-account ``LocalAccount`` objects).
Every transaction is signed locally, as the real chain layer does; the node has no
unlocked accounts.

Isolation is by snapshot: the ``chain`` fixture takes a snapshot before each test and
reverts to it afterwards, so contracts deployed by a module-scoped fixture (which runs
before the snapshot) are shared by the module's tests while every test starts from the
same state.  Inside a Hypothesis test, where function-scoped fixtures run once for all
examples, wrap each example in ``with chain.isolated(): ...``.

Helpers (as ``Chain`` methods and as fixtures of the same name):

``deploy(name, *args, sender=None)``
    Deploy ``contracts/build/<name>.json`` and return the web3 contract.
``transact(contract_fn, sender, *, gas=None, value=0)``
    Sign and send a call, return the receipt.  The call is first dry-run on the pending
    block, so a revert raises :class:`ledger.errors.ContractRevertError` with the decoded
    custom error and nothing is mined.  With an explicit ``gas`` there is no dry run: the
    transaction is mined even if it fails, and the failing receipt (``status == 0``) is
    returned.
``expect_revert(action, "ErrorName", **args)``
    Run ``action`` (a zero-argument callable: a ``transact``, a ``.call()``, a
    ``deploy``) and assert it reverts with exactly that custom error and arguments.
``events(receipt, contract, "EventName")``
    The decoded arguments of every ``EventName`` log ``contract`` emitted in the receipt,
    as plain dicts (tuples become lists) for exact comparison.
``event_names(receipt, contract)``
    The names of every log ``contract`` emitted in the receipt, in order.

Example::

    @pytest.fixture(scope="module")
    def token(session_chain):
        return session_chain.deploy("Token", 1000)

    def test_a_stranger_cannot_mint(chain, token, expect_revert):
        stranger = chain.accounts[5]
        expect_revert(
            lambda: chain.transact(token.functions.mint(7), stranger),
            "TokenNotMinter", caller=stranger.address,
        )
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import get_default_account_state
from eth_tester.exceptions import TransactionFailed
from eth_utils import event_abi_to_log_topic, keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger._utils.revert import decode_revert
from ledger.artifacts import load_artifact
from ledger.errors import ContractRevertError

N_ACCOUNTS = 12
PRIORITY_FEE = 10**9
TX_GAS_LIMIT = 25_000_000  # under the 30M block gas limit of eth-tester's genesis
_REVERT_PREFIX = "execution reverted: "


def _test_key(index: int) -> bytes:
    return keccak(text=f"ledgerline contract test account {index}")


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by a web3 or eth-tester exception, if any.

    web3 raises ``ContractLogicError`` (and its ``ContractCustomError`` subclass) with
    ``.data`` as a hex string when a JSON-RPC node reports a revert.  The eth-tester
    provider instead raises eth-tester's ``TransactionFailed`` whose message is
    ``"execution reverted: b'...'"``, the ``repr`` of the revert bytes.
    """
    if isinstance(exc, ContractLogicError):
        data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        return None
    if isinstance(exc, TransactionFailed) and exc.args:
        first = exc.args[0]
        if isinstance(first, bytes):
            return first
        if isinstance(first, str) and first.startswith(_REVERT_PREFIX):
            literal = first[len(_REVERT_PREFIX) :]
            if literal.startswith(("b'", 'b"')):
                value = ast.literal_eval(literal)
                return value if isinstance(value, bytes) else None
            return b""  # reverted without data
    return None


def _plain(value: Any) -> Any:
    """AttributeDicts, tuples and HexBytes as dicts, lists and bytes, for exact asserts."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return bytes(value)
    return value


def expect_revert(action: Callable[[], Any], error_name: str, **args: Any) -> ContractRevertError:
    """Assert ``action()`` reverts with the custom error ``error_name(**args)``, exactly.

    Arguments compare after decoding: addresses as checksummed strings, ``bytesN`` as
    ``bytes``, enums and integers as ``int``, arrays as lists.  Returns the decoded error.
    """
    try:
        outcome = action()
    except ContractRevertError as exc:
        error = exc
    except (ContractLogicError, TransactionFailed) as exc:
        data = revert_data(exc)
        if data is None:
            raise
        error = decode_revert(data)
    else:
        raise AssertionError(f"expected revert {error_name}({args}), got {outcome!r}")
    got = (error.error_name, _plain(error.error_args))
    assert got == (error_name, args), f"expected {error_name}({args}), got {error}"
    return error


def events(receipt: TxReceipt, contract: Contract, event_name: str) -> list[dict[str, Any]]:
    """Decoded arguments of each ``event_name`` log emitted by ``contract``, in order."""
    logs = [log for log in receipt["logs"] if log["address"] == contract.address]
    decoded = contract.events[event_name]().process_receipt({**receipt, "logs": logs}, DISCARD)
    return [_plain(dict(entry["args"])) for entry in decoded]


def event_names(receipt: TxReceipt, contract: Contract) -> list[str]:
    """Names of every log ``contract`` emitted in the receipt, in emission order."""
    by_topic = {
        event_abi_to_log_topic(entry): entry["name"]
        for entry in contract.abi
        if entry["type"] == "event"
    }
    return [
        by_topic.get(bytes(log["topics"][0]), "?")
        for log in receipt["logs"]
        if log["address"] == contract.address and log["topics"]
    ]


@dataclass
class Chain:
    """An eth-tester chain with funded local accounts and the helpers tests share."""

    tester: EthereumTester
    w3: Web3
    accounts: list[LocalAccount]

    @classmethod
    def create(cls, n_accounts: int = N_ACCOUNTS) -> Chain:
        accounts = [Account.from_key(_test_key(i)) for i in range(n_accounts)]
        genesis = {
            Web3.to_bytes(hexstr=account.address): get_default_account_state()
            for account in accounts
        }
        tester = EthereumTester(PyEVMBackend(genesis_state=genesis))
        w3 = Web3(EthereumTesterProvider(tester))
        w3.eth.default_account = accounts[0].address  # the `from` of calls that name none
        return cls(tester, w3, accounts)

    @property
    def deployer(self) -> LocalAccount:
        return self.accounts[0]

    def contract(self, name: str, address: str) -> Contract:
        """The deployed contract ``name`` at ``address``, with its artifact's ABI."""
        return self.w3.eth.contract(address=address, abi=load_artifact(name).abi)

    def deploy(self, name: str, *args: Any, sender: LocalAccount | None = None) -> Contract:
        """Deploy ``contracts/build/<name>.json`` with constructor ``args``."""
        return self.deploy_with_receipt(name, *args, sender=sender)[0]

    def deploy_with_receipt(
        self, name: str, *args: Any, sender: LocalAccount | None = None
    ) -> tuple[Contract, TxReceipt]:
        """Like ``deploy``, also returning the receipt (to check constructor events)."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self._send(factory.constructor(*args), sender or self.deployer, None, 0)
        assert receipt["status"] == 1, f"deploying {name} failed: {receipt}"
        return self.contract(name, receipt["contractAddress"]), receipt

    def transact(
        self,
        contract_fn: ContractFunction,
        sender: LocalAccount,
        *,
        gas: int | None = None,
        value: int = 0,
    ) -> TxReceipt:
        """Sign ``contract_fn`` with ``sender``'s key, send it and return the receipt.

        Without ``gas`` a revert raises ContractRevertError and nothing is mined.
        """
        return self._send(contract_fn, sender, gas, value)

    def _send(self, fn: Any, sender: LocalAccount, gas: int | None, value: int) -> TxReceipt:
        base_fee = self.w3.eth.get_block("pending")["baseFeePerGas"]
        tx = fn.build_transaction(
            {
                "from": sender.address,
                "value": value,
                "gas": gas or TX_GAS_LIMIT,
                "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
                "maxPriorityFeePerGas": PRIORITY_FEE,
                "maxFeePerGas": 2 * base_fee + PRIORITY_FEE,
            }
        )
        if gas is None:
            # A dry run on the pending block (whose timestamp the transaction will get)
            # surfaces the revert data; eth-tester's estimate_gas would too, but it runs
            # the call a dozen times in a binary search.
            call = {key: tx[key] for key in ("from", "to", "data", "value", "gas") if key in tx}
            try:
                self.w3.eth.call(call, "pending")
            except (ContractLogicError, TransactionFailed) as exc:
                data = revert_data(exc)
                if data is None:
                    raise
                raise decode_revert(data) from exc
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash)

    # -- time and isolation -------------------------------------------------------

    def now(self) -> int:
        """Timestamp of the latest mined block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def travel_to(self, timestamp: int) -> None:
        """Make the next transaction be mined in a block stamped exactly ``timestamp``.

        A block is mined on the way, so views called afterwards see ``timestamp - 1``.
        """
        self.tester.time_travel(timestamp)

    def snapshot(self) -> Any:
        return self.tester.take_snapshot()

    def revert(self, snapshot: Any) -> None:
        self.tester.revert_to_snapshot(snapshot)

    @contextmanager
    def isolated(self) -> Iterator[Chain]:
        """Undo every block mined inside the ``with`` block."""
        snapshot = self.snapshot()
        try:
            yield self
        finally:
            self.revert(snapshot)

    # -- helpers also offered as fixtures -----------------------------------------

    expect_revert = staticmethod(expect_revert)
    events = staticmethod(events)
    event_names = staticmethod(event_names)


@pytest.fixture(scope="session")
def session_chain() -> Chain:
    """The one chain of the session; deploy module-wide contracts on it."""
    return Chain.create()


@pytest.fixture
def chain(session_chain: Chain) -> Iterator[Chain]:
    """The session chain, reverted after the test to the state it had before it."""
    with session_chain.isolated():
        yield session_chain


@pytest.fixture
def accounts(chain: Chain) -> list[LocalAccount]:
    return chain.accounts


@pytest.fixture
def deploy(chain: Chain) -> Callable[..., Contract]:
    return chain.deploy


@pytest.fixture
def transact(chain: Chain) -> Callable[..., TxReceipt]:
    return chain.transact


@pytest.fixture(name="expect_revert")
def expect_revert_fixture() -> Callable[..., ContractRevertError]:
    return expect_revert


@pytest.fixture(name="events")
def events_fixture() -> Callable[[TxReceipt, Contract, str], list[dict[str, Any]]]:
    return events


@pytest.fixture(name="event_names")
def event_names_fixture() -> Callable[[TxReceipt, Contract], list[str]]:
    return event_names
