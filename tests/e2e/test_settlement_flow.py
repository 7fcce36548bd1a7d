"""Settlement in a real browser, on a small consortium (three operators and the clearing
agent): an operator confirms an obligation from its inbox with its key password, another
operator disputes one with a reason and a comment, and the clearing agent takes the open
cycle to "settled": it closes the cycle and submits the plan, every operator with a
non-zero position confirms it, the payers mark their transfers paid and the payees
confirm receipt.  Every step is a click in the browser; the test only reads the index
to know what to expect."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import LiveDemo, screenshot, sign_in, sign_out


def _flash(page: Any) -> list[str]:
    return [text.strip() for text in page.locator(".flash").all_inner_texts()]


def _obligations(live: LiveDemo) -> list[Any]:
    from app.extensions import db
    from app.settlement.models import IndexedObligation

    with live.app.app_context():
        rows = list(db.session.scalars(db.select(IndexedObligation)))
        db.session.expunge_all()
        return rows


def _obligation(live: LiveDemo, obligation_id: str) -> Any:
    return next(row for row in _obligations(live) if row.id == obligation_id)


def _cycle(live: LiveDemo, cycle_id: int) -> Any:
    from app.settlement import queries

    with live.app.app_context():
        return queries.cycle_view(cycle_id)


def _account_of(live: LiveDemo, member: str) -> Any:
    return next(a for a in live.report.accounts if a.member == member)


def _submit(page: Any, form: Any, password: str, button: str) -> None:
    form.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        form.get_by_role("button", name=button).click()


def _cycle_page(page: Any, live: LiveDemo, account: Any, cycle_id: int) -> None:
    sign_out(page)
    sign_in(page, live, account.email)
    page.goto(f"{live.url}/settlement/cycles/{cycle_id}")


def test_operators_confirm_and_dispute_and_the_clearing_agent_takes_the_cycle_to_settled(
    live_settlement: LiveDemo, page: Any
) -> None:
    live = live_settlement
    cycle_id = live.report.open_cycle
    currency = _cycle(live, cycle_id).cycle.currency
    pending = [row for row in _obligations(live) if row.status == "proposed"]
    to_confirm = next(row for row in pending if row.currency == currency)
    to_dispute = next(row for row in pending if row.counterparty != to_confirm.counterparty)
    confirmer = _account_of(live, to_confirm.counterparty)
    disputer = _account_of(live, to_dispute.counterparty)

    # An operator confirms an obligation from its inbox, unlocking its key.
    sign_in(page, live, confirmer.email)
    page.goto(f"{live.url}/settlement/obligations?box=inbox")
    assert page.locator("h1").inner_text() == "Awaiting my confirmation"
    page.check(f"input.select-row[value='{to_confirm.id}']")
    screenshot(page, "settlement-inbox")
    page.fill("#bulk-password", confirmer.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm selected").click()
    assert _flash(page) == ["Confirmed 1 obligation in 1 transaction(s)."]
    confirmed = _obligation(live, to_confirm.id)
    assert (confirmed.status, confirmed.cycle_id) == ("confirmed", cycle_id)

    # Another operator disputes one on its page, with a reason and a comment.
    sign_out(page)
    sign_in(page, live, disputer.email)
    page.goto(f"{live.url}/settlement/obligations/{to_dispute.id}")
    page.select_option("#reason", label="wrong rate")
    page.fill("#comment", "Billed at last year's IOT rate.")
    page.fill("#act-password", disputer.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Dispute", exact=True).click()
    assert _flash(page) == ["Disputed 1 obligation."]
    assert page.locator("h1 .badge").inner_text() == "disputed"
    assert "Billed at last year's IOT rate." in page.locator(".facts").inner_text()
    assert _obligation(live, to_dispute.id).status == "disputed"

    # The clearing agent closes the cycle and submits its plan.
    agent = live.first("clearing_agent")
    _cycle_page(page, live, agent, cycle_id)
    _submit(page, page.locator("form[action$='/close']"), agent.password, "Close the cycle")
    assert _flash(page) == [f"Cycle {cycle_id} closed; its net positions are final."]
    _submit(page, page.locator("form[action$='/plan']"), agent.password, "Submit the plan")
    assert _flash(page) == [f"The settlement plan of cycle {cycle_id} was accepted by the ledger."]
    planned = _cycle(live, cycle_id)
    assert planned.cycle.status == "planned"
    movers = [p.member for p in planned.positions if p.position != 0]
    assert len(movers) >= 2 and planned.transfers

    # Every operator with a non-zero position confirms it.
    for member in movers:
        operator = _account_of(live, member)
        _cycle_page(page, live, operator, cycle_id)
        form = page.locator("form[action$='/confirm-position']")
        _submit(page, form, operator.password, "Confirm my position")
        assert _flash(page) == [f"You confirmed your position in cycle {cycle_id}."]
    assert _cycle(live, cycle_id).cycle.status == "confirmed"

    # The payers mark their transfers paid, the payees confirm receipt.
    transfers = _cycle(live, cycle_id).transfers
    for payer in sorted({t.payer for t in transfers}):
        operator = _account_of(live, payer)
        _cycle_page(page, live, operator, cycle_id)
        for transfer in (t for t in transfers if t.payer == payer):
            form = page.locator(f"form[action$='/transfers/{transfer.index}/paid']")
            form.locator("input[name=reference]").fill(f"SEPA-E2E-{cycle_id}-{transfer.index}")
            _submit(page, form, operator.password, "Mark paid")
            assert _flash(page) == [f"Transfer {transfer.index} marked paid."]
    for payee in sorted({t.payee for t in transfers}):
        operator = _account_of(live, payee)
        _cycle_page(page, live, operator, cycle_id)
        for transfer in (t for t in transfers if t.payee == payee):
            form = page.locator(f"form[action$='/transfers/{transfer.index}/received']")
            _submit(page, form, operator.password, "Confirm received")
            assert _flash(page) == [f"Receipt of transfer {transfer.index} confirmed."]

    # Everyone sees the cycle settled, every transfer received.
    _cycle_page(page, live, agent, cycle_id)
    heading = page.locator("h1").inner_text()
    assert re.fullmatch(rf"Cycle {cycle_id} · {currency} settled", heading.strip()), heading
    assert page.locator("td .badge").all_inner_texts() == ["received"] * len(transfers)
    screenshot(page, "settlement-cycle")
    assert _cycle(live, cycle_id).cycle.status == "settled"
