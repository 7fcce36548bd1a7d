"""SettlementLedger: obligations, settlement cycles, net positions and settlement plans.

Every rule is exercised both ways, asserting the exact custom error with its arguments
or the exact events with theirs, on a real OperatorRegistry.  The gas tests at the end
measure the per-obligation cost of batches and show that closing a cycle and verifying
its plan costs the same whatever the number of obligations behind it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract

from ledger.netting import settlement_plan

OPERATOR = keccak(text="OPERATOR")
CLEARING_AGENT = keccak(text="CLEARING_AGENT")
GOVERNOR = keccak(text="GOVERNOR")
AUDITOR = keccak(text="AUDITOR")

RECORD_TYPES = [
    "address",
    "address",
    "bytes3",
    "uint256",
    "uint8",
    "uint32",
    "bytes32",
    "bytes32",
    "bytes32",
]
ZERO = b"\0" * 32
MAX_AMOUNT = 2**96 - 1

# enum values, as the contract declares them
PROPOSED, CONFIRMED, DISPUTED, WITHDRAWN, AMENDED = 1, 2, 3, 4, 5
C_OPEN, C_CLOSED, C_PLANNED, C_CONFIRMED, C_SETTLED = 1, 2, 3, 4, 5
T_PLANNED, T_PAID, T_RECEIVED = 1, 2, 3

GAS_BUDGET_PER_OBLIGATION = 30_000


# -- helpers ------------------------------------------------------------------------------


def salt(n: int) -> bytes:
    return n.to_bytes(32, "big")


def record(
    debtor: LocalAccount | str,
    creditor: LocalAccount | str,
    amount: int = 125_000,
    *,
    currency: bytes = b"EUR",
    service: int = 1,
    period: int = 202501,
    ref: str = "INV-1",
    evidence: str = "cdr-summary-1",
) -> tuple[Any, ...]:
    """An Obligation struct as the ABI tuple, with hashed invoice and evidence refs."""
    return (
        getattr(debtor, "address", debtor),
        getattr(creditor, "address", creditor),
        currency,
        amount,
        service,
        period,
        keccak(text=ref),
        keccak(text=evidence),
    )


def obligation_id(rec: tuple[Any, ...], salt_: bytes = ZERO) -> bytes:
    """keccak256(abi.encode(record fields..., salt)), computed independently of the contract."""
    return keccak(encode(RECORD_TYPES, [*rec, salt_]))


def proposed_event(rec: tuple[Any, ...], salt_: bytes, proposer: str) -> dict[str, Any]:
    debtor, creditor, currency, amount, service, period, ref, evidence = rec
    return {
        "obligationId": obligation_id(rec, salt_),
        "debtor": debtor,
        "creditor": creditor,
        "currency": currency,
        "amount": amount,
        "serviceType": service,
        "period": period,
        "externalRef": ref,
        "evidenceHash": evidence,
        "salt": salt_,
        "proposer": proposer,
    }


def state(
    ledger: Contract, rec: tuple[Any, ...], salt_: bytes = ZERO
) -> tuple[int, bool, int, int]:
    """(status, proposedByDebtor, amount, cycleId) of the obligation."""
    return tuple(ledger.functions.obligationState(obligation_id(rec, salt_)).call())  # type: ignore[return-value]


CYCLE_FIELDS = (
    "currency",
    "status",
    "cutoff",
    "obligationCount",
    "grossValue",
    "participantCount",
    "transferCount",
    "pendingPositions",
    "outstandingTransfers",
    "netValue",
)


def cycle_info(ledger: Contract, cycle_id: int) -> dict[str, Any]:
    return dict(zip(CYCLE_FIELDS, ledger.functions.cycle(cycle_id).call(), strict=True))


def genesis_member(account: str, index: int, roles: list[bytes]) -> tuple[Any, ...]:
    return (account, f"Operator {index}", b"FR", f"OPR{index:02d}", [b"EUR", b"USD"], roles)


@dataclass
class Consortium:
    """A registry and a ledger with named members."""

    registry: Contract
    ledger: Contract
    governor: LocalAccount
    agent: LocalAccount
    ops: list[LocalAccount]
    auditor: LocalAccount
    stranger: LocalAccount
    extra: list[LocalAccount] = field(default_factory=list)

    @property
    def a(self) -> LocalAccount:
        return self.ops[0]

    @property
    def b(self) -> LocalAccount:
        return self.ops[1]

    @property
    def c(self) -> LocalAccount:
        return self.ops[2]


def build_consortium(chain: Any) -> Consortium:
    acc = chain.accounts
    governor, agent, auditor, stranger = acc[0], acc[1], acc[7], acc[11]
    ops = acc[2:7]
    genesis = [
        genesis_member(governor.address, 0, [GOVERNOR]),
        genesis_member(agent.address, 1, [CLEARING_AGENT]),
        *(genesis_member(op.address, 2 + i, [OPERATOR]) for i, op in enumerate(ops)),
        genesis_member(auditor.address, 7, [AUDITOR]),
    ]
    registry = chain.deploy("OperatorRegistry", genesis)
    ledger = chain.deploy("SettlementLedger", registry.address)
    return Consortium(registry, ledger, governor, agent, list(ops), auditor, stranger)


@pytest.fixture(scope="module")
def deployed(session_chain: Any) -> Consortium:
    return build_consortium(session_chain)


@pytest.fixture
def cx(chain: Any, deployed: Consortium) -> Consortium:
    """The module's consortium, reset by the `chain` snapshot after each test."""
    return deployed


@pytest.fixture
def ledger(cx: Consortium) -> Contract:
    return cx.ledger


def suspend(chain: Any, cx: Consortium, member: LocalAccount) -> None:
    chain.transact(cx.registry.functions.proposeSuspension(member.address), cx.governor)
    assert not cx.registry.functions.isActiveMember(member.address).call()


def open_cycle(
    chain: Any, cx: Consortium, currency: bytes = b"EUR", ttl: int = 7 * 86400
) -> tuple[int, int]:
    cutoff = chain.now() + ttl
    receipt = chain.transact(cx.ledger.functions.openCycle(currency, cutoff), cx.agent)
    (opened,) = chain.events(receipt, cx.ledger, "CycleOpened")
    return opened["cycleId"], cutoff


def propose(
    chain: Any, cx: Consortium, sender: LocalAccount, rec: tuple[Any, ...], salt_: bytes = ZERO
) -> Any:
    return chain.transact(cx.ledger.functions.propose(rec, salt_), sender)


def confirm(
    chain: Any, cx: Consortium, sender: LocalAccount, rec: tuple[Any, ...], salt_: bytes = ZERO
) -> Any:
    return chain.transact(cx.ledger.functions.confirm(rec, salt_), sender)


def positions(ledger: Contract, cycle_id: int) -> dict[str, int]:
    return {
        op: ledger.functions.positionOf(cycle_id, op).call()
        for op in ledger.functions.participants(cycle_id).call()
    }


def plan_tuples(pos: dict[str, int]) -> list[tuple[str, str, int]]:
    return [(t.payer, t.payee, t.amount) for t in settlement_plan(pos)]


# -- proposing ----------------------------------------------------------------------------


