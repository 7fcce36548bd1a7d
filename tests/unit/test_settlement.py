"""The settlement client's values: records and their ids, currencies, amounts, periods,
services, hashes, and the one-sentence translation of every contract error (no chain)."""

from __future__ import annotations

import hashlib

import pytest
from eth_abi import encode
from eth_utils import keccak

from ledger.artifacts import load_artifact
from ledger.errors import ContractRevertError, LedgerValueError
from ledger.settlement import (
    DisputeReason,
    Obligation,
    ServiceType,
    explain,
    format_amount,
    known_errors,
    parse_amount,
    parse_period,
    payment_ref,
    reference_hash,
)

DEBTOR = "0xe23f489DD30310FC92274d7dB2a5810FBbD7DdEe"
CREDITOR = "0x9Ff94f0c8aB9727CdF75B9781Bb3C822dD51b4BD"
CALLER = "0xF5B33DC66FE037088EB8e569b826658AE751cB30"
ID = bytes.fromhex("ab" * 32)


def test_the_id_is_keccak_of_the_abi_encoded_record_and_salt() -> None:
    salt = b"\x07" * 32
    record = Obligation.create(
        DEBTOR, CREDITOR, "EUR", 123456, "roaming", 202501, reference="INV-1", salt="0x" + "07" * 32
    )

    expected = keccak(
        encode(
            ["address", "address", "bytes3", "uint256", "uint8", "uint32", "bytes32", "bytes32",
             "bytes32"],
            [DEBTOR, CREDITOR, b"EUR", 123456, 2, 202501, reference_hash("INV-1"), bytes(32), salt],
        )
    )  # fmt: skip
    assert record.id_bytes == expected
    assert record.id == "0x" + expected.hex()


def test_the_same_record_always_has_the_same_id_and_a_salt_tells_twins_apart() -> None:
    first = Obligation.create(DEBTOR, CREDITOR, "EUR", 100, "transit", 202501, reference="R")
    again = Obligation.create(DEBTOR, CREDITOR, "EUR", 100, 3, "202501", reference=" R ")
    twin = Obligation.create(
        DEBTOR, CREDITOR, "EUR", 100, "transit", 202501, reference="R", salt="0x" + "01" * 32
    )

    assert first.id == again.id
    assert twin.id != first.id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"creditor": DEBTOR}, f"the debtor and the creditor are both {DEBTOR}; an obligation "
         "needs two different operators"),
        ({"currency": "eur"}, "currency 'eur' must be written in upper case: EUR"),
        ({"currency": "EURO"}, "currency 'EURO' is not an ISO 4217 currency code; give three "
         "upper-case letters such as EUR, USD or XDR"),
        ({"currency": "XYZ"}, "currency 'XYZ' is not an ISO 4217 currency code; give three "
         "upper-case letters such as EUR, USD or XDR"),
        ({"amount": 0}, "amount must be positive, got 0"),
        ({"amount": -5}, "amount must be positive, got -5"),
        ({"amount": 2**96}, f"amount {2**96} is too large: the ledger holds below 2**96"),
        ({"amount": 12.5}, "amount 12.5 must be an integer in minor units (1250 for 12.50)"),
        ({"period": 202513}, "period 202513 is not a billing month YYYYMM (e.g. 202501, "
         "year 1970..9999, month 01..12)"),
        ({"service": "fax"}, "service 'fax' is unknown: use one of interconnect, roaming, "
         "transit, sms_termination, a2p_messaging, data_transit, signalling, other (or 1..8)"),
    ],
)  # fmt: skip
def test_a_malformed_record_is_refused_with_one_sentence(
    change: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "debtor": DEBTOR,
        "creditor": CREDITOR,
        "currency": "EUR",
        "amount": 100,
        "service": "roaming",
        "period": 202501,
    }
    fields.update(change)

    with pytest.raises(LedgerValueError) as caught:
        Obligation.create(**fields)  # type: ignore[arg-type]

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1234.56", "EUR", 123456), ("1234.5", "EUR", 123450), ("1234", "EUR", 123400),
     ("1500", "JPY", 1500), ("12.345", "KWD", 12345), ("0.01", "USD", 1)],
)  # fmt: skip
def test_amounts_in_major_units_become_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor
    assert parse_amount(format_amount(minor, currency), currency) == minor


def test_formatting_amounts_in_major_units() -> None:
    assert [format_amount(5, "EUR"), format_amount(-123456, "EUR"), format_amount(7, "JPY")] == [
        "0.05",
        "-1234.56",
        "7",
    ]


