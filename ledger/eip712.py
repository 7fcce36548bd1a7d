"""EIP-712 signatures of approval decisions, by the approver's own key.

An approver signs the typed data :data:`DECISION_TYPES` (primary type
``ApprovalDecision``) in the domain ``{name: "Ledgerline Approval Log", version: "1",
chainId, verifyingContract: the ApprovalLog contract}``.  Its ``entryHash`` is the
record's RFC 9162 leaf hash, which commits to every field of the record (salt and
previous-entry hash included); the other members repeat the fields a person checks
before signing, so a wallet shows them.  Anyone holding the record, the chain id and the
contract address recomputes the typed data and recovers the signer, with no database.

Signatures are 65 bytes ``r || s || v`` as ``0x`` hex, as eth-account and wallets
produce them (``v`` 27 or 28).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak

from ledger._utils.addresses import to_address
from ledger.approval_record import entry_hash, validate_record
from ledger.errors import LedgerValueError

DOMAIN_NAME = "Ledgerline Approval Log"
DOMAIN_VERSION = "1"
PRIMARY_TYPE = "ApprovalDecision"

#: The EIP-712 types, in the order their members are encoded.
DECISION_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    PRIMARY_TYPE: [
        {"name": "entryHash", "type": "bytes32"},
        {"name": "campaignId", "type": "string"},
        {"name": "campaignVersion", "type": "uint64"},
        {"name": "contentHash", "type": "bytes32"},
        {"name": "snapshotRoot", "type": "bytes32"},
        {"name": "snapshotCount", "type": "uint64"},
        {"name": "stage", "type": "string"},
        {"name": "decision", "type": "string"},
        {"name": "approver", "type": "address"},
        {"name": "policyVersion", "type": "uint64"},
        {"name": "decidedAt", "type": "string"},
        {"name": "expiresAt", "type": "string"},
    ],
}

SIGNATURE_LENGTH = 65


def domain(chain_id: int, contract: str) -> dict[str, Any]:
    """The EIP-712 domain of the approval log ``contract`` on chain ``chain_id``."""
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise LedgerValueError(f"chain id {chain_id!r} is not a positive integer")
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_address(contract, "ApprovalLog contract address"),
    }


def decision_message(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ApprovalDecision`` values of a record (which must name its approver)."""
    checked = validate_record(record)
    approver = checked["approver_address"]
    if approver is None:
        raise LedgerValueError(
            f"the {checked['decision']} record of campaign {checked['campaign_id']} names no "
            "approver_address, so nobody can sign it; set the approver's address"
        )
    return {
        "entryHash": entry_hash(checked),
        "campaignId": checked["campaign_id"],
        "campaignVersion": checked["campaign_version"],
        "contentHash": bytes.fromhex(checked["content_hash"][2:]),
        "snapshotRoot": bytes.fromhex(checked["snapshot_root"][2:]),
        "snapshotCount": checked["snapshot_count"],
        "stage": checked["stage"],
        "decision": checked["decision"],
        "approver": approver,
        "policyVersion": checked["policy_version"],
        "decidedAt": checked["decided_at"],
        "expiresAt": checked["expires_at"] or "",
    }


def decision_typed_data(record: Mapping[str, Any], chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 typed data to sign for ``record`` (``eth_signTypedData_v4`` input).

    ``bytes32`` members are ``bytes``; :func:`typed_data_json` gives the JSON form a
    browser wallet takes.
    """
    return {
        "types": DECISION_TYPES,
        "primaryType": PRIMARY_TYPE,
        "domain": domain(chain_id, contract),
        "message": decision_message(record),
    }


def typed_data_json(typed_data: Mapping[str, Any]) -> dict[str, Any]:
    """``typed_data`` with its bytes as ``0x`` hex, ready for ``json.dumps``."""

    def plain(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return "0x" + bytes(value).hex()
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    result: dict[str, Any] = plain(typed_data)
    return result


def signable(record: Mapping[str, Any], chain_id: int, contract: str) -> SignableMessage:
    return encode_typed_data(full_message=decision_typed_data(record, chain_id, contract))


def decision_digest(record: Mapping[str, Any], chain_id: int, contract: str) -> bytes:
    """``keccak256(0x19 0x01 || domainSeparator || hashStruct(message))``: what is signed."""
    message = signable(record, chain_id, contract)
    return keccak(b"\x19" + message.version + message.header + message.body)


def domain_separator(chain_id: int, contract: str) -> bytes:
    """``hashStruct(EIP712Domain)`` of the approval log's domain."""
    values = domain(chain_id, contract)
    type_hash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    return keccak(
        type_hash
        + keccak(text=values["name"])
        + keccak(text=values["version"])
        + values["chainId"].to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(values["verifyingContract"][2:])
    )


def sign_decision(
    account: LocalAccount, record: Mapping[str, Any], chain_id: int, contract: str
) -> str:
    """The approver's signature of ``record`` as 0x hex; the key must be the record's
    ``approver_address``."""
    message = decision_message(record)
    if to_address(message["approver"]) != account.address:
        raise LedgerValueError(
            f"key {account.address} cannot sign for approver {message['approver']}: "
            "unlock the approver's own key"
        )
    signed = account.sign_message(signable(record, chain_id, contract))
    return "0x" + bytes(signed.signature).hex()


def parse_signature(signature: str | bytes) -> bytes:
    """A signature as its 65 bytes, or a LedgerValueError saying what is wrong."""
    if isinstance(signature, (bytes, bytearray)):
        raw = bytes(signature)
    elif isinstance(signature, str):
        text = signature.strip().removeprefix("0x")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise LedgerValueError(f"signature {signature[:20]!r}… is not hex") from None
    else:
        raise LedgerValueError(f"a signature is 0x hex, not {type(signature).__name__}")
    if len(raw) != SIGNATURE_LENGTH:
        raise LedgerValueError(
            f"a signature is {SIGNATURE_LENGTH} bytes (r, s, v), this one is {len(raw)}"
        )
    return raw


def recover_signer(
    record: Mapping[str, Any], signature: str | bytes, chain_id: int, contract: str
) -> ChecksumAddress:
    """The address whose key signed ``record`` in the given domain.

    Raises LedgerValueError for a malformed signature; a well-formed signature of other
    data recovers some other address, which the caller compares.
    """
    raw = parse_signature(signature)
    try:
        return Account.recover_message(signable(record, chain_id, contract), signature=raw)
    except (ValueError, TypeError) as exc:  # eth-keys: invalid v, r or s
        raise LedgerValueError(f"the signature cannot be recovered: {exc}") from None


def verify_decision(
    record: Mapping[str, Any], signature: str | bytes, chain_id: int, contract: str
) -> bool:
    """Whether ``signature`` is the record's approver's signature in this domain."""
    try:
        signer = recover_signer(record, signature, chain_id, contract)
    except LedgerValueError:
        return False
    return signer == record.get("approver_address")


__all__ = [
    "DECISION_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "PRIMARY_TYPE",
    "decision_digest",
    "decision_message",
    "decision_typed_data",
    "domain",
    "domain_separator",
    "parse_signature",
    "recover_signer",
    "sign_decision",
    "typed_data_json",
    "verify_decision",
]
