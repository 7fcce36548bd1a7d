"""The embedded chain: an in-process py-evm chain persisted to one SQLite file.

eth-tester's :class:`~eth_tester.backends.pyevm.main.PyEVMBackend` keeps its chain in
memory.  :class:`PersistentPyEVMBackend` builds the same chain (same VM, same chain id,
same pre-funded genesis accounts) on a :class:`~ledger._utils.sqlite_kv.SQLiteKV` store
instead: a fresh file gets a genesis block, an existing file resumes from the canonical
head recorded in it.  Every mined block is committed to SQLite before the transaction
that produced it returns, so killing the process never loses a mined block.

Only one process may own a chain file: :func:`open_embedded` takes an exclusive
``flock`` on ``<file>.lock`` and a second process fails at once with
:class:`~ledger.errors.ChainLockedError`.  Inside the owning process, every
:func:`open_embedded` of the same file shares one backend, serialised by a lock, so
threads (a Flask server) can use it safely.  A forked child (gunicorn or Celery
prefork workers) must not use a connection opened by its parent: give such deployments
a JSON-RPC node.

Blocks are committed per block (each auto-mined transaction is one block); SQLite runs
in WAL mode with ``synchronous=NORMAL``, durable against a killed process, not against
power loss.
"""

from __future__ import annotations