def test_an_operator_proposes_an_obligation_and_the_event_carries_the_full_record(
    chain, cx, ledger
):
    rec = record(cx.a, cx.b, 987_654, service=4, period=202412, ref="INV-77")
    receipt = propose(chain, cx, cx.a, rec, salt(7))

    assert chain.event_names(receipt, ledger) == ["ObligationProposed"]
    assert chain.events(receipt, ledger, "ObligationProposed") == [
        proposed_event(rec, salt(7), cx.a.address)
    ]
    assert state(ledger, rec, salt(7)) == (PROPOSED, True, 987_654, 0)


def test_the_id_is_the_keccak_of_the_abi_encoded_record_and_salt(cx, ledger):
    rec = record(cx.a, cx.b)
    assert ledger.functions.obligationId(rec, salt(3)).call() == obligation_id(rec, salt(3))
    assert ledger.functions.propose(rec, salt(3)).call({"from": cx.a.address}) == obligation_id(
        rec, salt(3)
    )
    assert obligation_id(rec, salt(3)) != obligation_id(rec, salt(4))


def test_either_party_may_propose(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.b, rec)
    assert state(ledger, rec) == (PROPOSED, False, 125_000, 0)


def test_a_non_member_cannot_propose(chain, cx, ledger):
    rec = record(cx.stranger, cx.b)
    chain.expect_revert(
        lambda: propose(chain, cx, cx.stranger, rec),
        "SettlementLedgerNotActiveMember",
        account=cx.stranger.address,
    )


def test_a_suspended_member_cannot_propose(chain, cx, ledger):
    suspend(chain, cx, cx.a)
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, cx.b)),
        "SettlementLedgerNotActiveMember",
        account=cx.a.address,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.proposeBatch([record(cx.a, cx.b)], [ZERO]), cx.a),
        "SettlementLedgerNotActiveMember",
        account=cx.a.address,
    )


def test_a_member_without_the_operator_role_cannot_propose(chain, cx, ledger):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.auditor, record(cx.auditor, cx.b)),
        "SettlementLedgerMissingRole",
        role=OPERATOR,
        account=cx.auditor.address,
    )


def test_an_operator_cannot_propose_an_obligation_between_two_others(chain, cx, ledger):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.c, record(cx.a, cx.b)),
        "SettlementLedgerNotAParty",
        caller=cx.c.address,
        debtor=cx.a.address,
        creditor=cx.b.address,
    )


def test_an_obligation_to_oneself_is_refused(chain, cx, ledger):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, cx.a)),
        "SettlementLedgerSameParty",
        party=cx.a.address,
    )


@pytest.mark.parametrize("who", ["stranger", "auditor", "suspended", "zero address"])
def test_the_counterparty_must_be_an_active_operator(chain, cx, ledger, who):
    counterparty = {
        "stranger": cx.stranger.address,
        "auditor": cx.auditor.address,
        "suspended": cx.c.address,
        "zero address": "0x0000000000000000000000000000000000000000",
    }[who]
    if who == "suspended":
        suspend(chain, cx, cx.c)
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, counterparty)),
        "SettlementLedgerCounterpartyNotOperator",
        counterparty=counterparty,
    )
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(counterparty, cx.a)),
        "SettlementLedgerCounterpartyNotOperator",
        counterparty=counterparty,
    )


@pytest.mark.parametrize(
    "currency", [b"eur", b"EU\0", b"\0\0\0", b"E1R", b"@UR", b"EU[", b"\xc5UR"]
)
def test_a_wrong_currency_code_is_refused(chain, cx, ledger, currency):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, cx.b, currency=currency)),
        "SettlementLedgerInvalidCurrency",
        currency=currency,
    )


@pytest.mark.parametrize("currency", [b"AAA", b"ZZZ", b"XDR", b"USD"])
def test_any_three_upper_case_letters_are_a_currency(chain, cx, ledger, currency):
    rec = record(cx.a, cx.b, currency=currency)
    propose(chain, cx, cx.a, rec)
    assert state(ledger, rec)[0] == PROPOSED


@pytest.mark.parametrize("amount", [0, MAX_AMOUNT + 1, 2**256 - 1])
def test_a_zero_or_too_wide_amount_is_refused(chain, cx, ledger, amount):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, cx.b, amount)),
        "SettlementLedgerInvalidAmount",
        amount=amount,
    )


def test_a_negative_amount_cannot_even_be_encoded(chain, cx, ledger):
    with pytest.raises(Exception, match="uint256"):
        propose(chain, cx, cx.a, record(cx.a, cx.b, -5))


def test_the_largest_amount_fits_the_packed_slot(chain, cx, ledger):
    rec = record(cx.a, cx.b, MAX_AMOUNT)
    propose(chain, cx, cx.a, rec)
    assert state(ledger, rec) == (PROPOSED, True, MAX_AMOUNT, 0)


@pytest.mark.parametrize("service", [0, 9, 255])
def test_an_unknown_service_type_is_refused(chain, cx, ledger, service):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, cx.b, service=service)),
        "SettlementLedgerInvalidServiceType",
        serviceType=service,
        maxServiceType=8,
    )


@pytest.mark.parametrize("period", [0, 202500, 202513, 202599, 196912, 1_000_001, 2**32 - 1])
def test_a_billing_period_that_is_not_yyyymm_is_refused(chain, cx, ledger, period):
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, record(cx.a, cx.b, period=period)),
        "SettlementLedgerInvalidPeriod",
        period=period,
    )


@pytest.mark.parametrize("period", [197001, 202501, 202512, 999912])
def test_every_month_from_1970_to_9999_is_a_billing_period(chain, cx, ledger, period):
    rec = record(cx.a, cx.b, period=period)
    propose(chain, cx, cx.a, rec)
    assert state(ledger, rec)[0] == PROPOSED


def test_a_duplicate_proposal_reverts(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    for sender in (cx.a, cx.b):
        chain.expect_revert(
            lambda sender=sender: propose(chain, cx, sender, rec),
            "SettlementLedgerDuplicateObligation",
            obligationId=obligation_id(rec),
        )


def test_the_same_record_with_another_salt_is_another_obligation(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec, salt(1))
    propose(chain, cx, cx.a, rec, salt(2))
    assert state(ledger, rec, salt(1))[0] == state(ledger, rec, salt(2))[0] == PROPOSED


def test_a_batch_records_every_obligation_with_one_event_each(chain, cx, ledger):
    recs = [record(cx.a, cx.b, 100 + i, ref=f"INV-{i}") for i in range(3)]
    recs.append(record(cx.c, cx.a, 999, ref="INV-C"))
    salts = [salt(i) for i in range(4)]
    receipt = chain.transact(ledger.functions.proposeBatch(recs, salts), cx.a)
    assert chain.events(receipt, ledger, "ObligationProposed") == [
        proposed_event(r, s, cx.a.address) for r, s in zip(recs, salts, strict=True)
    ]
    assert [state(ledger, r, s) for r, s in zip(recs, salts, strict=True)] == [
        (PROPOSED, True, 100, 0),
        (PROPOSED, True, 101, 0),
        (PROPOSED, True, 102, 0),
        (PROPOSED, False, 999, 0),
    ]


def test_a_batch_with_one_bad_record_records_nothing(chain, cx, ledger):
    recs = [
        record(cx.a, cx.b, ref="ok-1"),
        record(cx.a, cx.b, 0, ref="bad"),
        record(cx.a, cx.b, ref="ok-2"),
    ]
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.proposeBatch(recs, [ZERO] * 3), cx.a),
        "SettlementLedgerInvalidAmount",
        amount=0,
    )
    assert state(ledger, recs[0]) == (0, False, 0, 0)


