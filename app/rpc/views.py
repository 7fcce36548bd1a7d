"""``POST /rpc``: read-only JSON-RPC over the app's chain connection."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request
from web3._utils.encoding import Web3JsonEncoder
from web3.providers.eth_tester import middleware as tester_formats

from app.extensions import chain, csrf
from ledger.errors import ChainUnavailableError

rpc_bp = Blueprint("rpc", __name__)

# Methods that read the chain; anything else (sending, signing, mining) is refused.
READ_ONLY_METHODS = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "net_version",
        "web3_clientVersion",
    }
)


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _answer(call: Any) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("method"), str):
        return _error(None, -32600, "invalid request: expected an object with a method")
    request_id = call.get("id")
    method = call["method"]
    if method not in READ_ONLY_METHODS:
        return _error(
            request_id, -32601, f"method {method} is not available on this read-only endpoint"
        )
    params = call.get("params") or []
    if not isinstance(params, list):
        return _error(request_id, -32602, "invalid params: expected a list")
    try:
        connected = chain.get()
    except ChainUnavailableError as exc:
        return _error(request_id, -32000, str(exc))
    if connected.kind == "embedded":
        response = _embedded_request(connected.w3.provider, method, params)
    else:
        response = dict(connected.w3.provider.make_request(method, params))  # type: ignore[arg-type]
    response["id"] = request_id
    response.setdefault("jsonrpc", "2.0")
    return response


def _embedded_request(provider: Any, method: str, params: list[Any]) -> dict[str, Any]:
    """eth-tester speaks Python values and snake_case; translate both ways with web3's own
    formatters so the answer is what a JSON-RPC node would send."""
    to_tester = tester_formats.request_formatters.get(method)  # type: ignore[call-overload]
    response = dict(provider.make_request(method, to_tester(params) if to_tester else params))
    from_tester = (tester_formats.result_formatters or {}).get(method)  # type: ignore[call-overload]
    if from_tester and "result" in response:
        response["result"] = from_tester(response["result"])
    if "result" in response:
        response["result"] = _quantities(response["result"])
    return response


def _quantities(value: Any) -> Any:
    """JSON-RPC sends every integer as a hex QUANTITY; eth-tester hands back ints."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, dict):
        return {key: _quantities(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_quantities(item) for item in value]
    return value


@rpc_bp.post("/rpc")
@csrf.exempt
def rpc() -> Response:
    if not current_app.config.get("PUBLIC_RPC", False):
        body = _error(
            None, -32601, "the read-only JSON-RPC endpoint is disabled (LEDGERLINE_PUBLIC_RPC)"
        )
        return Response(json.dumps(body), status=404, mimetype="application/json")
    try:
        payload = json.loads(request.get_data(as_text=True) or "null")
    except json.JSONDecodeError as exc:
        body = _error(None, -32700, f"parse error: {exc.msg}")
        return Response(json.dumps(body), status=400, mimetype="application/json")
    if isinstance(payload, list):
        answer: Any = [_answer(call) for call in payload[:100]]
    else:
        answer = _answer(payload)
    return Response(json.dumps(answer, cls=Web3JsonEncoder), mimetype="application/json")