import ast
import fcntl
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.estimators.gas import binary_gas_search
from eth.exceptions import CanonicalHeadNotFound
from eth.exceptions import TransactionNotFound as EvmTransactionNotFound
from eth.vm.forks import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_tester import EthereumTester
from eth_tester.backends.pyevm.main import (
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import TransactionFailed, TransactionNotFound
from eth_typing import BlockNumber, Hash32
from eth_utils import to_checksum_address
from eth_utils.toolz import assoc
from web3.providers.eth_tester import EthereumTesterProvider
from web3.providers.eth_tester.defaults import API_ENDPOINTS
from web3.types import RPCEndpoint, RPCResponse

from ledger._utils.sqlite_kv import SQLiteKV
from ledger.errors import ChainLockedError, ChainUnavailableError, LedgerConfigError

# eth-tester's tester chain id; web3's EthereumTesterProvider answers eth_chainId with it.
EMBEDDED_CHAIN_ID = 131277322940537

_CALL_METHODS = {"eth_call", "eth_estimateGas", "eth_createAccessList"}

MULTI_PROCESS_HINT = "use a JSON-RPC node (--rpc http://…) to share a chain between processes"


def measured_gas_estimate(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """Estimate gas in a few executions instead of py-evm's ~13-step binary search.

    A transfer that succeeds with its intrinsic gas needs nothing more.  Otherwise run
    once with the block's gas limit and take the gas consumed before refunds, plus an
    eighth for the 63/64 rule of nested calls; confirm that limit with another run, and
    only fall back to the binary search if it runs out of gas.
    """
    if not hasattr(transaction, "sender"):
        return int(binary_gas_search(state, transaction, tolerance=1000))
    intrinsic = transaction.intrinsic_gas
    if not _run(state, SpoofTransaction(transaction, gas=intrinsic, gas_price=0)).is_error:
        return int(intrinsic)  # a plain transfer: no code runs
    computation = _run(state, SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0))
    if computation.is_error:
        raise computation.error
    consumed = state.gas_limit - computation.get_gas_remaining()
    guess = min(max(intrinsic, consumed + consumed // 8), state.gas_limit)
    if not _run(state, SpoofTransaction(transaction, gas=guess)).is_error:
        return int(guess)
    return int(binary_gas_search(state, transaction, tolerance=1000))


def _run(state: StateAPI, transaction: SpoofTransaction) -> Any:
    """Apply ``transaction`` and undo it; return its computation."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(transaction)  # type: ignore[arg-type]
    finally:
        state.revert(snapshot)


class EmbeddedTesterChain(MiningChain):
    """eth-tester's post-merge tester chain (``setup_tester_chain``), on any database."""

    chain_id = EMBEDDED_CHAIN_ID
    vm_configuration = ((BlockNumber(0), PragueVM),)
    gas_estimator = staticmethod(measured_gas_estimate)

    def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
        # Keep the gas limit constant, as eth-tester does.
        return super().create_header_from_parent(
            parent_header, **assoc(header_params, "gas_limit", parent_header.gas_limit)
        )

    def get_transaction_builder(self) -> Any:
        return super().get_vm().get_transaction_builder()


class PersistentPyEVMBackend(PyEVMBackend):
    """An eth-tester py-evm backend whose chain lives in a SQLite file."""

    def __init__(self, store: SQLiteKV) -> None:
        # PyEVMBackend.__init__ would build an in-memory genesis; we open the store instead.
        self.store = store
        self.account_keys = get_default_account_keys()
        base_db = AtomicDB(store)
        try:
            ChainDB(base_db).get_canonical_head()
        except CanonicalHeadNotFound:
            genesis_state = generate_genesis_state_for_keys(self.account_keys)
            self.chain = EmbeddedTesterChain.from_genesis(
                base_db, get_default_genesis_params(), genesis_state
            )
            store.commit()
            self.resumed = False
        else:
            self.chain = EmbeddedTesterChain(base_db)
            self.resumed = True

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        raise LedgerConfigError(
            f"the embedded chain {self.store.path} is persisted and cannot be reset; "
            "close it and delete the file to start a fresh chain"
        )

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = b"\0" * 20) -> Any:
        hashes = super().mine_blocks(num_blocks, coinbase)
        self.store.commit()
        return hashes

    def apply_withdrawals(self, withdrawals_list: list[dict[str, int | str]]) -> None:
        super().apply_withdrawals(withdrawals_list)
        self.store.commit()

    def revert_to_snapshot(self, snapshot: Any) -> None:
        super().revert_to_snapshot(snapshot)
        self.store.commit()

    def _find_transaction(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
        """(block, transaction, index) through the chain's transaction index.  eth-tester
        scans every block back from the head instead, which makes each receipt O(blocks)
        and eth_getLogs quadratic in the chain's length."""
        head = self.chain.get_block()
        for index, transaction in enumerate(head.transactions):
            if transaction.hash == transaction_hash:
                return head, transaction, index
        try:
            number, index = self.chain.chaindb.get_transaction_index(Hash32(transaction_hash))
        except EvmTransactionNotFound:
            raise TransactionNotFound(
                f"No transaction found for transaction hash: 0x{bytes(transaction_hash).hex()}"
            ) from None
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, transaction, index, pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find_transaction(transaction_hash)
        pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(
            block, receipts, transaction, index, pending, self.chain.get_vm()
        )

    def call(self, transaction: Any, block_number: Any = "latest") -> Any:
        # PyEVMBackend.call stringifies the revert data; keep the raw bytes instead so
        # that a custom error reaches web3 (and decode_revert) intact.
        defaulted = dict(transaction)
        defaulted.setdefault("gas", self._max_available_gas())
        from eth_tester.backends.pyevm.main import _execute_and_revert_transaction

        unsigned = self._get_normalized_and_unsigned_evm_transaction(defaulted, block_number)
        spoofed = SpoofTransaction(unsigned, from_=transaction["from"])
        computation = _execute_and_revert_transaction(self.chain, spoofed, block_number)
        if computation.is_error:
            raise TransactionFailed(computation._error) from computation._error
        return computation.output


def _revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data hidden somewhere in an eth-tester TransactionFailed."""
    seen: list[object] = [exc, *exc.args]
    if exc.__cause__ is not None:
        seen.extend([exc.__cause__, *exc.__cause__.args])
    for item in seen:
        if isinstance(item, BaseException) and item is not exc:
            seen.extend(a for a in item.args if a not in seen)
        if isinstance(item, bytes | bytearray):
            return bytes(item)
        if isinstance(item, str) and item[:2] in {"b'", 'b"'}:
            try:
                value = ast.literal_eval(item)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, bytes):
                return value
    return None


def _sign_locally_only(eth_tester: Any, params: Any) -> Any:
    raise ValueError(
        "the embedded chain accepts only locally signed transactions (eth_sendRawTransaction)"
    )


def _client_version(eth_tester: Any, params: Any) -> str:
    from eth_tester import __version__

    v = sys.version_info
    return f"Ledgerline-embedded/EthereumTester/{__version__}/python{v.major}.{v.minor}"


EMBEDDED_API_ENDPOINTS: dict[str, dict[str, Callable[..., Any]]] = {
    namespace: dict(endpoints) for namespace, endpoints in API_ENDPOINTS.items()
}
EMBEDDED_API_ENDPOINTS["eth"]["sendTransaction"] = _sign_locally_only
EMBEDDED_API_ENDPOINTS["eth"]["accounts"] = lambda eth_tester, params: []
EMBEDDED_API_ENDPOINTS["web3"]["clientVersion"] = _client_version


class EmbeddedProvider(EthereumTesterProvider):
    """web3 provider over the shared backend, answering like a JSON-RPC node.

    Failures come back as JSON-RPC error objects (a revert as code 3 with its data, a
    rejected transaction as -32000 with the node's message), so the code above sees the
    same web3 exceptions from the embedded chain as from geth, Besu or Hardhat.
    """

    def __init__(self, tester: EthereumTester, mutex: threading.RLock) -> None:
        super().__init__(tester, api_endpoints=EMBEDDED_API_ENDPOINTS)
        self._mutex = mutex
        first_key = tester.backend.account_keys[0]
        self._anonymous_sender = to_checksum_address(first_key.public_key.to_canonical_address())

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        namespace, _, endpoint = method.partition("_")
        request_id = self._current_request_id
        self._current_request_id += 1
        delegator = EMBEDDED_API_ENDPOINTS.get(namespace, {}).get(endpoint)
        if (
            method in _CALL_METHODS
            and params
            and isinstance(params[0], dict)
            and not params[0].get("from")
        ):
            # eth-tester charges a call's gas to its sender, so an anonymous call runs
            # from the pre-funded genesis account, as with plain eth-tester.
            params = [{**params[0], "from": self._anonymous_sender}, *params[1:]]
        if delegator is None:
            return _error(request_id, -32601, f"the embedded chain has no method {method}")
        try:
            with self._mutex:
                result = delegator(self.ethereum_tester, params)
        except NotImplementedError:
            return _error(request_id, -32601, f"the embedded chain does not implement {method}")
        except TransactionFailed as exc:
            data = _revert_data(exc)
            if data is None:
                return _error(request_id, -32000, f"execution failed: {exc}")
            return _error(request_id, 3, "execution reverted", "0x" + data.hex())
        except Exception as exc:  # a JSON-RPC node reports every rejection as an error object
            message = str(exc) or type(exc).__name__
            if "Invalid transaction nonce" in message:
                message = f"nonce too low: {message}"
            return _error(request_id, -32000, message)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def is_connected(self, show_traceback: bool = False) -> bool:  # type: ignore[override]
        return True


def _error(request_id: int, code: int, message: str, data: str | None = None) -> RPCResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}  # type: ignore[typeddict-item]


@dataclass
class EmbeddedHandle:
    """One open chain file, shared by every connection to it inside this process."""

    path: Path
    store: SQLiteKV
    backend: PersistentPyEVMBackend
    tester: EthereumTester
    mutex: threading.RLock
    lock_fd: int
    refs: int = 0
    shared: dict[str, Any] = field(default_factory=dict)

    def provider(self) -> EmbeddedProvider:
        return EmbeddedProvider(self.tester, self.mutex)

    @property
    def funder_key(self) -> bytes:
        """eth-tester's first pre-funded genesis account (private key 0x…01)."""
        return bytes(self.backend.account_keys[0].to_bytes())

    @property
    def funder_address(self) -> str:
        return to_checksum_address(self.backend.account_keys[0].public_key.to_canonical_address())


_OPEN: dict[Path, EmbeddedHandle] = {}
_OPEN_MUTEX = threading.Lock()


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _take_file_lock(path: Path) -> int:
    lock_file = lock_path(path)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ChainLockedError(
            f"embedded chain {path} is already open in process {holder}; {MULTI_PROCESS_HINT}"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def open_embedded(path: Path) -> EmbeddedHandle:
    """Open (creating if needed) the chain file at ``path`` and take ownership of it."""
    path = path.expanduser().resolve()
    with _OPEN_MUTEX:
        handle = _OPEN.get(path)
        if handle is None:
            if not path.parent.is_dir():
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ChainUnavailableError(
                        f"cannot create the embedded chain {path}: {exc.strerror}; "
                        "choose a writable directory"
                    ) from exc
            fd = _take_file_lock(path)
            try:
                store = SQLiteKV(path)
                backend = PersistentPyEVMBackend(store)
            except Exception as exc:
                os.close(fd)
                raise ChainUnavailableError(
                    f"cannot open the embedded chain {path}: {exc}; "
                    "the file may not be a Ledgerline chain — move it away to start afresh"
                ) from exc
            tester = EthereumTester(backend=backend, auto_mine_transactions=True)
            handle = EmbeddedHandle(path, store, backend, tester, threading.RLock(), fd)
            _OPEN[path] = handle
        handle.refs += 1
        return handle


def release_embedded(handle: EmbeddedHandle) -> None:
    """Drop one reference; the last one flushes the store and gives up ownership."""
    with _OPEN_MUTEX:
        handle.refs -= 1
        if handle.refs > 0:
            return
        _OPEN.pop(handle.path, None)
        with handle.mutex:
            handle.store.commit()
            handle.store.close()
        os.close(handle.lock_fd)  # releases the flock