def test_a_batch_cannot_hold_the_same_obligation_twice(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.proposeBatch([rec, rec], [ZERO, ZERO]), cx.a),
        "SettlementLedgerDuplicateObligation",
        obligationId=obligation_id(rec),
    )


def test_a_batch_checks_each_counterparty(chain, cx, ledger):
    recs = [
        record(cx.a, cx.b, ref="1"),
        record(cx.a, cx.c, ref="2"),
        record(cx.auditor, cx.a, ref="3"),
    ]
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.proposeBatch(recs, [ZERO] * 3), cx.a),
        "SettlementLedgerCounterpartyNotOperator",
        counterparty=cx.auditor.address,
    )


@pytest.mark.parametrize("size", [0, 501])
def test_a_batch_holds_one_to_five_hundred_records(chain, cx, ledger, size):
    recs = [record(cx.a, cx.b, ref=str(i)) for i in range(size)]
    for fn in (ledger.functions.proposeBatch, ledger.functions.confirmBatch):
        chain.expect_revert(
            lambda fn=fn: chain.transact(fn(recs, [ZERO] * size), cx.a),
            "SettlementLedgerInvalidBatchSize",
            size=size,
            maxSize=500,
        )


def test_a_batch_needs_one_salt_per_record(chain, cx, ledger):
    recs = [record(cx.a, cx.b, ref=str(i)) for i in range(3)]
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.proposeBatch(recs, [ZERO] * 2), cx.a),
        "SettlementLedgerBatchLengthMismatch",
        obligations=3,
        values=2,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.disputeBatch(recs, [ZERO] * 3, [1, 1]), cx.b),
        "SettlementLedgerBatchLengthMismatch",
        obligations=3,
        values=2,
    )


# -- confirming ---------------------------------------------------------------------------


def test_the_counterparty_confirms_and_the_obligation_joins_the_open_cycle(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    rec = record(cx.a, cx.b, 40_000)
    propose(chain, cx, cx.a, rec)
    receipt = confirm(chain, cx, cx.b, rec)

    assert chain.events(receipt, ledger, "ObligationConfirmed") == [
        {"obligationId": obligation_id(rec), "cycleId": cycle_id}
    ]
    assert state(ledger, rec) == (CONFIRMED, True, 40_000, cycle_id)
    assert positions(ledger, cycle_id) == {cx.a.address: -40_000, cx.b.address: 40_000}
    info = cycle_info(ledger, cycle_id)
    assert (info["status"], info["obligationCount"], info["grossValue"]) == (C_OPEN, 1, 40_000)
    assert info["participantCount"] == 2
    assert ledger.functions.participants(cycle_id).call() == [cx.a.address, cx.b.address]


def test_a_third_party_cannot_confirm_an_obligation(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.c, rec),
        "SettlementLedgerNotCounterparty",
        obligationId=obligation_id(rec),
        caller=cx.c.address,
    )


def test_the_proposer_cannot_confirm_its_own_proposal(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.b, rec)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec),
        "SettlementLedgerNotCounterparty",
        obligationId=obligation_id(rec),
        caller=cx.b.address,
    )
    confirm(chain, cx, cx.a, rec)
    assert state(ledger, rec)[0] == CONFIRMED


def test_confirming_a_record_that_differs_from_the_proposal_finds_no_obligation(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b, 500)
    propose(chain, cx, cx.a, rec)
    tampered = record(cx.a, cx.b, 50)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, tampered),
        "SettlementLedgerUnknownObligation",
        obligationId=obligation_id(tampered),
    )
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec, salt(1)),
        "SettlementLedgerUnknownObligation",
        obligationId=obligation_id(rec, salt(1)),
    )


def test_a_suspended_member_cannot_confirm(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    suspend(chain, cx, cx.b)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec),
        "SettlementLedgerNotActiveMember",
        account=cx.b.address,
    )


def test_a_confirmed_obligation_is_final(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b)
    oid = obligation_id(rec)
    propose(chain, cx, cx.a, rec)
    confirm(chain, cx, cx.b, rec)
    final = {"obligationId": oid, "status": CONFIRMED}
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec), "SettlementLedgerInvalidObligationStatus", **final
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.dispute(rec, ZERO, 1), cx.b),
        "SettlementLedgerInvalidObligationStatus",
        **final,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.withdraw(rec, ZERO), cx.a),
        "SettlementLedgerInvalidObligationStatus",
        **final,
    )
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.amend(rec, ZERO, record(cx.a, cx.b, 1), ZERO), cx.a
        ),
        "SettlementLedgerInvalidObligationStatus",
        **final,
    )


def test_a_confirmed_obligation_is_offset_by_a_new_opposite_obligation(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    owed = record(cx.a, cx.b, 1_000, ref="INV-9")
    credit_note = record(cx.b, cx.a, 1_000, ref="CN-9")
    propose(chain, cx, cx.a, owed)
    confirm(chain, cx, cx.b, owed)
    propose(chain, cx, cx.b, credit_note)
    confirm(chain, cx, cx.a, credit_note)
    assert positions(ledger, cycle_id) == {cx.a.address: 0, cx.b.address: 0}
    assert cycle_info(ledger, cycle_id)["obligationCount"] == 2
    assert cycle_info(ledger, cycle_id)["grossValue"] == 2_000


def test_confirming_needs_an_open_cycle_for_the_currency(chain, cx, ledger):
    open_cycle(chain, cx, b"USD")
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec), "SettlementLedgerNoOpenCycle", currency=b"EUR"
    )


def test_a_confirmation_at_the_cut_off_joins_the_cycle(chain, cx, ledger):
    cycle_id, cutoff = open_cycle(chain, cx, ttl=3600)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.travel_to(cutoff)
    confirm(chain, cx, cx.b, rec)
    assert state(ledger, rec)[3] == cycle_id


def test_a_confirmation_after_the_cut_off_reverts(chain, cx, ledger):
    cycle_id, cutoff = open_cycle(chain, cx, ttl=3600)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.travel_to(cutoff + 1)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec),
        "SettlementLedgerCycleCutoffPassed",
        cycleId=cycle_id,
        cutoff=cutoff,
        timestamp=cutoff + 1,
    )


def test_after_the_cut_off_the_agent_closes_the_cycle_and_the_next_one_takes_the_confirmation(
    chain, cx, ledger
):
    first, cutoff = open_cycle(chain, cx, ttl=3600)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.travel_to(cutoff + 10)
    chain.transact(ledger.functions.closeCycle(first), cx.agent)
    second, _ = open_cycle(chain, cx)
    confirm(chain, cx, cx.b, rec)
    assert state(ledger, rec)[3] == second == first + 1


