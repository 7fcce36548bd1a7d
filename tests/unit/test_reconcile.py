"""Reconciling a billing export with the ledger: parsing, labels, totals, reports, actions.

The example (``tests/data/settlement``) is FRAF1's January 2025 export against a ledger
holding one obligation for every case; no chain is involved here (the apply step runs on
an embedded chain in ``tests/integration/test_settlement_client.py``).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from ledger.errors import LedgerValueError
from ledger.reconcile import (
    BillingFile,
    BillingLine,
    Label,
    PartnerDirectory,
    ReconciliationReport,
    RejectedRow,
    Tolerance,
    line_evidence,
    plan_actions,
    read_billing_csv,
    reconcile,
)
from ledger.settlement import (
    LedgerObligation,
    Obligation,
    ObligationStatus,
    ServiceType,
    evidence_hash,
    reference_hash,
)
from tests.settlement_data import BILLING_CSV, ledger_in_memory, members

MEMBERS = members()
ME = MEMBERS["FRAF1"].account
DEUD1 = MEMBERS["DEUD1"].account
GBRVF = MEMBERS["GBRVF"].account
ESPTE = MEMBERS["ESPTE"].account
DIRECTORY = PartnerDirectory.of({code: m.account for code, m in MEMBERS.items()})


@pytest.fixture
def ledger() -> dict[str, LedgerObligation]:
    return ledger_in_memory()


FIVE_CENTS = Tolerance(5)


def example_report(
    ledger: dict[str, LedgerObligation], tolerance: Tolerance = FIVE_CENTS
) -> ReconciliationReport:
    billing = read_billing_csv(BILLING_CSV, ME, DIRECTORY)
    return reconcile(
        billing.lines,
        list(ledger.values()),
        ME,
        tolerance=tolerance,
        rejected=billing.rejected,
        partner_names=DIRECTORY.name,
    )


def billing_from(text: str) -> BillingFile:
    return read_billing_csv(io.StringIO(text), ME, DIRECTORY)


HEADER = "partner,direction,service,period,currency,amount,reference\n"


# -- reading the export ---------------------------------------------------------------------


def test_every_malformed_row_is_listed_with_its_line_number_and_reason() -> None:
    billing = read_billing_csv(BILLING_CSV, ME, DIRECTORY)

    assert list(billing.rejected) == [
        RejectedRow(11, "partner 'XXXXX' is neither a registry member code (TADIG or MCC-MNC) "
                    "nor a 0x address"),
        RejectedRow(12, "direction 'owed' is neither payable nor receivable"),
        RejectedRow(13, "period '202513' is not a billing month YYYYMM (e.g. 202501, "
                    "year 1970..9999, month 01..12)"),
        RejectedRow(14, "currency 'eur' must be written in upper case: EUR"),
        RejectedRow(15, "amount '-5.00' is negative; amounts must be positive"),
        RejectedRow(16, "amount '0.00' is zero; amounts must be positive"),
        RejectedRow(17, "amount '1,234.50' contains a comma, which could be a thousands "
                    "separator or a decimal comma; write it with a decimal point and no "
                    "separators (1234.56)"),
        RejectedRow(18, "amount '12.5' has 1 decimal but JPY has 0 decimals; round it to the "
                    "currency's minor unit"),
        RejectedRow(19, "reference is empty; give the invoice or agreement number"),
        RejectedRow(20, "service 'fax' is unknown: use one of interconnect, roaming, transit, "
                    "sms_termination, a2p_messaging, data_transit, signalling, other (or 1..8)"),
        RejectedRow(21, "expected 9 fields, found 4"),
        RejectedRow(22, "partner 'FRAF1' is this operator itself"),
        RejectedRow(23, "currency 'XYZ' is not an ISO 4217 currency code such as EUR"),
    ]  # fmt: skip
    assert [line.line for line in billing.lines] == [2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_a_good_row_becomes_a_typed_line_from_the_operators_side() -> None:
    billing = read_billing_csv(BILLING_CSV, ME, DIRECTORY)

    by_address, lower_case_code = billing.lines[6], billing.lines[4]
    assert by_address == BillingLine(
        line=8,
        partner="0xBB50b6623454712bE08befecb0b78b9eC7d16086",
        partner_address=ESPTE,
        direction="receivable",
        service=ServiceType.DATA_TRANSIT,
        period=202501,
        currency="EUR",
        amount=4510,
        reference="INV-O-016",
        external_ref=reference_hash("INV-O-016"),
        volume="2048",
        unit="MB",
    )
    assert (lower_case_code.partner, lower_case_code.partner_address) == ("deud1", DEUD1)
    assert lower_case_code.amount == 5000  # "50" EUR in major units


def test_amounts_follow_the_minor_unit_of_their_currency() -> None:
    billing = billing_from(
        HEADER
        + "DEUD1,payable,roaming,202501,JPY,1500,R-1\n"
        + "DEUD1,payable,roaming,202501,KWD,12.345,R-2\n"
        + "DEUD1,payable,roaming,202501,EUR,7.5,R-3\n"
        + "DEUD1,payable,roaming,202501,KWD,1.2345,R-4\n"
    )

    assert [(line.currency, line.amount) for line in billing.lines] == [
        ("JPY", 1500),
        ("KWD", 12345),
        ("EUR", 750),
    ]
    assert billing.rejected == (
        RejectedRow(5, "amount '1.2345' has 4 decimals but KWD has 3 decimals; round it to the "
                    "currency's minor unit"),
    )  # fmt: skip


def test_columns_may_come_in_any_order_and_volume_is_optional() -> None:
    billing = billing_from(
        "Reference,Amount,Currency,Period,Service,Direction,Partner,Comment\n"
        "INV-9,12.00,EUR,202502,voice,PAYABLE,GBRVF,anything\n"
    )

    [line] = billing.lines
    assert (line.reference, line.amount, line.service, line.direction, line.partner_address) == (
        "INV-9",
        1200,
        ServiceType.INTERCONNECT,
        "payable",
        GBRVF,
    )
    assert (line.volume, line.unit) == (None, None)


def test_a_row_that_is_not_utf8_is_rejected_and_the_rest_goes_through() -> None:
    raw = (HEADER + "DEUD1,payable,roaming,202501,EUR,1.00,caf\xe9\n").encode("latin-1")
    raw += b"DEUD1,payable,roaming,202501,EUR,2.00,R-2\n"
    billing = read_billing_csv(
        io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape"),
        ME,
        DIRECTORY,
    )

    assert billing.rejected == (RejectedRow(2, "the row is not valid UTF-8"),)
    assert [line.reference for line in billing.lines] == ["R-2"]


def test_a_header_without_a_required_column_refuses_the_file() -> None:
    with pytest.raises(LedgerValueError) as caught:
        billing_from("partner,direction,service,period,currency,amount\n")

    assert str(caught.value) == (
        "the billing CSV: the header lacks reference; the first line must name the columns "
        "partner,direction,service,period,currency,amount,reference (and optionally volume,unit)"
    )


def test_an_empty_file_is_refused_with_the_expected_columns() -> None:
    with pytest.raises(LedgerValueError, match="is empty; the first line must name the columns"):
        billing_from("")


# -- labels ----------------------------------------------------------------------------------


def test_every_label_of_the_example(ledger: dict[str, LedgerObligation]) -> None:
    report = example_report(ledger)

    outcome = [
        (item.line, item.label, item.detail, item.partner, item.ledger.id if item.ledger else None)
        for item in report.items
    ]
    assert outcome == [
        (2, Label.MATCHED, "exact", "DEUD1", ledger["L1"].id),
        (3, Label.MATCHED, "exact", "DEUD1", ledger["L2"].id),
        (4, Label.MATCHED, "within_tolerance", "GBRVF", ledger["L3"].id),
        (5, Label.AMOUNT_MISMATCH, "", "GBRVF", ledger["L4"].id),
        (6, Label.AMOUNT_MISMATCH, "", "DEUD1", ledger["L5"].id),
        (7, Label.MISSING_ON_LEDGER, "", "ESPTE", None),  # L6 was withdrawn
        (8, Label.MISSING_ON_LEDGER, "", "ESPTE", None),
        (9, Label.DUPLICATE, "of line 2", "DEUD1", None),
        (10, Label.AMOUNT_MISMATCH, "", "DEUD1", ledger["L10"].id),
        (None, Label.MISSING_IN_BILLING, "", "DEUD1", ledger["L7"].id),
    ]
    # L8 (December 2024) is outside the periods of the file; L9 is not FRAF1's.
    assert report.periods == (202501,)
    assert report.counts() == {
        "matched": 3,
        "amount_mismatch": 3,
        "missing_on_ledger": 2,
        "missing_in_billing": 1,
        "duplicate": 1,
        "rejected": 13,
    }


def test_without_tolerance_a_two_cent_difference_is_a_mismatch(
    ledger: dict[str, LedgerObligation],
) -> None:
    report = example_report(ledger, Tolerance())

    [item] = [i for i in report.items if i.line == 4]
    assert (item.label, item.difference) == (Label.AMOUNT_MISMATCH, 2)


@pytest.mark.parametrize(
    ("tolerance", "matched"),
    [
        (Tolerance(percent=Decimal("0.0065")), True),  # 0.0065 % of 310.00 GBP = 0.02015
        (Tolerance(percent=Decimal("0.006")), False),  # 0.0186 < 0.02
        (Tolerance(absolute=2), True),
        (Tolerance(absolute=1, percent=Decimal("0.001")), False),
    ],
)
def test_a_difference_is_tolerated_up_to_the_absolute_or_the_percentage_tolerance(
    ledger: dict[str, LedgerObligation], tolerance: Tolerance, matched: bool
) -> None:
    report = example_report(ledger, tolerance)

    [item] = [i for i in report.items if i.line == 4]
    assert item.label is (Label.MATCHED if matched else Label.AMOUNT_MISMATCH)


def test_a_tolerance_must_be_non_negative_and_at_most_100_percent() -> None:
    with pytest.raises(LedgerValueError, match=r"absolute tolerance -1 must be a non-negative"):
        Tolerance(-1)
    with pytest.raises(LedgerValueError, match=r"tolerance 150 % must be between 0 and 100"):
        Tolerance(percent=Decimal(150))


def test_of_two_ledger_obligations_with_the_same_key_the_one_with_the_billed_amount_matches() -> (
    None
):
    first = Obligation(DEUD1, ME, "EUR", 900, ServiceType.ROAMING, 202501, reference_hash("R-1"))
    second = Obligation(
        DEUD1, ME, "EUR", 1000, ServiceType.ROAMING, 202501, reference_hash("R-1"), salt=b"\1" * 32
    )
    entries = [
        LedgerObligation(ob, DEUD1, ObligationStatus.PROPOSED, 1, "0x") for ob in (first, second)
    ]
    billing = billing_from(HEADER + "DEUD1,receivable,roaming,202501,EUR,10.00,R-1\n")

    report = reconcile(billing.lines, entries, ME)

    assert [(i.label, i.ledger.id if i.ledger else None) for i in report.items] == [
        (Label.MATCHED, second.id),
        (Label.MISSING_IN_BILLING, first.id),
    ]


# -- totals and reports ------------------------------------------------------------------------


def test_totals_per_label_and_per_partner(ledger: dict[str, LedgerObligation]) -> None:
    report = example_report(ledger)

    assert report.totals_json() == {
        "byLabel": {
            "matched": {
                "EUR": {"count": 2, "billing": 232050, "ledger": 232050},
                "GBP": {"count": 1, "billing": 31000, "ledger": 31002},
            },
            "amount_mismatch": {"EUR": {"count": 3, "billing": 45999, "ledger": 48499}},
            "missing_on_ledger": {"EUR": {"count": 2, "billing": 204510, "ledger": 0}},
            "missing_in_billing": {"EUR": {"count": 1, "billing": 0, "ledger": 7777}},
            "duplicate": {"EUR": {"count": 1, "billing": 150000, "ledger": 0}},
        },
        "byPartner": {
            "DEUD1": {
                "labels": {
                    "matched": 2,
                    "amount_mismatch": 2,
                    "missing_on_ledger": 0,
                    "missing_in_billing": 1,
                    "duplicate": 1,
                },
                "amounts": {"EUR": {"count": 6, "billing": 418050, "ledger": 275327}},
            },
            "ESPTE": {
                "labels": {
                    "matched": 0,
                    "amount_mismatch": 0,
                    "missing_on_ledger": 2,
                    "missing_in_billing": 0,
                    "duplicate": 0,
                },
                "amounts": {"EUR": {"count": 2, "billing": 204510, "ledger": 0}},
            },
            "GBRVF": {
                "labels": {
                    "matched": 1,
                    "amount_mismatch": 1,
                    "missing_on_ledger": 0,
                    "missing_in_billing": 0,
                    "duplicate": 0,
                },
                "amounts": {
                    "EUR": {"count": 1, "billing": 9999, "ledger": 12999},
                    "GBP": {"count": 1, "billing": 31000, "ledger": 31002},
                },
            },
        },
    }


def test_the_json_report_lists_every_item_and_every_rejected_row(
    ledger: dict[str, LedgerObligation],
) -> None:
    report = example_report(ledger)

    data = json.loads(report.to_json_text())

    assert data["operator"] == ME
    assert data["tolerance"] == {"absolute": 5, "percent": "0"}
    assert data["counts"] == report.counts()
    assert data["totals"] == report.totals_json()
    assert data["items"][3] == {
        "label": "amount_mismatch",
        "detail": "",
        "line": 5,
        "partner": "GBRVF",
        "partnerAddress": GBRVF,
        "direction": "payable",
        "service": "transit",
        "period": 202501,
        "externalRef": "0x" + reference_hash("INV-V-8").hex(),
        "currency": "EUR",
        "billingAmount": 9999,
        "ledgerAmount": 12999,
        "difference": 3000,
        "reference": "INV-V-8",
        "obligationId": ledger["L4"].id,
        "ledgerStatus": "proposed",
        "proposer": GBRVF,
    }
    assert data["items"][-1]["label"] == "missing_in_billing"
    assert (data["items"][-1]["direction"], data["items"][-1]["partnerAddress"]) == (
        "payable",
        DEUD1,
    )
    assert data["rejected"][0] == {
        "line": 11,
        "reason": "partner 'XXXXX' is neither a registry member code (TADIG or MCC-MNC) "
        "nor a 0x address",
    }


def test_the_csv_report_has_items_rejects_and_totals_in_major_units(
    ledger: dict[str, LedgerObligation],
) -> None:
    report = example_report(ledger)

    rows = list(csv.DictReader(io.StringIO(report.to_csv())))

    kinds = [row["kind"] for row in rows]
    assert kinds == ["item"] * 10 + ["rejected"] * 13 + ["total_label"] * 6 + ["total_partner"] * 4
    assert {k: rows[2][k] for k in ("line", "label", "detail", "currency")} == {
        "line": "4",
        "label": "matched",
        "detail": "within_tolerance",
        "currency": "GBP",
    }
    assert (rows[2]["billing_amount"], rows[2]["ledger_amount"], rows[2]["difference"]) == (
        "310.00",
        "310.02",
        "0.02",
    )
    assert (rows[10]["line"], rows[10]["detail"]) == (
        "11",
        "partner 'XXXXX' is neither a registry member code (TADIG or MCC-MNC) nor a 0x address",
    )
    totals = {(r["kind"], r["label"] or r["partner"], r["currency"]): r for r in rows[23:]}
    matched_eur = totals[("total_label", "matched", "EUR")]
    assert (matched_eur["count"], matched_eur["billing_amount"]) == ("2", "2320.50")
    deud1 = totals[("total_partner", "DEUD1", "EUR")]
    assert (deud1["count"], deud1["billing_amount"], deud1["ledger_amount"]) == (
        "6",
        "4180.50",
        "2753.27",
    )


# -- actions ---------------------------------------------------------------------------------


def test_the_report_calls_for_proposing_confirming_and_disputing(
    ledger: dict[str, LedgerObligation],
) -> None:
    report = example_report(ledger)
    billing = {item.line: item.billing for item in report.items if item.billing}

    actions = plan_actions(report)

    assert [o.id for o in actions.propose] == [
        billing[7].obligation(ME).id,
        billing[8].obligation(ME).id,
    ]
    assert [o.id for o in actions.confirm] == [ledger["L1"].id, ledger["L3"].id]
    assert [o.id for o in actions.dispute] == [ledger["L4"].id]
    assert [(s.item.line, s.reason) for s in actions.skipped] == [
        (6, f"this operator proposed {ledger['L5'].id} with another amount; withdraw it and "
            "propose the billed amount"),
        (10, f"{ledger['L10'].id} is already confirmed; offset the difference with a new, "
             "opposite obligation"),
    ]  # fmt: skip


def test_a_proposal_from_a_billing_line_puts_the_operator_on_its_side() -> None:
    billing = read_billing_csv(BILLING_CSV, ME, DIRECTORY)
    payable, receivable = billing.lines[5], billing.lines[6]

    assert payable.obligation(ME) == Obligation(
        ME,
        ESPTE,
        "EUR",
        200000,
        ServiceType.ROAMING,
        202501,
        reference_hash("INV-E-3"),
        evidence_hash("ESPTE|payable|roaming|202501|EUR|200000|INV-E-3||"),
    )
    proposal = receivable.obligation(ME)
    assert (proposal.debtor, proposal.creditor) == (ESPTE, ME)
    assert proposal.evidence_hash == line_evidence(receivable)
    assert proposal.evidence_hash == evidence_hash(
        "0xBB50b6623454712bE08befecb0b78b9eC7d16086|receivable|data_transit|202501|EUR|4510|"
        "INV-O-016|2048|MB"
    )


def test_confirmations_wait_for_an_open_cycle_of_their_currency(
    ledger: dict[str, LedgerObligation],
) -> None:
    actions = plan_actions(example_report(ledger), open_currencies={"EUR"})

    assert [o.id for o in actions.confirm] == [ledger["L1"].id]
    assert (actions.skipped[0].item.line, actions.skipped[0].reason) == (
        4,
        "no GBP settlement cycle is open; confirm it once the clearing agent has opened one",
    )


def test_nothing_is_proposed_to_an_inactive_partner(ledger: dict[str, LedgerObligation]) -> None:
    actions = plan_actions(example_report(ledger), inactive={ESPTE})

    assert actions.propose == ()
    assert [(s.item.line, s.reason) for s in actions.skipped[1:3]] == [
        (7, "partner ESPTE is not an active operator; nothing can be proposed to it"),
        (8, "partner ESPTE is not an active operator; nothing can be proposed to it"),
    ]


def test_a_large_export_is_matched_line_for_line() -> None:
    lines = []
    entries = []
    for i in range(20_000):
        ref = reference_hash(f"INV-{i}")
        lines.append(
            BillingLine(i + 2, "DEUD1", DEUD1, "receivable", ServiceType.ROAMING, 202501,
                        "EUR", 1000 + i, f"INV-{i}", ref)
        )  # fmt: skip
        ob = Obligation(DEUD1, ME, "EUR", 1000 + i + (i % 7 == 0), ServiceType.ROAMING, 202501, ref)
        entries.append(LedgerObligation(ob, DEUD1, ObligationStatus.PROPOSED, 1, "0x"))

    report = reconcile(lines, entries, ME)

    counts = report.counts()
    assert (counts["matched"], counts["amount_mismatch"]) == (17_142, 2_858)
    assert [item.line for item in report.items[:3]] == [2, 3, 4]
