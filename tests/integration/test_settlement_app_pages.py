"""The settlement pages on the embedded chain: operators confirm, dispute and propose
through the web, the clearing agent runs a cycle, everyone follows it to settled.

These tests send transactions on an embedded chain in ``tmp_path``; they run on SQLite
only (the PostgreSQL side of the same pages and queries is covered, without a chain, in
``test_settlement_app_access.py``, and the index on both backends in
``test_settlement_app_indexer.py``).
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from app.extensions import db
from app.settlement.models import IndexedCycle, IndexedObligation
from ledger.settlement import CycleStatus, ObligationStatus, hex32, payment_ref
from tests.settlement_app_support import (
    PASSWORD,
    Consortium,
    consortium_app,
    flashes,
    post,
    record,
)

pytestmark = pytest.mark.parametrize("app_database", ["sqlite"], indirect=True)


@pytest.fixture
def consortium(make_app: Callable[..., Flask], tmp_path: Path) -> Consortium:
    return consortium_app(make_app, tmp_path)


def open_eur_cycle(consortium: Consortium) -> int:
    client = consortium.client()
    return client.open_cycle(
        consortium.agent.signer, "EUR", client.chain_time() + 30 * 86400
    ).cycle.id


def test_the_inbox_lists_what_awaits_me_and_confirming_it_in_bulk_joins_the_open_cycle(
    consortium: Consortium,
) -> None:
    cycle_id = open_eur_cycle(consortium)
    a, b = consortium.a, consortium.b
    first, second = record(b, a, 120_000, "INV-1"), record(b, a, 30_050, "INV-2")
    consortium.client().propose_batch(a.signer, [first, second])
    browser = consortium.browser(b)

    inbox = browser.get("/settlement/obligations?box=inbox").get_data(as_text=True)
    assert first.id in inbox and second.id in inbox
    assert "EUR 1,200.00" in inbox and "EUR 300.50" in inbox

    page = post(
        browser,
        "/settlement/obligations/act",
        {"ids": [first.id, second.id], "action": "confirm", "password": PASSWORD},
    ).get_data(as_text=True)

    assert ("success", "Confirmed 2 obligations in 1 transaction(s).") in flashes(page)
    with consortium.app.app_context():
        rows = {r.id: r for r in db.session.scalars(db.select(IndexedObligation))}
        assert {rows[first.id].status, rows[second.id].status} == {"confirmed"}
        assert rows[first.id].cycle_id == cycle_id
    assert consortium.client().obligation_state(first.id).status is ObligationStatus.CONFIRMED
    empty = browser.get("/settlement/obligations?box=inbox").get_data(as_text=True)
    assert "No obligation here." in empty


def test_a_wrong_password_is_refused_with_a_clear_message_and_nothing_is_sent(
    consortium: Consortium,
) -> None:
    open_eur_cycle(consortium)
    ob = record(consortium.b, consortium.a, 5_000, "INV-9")
    consortium.client().propose(consortium.a.signer, ob)
    browser = consortium.browser(consortium.b)

    page = post(
        browser,
        "/settlement/obligations/act",
        {"ids": [ob.id], "action": "confirm", "password": "not my password"},
    ).get_data(as_text=True)

    assert (
        "error",
        "the password is wrong; type your sign-in password: it unlocks your operator key",
    ) in flashes(page)
    assert consortium.client().obligation_state(ob.id).status is ObligationStatus.PROPOSED


def test_a_contract_revert_is_shown_as_one_sentence(consortium: Consortium) -> None:
    ob = record(consortium.b, consortium.a, 5_000, "INV-10")
    consortium.client().propose(consortium.a.signer, ob)
    browser = consortium.browser(consortium.b)

    page = post(
        browser,
        "/settlement/obligations/act",
        {"ids": [ob.id], "action": "confirm", "password": PASSWORD},
    ).get_data(as_text=True)

    assert (
        "error",
        "no EUR settlement cycle is open, so nothing in EUR can be confirmed now; ask the "
        "clearing agent to open one, then confirm again",
    ) in flashes(page)
    assert "Traceback" not in page


def test_disputing_with_a_reason_and_comment_then_amending_links_the_new_proposal(
    consortium: Consortium,
) -> None:
    a, b = consortium.a, consortium.b
    ob = record(b, a, 99_900, "INV-20")
    consortium.client().propose(a.signer, ob)
    b_browser = consortium.browser(b)

    page = post(
        b_browser,
        "/settlement/obligations/act",
        {
            "ids": [ob.id],
            "action": "dispute",
            "reason": "5",
            "comment": "Billed at the old rate",
            "password": PASSWORD,
        },
    ).get_data(as_text=True)
    assert ("success", "Disputed 1 obligation.") in flashes(page)

    a_browser = consortium.browser(a)
    disputes = a_browser.get("/settlement/obligations?box=disputes").get_data(as_text=True)
    assert ob.id in disputes and "wrong rate: Billed at the old rate" in disputes

    page = post(
        a_browser,
        f"/settlement/obligations/{ob.id}/amend",
        {"amount": "950.00", "password": PASSWORD},
    ).get_data(as_text=True)
    amended = record(b, a, 95_000, "INV-20")
    assert ("success", f"Obligation amended: the corrected proposal is {amended.id}.") in flashes(
        page
    )
    with consortium.app.app_context():
        old = db.session.get(IndexedObligation, ob.id)
        new = db.session.get(IndexedObligation, amended.id)
        assert old is not None and new is not None
        assert (old.status, old.amended_by, new.status, new.amends) == (
            "amended",
            amended.id,
            "proposed",
            ob.id,
        )


def test_proposing_through_the_form_and_from_a_billing_csv(consortium: Consortium) -> None:
    a, b, c = consortium.a, consortium.b, consortium.c
    browser = consortium.browser(a)
    page = post(
        browser,
        "/settlement/propose",
        {
            "counterparty": b.address,
            "direction": "receivable",
            "currency": "EUR",
            "amount": "1234.56",
            "service": "roaming",
            "period": "202510",
            "reference": "SWENM-202510-0001",
            "password": PASSWORD,
        },
    ).get_data(as_text=True)
    expected = record(b, a, 123_456, "SWENM-202510-0001")
    assert ("success", f"Proposed obligation {expected.id}.") in flashes(page)
    assert "SWENM-202510-0001" in page  # the reference text is shown, not only its hash

    billing = (
        "partner,direction,service,period,currency,amount,reference\n"
        "AUTAF,receivable,roaming,202510,EUR,1234.56,SWENM-202510-0001\n"
        "ESPIM,payable,sms,202510,EUR,10.00,ESPIM-77\n"
        "ESPIM,payable,sms,202510,EUR,ten,ESPIM-78\n"
    )
    page = post(
        browser,
        "/settlement/propose/csv",
        {"file": (io.BytesIO(billing.encode()), "billing.csv"), "password": PASSWORD},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    messages = flashes(page)
    assert ("success", "Proposed 1 obligations; 1 rows rejected, 1 skipped.") in messages
    assert ("info", f"line 2 is already on the ledger as {expected.id}") in messages
    assert any(
        kind == "error" and text.startswith("line 4: amount 'ten'") for kind, text in messages
    )
    with consortium.app.app_context():
        mine = db.session.scalars(
            db.select(IndexedObligation).where(IndexedObligation.proposer == a.address)
        ).all()
        assert sorted((r.creditor, r.amount) for r in mine) == sorted(
            [(a.address, 123_456), (c.address, 1_000)]
        )


def test_the_whole_cycle_through_the_web_until_it_is_settled(consortium: Consortium) -> None:
    a, b, c, agent = consortium.a, consortium.b, consortium.c, consortium.agent
    browsers = {p.code: consortium.browser(p) for p in (a, b, c, agent)}

    page = post(
        browsers["LUXMC"],
        "/settlement/cycles/open",
        {"currency": "EUR", "cutoff": "2099-12-31T18:00", "password": PASSWORD},
    ).get_data(as_text=True)
    assert ("success", "Cycle 1 opened for EUR.") in flashes(page)

    # A owes B 100, B owes C 40, C owes A 10: each proposed by its creditor.
    deals = [(a, b, "100.00", "B-1"), (b, c, "40.00", "C-1"), (c, a, "10.00", "A-1")]
    for debtor, creditor, amount, ref in deals:
        page = post(
            browsers[creditor.code],
            "/settlement/propose",
            {
                "counterparty": debtor.address,
                "direction": "receivable",
                "currency": "EUR",
                "amount": amount,
                "service": "interconnect",
                "period": "202511",
                "reference": ref,
                "password": PASSWORD,
            },
        ).get_data(as_text=True)
        assert flashes(page)[0][0] == "success", flashes(page)
    for debtor, creditor, amount, ref in deals:
        ob = record(
            debtor,
            creditor,
            int(amount.replace(".", "")),
            ref,
            service="interconnect",
            period=202511,
        )
        page = post(
            browsers[debtor.code],
            "/settlement/obligations/act",
            {"ids": [ob.id], "action": "confirm", "password": PASSWORD},
        ).get_data(as_text=True)
        assert ("success", "Confirmed 1 obligation in 1 transaction(s).") in flashes(page)

    cycle_page = browsers["LUXMC"].get("/settlement/cycles/1").get_data(as_text=True)
    assert "Plan Ledgerline would submit" in cycle_page
    for step, done in (
        ("close", "Cycle 1 closed; its net positions are final."),
        ("plan", "The settlement plan of cycle 1 was accepted by the ledger."),
    ):
        page = post(browsers["LUXMC"], f"/settlement/cycles/1/{step}", {"password": PASSWORD})
        assert ("success", done) in flashes(page.get_data(as_text=True))

    client = consortium.client()
    assert client.positions(1) == {a.address: -9_000, b.address: 6_000, c.address: 3_000}
    for party in (a, b, c):
        page = post(
            browsers[party.code], "/settlement/cycles/1/confirm-position", {"password": PASSWORD}
        )
        assert ("success", "You confirmed your position in cycle 1.") in flashes(
            page.get_data(as_text=True)
        )
    transfers = client.transfers(1)
    assert [(t.payer, t.payee, t.amount) for t in transfers] == [
        (a.address, b.address, 6_000),
        (a.address, c.address, 3_000),
    ]
    for t in transfers:
        page = post(
            browsers["SWENM"],
            f"/settlement/cycles/1/transfers/{t.index}/paid",
            {"reference": f"SEPA-{t.index}", "password": PASSWORD},
        )
        assert ("success", f"Transfer {t.index} marked paid.") in flashes(
            page.get_data(as_text=True)
        )
        payee = b if t.payee == b.address else c
        page = post(
            browsers[payee.code],
            f"/settlement/cycles/1/transfers/{t.index}/received",
            {"password": PASSWORD},
        )
        assert ("success", f"Receipt of transfer {t.index} confirmed.") in flashes(
            page.get_data(as_text=True)
        )

    assert client.cycle(1).status is CycleStatus.SETTLED
    with consortium.app.app_context():
        indexed = db.session.get(IndexedCycle, 1)
        assert indexed is not None
        assert (indexed.status, indexed.gross_value, indexed.net_value, indexed.transfer_count) == (
            "settled",
            15_000,
            9_000,
            2,
        )
    settled = browsers["ESPIM"].get("/settlement/cycles/1").get_data(as_text=True)
    assert "SEPA-1" in settled  # the payment reference's text, not only its hash
    assert "Liquidity saving</dt><dd>40.00% · payments 3 → 2" in settled

    svg = browsers["ESPIM"].get("/settlement/cycles/1/picture.svg")
    assert svg.mimetype == "image/svg+xml"
    root = ET.fromstring(svg.get_data(as_text=True))
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert len(root.findall(".//s:path[@class='gross']", ns)) == 3
    assert len(root.findall(".//s:path[@class='transfer']", ns)) == 2


def test_a_statement_lists_the_operators_obligations_and_transfers_exactly(
    consortium: Consortium,
) -> None:
    a, b, c, agent = consortium.a, consortium.b, consortium.c, consortium.agent
    client = consortium.client()
    cycle_id = open_eur_cycle(consortium)
    deals = [record(a, b, 10_000, "B-1"), record(b, c, 4_000, "C-1"), record(c, a, 1_000, "A-1")]
    for ob, proposer, confirmer in zip(deals, (b, c, a), (a, b, c), strict=True):
        client.propose(proposer.signer, ob)
        client.confirm(confirmer.signer, ob)
    client.close_cycle(agent.signer, cycle_id)
    client.submit_plan(agent.signer, cycle_id)
    for party in (a, b, c):
        client.confirm_position(party.signer, cycle_id)
    paid = client.mark_paid(a.signer, cycle_id, 0, "SEPA-0")
    browser = consortium.browser(a)
    browser.get("/settlement/")  # brings the index up to date
    with consortium.app.app_context():
        rows = {r.id: r for r in db.session.scalars(db.select(IndexedObligation))}
        cycle = db.session.get(IndexedCycle, cycle_id)
        assert cycle is not None
        chain_id = consortium.client().chain.chain_id
        head = consortium.client().chain.block_number()

    text = browser.get(f"/settlement/cycles/{cycle_id}/statement.csv").get_data(as_text=True)

    ledger = client.address
    ab, ca = rows[deals[0].id], rows[deals[2].id]
    expected = (
        "field,value\n"
        f"operator,{a.address}\n"
        "operator_code,SWENM\n"
        "operator_name,Nordic Mobile AB\n"
        f"cycle,{cycle_id}\n"
        "currency,EUR\n"
        "cycle_status,confirmed\n"
        f"cutoff,{cycle.cutoff.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"chain_id,{chain_id}\n"
        f"contract,{ledger}\n"
        f"opened_block,{cycle.opened_block}\n"
        f"closed_block,{cycle.closed_block}\n"
        f"planned_block,{cycle.planned_block}\n"
        "settled_block,\n"
        f"indexed_block,{head}\n"
        "obligations,2\n"
        "gross_payable,100.00\n"
        "gross_receivable,10.00\n"
        "net_position,-90.00\n"
        "position_confirmed,yes\n"
        "\n"
        "section,id,direction,counterparty,counterparty_code,service,period,reference,amount,"
        "status,block,tx_hash,payment_ref,paid_block,received_block\n"
        f"obligation,{ab.id},payable,{b.address},AUTAF,roaming,202510,{ab.external_ref},100.00,"
        f"confirmed,{ab.settled_block},{ab.settled_tx},,,\n"
        f"obligation,{ca.id},receivable,{c.address},ESPIM,roaming,202510,{ca.external_ref},10.00,"
        f"confirmed,{ca.settled_block},{ca.settled_tx},,,\n"
        f"transfer,0,pay,{b.address},AUTAF,,,,60.00,paid,{cycle.planned_block},,"
        f"{hex32(payment_ref('SEPA-0'))},{paid.receipt.block_number},\n"
        f"transfer,1,pay,{c.address},ESPIM,,,,30.00,planned,{cycle.planned_block},,,,\n"
    )
    assert text == expected
    # Proposed and paid outside the app, the references show as their hashes.
    rows_csv = list(csv.reader(io.StringIO(text.split("\n\n", 1)[1])))
    assert [r[0] for r in rows_csv[1:]] == ["obligation", "obligation", "transfer", "transfer"]

    printable = browser.get(f"/settlement/cycles/{cycle_id}/statement").get_data(as_text=True)
    assert "Net position</dt><dd><strong>EUR -90.00</strong> (pays; confirmed)" in printable
    other = browser.get(f"/settlement/cycles/{cycle_id}/statement?member=AUTAF")
    assert other.status_code == 404
    agents = consortium.browser(agent).get(f"/settlement/cycles/{cycle_id}/statement?member=AUTAF")
    assert agents.status_code == 200 and "Alpenfunk &lt;Telekom&gt; &amp; Co" in agents.get_data(
        as_text=True
    )


def test_reconciliation_upload_report_download_and_apply(consortium: Consortium) -> None:
    a, b, c = consortium.a, consortium.b, consortium.c
    client = consortium.client()
    open_eur_cycle(consortium)
    matched = record(b, a, 50_000, "SWENM-1")  # A proposed, B must confirm
    mismatched = record(b, a, 70_000, "SWENM-2")
    missing_in_billing = record(b, c, 1_000, "ESPIM-9")
    client.propose_batch(a.signer, [matched, mismatched])
    client.propose(c.signer, missing_in_billing)
    billing = (
        "partner,direction,service,period,currency,amount,reference\n"
        "SWENM,payable,roaming,202510,EUR,500.00,SWENM-1\n"
        "SWENM,payable,roaming,202510,EUR,650.00,SWENM-2\n"
        "ESPIM,receivable,sms,202510,EUR,25.00,AUTAF-5\n"
        "ESPIM,receivable,sms,202510,EUR,25.00,AUTAF-5\n"
        "NOBODY,payable,roaming,202510,EUR,1.00,X\n"
    )
    browser = consortium.browser(b)
    response = post(
        browser,
        "/settlement/reconcile",
        {"file": (io.BytesIO(billing.encode()), "autaf-2025-10.csv"), "tolerance_pct": "1"},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert "Reconciliation of autaf-2025-10.csv" in page
    upload_id = int(response.request.path.rsplit("/", 1)[1])

    report = browser.get(f"/settlement/reconcile/{upload_id}.json").get_json()
    assert report["counts"] == {
        "matched": 1,
        "amount_mismatch": 1,
        "missing_on_ledger": 1,
        "missing_in_billing": 1,
        "duplicate": 1,
        "rejected": 1,
    }
    assert report["rejected"] == [
        {
            "line": 6,
            "reason": "partner 'NOBODY' is neither a registry member code (TADIG or MCC-MNC) "
            "nor a 0x address",
        }
    ]
    assert report["totals"]["byPartner"]["SWENM"]["labels"]["amount_mismatch"] == 1
    csv_text = browser.get(f"/settlement/reconcile/{upload_id}.csv").get_data(as_text=True)
    assert csv_text.startswith("kind,line,label,detail,partner,")

    page = post(
        browser, f"/settlement/reconcile/{upload_id}/apply", {"password": PASSWORD}
    ).get_data(as_text=True)
    assert (
        "success",
        "Applied: 1 proposed, 1 confirmed, 1 disputed; 0 left for you to handle.",
    ) in flashes(page)
    assert client.obligation_state(matched.id).status is ObligationStatus.CONFIRMED
    assert client.obligation_state(mismatched.id).status is ObligationStatus.DISPUTED
    proposed = [o for o in client.obligations(party=b.address) if o.proposer == b.address]
    assert [(o.obligation.debtor, o.obligation.amount) for o in proposed] == [(c.address, 2_500)]
    again = browser.get(f"/settlement/reconcile/{upload_id}.json").get_json()
    assert again["counts"]["missing_on_ledger"] == 0 and again["counts"]["matched"] == 2