def test_a_confirm_batch_is_all_or_nothing(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    mine = [record(cx.a, cx.b, 10 + i, ref=f"b-{i}") for i in range(3)]
    not_mine = record(cx.a, cx.c, 77, ref="c")
    chain.transact(ledger.functions.proposeBatch([*mine, not_mine], [ZERO] * 4), cx.a)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmBatch([*mine, not_mine], [ZERO] * 4), cx.b),
        "SettlementLedgerNotCounterparty",
        obligationId=obligation_id(not_mine),
        caller=cx.b.address,
    )
    assert state(ledger, mine[0])[0] == PROPOSED

    receipt = chain.transact(ledger.functions.confirmBatch(mine, [ZERO] * 3), cx.b)
    assert chain.events(receipt, ledger, "ObligationConfirmed") == [
        {"obligationId": obligation_id(r), "cycleId": cycle_id} for r in mine
    ]
    assert positions(ledger, cycle_id) == {cx.a.address: -33, cx.b.address: 33}


# -- disputes, withdrawals, amendments ------------------------------------------------------


def test_the_counterparty_disputes_with_a_reason_code(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    receipt = chain.transact(ledger.functions.dispute(rec, ZERO, 3), cx.b)
    assert chain.events(receipt, ledger, "ObligationDisputed") == [
        {"obligationId": obligation_id(rec), "disputer": cx.b.address, "reason": 3}
    ]
    assert state(ledger, rec) == (DISPUTED, True, 125_000, 0)
    assert ledger.functions.participants(cycle_id).call() == []
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec),
        "SettlementLedgerInvalidObligationStatus",
        obligationId=obligation_id(rec),
        status=DISPUTED,
    )


def test_a_dispute_needs_a_reason(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.dispute(rec, ZERO, 0), cx.b),
        "SettlementLedgerMissingDisputeReason",
        obligationId=obligation_id(rec),
    )


def test_neither_a_third_party_nor_the_proposer_can_dispute(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    for caller in (cx.c, cx.a):
        chain.expect_revert(
            lambda caller=caller: chain.transact(ledger.functions.dispute(rec, ZERO, 1), caller),
            "SettlementLedgerNotCounterparty",
            obligationId=obligation_id(rec),
            caller=caller.address,
        )


def test_a_dispute_batch_disputes_every_record(chain, cx, ledger):
    recs = [record(cx.a, cx.b, 5 + i, ref=f"d-{i}") for i in range(3)]
    chain.transact(ledger.functions.proposeBatch(recs, [ZERO] * 3), cx.a)
    receipt = chain.transact(ledger.functions.disputeBatch(recs, [ZERO] * 3, [1, 2, 3]), cx.b)
    assert chain.events(receipt, ledger, "ObligationDisputed") == [
        {"obligationId": obligation_id(r), "disputer": cx.b.address, "reason": i + 1}
        for i, r in enumerate(recs)
    ]


@pytest.mark.parametrize("disputed", [False, True])
def test_the_proposer_withdraws_a_proposed_or_disputed_obligation(chain, cx, ledger, disputed):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.b, rec)
    if disputed:
        chain.transact(ledger.functions.dispute(rec, ZERO, 2), cx.a)
    receipt = chain.transact(ledger.functions.withdraw(rec, ZERO), cx.b)
    assert chain.events(receipt, ledger, "ObligationWithdrawn") == [
        {"obligationId": obligation_id(rec), "proposer": cx.b.address}
    ]
    assert state(ledger, rec) == (WITHDRAWN, False, 125_000, 0)


def test_only_the_proposer_withdraws(chain, cx, ledger):
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    for caller in (cx.b, cx.c):
        chain.expect_revert(
            lambda caller=caller: chain.transact(ledger.functions.withdraw(rec, ZERO), caller),
            "SettlementLedgerNotProposer",
            obligationId=obligation_id(rec),
            caller=caller.address,
        )


def test_a_withdrawn_obligation_can_neither_be_confirmed_nor_proposed_again(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b)
    propose(chain, cx, cx.a, rec)
    chain.transact(ledger.functions.withdraw(rec, ZERO), cx.a)
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, rec),
        "SettlementLedgerInvalidObligationStatus",
        obligationId=obligation_id(rec),
        status=WITHDRAWN,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.withdraw(rec, ZERO), cx.a),
        "SettlementLedgerInvalidObligationStatus",
        obligationId=obligation_id(rec),
        status=WITHDRAWN,
    )
    chain.expect_revert(
        lambda: propose(chain, cx, cx.a, rec),
        "SettlementLedgerDuplicateObligation",
        obligationId=obligation_id(rec),
    )


def test_the_proposer_amends_a_disputed_obligation_with_a_linked_new_proposal(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    old = record(cx.a, cx.b, 1_000, ref="INV-5")
    new = record(cx.a, cx.b, 900, ref="INV-5")
    propose(chain, cx, cx.a, old)
    chain.transact(ledger.functions.dispute(old, ZERO, 1), cx.b)

    receipt = chain.transact(ledger.functions.amend(old, ZERO, new, salt(1)), cx.a)
    assert chain.event_names(receipt, ledger) == ["ObligationProposed", "ObligationAmended"]
    assert chain.events(receipt, ledger, "ObligationProposed") == [
        proposed_event(new, salt(1), cx.a.address)
    ]
    assert chain.events(receipt, ledger, "ObligationAmended") == [
        {"obligationId": obligation_id(old), "amendmentId": obligation_id(new, salt(1))}
    ]
    assert state(ledger, old) == (AMENDED, True, 1_000, 0)
    assert state(ledger, new, salt(1)) == (PROPOSED, True, 900, 0)

    confirm(chain, cx, cx.b, new, salt(1))
    assert positions(ledger, cycle_id) == {cx.a.address: -900, cx.b.address: 900}


def test_only_a_disputed_obligation_can_be_amended(chain, cx, ledger):
    old = record(cx.a, cx.b, 1_000)
    propose(chain, cx, cx.a, old)
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.amend(old, ZERO, record(cx.a, cx.b, 5), ZERO), cx.a
        ),
        "SettlementLedgerInvalidObligationStatus",
        obligationId=obligation_id(old),
        status=PROPOSED,
    )


def test_an_amendment_keeps_the_parties_and_is_made_by_the_proposer(chain, cx, ledger):
    old = record(cx.a, cx.b, 1_000)
    propose(chain, cx, cx.a, old)
    chain.transact(ledger.functions.dispute(old, ZERO, 1), cx.b)
    for changed in (record(cx.a, cx.c, 900), record(cx.b, cx.a, 900)):
        chain.expect_revert(
            lambda changed=changed: chain.transact(
                ledger.functions.amend(old, ZERO, changed, ZERO), cx.a
            ),
            "SettlementLedgerAmendmentChangesParties",
            obligationId=obligation_id(old),
        )
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.amend(old, ZERO, record(cx.a, cx.b, 900), ZERO), cx.b
        ),
        "SettlementLedgerNotProposer",
        obligationId=obligation_id(old),
        caller=cx.b.address,
    )


