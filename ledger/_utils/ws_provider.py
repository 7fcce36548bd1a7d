"""A synchronous JSON-RPC-over-WebSocket provider for web3.

web3 v8 only ships an asynchronous ``WebSocketProvider`` (for ``AsyncWeb3``); the ledger
talks to its chain synchronously, so ``ws://`` URLs use this small provider built on the
``websockets`` library's synchronous client (a dependency of web3 itself).
"""

from __future__ import annotations

import inspect
import json
import threading
from typing import Any

from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse
from websockets.sync.client import ClientConnection, connect

_HAS_LEGACY_FLAG = "legacy" in inspect.signature(connect).parameters


class SyncWebSocketProvider(JSONBaseProvider):
    """One persistent WebSocket connection; requests are serialised by a lock."""

    def __init__(self, endpoint_uri: str, timeout: float = 10.0) -> None:
        super().__init__()
        self.endpoint_uri = endpoint_uri
        self.timeout = timeout
        self._conn: ClientConnection | None = None
        self._mutex = threading.Lock()

    def __str__(self) -> str:
        return f"WebSocket connection {self.endpoint_uri}"

    def _connection(self) -> ClientConnection:
        if self._conn is None:
            # websockets >= 16 wants `legacy=True` for a connection kept outside a `with`.
            extra: dict[str, Any] = {"legacy": True} if _HAS_LEGACY_FLAG else {}
            self._conn = connect(
                self.endpoint_uri, open_timeout=self.timeout, max_size=64 * 1024 * 1024, **extra
            )
        return self._conn

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        request = self.encode_rpc_request(method, params)
        request_id = json.loads(request)["id"]
        with self._mutex:
            conn = self._connection()
            try:
                conn.send(request.decode())
                while True:
                    raw = conn.recv(timeout=self.timeout)
                    response = self.decode_rpc_response(
                        raw.encode() if isinstance(raw, str) else raw
                    )
                    # Subscription notifications carry no id; skip anything not ours.
                    if isinstance(response, dict) and response.get("id") == request_id:
                        return response
            except BaseException:
                self.close()
                raise

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            self.make_request(RPCEndpoint("web3_clientVersion"), [])
        except Exception:
            if show_traceback:
                raise
            return False
        return True

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
