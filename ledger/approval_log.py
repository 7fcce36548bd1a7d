"""A typed client for ``ApprovalLog``, the on-chain checkpoints of the approval log.

Views return plain values and frozen dataclasses (:class:`OnChainCheckpoint`,
:class:`AnchoredEvent`); :meth:`ApprovalLogClient.anchor` signs locally with the
anchoring key through :mod:`ledger.transactions`.  :meth:`ApprovalLogClient.anchor_log`
is what an anchoring job calls: it reads the last checkpoint *from the chain*, checks
that the local log still agrees with it, and sends the new size, root and RFC 9162
consistency proof.  Reverts come out as :class:`~ledger.errors.ContractRevertError`
with a one-line message saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3Exception
from web3.logs import DISCARD

from ledger._utils.addresses import to_address
from ledger._utils.revert import explained, with_sentence
from ledger.artifacts import load_artifact
from ledger.chain import Chain
from ledger.errors import ContractRevertError, LedgerError, LedgerValueError
from ledger.merkle import MerkleLog
from ledger.transactions import SentTransaction, call, transact

CONTRACT_NAME = "ApprovalLog"
MAX_PROOF_LENGTH = 64
T = TypeVar("T")


class LogDivergedError(LedgerError, ValueError):
    """The local log does not reproduce a root anchored on-chain: entries were changed."""


@dataclass(frozen=True)
class OnChainCheckpoint:
    """The latest checkpoint as the contract holds it (zeros before the first one)."""

    size: int
    root: bytes
    block_number: int
    timestamp: int
    count: int


@dataclass(frozen=True)
class AnchoredEvent:
    """One ``CheckpointAnchored`` event."""

    size: int
    root: bytes
    by: ChecksumAddress
    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True)
class AnchorResult:
    """A checkpoint anchored by this client."""

    size: int
    root: bytes
    previous_size: int
    proof_length: int
    tx_hash: str
    block_number: int
    gas_used: int


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray)) else str(value)


_SENTENCES: dict[str, Callable[[dict[str, Any]], str]] = {
    "ApprovalLogNotAnchorer": lambda a: (
        f"{a['caller']} is not an active registry member holding ANCHORER; grant it the role "
        "through a registry proposal (`ledgerline registry propose grant ANCHORER ...`)"
    ),
    "ApprovalLogNotExtension": lambda a: (
        f"the chain already holds a checkpoint of {a['oldSize']} entries, so one of "
        f"{a['newSize']} would shrink the log; re-read the latest checkpoint and anchor more"
    ),
    "ApprovalLogAlreadyAnchored": lambda a: (
        f"the checkpoint of {a['size']} entries with root {_hex(a['root'])} is already anchored"
    ),
    "ApprovalLogInvalidProof": lambda a: (
        f"the tree of {a['newSize']} entries with root {_hex(a['newRoot'])} does not extend the "
        f"anchored tree of {a['oldSize']} entries (root {_hex(a['oldRoot'])}): the log's "
        "history was changed; run the log verification to find the entry"
    ),
    "ApprovalLogProofTooLong": lambda a: (
        f"the consistency proof has {a['length']} hashes, more than the {a['maxLength']} "
        "any real proof needs"
    ),
    "ApprovalLogZeroRoot": lambda a: "a zero root is not the root of any tree",
    "ApprovalLogUnknownCheckpoint": lambda a: (
        f"no checkpoint of {a['size']} entries was ever anchored on this contract"
    ),
    "ApprovalLogInvalidRegistry": lambda a: f"the registry {a['registry']} is not a contract",
}


def explain(error: ContractRevertError) -> ContractRevertError:
    """The same error with a one-line sentence as its message, when the log knows it."""
    return with_sentence(error, _SENTENCES)


def _explained(fn: Callable[[], T]) -> T:
    return explained(fn, explain)


class ApprovalLogClient:
    """Reads and anchors the ApprovalLog deployed at ``address`` on ``chain``."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_address(address, "ApprovalLog address")
        artifact = load_artifact(CONTRACT_NAME)
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=artifact.abi)

    def __repr__(self) -> str:
        return f"<ApprovalLogClient {self.address} on {self.chain.url}>"

    def _call(self, function: ContractFunction) -> Any:
        return _explained(lambda: call(function))

    def _send(self, sender: LocalAccount, function: ContractFunction) -> SentTransaction:
        return _explained(lambda: transact(self.chain, sender, function))

    # -- views ------------------------------------------------------------------------------

    def is_approval_log(self) -> bool:
        """Whether the address holds code answering as an ApprovalLog: its ANCHORER role
        id, its proof bound and a registry that is a contract."""
        if not self.chain.has_code(self.address):
            return False
        try:
            role = bytes(self._call(self.contract.functions.ANCHORER_ROLE()))
            bound = int(self._call(self.contract.functions.MAX_PROOF_LENGTH()))
            registry = self.registry()
        except (LedgerError, ValueError, Web3Exception):  # not this contract's ABI
            return False
        return (
            role == keccak(text="ANCHORER")
            and bound == MAX_PROOF_LENGTH
            and self.chain.has_code(registry)
        )

    def registry(self) -> ChecksumAddress:
        return to_address(self._call(self.contract.functions.registry()))

    def max_proof_length(self) -> int:
        return int(self._call(self.contract.functions.MAX_PROOF_LENGTH()))

    def latest(self) -> tuple[int, bytes]:
        """(size, root) of the latest checkpoint; (0, 32 zero bytes) before the first."""
        size, root = self._call(self.contract.functions.latest())
        return int(size), bytes(root)

    def latest_checkpoint(self) -> OnChainCheckpoint:
        size, root, block, timestamp, count = self._call(self.contract.functions.latestCheckpoint())
        return OnChainCheckpoint(int(size), bytes(root), int(block), int(timestamp), int(count))

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size`` entries; raises ApprovalLogUnknownCheckpoint."""
        _check_size(size)
        return bytes(self._call(self.contract.functions.rootAt(size)))

    def find_root(self, size: int) -> bytes | None:
        """The root anchored for ``size`` entries, or None if that size was never anchored."""
        try:
            return self.root_at(size)
        except ContractRevertError as exc:
            if exc.error_name == "ApprovalLogUnknownCheckpoint":
                return None
            raise

    def events(self, from_block: int = 0, to_block: int | str = "latest") -> list[AnchoredEvent]:
        """Every ``CheckpointAnchored`` event, in chain order."""
        logs = self.contract.events.CheckpointAnchored().get_logs(
            from_block=from_block, to_block=to_block
        )
        found = [_event(log) for log in logs]
        return sorted(found, key=lambda e: (e.block_number, e.log_index))

    def anchored_event(self, size: int, from_block: int = 0) -> AnchoredEvent | None:
        """The event that anchored ``size`` entries, found by its indexed size."""
        logs = self.contract.events.CheckpointAnchored().get_logs(
            from_block=from_block, argument_filters={"size": size}
        )
        events = [_event(log) for log in logs]
        return events[0] if events else None

    def events_in(self, tx_hash: str) -> list[AnchoredEvent]:
        """The ``CheckpointAnchored`` events this contract emitted in transaction ``tx_hash``."""
        receipt = self.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        logs = [log for log in receipt["logs"] if log["address"] == self.address]
        decoded = self.contract.events.CheckpointAnchored().process_receipt(
            {**receipt, "logs": logs}, errors=DISCARD
        )
        return [_event(log) for log in decoded]

    # -- actions ----------------------------------------------------------------------------

    def anchor(
        self, sender: LocalAccount, size: int, root: bytes, proof: Sequence[bytes]
    ) -> AnchorResult:
        """Anchor (``size``, ``root``) with ``proof`` from the latest checkpoint."""
        _check_size(size)
        if len(root) != 32:
            raise LedgerValueError(f"a root is 32 bytes, got {len(root)}")
        previous, _ = self.latest()
        fn = self.contract.functions.anchor(size, bytes(root), [bytes(p) for p in proof])
        sent = self._send(sender, fn)
        return AnchorResult(
            size, bytes(root), previous, len(proof), sent.tx_hash, sent.block_number, sent.gas_used
        )

    def anchor_log(
        self, sender: LocalAccount, log: MerkleLog, size: int | None = None
    ) -> AnchorResult | None:
        """Anchor the first ``size`` entries of ``log`` (all by default), proving that they
        extend the checkpoint the chain holds now.  None when nothing new is to anchor.

        Raises :class:`LogDivergedError` when the local log does not reproduce the
        anchored root (its history was changed) or holds fewer entries than the chain.
        """
        size = log.size if size is None else size
        old_size, old_root = self.latest()
        check_extends(log, old_size, old_root)
        if size <= old_size:
            return None
        return self.anchor(sender, size, log.root(size), log.consistency_proof(old_size, size))


def check_extends(log: MerkleLog, anchored_size: int, anchored_root: bytes) -> None:
    """Raise LogDivergedError unless ``log`` reproduces the anchored checkpoint."""
    if anchored_size > log.size:
        raise LogDivergedError(
            f"the chain holds a checkpoint of {anchored_size} entries but the log has only "
            f"{log.size}: entries were lost; restore them from a backup before anchoring"
        )
    if anchored_size and log.root(anchored_size) != anchored_root:
        raise LogDivergedError(
            f"the log's first {anchored_size} entries no longer hash to the root anchored "
            f"on-chain ({_hex(anchored_root)}): entries were changed; verify the log to find them"
        )


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**64:
        raise LedgerValueError(f"tree size {size!r} is not an integer from 0 to 2**64 - 1")


def _event(log: Any) -> AnchoredEvent:
    args = log["args"]
    return AnchoredEvent(
        size=int(args["size"]),
        root=bytes(args["root"]),
        by=to_address(args["by"]),
        tx_hash="0x" + bytes(log["transactionHash"]).hex(),
        block_number=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
    )


__all__ = [
    "AnchorResult",
    "AnchoredEvent",
    "ApprovalLogClient",
    "LogDivergedError",
    "OnChainCheckpoint",
    "check_extends",
    "explain",
]