def test_an_amendment_is_checked_like_a_proposal(chain, cx, ledger):
    old = record(cx.a, cx.b, 1_000)
    propose(chain, cx, cx.a, old)
    chain.transact(ledger.functions.dispute(old, ZERO, 1), cx.b)
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.amend(old, ZERO, record(cx.a, cx.b, 0), ZERO), cx.a
        ),
        "SettlementLedgerInvalidAmount",
        amount=0,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.amend(old, ZERO, old, ZERO), cx.a),
        "SettlementLedgerDuplicateObligation",
        obligationId=obligation_id(old),
    )


# -- cycles -------------------------------------------------------------------------------


def test_the_clearing_agent_opens_one_cycle_per_currency(chain, cx, ledger):
    cutoff = chain.now() + 3600
    receipt = chain.transact(ledger.functions.openCycle(b"EUR", cutoff), cx.agent)
    assert chain.events(receipt, ledger, "CycleOpened") == [
        {"cycleId": 1, "currency": b"EUR", "cutoff": cutoff, "openedBy": cx.agent.address}
    ]
    assert ledger.functions.openCycleOf(b"EUR").call() == 1
    assert ledger.functions.cycle(1).call() == (b"EUR", C_OPEN, cutoff, 0, 0, 0, 0, 0, 0, 0)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.openCycle(b"EUR", cutoff), cx.agent),
        "SettlementLedgerCycleAlreadyOpen",
        currency=b"EUR",
        cycleId=1,
    )
    chain.transact(ledger.functions.openCycle(b"USD", cutoff), cx.agent)
    assert ledger.functions.openCycleOf(b"USD").call() == 2
    assert ledger.functions.cycleCount().call() == 2


def test_only_the_clearing_agent_runs_cycles(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    calls = [
        ledger.functions.openCycle(b"USD", chain.now() + 3600),
        ledger.functions.closeCycle(cycle_id),
        ledger.functions.submitPlan(cycle_id, []),
    ]
    for call in calls:
        chain.expect_revert(
            lambda call=call: chain.transact(call, cx.a),
            "SettlementLedgerMissingRole",
            role=CLEARING_AGENT,
            account=cx.a.address,
        )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.closeCycle(cycle_id), cx.stranger),
        "SettlementLedgerNotActiveMember",
        account=cx.stranger.address,
    )


def test_a_suspended_clearing_agent_is_refused(chain, cx, ledger):
    suspend(chain, cx, cx.agent)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.openCycle(b"EUR", chain.now() + 3600), cx.agent),
        "SettlementLedgerNotActiveMember",
        account=cx.agent.address,
    )


def test_a_cycle_needs_a_valid_currency_and_a_future_cut_off(chain, cx, ledger):
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.openCycle(b"Eur", chain.now() + 3600), cx.agent),
        "SettlementLedgerInvalidCurrency",
        currency=b"Eur",
    )
    chain.travel_to(chain.now() + 100)
    now = chain.now() + 1  # the pending block's time
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.openCycle(b"EUR", now), cx.agent),
        "SettlementLedgerInvalidCutoff",
        cutoff=now,
        timestamp=now,
    )


def test_closing_a_cycle_reports_its_totals_and_stops_confirmations(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    recs = [record(cx.a, cx.b, 300, ref="1"), record(cx.c, cx.a, 200, ref="2")]
    late = record(cx.a, cx.b, 5, ref="late")
    chain.transact(ledger.functions.proposeBatch([*recs, late], [ZERO] * 3), cx.a)
    confirm(chain, cx, cx.b, recs[0])
    confirm(chain, cx, cx.c, recs[1])

    receipt = chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    assert chain.events(receipt, ledger, "CycleClosed") == [
        {
            "cycleId": cycle_id,
            "participantCount": 3,
            "obligationCount": 2,
            "grossValue": 500,
            "closedBy": cx.agent.address,
        }
    ]
    assert ledger.functions.openCycleOf(b"EUR").call() == 0
    assert cycle_info(ledger, cycle_id)["status"] == C_CLOSED
    chain.expect_revert(
        lambda: confirm(chain, cx, cx.b, late), "SettlementLedgerNoOpenCycle", currency=b"EUR"
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent),
        "SettlementLedgerInvalidCycleStatus",
        cycleId=cycle_id,
        status=C_CLOSED,
    )


@pytest.mark.parametrize("cycle_id", [0, 2])
def test_an_unknown_cycle_is_refused(chain, cx, ledger, cycle_id):
    open_cycle(chain, cx)
    for fn, sender in (
        (ledger.functions.closeCycle(cycle_id), cx.agent),
        (ledger.functions.submitPlan(cycle_id, []), cx.agent),
        (ledger.functions.confirmPosition(cycle_id), cx.a),
        (ledger.functions.markPaid(cycle_id, 0, keccak(text="ref")), cx.a),
        (ledger.functions.confirmReceived(cycle_id, 0), cx.a),
    ):
        chain.expect_revert(
            lambda fn=fn, sender=sender: chain.transact(fn, sender),
            "SettlementLedgerUnknownCycle",
            cycleId=cycle_id,
        )
    assert cycle_info(ledger, cycle_id)["status"] == 0


# -- plans and settlement -----------------------------------------------------------------


@pytest.fixture
def closed_cycle(chain: Any, cx: Consortium) -> int:
    """A closed EUR cycle: A owes B 700 and C 300, C owes B 100, and B owes A 200.

    Net positions: A -800, B +600, C +200.
    """
    ledger = cx.ledger
    cycle_id, _ = open_cycle(chain, cx)
    a_recs = [
        record(cx.a, cx.b, 700, ref="1"),
        record(cx.a, cx.c, 300, ref="2"),
        record(cx.b, cx.a, 200, ref="3"),
    ]
    chain.transact(ledger.functions.proposeBatch(a_recs, [ZERO] * 3), cx.a)
    chain.transact(ledger.functions.confirmBatch([a_recs[0], a_recs[2]], [ZERO] * 2), cx.b)
    confirm(chain, cx, cx.c, a_recs[1])
    cb = record(cx.c, cx.b, 100, ref="4")
    propose(chain, cx, cx.b, cb)
    confirm(chain, cx, cx.c, cb)
    chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    assert positions(ledger, cycle_id) == {cx.a.address: -800, cx.b.address: 600, cx.c.address: 200}
    return cycle_id


def test_a_plan_that_realises_every_position_is_accepted(chain, cx, ledger, closed_cycle):
    plan = [(cx.a.address, cx.b.address, 600), (cx.a.address, cx.c.address, 200)]
    receipt = chain.transact(ledger.functions.submitPlan(closed_cycle, plan), cx.agent)
    assert chain.event_names(receipt, ledger) == [
        "TransferPlanned",
        "TransferPlanned",
        "SettlementPlanSubmitted",
    ]
    assert chain.events(receipt, ledger, "TransferPlanned") == [
        {"cycleId": closed_cycle, "index": i, "payer": p, "payee": q, "amount": v}
        for i, (p, q, v) in enumerate(plan)
    ]
    assert chain.events(receipt, ledger, "SettlementPlanSubmitted") == [
        {"cycleId": closed_cycle, "transferCount": 2, "netValue": 800, "pendingPositions": 3}
    ]
    assert ledger.functions.transferCount(closed_cycle).call() == 2
    assert ledger.functions.transfer(closed_cycle, 1).call() == (
        cx.a.address,
        cx.c.address,
        200,
        T_PLANNED,
    )
    info = cycle_info(ledger, closed_cycle)
    del info["cutoff"]
    assert info == {
        "currency": b"EUR",
        "status": C_PLANNED,
        "obligationCount": 4,
        "grossValue": 1300,
        "participantCount": 3,
        "transferCount": 2,
        "pendingPositions": 3,
        "outstandingTransfers": 2,
        "netValue": 800,
    }