def test_periods_services_and_reasons_parse_from_text() -> None:
    assert parse_period(" 202412 ") == 202412
    assert [ServiceType.parse(v) for v in ("voice", "SMS", "ip-transit", "8", 2)] == [
        ServiceType.INTERCONNECT,
        ServiceType.SMS_TERMINATION,
        ServiceType.DATA_TRANSIT,
        ServiceType.OTHER,
        ServiceType.ROAMING,
    ]
    assert [DisputeReason.parse(v) for v in ("amount-mismatch", "7", 300)] == [
        DisputeReason.AMOUNT_MISMATCH,
        DisputeReason.MISSING_EVIDENCE,
        300,
    ]
    with pytest.raises(LedgerValueError, match="dispute reason 0 is unknown"):
        DisputeReason.parse(0)


def test_references_are_sha256_of_their_stripped_text() -> None:
    assert reference_hash("  INV-2025-001 ") == hashlib.sha256(b"INV-2025-001").digest()
    assert payment_ref("SEPA-123") == hashlib.sha256(b"SEPA-123").digest()
    assert payment_ref("0x" + "0f" * 32) == bytes.fromhex("0f" * 32)
    with pytest.raises(LedgerValueError, match="the reference is empty"):
        reference_hash("  ")


# -- revert sentences -------------------------------------------------------------------------


def test_every_settlement_ledger_error_has_a_sentence() -> None:
    errors = {entry["name"] for entry in load_artifact("SettlementLedger").errors}

    assert errors == known_errors()


@pytest.mark.parametrize(
    ("name", "args", "context", "sentence"),
    [
        ("SettlementLedgerNotCounterparty", {"obligationId": ID, "caller": CALLER},
         {"action": "confirm", "counterparty": CREDITOR},
         f"only the counterparty {CREDITOR} can confirm obligation 0x{'ab' * 32}, not {CALLER}"),
        ("SettlementLedgerNotActiveMember", {"account": CALLER}, {"member_status": "suspended"},
         f"{CALLER} is suspended in the operator registry; a suspended member cannot act on the "
         "settlement ledger until the governors reinstate it"),
        ("SettlementLedgerInvalidObligationStatus", {"obligationId": ID, "status": 2},
         {"action": "dispute"},
         f"obligation 0x{'ab' * 32} is already confirmed, so it cannot be disputed: a confirmed "
         "obligation is final and can only be offset by a new, opposite obligation"),
        ("SettlementLedgerPlanUnbalanced",
         {"cycleId": 3, "operator": DEBTOR, "expected": -150, "got": -100}, {},
         f"the plan does not balance: it leaves {DEBTOR} at -100 instead of its net position "
         "-150 in cycle 3; let Ledgerline compute the plan (`ledgerline cycles plan 3`)"),
        ("SettlementLedgerCycleCutoffPassed",
         {"cycleId": 2, "cutoff": 1735689600, "timestamp": 1735689601}, {},
         "cycle 2 stopped taking confirmations at its cut-off 2025-01-01 00:00:00Z (block time "
         "is now 2025-01-01 00:00:01Z); confirm again once the clearing agent has opened the "
         "next cycle"),
        ("SettlementLedgerTransferAlreadyPaid", {"cycleId": 2, "index": 0}, {},
         "transfer 0 of cycle 2 is already marked paid; a transfer is paid only once"),
        ("SettlementLedgerInvalidCycleStatus", {"cycleId": 4, "status": 3},
         {"action": "marking a transfer paid"},
         "cycle 4 is planned, so marking a transfer paid is not possible now; every operator "
         "with a non-zero position must first confirm it (`ledgerline cycles confirm 4`)"),
        ("SettlementLedgerNoOpenCycle", {"currency": b"GBP"}, {},
         "no GBP settlement cycle is open, so nothing in GBP can be confirmed now; ask the "
         "clearing agent to open one, then confirm again"),
    ],
)  # fmt: skip
def test_a_revert_becomes_one_sentence(
    name: str, args: dict[str, object], context: dict[str, object], sentence: str
) -> None:
    error = explain(ContractRevertError(name, args), **context)

    assert (error.error_name, error.error_args, str(error)) == (name, args, sentence)


def test_an_error_of_another_contract_is_left_as_it_is() -> None:
    error = ContractRevertError("OperatorRegistryUnknownMember", {"account": CALLER})

    assert explain(error) is error
