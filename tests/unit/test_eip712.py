"""EIP-712 signatures of approval decisions, and the approval record they sign.

The digest is checked against an EIP-712 encoder written here from the specification
(``hashStruct(s) = keccak256(typeHash || encodeData(s))``, strings and dynamic bytes
hashed, atomic values ABI-encoded to 32 bytes), and the signer is recovered from that
digest with eth-keys directly, so the module is not only checked against itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.approval_record import (
    RECORD_FIELDS,
    RECORD_SCHEMA,
    entry_hash,
    make_record,
    validate_record,
)
from ledger.eip712 import (
    DOMAIN_NAME,
    decision_digest,
    decision_typed_data,
    domain_separator,
    recover_signer,
    sign_decision,
    typed_data_json,
    verify_decision,
)
from ledger.errors import LedgerValueError

APPROVER = Account.from_key(keccak(text="ledgerline test approver"))
STRANGER = Account.from_key(keccak(text="ledgerline test stranger"))
CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_CONTRACT = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
DECIDED = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_id": "42",
        "campaign_version": 3,
        "content_hash": "0x" + "11" * 32,
        "segment_version": 2,
        "segment_definition_hash": "0x" + "22" * 32,
        "snapshot_count": 1250,
        "snapshot_root": "0x" + "33" * 32,
        "stage": "compliance",
        "decision": "approve",
        "approver_id": "7",
        "approver_address": APPROVER.address,
        "policy_version": 1,
        "decided_at": DECIDED,
        "expires_at": DECIDED + timedelta(days=7),
        "prev_entry_hash": "0x" + "44" * 32,
        "salt": "0x" + "55" * 32,
    }
    base.update(overrides)
    return base


RECORD = make_record(fields())


# -- an EIP-712 encoder from the specification --------------------------------------------


def _type_string(name: str, types: dict[str, list[dict[str, str]]]) -> str:
    members = ",".join(f"{m['type']} {m['name']}" for m in types[name])
    return f"{name}({members})"


def _encode_value(kind: str, value: Any) -> bytes:
    if kind == "string":
        return keccak(text=value)
    if kind == "bytes32":
        assert isinstance(value, bytes) and len(value) == 32
        return value
    if kind == "address":
        return bytes(12) + bytes.fromhex(value[2:])
    if kind.startswith("uint"):
        return int(value).to_bytes(32, "big")
    raise AssertionError(f"no encoder for {kind}")


def spec_hash_struct(
    name: str, types: dict[str, list[dict[str, str]]], data: dict[str, Any]
) -> bytes:
    encoded = b"".join(_encode_value(m["type"], data[m["name"]]) for m in types[name])
    return keccak(keccak(text=_type_string(name, types)) + encoded)


def spec_digest(typed: dict[str, Any]) -> bytes:
    types = typed["types"]
    return keccak(
        b"\x19\x01"
        + spec_hash_struct("EIP712Domain", types, typed["domain"])
        + spec_hash_struct(typed["primaryType"], types, typed["message"])
    )


# -- the typed data ---------------------------------------------------------------------


def test_the_typed_data_is_the_approval_log_domain_and_the_records_key_fields() -> None:
    typed = decision_typed_data(RECORD, CHAIN_ID, CONTRACT.lower())
    assert typed["primaryType"] == "ApprovalDecision"
    assert typed["domain"] == {
        "name": DOMAIN_NAME,
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": CONTRACT,
    }
    assert typed["message"] == {
        "entryHash": entry_hash(RECORD),
        "campaignId": "42",
        "campaignVersion": 3,
        "contentHash": bytes.fromhex("11" * 32),
        "snapshotRoot": bytes.fromhex("33" * 32),
        "snapshotCount": 1250,
        "stage": "compliance",
        "decision": "approve",
        "approver": APPROVER.address,
        "policyVersion": 1,
        "decidedAt": "2026-11-22T09:30:00Z",
        "expiresAt": "2026-11-29T09:30:00Z",
    }
    assert typed_data_json(typed)["message"]["contentHash"] == "0x" + "11" * 32


def test_the_digest_is_the_one_the_eip712_specification_defines() -> None:
    typed = decision_typed_data(RECORD, CHAIN_ID, CONTRACT)
    assert decision_digest(RECORD, CHAIN_ID, CONTRACT) == spec_digest(typed)
    assert domain_separator(CHAIN_ID, CONTRACT) == spec_hash_struct(
        "EIP712Domain", typed["types"], typed["domain"]
    )


def test_an_approvers_signature_recovers_to_the_approver_from_the_bare_digest() -> None:
    signature = sign_decision(APPROVER, RECORD, CHAIN_ID, CONTRACT)
    raw = bytes.fromhex(signature[2:])
    assert len(raw) == 65 and raw[64] in (27, 28)
    digest = spec_digest(decision_typed_data(RECORD, CHAIN_ID, CONTRACT))
    public = keys.Signature(raw[:64] + bytes([raw[64] - 27])).recover_public_key_from_msg_hash(
        digest
    )
    assert public.to_checksum_address() == APPROVER.address
    assert recover_signer(RECORD, signature, CHAIN_ID, CONTRACT) == APPROVER.address
    assert verify_decision(RECORD, signature, CHAIN_ID, CONTRACT)


def test_only_the_approvers_own_key_signs_for_them() -> None:
    with pytest.raises(LedgerValueError) as error:
        sign_decision(STRANGER, RECORD, CHAIN_ID, CONTRACT)
    assert str(error.value) == (
        f"key {STRANGER.address} cannot sign for approver {APPROVER.address}: "
        "unlock the approver's own key"
    )


def test_a_stranger_signing_the_typed_data_is_not_the_approver() -> None:
    forged = Account.sign_typed_data(
        STRANGER.key, full_message=decision_typed_data(RECORD, CHAIN_ID, CONTRACT)
    )
    signature = "0x" + bytes(forged.signature).hex()
    assert recover_signer(RECORD, signature, CHAIN_ID, CONTRACT) == STRANGER.address
    assert not verify_decision(RECORD, signature, CHAIN_ID, CONTRACT)


def test_a_signature_holds_only_in_its_own_chain_and_contract() -> None:
    signature = sign_decision(APPROVER, RECORD, CHAIN_ID, CONTRACT)
    assert not verify_decision(RECORD, signature, 1, CONTRACT)
    assert not verify_decision(RECORD, signature, CHAIN_ID, OTHER_CONTRACT)


SIGNATURE = sign_decision(APPROVER, RECORD, CHAIN_ID, CONTRACT)
MUTATIONS: dict[str, Any] = {
    "campaign_id": "43",
    "campaign_version": 4,
    "content_hash": "0x" + "12" * 32,
    "segment_version": 3,
    "segment_definition_hash": "0x" + "23" * 32,
    "snapshot_count": 1251,
    "snapshot_root": "0x" + "34" * 32,
    "stage": "legal",
    "decision": "reject",
    "approver_id": "8",
    "policy_version": 2,
    "decided_at": "2026-11-22T09:30:01Z",
    "expires_at": None,
    "prev_entry_hash": None,
    "salt": "0x" + "56" * 32,
}


@settings(max_examples=len(MUTATIONS), deadline=None)
@given(st.sampled_from(sorted(MUTATIONS)))
def test_changing_any_field_of_a_signed_record_breaks_the_signature(name: str) -> None:
    changed = validate_record({**RECORD, name: MUTATIONS[name]})
    assert entry_hash(changed) != entry_hash(RECORD)
    assert recover_signer(changed, SIGNATURE, CHAIN_ID, CONTRACT) != APPROVER.address


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("0x1234", "a signature is 65 bytes (r, s, v), this one is 2"),
        ("0xzz" + "00" * 64, "signature '0xzz0000000000000000'… is not hex"),
        (12, "a signature is 0x hex, not int"),
    ],
)
def test_a_malformed_signature_is_refused_saying_why(signature: Any, message: str) -> None:
    with pytest.raises(LedgerValueError) as error:
        recover_signer(RECORD, signature, CHAIN_ID, CONTRACT)
    assert str(error.value) == message
    assert not verify_decision(RECORD, "0x1234", CHAIN_ID, CONTRACT)


def test_a_record_naming_no_approver_cannot_be_signed() -> None:
    unsigned = make_record(fields(approver_address=None, decision="invalidate", stage=""))
    with pytest.raises(LedgerValueError) as error:
        decision_typed_data(unsigned, CHAIN_ID, CONTRACT)
    assert str(error.value) == (
        "the invalidate record of campaign 42 names no approver_address, so nobody can sign "
        "it; set the approver's address"
    )


def test_the_domain_needs_a_real_chain_id_and_contract() -> None:
    with pytest.raises(LedgerValueError, match=r"^chain id 0 is not a positive integer$"):
        decision_typed_data(RECORD, 0, CONTRACT)
    with pytest.raises(LedgerValueError, match=r"^ApprovalLog contract address 'nope' is not"):
        decision_typed_data(RECORD, CHAIN_ID, "nope")


# -- the record -------------------------------------------------------------------------


def test_make_record_normalises_friendly_values_and_fills_in_schema_salt_and_time() -> None:
    given = fields(
        campaign_id=42,
        content_hash=bytes.fromhex("11" * 32),
        snapshot_root="AB" * 32,
        approver_address=APPROVER.address.lower(),
    )
    del given["salt"], given["decided_at"]
    record = make_record(given, now=DECIDED)
    assert list(record) == list(RECORD_FIELDS)
    assert record["schema"] == RECORD_SCHEMA
    assert record["campaign_id"] == "42"
    assert record["content_hash"] == "0x" + "11" * 32
    assert record["snapshot_root"] == "0x" + "ab" * 32
    assert record["approver_address"] == APPROVER.address
    assert record["decided_at"] == "2026-11-22T09:30:00Z"
    assert record["salt"].startswith("0x") and len(record["salt"]) == 66


def test_two_records_of_the_same_decision_differ_by_their_salt() -> None:
    base = {k: v for k, v in fields().items() if k != "salt"}
    first, second = make_record(base), make_record(base)
    assert first["salt"] != second["salt"]
    assert entry_hash(first) != entry_hash(second)


LOWER = APPROVER.address.lower()
BAD_FIELDS: list[tuple[str, Any, str]] = [
    ("stage", None, "is a NoneType; ids and names are strings"),
    ("snapshot_count", 1.5, "is 1.5; expected a whole number >= 0"),
    ("campaign_version", True, "is True; expected a whole number >= 0"),
    ("decision", "maybe", "is 'maybe'; use one of submit, approve, reject, revoke, invalidate"),
    (
        "content_hash",
        "0x" + "AA" * 32,
        f"is '0x{'AA' * 32}'; expected 0x followed by 64 lower-case hex digits",
    ),
    (
        "decided_at",
        "2026-11-22 09:30",
        "is '2026-11-22 09:30'; expected YYYY-MM-DDTHH:MM:SSZ (UTC)",
    ),
    ("decided_at", "2026-02-30T00:00:00Z", "is '2026-02-30T00:00:00Z', which is not a real time"),
    (
        "expires_at",
        "2026-11-22T09:30:00Z",
        "(2026-11-22T09:30:00Z) is not after 'decided_at' (2026-11-22T09:30:00Z)",
    ),
    ("approver_address", LOWER, f"is '{LOWER}'; expected an EIP-55 checksummed address"),
    ("schema", "other/1", "is 'other/1'; this verifier reads 'ledgerline-approval-record/1'"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_FIELDS)
def test_a_malformed_record_is_refused_naming_the_field(
    name: str, value: Any, message: str
) -> None:
    with pytest.raises(LedgerValueError) as error:
        validate_record({**RECORD, name: value})
    assert str(error.value) == f"record field {name!r} {message}"


def test_a_record_with_missing_or_unknown_fields_is_refused_naming_them() -> None:
    missing = {k: v for k, v in RECORD.items() if k not in ("salt", "stage")}
    with pytest.raises(LedgerValueError) as error:
        validate_record(missing)
    assert str(error.value) == "the approval record lacks stage, salt; give every field"
    with pytest.raises(LedgerValueError) as error:
        validate_record({**RECORD, "comment": "ok", "amount": "1"})
    assert str(error.value).startswith(
        "the approval record has unknown field(s) 'amount', 'comment'; the fields are schema, "
    )


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(LedgerValueError, match=r"has no time zone; give an aware UTC datetime$"):
        make_record(fields(decided_at=datetime(2026, 11, 22, 9, 30)))