def test_a_plan_that_does_not_balance_is_refused(chain, cx, ledger, closed_cycle):
    plan = [(cx.a.address, cx.b.address, 600), (cx.a.address, cx.c.address, 150)]
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.submitPlan(closed_cycle, plan), cx.agent),
        "SettlementLedgerPlanUnbalanced",
        cycleId=closed_cycle,
        operator=cx.a.address,
        expected=-800,
        got=-750,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.submitPlan(closed_cycle, []), cx.agent),
        "SettlementLedgerPlanUnbalanced",
        cycleId=closed_cycle,
        operator=cx.a.address,
        expected=-800,
        got=0,
    )
    # A balances but C does not: the error names the first operator that is off.
    plan = [
        (cx.a.address, cx.b.address, 600),
        (cx.a.address, cx.c.address, 200),
        (cx.c.address, cx.b.address, 1),
    ]
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.submitPlan(closed_cycle, plan), cx.agent),
        "SettlementLedgerPlanUnbalanced",
        cycleId=closed_cycle,
        operator=cx.b.address,
        expected=600,
        got=601,
    )


def test_a_plan_may_only_move_money_between_participants(chain, cx, ledger, closed_cycle):
    d = cx.ops[3].address
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.submitPlan(closed_cycle, [(cx.a.address, d, 1)]), cx.agent
        ),
        "SettlementLedgerNotParticipant",
        cycleId=closed_cycle,
        account=d,
    )
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.submitPlan(closed_cycle, [(cx.a.address, cx.a.address, 1)]), cx.agent
        ),
        "SettlementLedgerSelfTransfer",
        index=0,
        payer=cx.a.address,
    )
    for amount in (0, 2**128):
        chain.expect_revert(
            lambda amount=amount: chain.transact(
                ledger.functions.submitPlan(closed_cycle, [(cx.a.address, cx.b.address, amount)]),
                cx.agent,
            ),
            "SettlementLedgerInvalidTransferAmount",
            index=0,
            amount=amount,
        )
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.submitPlan(closed_cycle, [(cx.a.address, cx.b.address, 1)] * 257),
            cx.agent,
        ),
        "SettlementLedgerTooManyTransfers",
        count=257,
        maxTransfers=256,
    )


def test_a_plan_needs_a_closed_cycle_and_is_submitted_once(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.submitPlan(cycle_id, []), cx.agent),
        "SettlementLedgerInvalidCycleStatus",
        cycleId=cycle_id,
        status=C_OPEN,
    )
    rec = record(cx.a, cx.b, 10)
    propose(chain, cx, cx.a, rec)
    confirm(chain, cx, cx.b, rec)
    chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    plan = [(cx.a.address, cx.b.address, 10)]
    chain.transact(ledger.functions.submitPlan(cycle_id, plan), cx.agent)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.submitPlan(cycle_id, plan), cx.agent),
        "SettlementLedgerInvalidCycleStatus",
        cycleId=cycle_id,
        status=C_PLANNED,
    )


def test_each_operator_with_a_position_confirms_it_then_payments_may_start(
    chain, cx, ledger, closed_cycle
):
    plan = [(cx.a.address, cx.b.address, 600), (cx.a.address, cx.c.address, 200)]
    chain.transact(ledger.functions.submitPlan(closed_cycle, plan), cx.agent)
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.markPaid(closed_cycle, 0, keccak(text="wire-1")), cx.a
        ),
        "SettlementLedgerInvalidCycleStatus",
        cycleId=closed_cycle,
        status=C_PLANNED,
    )
    receipt = chain.transact(ledger.functions.confirmPosition(closed_cycle), cx.b)
    assert chain.events(receipt, ledger, "PositionConfirmed") == [
        {"cycleId": closed_cycle, "operator": cx.b.address, "position": 600, "remaining": 2}
    ]
    assert ledger.functions.isPositionConfirmed(closed_cycle, cx.b.address).call()
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmPosition(closed_cycle), cx.b),
        "SettlementLedgerPositionAlreadyConfirmed",
        cycleId=closed_cycle,
        operator=cx.b.address,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmPosition(closed_cycle), cx.ops[3]),
        "SettlementLedgerNoPositionToConfirm",
        cycleId=closed_cycle,
        operator=cx.ops[3].address,
    )
    chain.transact(ledger.functions.confirmPosition(closed_cycle), cx.a)
    receipt = chain.transact(ledger.functions.confirmPosition(closed_cycle), cx.c)
    assert chain.event_names(receipt, ledger) == ["PositionConfirmed", "CyclePositionsConfirmed"]
    assert chain.events(receipt, ledger, "CyclePositionsConfirmed") == [{"cycleId": closed_cycle}]
    assert cycle_info(ledger, closed_cycle)["status"] == C_CONFIRMED


def test_positions_are_confirmed_only_once_the_plan_is_accepted(chain, cx, ledger, closed_cycle):
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmPosition(closed_cycle), cx.a),
        "SettlementLedgerInvalidCycleStatus",
        cycleId=closed_cycle,
        status=C_CLOSED,
    )


@pytest.fixture
def paying_cycle(chain: Any, cx: Consortium, closed_cycle: int) -> int:
    plan = [(cx.a.address, cx.b.address, 600), (cx.a.address, cx.c.address, 200)]
    chain.transact(cx.ledger.functions.submitPlan(closed_cycle, plan), cx.agent)
    for op in (cx.a, cx.b, cx.c):
        chain.transact(cx.ledger.functions.confirmPosition(closed_cycle), op)
    return closed_cycle


def test_the_payer_marks_a_transfer_paid_with_a_payment_reference(chain, cx, ledger, paying_cycle):
    ref = keccak(text="SEPA-0001")
    receipt = chain.transact(ledger.functions.markPaid(paying_cycle, 0, ref), cx.a)
    assert chain.events(receipt, ledger, "TransferPaid") == [
        {
            "cycleId": paying_cycle,
            "index": 0,
            "payer": cx.a.address,
            "payee": cx.b.address,
            "amount": 600,
            "paymentRef": ref,
        }
    ]
    assert ledger.functions.transfer(paying_cycle, 0).call()[3] == T_PAID  # status


def test_paying_a_transfer_twice_reverts(chain, cx, ledger, paying_cycle):
    chain.transact(ledger.functions.markPaid(paying_cycle, 0, keccak(text="SEPA-1")), cx.a)
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.markPaid(paying_cycle, 0, keccak(text="SEPA-2")), cx.a
        ),
        "SettlementLedgerTransferAlreadyPaid",
        cycleId=paying_cycle,
        index=0,
    )


