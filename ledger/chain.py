"""Connecting to a chain: the embedded one, or any JSON-RPC node.

``connect(url)`` understands three kinds of URL:

* ``embedded:///abs/path/chain.db`` (or ``embedded://relative/path/chain.db``, relative to
  the current directory): an in-process py-evm chain persisted to that SQLite file
  (:mod:`ledger.embedded`).  Only one process may own it at a time.
* ``http://…`` / ``https://…``: any JSON-RPC node (Hardhat, geth, Besu).
* ``ws://…`` / ``wss://…``: the same over a WebSocket.

The default is the embedded chain at ``instance/chain.db`` (``LEDGERLINE_CHAIN_URL``
overrides it); :func:`embedded_url` builds the URL for an app's own instance folder.

A :class:`Chain` never asks the node to sign: every transaction is signed locally by
:mod:`ledger.transactions` with the sender's own key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse, TxReceipt

from ledger._utils.addresses import to_address
from ledger._utils.ws_provider import SyncWebSocketProvider
from ledger.artifacts import Artifact, load_artifact
from ledger.embedded import EmbeddedHandle, open_embedded, release_embedded
from ledger.errors import ChainUnavailableError, LedgerConfigError, LedgerValueError

ChainKind = Literal["embedded", "http", "ws"]

DEFAULT_EMBEDDED_PATH = Path("instance") / "chain.db"
CHAIN_URL_ENV = "LEDGERLINE_CHAIN_URL"
INSTANCE_ENV = "LEDGERLINE_INSTANCE"
FUNDER_KEY_ENV = "LEDGERLINE_FUNDER_KEY"

HARDHAT_CHAIN_ID = 31337
# Hardhat's well-known development account #0 (public knowledge, funded on every
# Hardhat node); used only to fund accounts on chain id 31337.
HARDHAT_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ChainURL:
    """A parsed chain URL: its kind, the URL to show, and the file of an embedded chain."""

    kind: ChainKind
    url: str
    path: Path | None = None


def embedded_url(path: Path | str) -> str:
    """The ``embedded:///abs/path`` URL of a chain file (e.g. in an app's instance folder)."""
    return "embedded://" + str(Path(path).expanduser().resolve())


def default_chain_url(instance_dir: Path | str | None = None) -> str:
    """``LEDGERLINE_CHAIN_URL``, else the embedded chain in the instance folder.

    The instance folder is ``instance_dir``, else ``LEDGERLINE_INSTANCE``, else ``instance``
    in the current directory.
    """
    configured = os.environ.get(CHAIN_URL_ENV, "").strip()
    if configured:
        return configured
    base = instance_dir or os.environ.get(INSTANCE_ENV) or DEFAULT_EMBEDDED_PATH.parent
    return embedded_url(Path(base) / DEFAULT_EMBEDDED_PATH.name)


def parse_chain_url(url: str) -> ChainURL:
    """Classify a chain URL; embedded paths are resolved against the current directory."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise LedgerValueError(
            f"chain URL {url!r} has no scheme: use embedded:///path/chain.db, "
            "http://host:port or ws://host:port"
        )
    if scheme == "embedded":
        if not rest:
            raise LedgerValueError(
                f"chain URL {url!r} names no file: use embedded:///abs/path/chain.db"
            )
        path = Path(rest).expanduser().resolve()
        return ChainURL("embedded", "embedded://" + str(path), path)
    if scheme in {"http", "https"}:
        return ChainURL("http", text)
    if scheme in {"ws", "wss"}:
        return ChainURL("ws", text)
    raise LedgerValueError(
        f"chain URL {url!r} has unknown scheme {scheme!r}: use embedded://, http(s):// or ws(s)://"
    )


def _reason(exc: BaseException, timeout: float) -> str:
    """A short human reason for a connection failure (no nested reprs)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, requests.Timeout | TimeoutError):
            return f"no answer within {timeout:g}s"
    text = " ".join(str(item) for item in chain)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip().rstrip(".")
    for item in chain:
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
    for item in chain:
        # The node dropped the connection mid-request (http.client.RemoteDisconnected).
        if isinstance(item, ConnectionError) and str(item):
            return str(item).rstrip(".")
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return first[:200]


