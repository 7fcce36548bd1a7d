"""Decode revert data into :class:`ledger.errors.ContractRevertError`.

Contracts revert with custom errors only; their selectors are collected from every
compiled artifact, so any revert from any Ledgerline contract decodes to its name and
arguments.  Solidity's built-in ``Error(string)`` and ``Panic(uint256)`` decode too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from ledger.artifacts import BUILD_DIR, artifact_names, load_artifact
from ledger.errors import ArtifactError, ContractRevertError

T = TypeVar("T")

Sentence = Callable[[dict[str, Any]], str]
"""Builds the one-line explanation of a custom error from its decoded arguments."""

_BUILTIN = {
    bytes.fromhex("08c379a0"): ("Error", "", [{"name": "message", "type": "string"}]),
    bytes.fromhex("4e487b71"): ("Panic", "", [{"name": "code", "type": "uint256"}]),
}


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _abi_errors(contract: str) -> list[dict[str, Any]]:
    """The custom errors of an artifact's ABI, even a stale one: decoding a revert of
    already deployed code needs its ABI, not fresh sources."""
    try:
        return load_artifact(contract).errors
    except ArtifactError:
        try:
            data = json.loads((BUILD_DIR / f"{contract}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [e for e in data.get("abi", []) if e.get("type") == "error"]


@cache
def error_table() -> dict[bytes, tuple[str, str, list[dict[str, Any]]]]:
    """Selector -> (error name, contract name, inputs) for every known custom error."""
    table = dict(_BUILTIN)
    for contract in artifact_names():
        for entry in _abi_errors(contract):
            signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"
            table.setdefault(
                function_signature_to_4byte_selector(signature),
                (entry["name"], contract, entry["inputs"]),
            )
    return table


def _normalise(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, tuple | list):
        return [_normalise(v, abi_type.rstrip("[]0123456789")) for v in value]
    return value


def decode_revert(data: bytes | str | None) -> ContractRevertError:
    """Turn raw revert data into a ContractRevertError naming the error and its args."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    if not data:
        return ContractRevertError("UnknownRevert", {}, "the transaction reverted without a reason")
    selector, payload = bytes(data[:4]), bytes(data[4:])
    known = error_table().get(selector)
    if known is None:
        return ContractRevertError(
            "UnknownRevert", {"data": data}, f"reverted with unknown error 0x{data.hex()}"
        )
    name, contract, inputs = known
    values = decode([_abi_type(i) for i in inputs], payload) if inputs else ()
    args = {
        (i["name"] or f"arg{n}"): _normalise(v, i["type"])
        for n, (i, v) in enumerate(zip(inputs, values, strict=True))
    }
    return ContractRevertError(name, args, contract=contract or None)


def with_sentence(
    error: ContractRevertError, sentences: Mapping[str, Callable[..., str]], *context: Any
) -> ContractRevertError:
    """The same error with a one-line sentence as its message, when ``sentences`` has one.

    Each sentence is called with the error's arguments, then any ``context`` given."""
    sentence = sentences.get(error.error_name)
    if sentence is None:
        return error
    try:
        text = sentence(error.error_args, *context)
    except (KeyError, ValueError, TypeError):
        return error
    return ContractRevertError(error.error_name, error.error_args, text, error.contract)


def explained(
    fn: Callable[[], T], explain: Callable[[ContractRevertError], ContractRevertError]
) -> T:
    """Run ``fn``; a revert comes out through ``explain``, without the inner traceback."""
    try:
        return fn()
    except ContractRevertError as exc:
        raise explain(exc) from None