def test_only_the_payer_marks_a_transfer_paid_and_with_a_reference(chain, cx, ledger, paying_cycle):
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.markPaid(paying_cycle, 0, keccak(text="x")), cx.b),
        "SettlementLedgerNotPayer",
        cycleId=paying_cycle,
        index=0,
        caller=cx.b.address,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.markPaid(paying_cycle, 0, ZERO), cx.a),
        "SettlementLedgerMissingPaymentRef",
        cycleId=paying_cycle,
        index=0,
    )
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.markPaid(paying_cycle, 2, keccak(text="x")), cx.a),
        "SettlementLedgerUnknownTransfer",
        cycleId=paying_cycle,
        index=2,
    )
    chain.expect_revert(
        lambda: ledger.functions.transfer(paying_cycle, 2).call(),
        "SettlementLedgerUnknownTransfer",
        cycleId=paying_cycle,
        index=2,
    )


def test_only_the_payee_confirms_receipt_of_a_paid_transfer_once(chain, cx, ledger, paying_cycle):
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmReceived(paying_cycle, 0), cx.b),
        "SettlementLedgerTransferNotPaid",
        cycleId=paying_cycle,
        index=0,
    )
    chain.transact(ledger.functions.markPaid(paying_cycle, 0, keccak(text="SEPA-1")), cx.a)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmReceived(paying_cycle, 0), cx.a),
        "SettlementLedgerNotPayee",
        cycleId=paying_cycle,
        index=0,
        caller=cx.a.address,
    )
    receipt = chain.transact(ledger.functions.confirmReceived(paying_cycle, 0), cx.b)
    assert chain.events(receipt, ledger, "TransferReceived") == [
        {
            "cycleId": paying_cycle,
            "index": 0,
            "payer": cx.a.address,
            "payee": cx.b.address,
            "amount": 600,
        }
    ]
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.confirmReceived(paying_cycle, 0), cx.b),
        "SettlementLedgerTransferAlreadyReceived",
        cycleId=paying_cycle,
        index=0,
    )
    chain.expect_revert(
        lambda: chain.transact(
            ledger.functions.markPaid(paying_cycle, 0, keccak(text="again")), cx.a
        ),
        "SettlementLedgerTransferAlreadyPaid",
        cycleId=paying_cycle,
        index=0,
    )


def test_a_suspended_payer_cannot_mark_a_transfer_paid(chain, cx, ledger, paying_cycle):
    suspend(chain, cx, cx.a)
    chain.expect_revert(
        lambda: chain.transact(ledger.functions.markPaid(paying_cycle, 0, keccak(text="x")), cx.a),
        "SettlementLedgerNotActiveMember",
        account=cx.a.address,
    )


