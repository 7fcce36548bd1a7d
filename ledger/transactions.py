"""Signing and sending transactions, locally, with managed nonces and checked receipts.

Every transaction is signed here with the sender's own :class:`LocalAccount`; the node
only ever sees ``eth_sendRawTransaction``.  :func:`send_transaction`:

1. estimates gas (plus a margin); a revert at that point is decoded at once;
2. prices it with EIP-1559 fees when the chain has a base fee, ``gasPrice`` otherwise;
3. takes the next nonce from a per-chain, per-sender :class:`NonceTracker` (seeded from
   ``eth_getTransactionCount(addr, "pending")``, resynced when the node says the nonce is
   too low);
4. waits for the receipt and checks its status; a mined revert is replayed with
   ``eth_call`` on the parent block to recover the revert data.

Reverts come out as :class:`~ledger.errors.ContractRevertError` carrying the contract's
custom error name and arguments (:func:`ledger._utils.revert.decode_revert`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import TxParams, TxReceipt

from ledger._utils.revert import decode_revert
from ledger.artifacts import Artifact
from ledger.errors import ContractRevertError, TransactionFailedError

if TYPE_CHECKING:
    from ledger.chain import Chain

GAS_MARGIN = 1.25
RECEIPT_TIMEOUT = 120.0
NONCE_RETRIES = 3

_NONCE_TOO_LOW = (
    "nonce too low",
    "invalid transaction nonce",
    "already known",
    "nonce has already",
)
_NO_FUNDS = ("insufficient funds", "enough balance", "enough funds", "sender doesn't have")


@dataclass(frozen=True)
class SentTransaction:
    """A mined, successful transaction."""

    tx_hash: str
    receipt: TxReceipt

    @property
    def block_number(self) -> int:
        return int(self.receipt["blockNumber"])

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"])

    @property
    def contract_address(self) -> ChecksumAddress | None:
        address = self.receipt.get("contractAddress")
        return ChecksumAddress(address) if address else None


class NonceTracker:
    """Next nonce per sender on one chain, shared by every connection in this process."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._mutex = threading.Lock()

    def lock(self, address: str) -> threading.RLock:
        """Held while a transaction from ``address`` is signed and handed to the node."""
        with self._mutex:
            return self._locks.setdefault(address, threading.RLock())

    def next_nonce(self, chain: Chain, address: ChecksumAddress) -> int:
        if address not in self._next:
            self.resync(chain, address)
        return self._next[address]

    def used(self, address: str, nonce: int) -> None:
        self._next[address] = nonce + 1

    def resync(self, chain: Chain, address: ChecksumAddress) -> None:
        self._next[address] = int(chain.w3.eth.get_transaction_count(address, "pending"))

    def forget(self, address: str) -> None:
        self._next.pop(address, None)


_TRACKERS: dict[tuple[str, int], NonceTracker] = {}
_TRACKERS_MUTEX = threading.Lock()


def nonce_tracker(chain: Chain) -> NonceTracker:
    """The tracker for ``chain`` (by URL and chain id), created on first use."""
    with _TRACKERS_MUTEX:
        return _TRACKERS.setdefault((chain.url, chain.chain_id), NonceTracker())


def revert_from_exception(exc: BaseException) -> ContractRevertError | None:
    """The decoded custom error inside a web3 revert exception, or None if it is not one."""
    data: Any = None
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data") or data.get("result")
        if data is None or data == "no data":
            return decode_revert(b"")
    elif isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if not isinstance(error, dict):
            return None
        data = error.get("data")
        if isinstance(data, dict):
            data = data.get("data")
        message = str(error.get("message", ""))
        if data is None and "revert" not in message.lower():
            return None
    else:
        return None
    if isinstance(data, str) and data.startswith("Reverted "):
        data = data.split(" ", 1)[1]
    if isinstance(data, bytes | str):
        try:
            return decode_revert(data)
        except ValueError:
            return ContractRevertError("UnknownRevert", {}, f"the call reverted: {data!r}")
    return decode_revert(b"")


def _node_message(exc: Exception) -> str:
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]).splitlines()[0]
    return (str(exc) or type(exc).__name__).splitlines()[0]


def _fee_fields(chain: Chain) -> dict[str, int]:
    latest = chain.w3.eth.get_block("latest")
    base_fee = latest.get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": int(chain.w3.eth.gas_price)}
    if int(chain.w3.eth.gas_price) == 0:
        return {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}  # free-gas consortium
    try:
        tip = int(chain.w3.eth.max_priority_fee)
    except (Web3RPCError, ValueError):
        tip = 10**9
    return {"maxFeePerGas": 2 * int(base_fee) + tip, "maxPriorityFeePerGas": tip}