class _NodeHTTPProvider(HTTPProvider):
    """HTTPProvider whose transport failures become ChainUnavailableError naming the URL."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(
            url,
            request_kwargs={"timeout": (timeout, max(timeout, 60.0))},
            exception_retry_configuration=None,
        )
        self._timeout = timeout

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except (requests.RequestException, OSError) as exc:
            raise _unreachable(str(self.endpoint_uri), exc, self._timeout) from exc


class _NodeWebSocketProvider(SyncWebSocketProvider):
    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except (OSError, TimeoutError) as exc:
            raise _unreachable(self.endpoint_uri, exc, self.timeout) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("websockets"):
                raise _unreachable(self.endpoint_uri, exc, self.timeout) from exc
            raise


def _unreachable(url: str, exc: BaseException, timeout: float) -> ChainUnavailableError:
    return ChainUnavailableError(
        f"cannot reach the chain at {url}: {_reason(exc, timeout)}; check the URL or start the node"
    )


class Chain:
    """A connection to one chain; use :func:`connect` to make one."""

    def __init__(
        self,
        url: str,
        kind: ChainKind,
        w3: Web3,
        chain_id: int,
        embedded: EmbeddedHandle | None = None,
    ) -> None:
        self.url = url
        self.kind: ChainKind = kind
        self.w3 = w3
        self.chain_id = chain_id
        self._embedded = embedded
        self._closed = False

    def __repr__(self) -> str:
        return f"<Chain {self.url} chain_id={self.chain_id}>"

    def __enter__(self) -> Chain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- facts ----------------------------------------------------------------------------

    @property
    def is_embedded(self) -> bool:
        return self.kind == "embedded"

    @property
    def embedded_path(self) -> Path | None:
        return self._embedded.path if self._embedded is not None else None

    @property
    def is_dev(self) -> bool:
        """A development chain: embedded, or a Hardhat node (chain id 31337)."""
        return self.is_embedded or self.chain_id == HARDHAT_CHAIN_ID

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(to_address(address)))

    def has_code(self, address: str) -> bool:
        return len(self.w3.eth.get_code(to_address(address))) > 0

    def info(self) -> dict[str, Any]:
        """url, kind, chain_id, block, client version and gas price, as plain values."""
        latest = self.w3.eth.get_block("latest")
        data: dict[str, Any] = {
            "url": self.url,
            "kind": self.kind,
            "chain_id": self.chain_id,
            "block": int(latest["number"]),
            "block_hash": "0x" + bytes(latest["hash"]).hex() if latest.get("hash") else None,
            "client_version": str(self.w3.client_version),
            "gas_price": int(self.w3.eth.gas_price),
            "base_fee": int(latest["baseFeePerGas"]) if "baseFeePerGas" in latest else None,
        }
        if self._embedded is not None:
            data["file"] = str(self._embedded.path)
        return data

    def contract(self, artifact: str | Artifact, address: str) -> Contract:
        """A web3 contract at ``address`` with the ABI of the named artifact."""
        art = load_artifact(artifact) if isinstance(artifact, str) else artifact
        return self.w3.eth.contract(address=to_address(address), abi=art.abi)

    # -- dev funding ----------------------------------------------------------------------

    def funder(self) -> LocalAccount | None:
        """The account that pays for funding on this chain, if it has one.

        Embedded: eth-tester's pre-funded genesis account.  Hardhat (31337): its dev
        account #0.  Elsewhere: ``LEDGERLINE_FUNDER_KEY`` if set.
        """
        if self._embedded is not None:
            return Account.from_key(self._embedded.funder_key)
        configured = os.environ.get(FUNDER_KEY_ENV, "").strip()
        if configured:
            from ledger._utils.addresses import to_private_key

            return Account.from_key(to_private_key(configured))
        if self.chain_id == HARDHAT_CHAIN_ID:
            return Account.from_key(HARDHAT_DEV_KEY)
        return None

    def fund(self, address: str, wei: int) -> TxReceipt:
        """Send ``wei`` to ``address`` from this chain's funder (see :meth:`funder`)."""
        from ledger.transactions import send_transaction

        recipient = to_address(address, "recipient")
        if wei <= 0:
            raise LedgerValueError(f"amount to fund must be positive, got {wei} wei")
        funder = self.funder()
        if funder is None:
            raise LedgerConfigError(
                f"chain {self.chain_id} at {self.url} has no development funder: set "
                f"{FUNDER_KEY_ENV} to a funded account's private key or fund {recipient} "
                "yourself (a Besu consortium normally runs with free gas)"
            )
        return send_transaction(self, funder, {"to": recipient, "value": wei}).receipt

    def ensure_funded(self, address: str, minimum: int, top_up_to: int | None = None) -> bool:
        """On a chain with a funder, if ``address`` holds less than ``minimum`` wei, send it
        enough to reach ``top_up_to`` (default ``minimum``).  True if it sent anything."""
        if self.w3.eth.gas_price == 0:
            return False  # free-gas consortium chain: nothing to pay
        balance = self.balance(address)
        if balance >= minimum or self.funder() is None:
            return False
        self.fund(address, max(top_up_to or minimum, minimum) - balance)
        return True

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._embedded is not None:
            release_embedded(self._embedded)
        provider = self.w3.provider
        if isinstance(provider, SyncWebSocketProvider):
            provider.close()


def connect(url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> Chain:
    """Connect to the chain at ``url`` (default: :func:`default_chain_url`).

    Raises :class:`~ledger.errors.ChainLockedError` if another process owns the embedded
    chain file, :class:`~ledger.errors.ChainUnavailableError` if a node does not answer
    within ``timeout`` seconds.
    """
    parsed = parse_chain_url(url if url is not None else default_chain_url())
    if parsed.kind == "embedded":
        assert parsed.path is not None
        handle = open_embedded(parsed.path)
        try:
            w3 = Web3(handle.provider())
            chain_id = int(w3.eth.chain_id)
        except BaseException:
            release_embedded(handle)
            raise
        return Chain(parsed.url, "embedded", w3, chain_id, embedded=handle)

    provider: HTTPProvider | SyncWebSocketProvider
    if parsed.kind == "http":
        provider = _NodeHTTPProvider(parsed.url, timeout)
    else:
        provider = _NodeWebSocketProvider(parsed.url, timeout)
    w3 = Web3(provider)
    # Besu/QBFT and clique blocks carry long extraData; harmless on other chains.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    try:
        chain_id = int(w3.eth.chain_id)
    except ChainUnavailableError:
        raise
    except (Web3Exception, ValueError, OSError) as exc:
        raise _unreachable(parsed.url, exc, timeout) from exc
    return Chain(parsed.url, parsed.kind, w3, chain_id)