def test_a_cycle_whose_positions_all_net_to_zero_settles_with_an_empty_plan(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    there, back = record(cx.a, cx.b, 50, ref="there"), record(cx.b, cx.a, 50, ref="back")
    chain.transact(ledger.functions.proposeBatch([there, back], [ZERO] * 2), cx.a)
    chain.transact(ledger.functions.confirmBatch([there, back], [ZERO] * 2), cx.b)
    chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    receipt = chain.transact(ledger.functions.submitPlan(cycle_id, []), cx.agent)
    assert chain.event_names(receipt, ledger) == [
        "SettlementPlanSubmitted",
        "CyclePositionsConfirmed",
        "CycleSettled",
    ]
    assert chain.events(receipt, ledger, "CycleSettled") == [
        {"cycleId": cycle_id, "transferCount": 0, "netValue": 0}
    ]
    assert cycle_info(ledger, cycle_id)["status"] == C_SETTLED


def test_an_empty_cycle_settles_with_an_empty_plan(chain, cx, ledger):
    cycle_id, _ = open_cycle(chain, cx)
    chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    chain.transact(ledger.functions.submitPlan(cycle_id, []), cx.agent)
    assert cycle_info(ledger, cycle_id)["status"] == C_SETTLED
    assert ledger.functions.participants(cycle_id).call() == []


def test_a_full_cycle_from_proposals_to_settlement(chain, cx, ledger):
    """propose → confirm or dispute → close → plan → confirm → paid → received → settled."""
    rng = random.Random(2025)
    ops = cx.ops
    cycle_id, _ = open_cycle(chain, cx)
    assert ledger.functions.registry().call() == cx.registry.address

    # Each operator proposes a batch with every other one, in both directions.
    batches: dict[str, list[tuple[tuple[Any, ...], bytes]]] = defaultdict(list)
    for i, proposer in enumerate(ops):
        recs, salts = [], []
        for j, other in enumerate(ops):
            if i == j:
                continue
            for n in range(2):
                debtor, creditor = (proposer, other) if n == 0 else (other, proposer)
                recs.append(record(debtor, creditor, rng.randrange(1, 10**9), ref=f"{i}-{j}-{n}"))
                salts.append(salt(n))
        chain.transact(ledger.functions.proposeBatch(recs, salts), proposer)
        for rec, s in zip(recs, salts, strict=True):
            counterparty = rec[1] if rec[0] == proposer.address else rec[0]
            batches[counterparty].append((rec, s))

    # Each counterparty disputes its first record and confirms the rest in one batch.
    expected: dict[str, int] = defaultdict(int)
    gross = confirmed = 0
    for op in ops:
        (disputed, d_salt), *rest = batches[op.address]
        chain.transact(ledger.functions.dispute(disputed, d_salt, 1), op)
        chain.transact(
            ledger.functions.confirmBatch([r for r, _ in rest], [s for _, s in rest]), op
        )
        for rec, _ in rest:
            expected[rec[0]] -= rec[3]
            expected[rec[1]] += rec[3]
            gross += rec[3]
            confirmed += 1

    assert positions(ledger, cycle_id) == dict(expected)
    assert sum(positions(ledger, cycle_id).values()) == 0

    receipt = chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    assert chain.events(receipt, ledger, "CycleClosed")[0]["obligationCount"] == confirmed
    assert chain.events(receipt, ledger, "CycleClosed")[0]["grossValue"] == gross

    plan = plan_tuples(dict(expected))
    assert len(plan) <= len(ops) - 1
    chain.transact(ledger.functions.submitPlan(cycle_id, plan), cx.agent)
    for op in ops:
        chain.transact(ledger.functions.confirmPosition(cycle_id), op)
    by_address = {op.address: op for op in ops}
    for index, (payer, _, _) in enumerate(plan):
        chain.transact(
            ledger.functions.markPaid(cycle_id, index, keccak(text=f"wire-{index}")),
            by_address[payer],
        )
    last = None
    for index, (_, payee, _) in enumerate(plan):
        last = chain.transact(ledger.functions.confirmReceived(cycle_id, index), by_address[payee])

    net = sum(amount for _, _, amount in plan)
    assert chain.event_names(last, ledger) == ["TransferReceived", "CycleSettled"]
    assert chain.events(last, ledger, "CycleSettled") == [
        {"cycleId": cycle_id, "transferCount": len(plan), "netValue": net}
    ]
    info = cycle_info(ledger, cycle_id)
    del info["cutoff"], info["currency"]
    assert info == {
        "status": C_SETTLED,
        "obligationCount": confirmed,
        "grossValue": gross,
        "participantCount": len(ops),
        "transferCount": len(plan),
        "pendingPositions": 0,
        "outstandingTransfers": 0,
        "netValue": net,
    }
    assert net < gross


# -- gas ----------------------------------------------------------------------------------


def _per_obligation(receipts: list[Any], count: int) -> float:
    return sum(r["gasUsed"] for r in receipts) / count


def test_batches_of_100_cost_at_most_30000_gas_per_obligation(chain, cx, ledger, capsys):
    """An operator records 100 obligations with four partners in one batch (grouped by
    partner, as the client sends them; salts are line numbers), then each partner confirms
    its 25 in one batch. Every figure includes the 21,000 base and the calldata."""
    rng = random.Random(7)
    open_cycle(chain, cx)
    proposer, partners = cx.a, cx.ops[1:5]
    recs = []
    for k in range(100):
        partner = partners[k * len(partners) // 100]
        debtor, creditor = (proposer, partner) if k % 3 else (partner, proposer)
        recs.append(
            record(
                debtor,
                creditor,
                rng.randrange(1, 10**10),
                service=rng.randrange(1, 9),
                period=202400 + rng.randrange(1, 13),
                ref=f"INV-{k}",
                evidence=f"EV-{k}",
            )
        )
    salts = [salt(k) for k in range(100)]
    propose_receipt = chain.transact(ledger.functions.proposeBatch(recs, salts), proposer)
    confirm_receipts = []
    for partner in partners:
        mine = [(r, s) for r, s in zip(recs, salts, strict=True) if partner.address in r[:2]]
        confirm_receipts.append(
            chain.transact(
                ledger.functions.confirmBatch([r for r, _ in mine], [s for _, s in mine]), partner
            )
        )
    propose_gas = _per_obligation([propose_receipt], 100)
    confirm_gas = _per_obligation(confirm_receipts, 100)
    with capsys.disabled():
        print(
            f"\ngas per obligation, batch of 100: "
            f"propose {propose_gas:,.0f}, confirm {confirm_gas:,.0f}"
        )
    assert propose_gas <= GAS_BUDGET_PER_OBLIGATION
    assert confirm_gas <= GAS_BUDGET_PER_OBLIGATION


def test_one_transaction_per_obligation_costs_far_more_than_a_batch(chain, cx, ledger):
    open_cycle(chain, cx)
    rec = record(cx.a, cx.b, 123_456, ref="single")
    single = propose(chain, cx, cx.a, rec)["gasUsed"] + confirm(chain, cx, cx.b, rec)["gasUsed"]
    assert single > 2 * GAS_BUDGET_PER_OBLIGATION


def _fund(chain: Any, accounts: list[LocalAccount]) -> None:
    w3, funder = chain.w3, chain.deployer
    nonce = w3.eth.get_transaction_count(funder.address, "pending")
    base_fee = w3.eth.get_block("pending")["baseFeePerGas"]
    for offset, account in enumerate(accounts):
        tx = {
            "to": account.address,
            "value": 10**20,
            "gas": 21_000,
            "nonce": nonce + offset,
            "chainId": w3.eth.chain_id,
            "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        w3.eth.send_raw_transaction(funder.sign_transaction(tx).raw_transaction)


@pytest.fixture(scope="module")
def large_consortium(session_chain: Any) -> Iterator[Consortium]:
    """A separate registry and ledger with 50 funded operators (admitted by the governor)."""
    chain = session_chain
    snapshot = chain.snapshot()
    base = build_consortium(chain)
    extra = [Account.from_key(keccak(text=f"settlement gas operator {i}")) for i in range(45)]
    _fund(chain, extra)
    for i, account in enumerate(extra):
        chain.transact(
            base.registry.functions.proposeAdmission(
                account.address, f"Gas Operator {i}", b"DE", f"GAS{i:02d}", [b"EUR"], [OPERATOR]
            ),
            base.governor,
        )
    base.extra = extra
    yield base
    chain.revert(snapshot)


def _shares(amount: int, split: int) -> list[int]:
    """`amount` as `split` positive parts that add up to it."""
    return [amount // split + (amount % split if part == 0 else 0) for part in range(split)]


def _close_and_plan_gas(
    chain: Any, cx: Consortium, operators: list[LocalAccount], amounts: list[int], split: int
) -> int:
    """Operator i owes the hub |amounts[i]| (or is owed it, when negative) and owes its ring
    neighbour 1,000 + i, each recorded as `split` obligations that add up to it: the net
    positions do not depend on `split`, the number of obligations does. Return the gas of
    closing the cycle and submitting its greedy plan."""
    ledger = cx.ledger
    hub, others = operators[0], operators[1:]
    cycle_id, _ = open_cycle(chain, cx)
    to_hub: list[tuple[Any, ...]] = []
    ring: list[list[tuple[Any, ...]]] = []
    for i, (op, amount) in enumerate(zip(others, amounts, strict=True)):
        debtor, creditor = (op, hub) if amount > 0 else (hub, op)
        hub_recs = [
            record(debtor, creditor, share, ref=f"hub-{i}-{part}")
            for part, share in enumerate(_shares(abs(amount), split))
        ]
        ring_recs = [
            record(op, others[(i + 1) % len(others)], share, ref=f"ring-{i}-{part}")
            for part, share in enumerate(_shares(1_000 + i, split))
        ]
        recs = hub_recs + ring_recs
        chain.transact(ledger.functions.proposeBatch(recs, [ZERO] * len(recs)), op)
        to_hub.extend(hub_recs)
        ring.append(ring_recs)
    for start in range(0, len(to_hub), 500):
        chunk = to_hub[start : start + 500]
        chain.transact(ledger.functions.confirmBatch(chunk, [ZERO] * len(chunk)), hub)
    for i, op in enumerate(others):
        ring_in = ring[i - 1]
        chain.transact(ledger.functions.confirmBatch(ring_in, [ZERO] * len(ring_in)), op)

    assert cycle_info(ledger, cycle_id)["obligationCount"] == 2 * split * len(others)
    close = chain.transact(ledger.functions.closeCycle(cycle_id), cx.agent)
    plan = plan_tuples(positions(ledger, cycle_id))
    submit = chain.transact(ledger.functions.submitPlan(cycle_id, plan), cx.agent)
    return int(close["gasUsed"] + submit["gasUsed"])


@pytest.mark.slow
def test_closing_and_planning_a_cycle_costs_per_operator_not_per_obligation(
    session_chain, large_consortium, capsys
):
    chain, cx = session_chain, large_consortium
    everyone = [*cx.ops, *cx.extra]
    rng = random.Random(11)
    results: dict[int, dict[int, int]] = {}
    for n in (10, 50):
        operators = everyone[:n]
        amounts = [rng.choice([-1, 1]) * rng.randrange(10**6, 10**9) for _ in operators[1:]]
        results[n] = {}
        for split in (2, 4):
            with chain.isolated():
                results[n][2 * split * (n - 1)] = _close_and_plan_gas(
                    chain, cx, operators, amounts, split
                )
    with capsys.disabled():
        for n, by_count in results.items():
            figures = ", ".join(
                f"{count} obligations {gas:,} gas" for count, gas in by_count.items()
            )
            print(f"\nclose + plan, {n} operators: {figures}")
    for n, by_count in results.items():
        fewer, more = by_count.values()
        assert abs(more - fewer) <= 0.01 * fewer, f"{n} operators: {by_count}"
    assert min(results[50].values()) > 3 * max(results[10].values())