def _estimate_gas(chain: Chain, tx: dict[str, Any], margin: float) -> int:
    try:
        estimate = int(chain.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        revert = revert_from_exception(exc)
        if revert is not None:
            raise revert from None
        raise _rejected(tx, exc) from exc
    return int(estimate * margin) + 1


def _rejected(tx: dict[str, Any], exc: Exception) -> TransactionFailedError:
    message = _node_message(exc)
    sender = tx.get("from", "?")
    if any(marker in message.lower() for marker in _NO_FUNDS):
        return TransactionFailedError(
            f"account {sender} cannot pay for this transaction ({message}); "
            "fund it first (dev chains: `ledgerline` funds new keys automatically)"
        )
    return TransactionFailedError(f"the node rejected the transaction from {sender}: {message}")


def send_transaction(
    chain: Chain,
    sender: LocalAccount,
    tx: dict[str, Any] | TxParams,
    *,
    gas: int | None = None,
    gas_margin: float = GAS_MARGIN,
    timeout: float = RECEIPT_TIMEOUT,
) -> SentTransaction:
    """Sign ``tx`` with ``sender``, send it, wait for it to be mined and check it.

    ``tx`` holds ``to`` (omit it to create a contract), ``data`` and ``value``; nonce,
    gas, fees and chain id are filled in here.  Raises ContractRevertError on a revert
    and TransactionFailedError when the node rejects the transaction or it is not mined
    within ``timeout`` seconds.
    """
    w3 = chain.w3
    base: dict[str, Any] = {
        "from": sender.address,
        "value": int(tx.get("value", 0)),
        "data": HexBytes(tx.get("data", b"")),
        "chainId": chain.chain_id,
    }
    if tx.get("to"):
        base["to"] = tx["to"]
    base["gas"] = gas if gas is not None else _estimate_gas(chain, base, gas_margin)
    base.update(_fee_fields(chain))

    tracker = nonce_tracker(chain)
    with tracker.lock(sender.address):
        for attempt in range(NONCE_RETRIES):
            nonce = tracker.next_nonce(chain, sender.address)
            signed = sender.sign_transaction({**base, "nonce": nonce})
            try:
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            except Web3RPCError as exc:
                message = _node_message(exc).lower()
                if any(marker in message for marker in _NONCE_TOO_LOW):
                    tracker.resync(chain, sender.address)
                    if attempt + 1 < NONCE_RETRIES:
                        continue
                revert = revert_from_exception(exc)
                if revert is not None and "revert" in message:
                    raise revert from None
                raise _rejected(base, exc) from exc
            tracker.used(sender.address, nonce)
            break

    hex_hash = "0x" + bytes(tx_hash).hex()
    try:
        poll = 0.01 if chain.is_embedded else 0.1
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=poll)
    except TimeExhausted:
        tracker.forget(sender.address)
        raise TransactionFailedError(
            f"transaction {hex_hash} from {sender.address} was not mined within {timeout:g}s; "
            "check that the node is mining, then look the hash up"
        ) from None
    if receipt["status"] != 1:
        raise _explain_failure(chain, base, receipt, hex_hash)
    return SentTransaction(hex_hash, receipt)


def _explain_failure(
    chain: Chain, tx: dict[str, Any], receipt: TxReceipt, tx_hash: str
) -> Exception:
    """Replay a failed transaction on its parent block to recover the revert data."""
    block = int(receipt["blockNumber"])
    call: dict[str, Any] = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
    try:
        chain.w3.eth.call(call, max(block - 1, 0))  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        revert = revert_from_exception(exc)
        if revert is not None:
            return revert
    if int(receipt["gasUsed"]) >= int(tx["gas"]):
        return TransactionFailedError(
            f"transaction {tx_hash} ran out of gas in block {block} (limit {tx['gas']}); "
            "retry with a higher gas limit"
        )
    return TransactionFailedError(
        f"transaction {tx_hash} failed in block {block} and its replay did not revert; "
        "an earlier transaction in the same block probably changed the state it relied on"
    )


def transact(
    chain: Chain,
    sender: LocalAccount,
    function: ContractFunction,
    *,
    value: int = 0,
    gas: int | None = None,
    timeout: float = RECEIPT_TIMEOUT,
) -> SentTransaction:
    """Send a bound contract function call (``contract.functions.f(args)``) from ``sender``."""
    tx = {"to": function.address, "data": function._encode_transaction_data(), "value": value}
    return send_transaction(chain, sender, tx, gas=gas, timeout=timeout)


def call(function: ContractFunction, block: int | str = "latest") -> Any:
    """Run a view function; a revert comes out as ContractRevertError."""
    try:
        return function.call(block_identifier=block)  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        revert = revert_from_exception(exc)
        if revert is not None:
            raise revert from None
        raise


def deploy_contract(
    chain: Chain,
    sender: LocalAccount,
    artifact: Artifact,
    *args: Any,
    timeout: float = RECEIPT_TIMEOUT,
) -> SentTransaction:
    """Create ``artifact``'s contract with constructor ``args``; the receipt has its address."""
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    sent = send_transaction(chain, sender, {"data": data}, timeout=timeout)
    if sent.contract_address is None:
        raise TransactionFailedError(
            f"deploying {artifact.name} in {sent.tx_hash} created no contract; check the artifact"
        )
    return sent
