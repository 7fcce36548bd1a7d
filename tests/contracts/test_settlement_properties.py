"""SettlementLedger against a Python model of the ledger, under random sequences of steps.

A Hypothesis state machine proposes (alone and in batches), confirms, disputes,
withdraws and amends obligations, and opens, closes, plans and settles cycles, with
callers picked at random so that forbidden steps are tried too.  After every step the
contract must agree with the model: same obligation statuses, same open cycles, same net
positions, which sum to zero in every cycle.  Plans come from the greedy
``ledger.netting.settlement_plan`` and must always be accepted; a plan with one amount
off by one must always be refused.  Each example runs inside a chain snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract

from ledger.netting import settlement_plan

OPERATOR = keccak(text="OPERATOR")
CLEARING_AGENT = keccak(text="CLEARING_AGENT")
GOVERNOR = keccak(text="GOVERNOR")
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
CURRENCIES = [b"EUR", b"USD"]
#: A caller: an operator's index, or None for the party allowed to act (the counterparty,
#: the proposer), so that allowed steps are about as frequent as forbidden ones.
CALLERS = st.one_of(st.none(), st.integers(0, 3))

PROPOSED, CONFIRMED, DISPUTED, WITHDRAWN, AMENDED = range(1, 6)
C_OPEN, C_CLOSED, C_PLANNED, C_CONFIRMED, C_SETTLED = 1, 2, 3, 4, 5


def obligation_id(rec: tuple[Any, ...], salt: bytes) -> bytes:
    return keccak(encode(RECORD_TYPES, [*rec, salt]))


@dataclass
class ModelObligation:
    record: tuple[Any, ...]
    salt: bytes
    proposer: str
    status: int = PROPOSED
    cycle: int = 0

    @property
    def id(self) -> bytes:
        return obligation_id(self.record, self.salt)

    @property
    def counterparty(self) -> str:
        debtor, creditor = self.record[0], self.record[1]
        return creditor if self.proposer == debtor else debtor


@dataclass
class ModelCycle:
    currency: bytes
    status: int = C_OPEN
    positions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    plan: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass
class Deployment:
    ledger: Contract
    agent: LocalAccount
    ops: list[LocalAccount]


@pytest.fixture(scope="module")
def deployment(session_chain: Any) -> Deployment:
    acc = session_chain.accounts
    governor, agent, ops = acc[0], acc[1], acc[2:6]

    def member(account: str, i: int, roles: list[bytes]) -> tuple[Any, ...]:
        return (account, f"Operator {i}", b"FR", f"PRP{i:02d}", CURRENCIES, roles)

    genesis = [
        member(governor.address, 0, [GOVERNOR]),
        member(agent.address, 1, [CLEARING_AGENT]),
        *(member(op.address, 2 + i, [OPERATOR]) for i, op in enumerate(ops)),
    ]
    registry = session_chain.deploy("OperatorRegistry", genesis)
    ledger = session_chain.deploy("SettlementLedger", registry.address)
    return Deployment(ledger, agent, list(ops))


class LedgerMachine(RuleBasedStateMachine):
    """Drives the contract and the model side by side."""

    obligations = Bundle("obligations")

    def __init__(self, chain: Any, deployment: Deployment) -> None:
        super().__init__()
        self.chain = chain
        self.ledger = deployment.ledger
        self.agent = deployment.agent
        self.ops = deployment.ops
        self.by_address = {op.address: op for op in self.ops}
        self.snapshot = chain.snapshot()
        self.model: dict[bytes, ModelObligation] = {}
        self.cycles: dict[int, ModelCycle] = {}
        self.open: dict[bytes, int] = {}
        self.salt_counter = 0

    # -- helpers ------------------------------------------------------------------------

    def teardown(self) -> None:
        """Check every obligation and cycle, then settle every cycle still open or closed
        (a plan off by one first): every example ends with its cycles settled."""
        try:
            self.check_everything()
            for cycle_id, cycle in self.cycles.items():
                if cycle.status == C_OPEN:
                    self.close(cycle.currency)
                if cycle.status == C_CLOSED:
                    self.plan(cycle_id, tamper_index=0)
                if cycle.status == C_PLANNED:
                    self.settle(cycle_id)
        finally:
            self.chain.revert(self.snapshot)

    def transact(self, call: Any, sender: LocalAccount) -> Any:
        return self.chain.transact(call, sender)

    def expect(self, call: Any, sender: LocalAccount, error: str | None, **args: Any) -> Any:
        """Send `call`; with `error`, it must revert with exactly that error and args."""
        event(f"{call.fn_name}: {error or 'accepted'}")
        if error is None:
            return self.transact(call, sender)
        self.chain.expect_revert(lambda: self.transact(call, sender), error, **args)
        return None

    def next_salt(self) -> bytes:
        self.salt_counter += 1
        return self.salt_counter.to_bytes(32, "big")

    def new_record(
        self, proposer: int, other: int, owes: bool, amount: int, currency: int
    ) -> tuple[Any, ...]:
        me, them = self.ops[proposer].address, self.ops[other].address
        debtor, creditor = (me, them) if owes else (them, me)
        return (
            debtor,
            creditor,
            CURRENCIES[currency],
            amount,
            1 + amount % 8,
            202501,
            keccak(text=str(amount)),
            bytes(32),
        )

    def confirm_outcome(
        self, ob: ModelObligation, caller: str
    ) -> tuple[str | None, dict[str, Any]]:
        if caller != ob.counterparty:
            return "SettlementLedgerNotCounterparty", {"obligationId": ob.id, "caller": caller}
        if ob.status != PROPOSED:
            return "SettlementLedgerInvalidObligationStatus", {
                "obligationId": ob.id,
                "status": ob.status,
            }
        if ob.record[2] not in self.open:
            return "SettlementLedgerNoOpenCycle", {"currency": ob.record[2]}
        return None, {}

    def apply_confirm(self, ob: ModelObligation) -> None:
        cycle_id = self.open[ob.record[2]]
        ob.status, ob.cycle = CONFIRMED, cycle_id
        positions = self.cycles[cycle_id].positions
        positions[ob.record[0]] -= ob.record[3]
        positions[ob.record[1]] += ob.record[3]

    def check_obligation(self, ob: ModelObligation) -> None:
        status, by_debtor, amount, cycle = self.ledger.functions.obligationState(ob.id).call()
        assert (status, by_debtor, amount, cycle) == (
            ob.status,
            ob.proposer == ob.record[0],
            ob.record[3],
            ob.cycle,
        )

    def check_everything(self) -> None:
        for ob in self.model.values():
            self.check_obligation(ob)
        for cycle_id in self.cycles:
            self.check_cycle(cycle_id)

    def check_cycle(self, cycle_id: int) -> None:
        cycle = self.cycles[cycle_id]
        chain_positions = {
            op: self.ledger.functions.positionOf(cycle_id, op).call()
            for op in self.ledger.functions.participants(cycle_id).call()
        }
        assert sum(chain_positions.values()) == 0
        assert chain_positions == dict(cycle.positions)
        assert self.ledger.functions.cycle(cycle_id).call()[1] == cycle.status

    # -- obligations ------------------------------------------------------------------

    @rule(
        target=obligations,
        proposer=st.integers(0, 3),
        shift=st.integers(0, 3),
        owes=st.booleans(),
        amount=st.integers(1, 10**6),
        currency=st.integers(0, 1),
    )
    def propose(self, proposer: int, shift: int, owes: bool, amount: int, currency: int) -> Any:
        rec = self.new_record(proposer, (proposer + shift) % 4, owes, amount, currency)
        salt = self.next_salt()
        call = self.ledger.functions.propose(rec, salt)
        if shift == 0:
            self.expect(call, self.ops[proposer], "SettlementLedgerSameParty", party=rec[0])
            return multiple()
        self.transact(call, self.ops[proposer])
        ob = ModelObligation(rec, salt, self.ops[proposer].address)
        self.model[ob.id] = ob
        self.check_obligation(ob)
        return ob.id

    @rule(
        target=obligations,
        proposer=st.integers(0, 3),
        items=st.lists(
            st.tuples(st.integers(1, 3), st.booleans(), st.integers(1, 10**6), st.integers(0, 1)),
            min_size=1,
            max_size=6,
        ),
    )
    def propose_batch(self, proposer: int, items: list[tuple[int, bool, int, int]]) -> Any:
        recs = [
            self.new_record(proposer, (proposer + shift) % 4, owes, amount, currency)
            for shift, owes, amount, currency in items
        ]
        salts = [self.next_salt() for _ in recs]
        self.transact(self.ledger.functions.proposeBatch(recs, salts), self.ops[proposer])
        ids = []
        for rec, salt in zip(recs, salts, strict=True):
            ob = ModelObligation(rec, salt, self.ops[proposer].address)
            self.model[ob.id] = ob
            ids.append(ob.id)
        return multiple(*ids)

    @rule(oid=obligations, caller=CALLERS)
    def confirm_a_record_that_was_never_proposed(self, oid: bytes, caller: int | None) -> None:
        ob = self.model[oid]
        tampered = (*ob.record[:3], ob.record[3] + 1, *ob.record[4:])
        sender = self.pick(caller, ob.counterparty)
        self.expect(
            self.ledger.functions.confirm(tampered, ob.salt),
            sender,
            "SettlementLedgerUnknownObligation",
            obligationId=obligation_id(tampered, ob.salt),
        )

    @rule(oid=obligations, by=st.integers(0, 3))
    def propose_again(self, oid: bytes, by: int) -> None:
        ob = self.model[oid]
        if self.ops[by].address not in ob.record[:2]:
            return
        self.expect(
            self.ledger.functions.propose(ob.record, ob.salt),
            self.ops[by],
            "SettlementLedgerDuplicateObligation",
            obligationId=oid,
        )

    def pick(self, caller: int | None, allowed: str) -> LocalAccount:
        return self.by_address[allowed] if caller is None else self.ops[caller]

    @initialize()
    def open_both_cycles(self) -> None:
        for currency in range(len(CURRENCIES)):
            self.open_cycle(currency)

    @rule(oid=obligations, caller=CALLERS)
    def confirm(self, oid: bytes, caller: int | None) -> None:
        ob = self.model[oid]
        sender = self.pick(caller, ob.counterparty)
        error, args = self.confirm_outcome(ob, sender.address)
        self.expect(self.ledger.functions.confirm(ob.record, ob.salt), sender, error, **args)
        if error is None:
            self.apply_confirm(ob)
        self.check_obligation(ob)

    @rule(oid=obligations, caller=CALLERS, reason=st.integers(1, 9))
    def dispute(self, oid: bytes, caller: int | None, reason: int) -> None:
        ob = self.model[oid]
        account = self.pick(caller, ob.counterparty)
        sender = account.address
        error: str | None = None
        args: dict[str, Any] = {}
        if sender != ob.counterparty:
            error, args = (
                "SettlementLedgerNotCounterparty",
                {"obligationId": ob.id, "caller": sender},
            )
        elif ob.status != PROPOSED:
            error, args = (
                "SettlementLedgerInvalidObligationStatus",
                {"obligationId": ob.id, "status": ob.status},
            )
        self.expect(
            self.ledger.functions.dispute(ob.record, ob.salt, reason),
            account,
            error,
            **args,
        )
        if error is None:
            ob.status = DISPUTED
        self.check_obligation(ob)

    @rule(oid=obligations, caller=CALLERS)
    def withdraw(self, oid: bytes, caller: int | None) -> None:
        ob = self.model[oid]
        account = self.pick(caller, ob.proposer)
        sender = account.address
        error: str | None = None
        args: dict[str, Any] = {}
        if sender != ob.proposer:
            error, args = "SettlementLedgerNotProposer", {"obligationId": ob.id, "caller": sender}
        elif ob.status not in (PROPOSED, DISPUTED):
            error, args = (
                "SettlementLedgerInvalidObligationStatus",
                {"obligationId": ob.id, "status": ob.status},
            )
        self.expect(self.ledger.functions.withdraw(ob.record, ob.salt), account, error, **args)
        if error is None:
            ob.status = WITHDRAWN
        self.check_obligation(ob)

    @rule(target=obligations, oid=obligations, caller=CALLERS, amount=st.integers(1, 10**6))
    def amend(self, oid: bytes, caller: int | None, amount: int) -> Any:
        return self.amend_as(self.model[oid], caller, amount)

    def amend_as(self, ob: ModelObligation, caller: int | None, amount: int) -> Any:
        new = (*ob.record[:3], amount, *ob.record[4:])
        salt = self.next_salt()
        account = self.pick(caller, ob.proposer)
        call = self.ledger.functions.amend(ob.record, ob.salt, new, salt)
        if account.address != ob.proposer:
            self.expect(
                call,
                account,
                "SettlementLedgerNotProposer",
                obligationId=ob.id,
                caller=account.address,
            )
            return multiple()
        if ob.status != DISPUTED:
            self.expect(
                call,
                account,
                "SettlementLedgerInvalidObligationStatus",
                obligationId=ob.id,
                status=ob.status,
            )
            return multiple()
        self.expect(call, account, None)
        ob.status = AMENDED
        amendment = ModelObligation(new, salt, ob.proposer)
        self.model[amendment.id] = amendment
        self.check_obligation(ob)
        self.check_obligation(amendment)
        return amendment.id

    # Rules that pick an obligation in the state a step needs, so that allowed steps are
    # taken often enough for cycles to fill up.

    def with_status(self, status: int) -> list[ModelObligation]:
        return [ob for ob in self.model.values() if ob.status == status]

    def confirmable(self) -> list[ModelObligation]:
        return [ob for ob in self.with_status(PROPOSED) if ob.record[2] in self.open]

    @precondition(lambda self: bool(self.confirmable()))
    @rule(data=st.data())
    def confirm_pending_obligations(self, data: st.DataObject) -> None:
        """A counterparty confirms some of the obligations awaiting it, in one batch."""
        counterparty = data.draw(
            st.sampled_from(sorted({ob.counterparty for ob in self.confirmable()}))
        )
        mine = [ob for ob in self.confirmable() if ob.counterparty == counterparty]
        chosen = data.draw(
            st.lists(st.sampled_from(mine), min_size=1, max_size=6, unique_by=lambda o: o.id)
        )
        call = self.ledger.functions.confirmBatch(
            [o.record for o in chosen], [o.salt for o in chosen]
        )
        self.expect(call, self.by_address[counterparty], None)
        for ob in chosen:
            self.apply_confirm(ob)
            self.check_obligation(ob)

    @precondition(lambda self: bool(self.with_status(PROPOSED)))
    @rule(data=st.data(), reason=st.integers(1, 9))
    def dispute_a_pending_obligation(self, data: st.DataObject, reason: int) -> None:
        ob = data.draw(st.sampled_from(self.with_status(PROPOSED)))
        self.dispute(ob.id, None, reason)

    @precondition(lambda self: bool(self.with_status(DISPUTED)))
    @rule(target=obligations, data=st.data(), amount=st.integers(1, 10**6))
    def amend_a_disputed_obligation(self, data: st.DataObject, amount: int) -> Any:
        return self.amend_as(data.draw(st.sampled_from(self.with_status(DISPUTED))), None, amount)

    # -- cycles -----------------------------------------------------------------------

    def open_cycle(self, currency: int) -> None:
        code = CURRENCIES[currency]
        call = self.ledger.functions.openCycle(code, self.chain.now() + 30 * 86400)
        self.expect(call, self.agent, None)
        cycle_id = len(self.cycles) + 1
        self.cycles[cycle_id] = ModelCycle(code)
        self.open[code] = cycle_id
        assert self.ledger.functions.openCycleOf(code).call() == cycle_id

    def busy_currencies(self) -> list[bytes]:
        """Currencies whose open cycle has at least one confirmed obligation."""
        return [code for code, cid in sorted(self.open.items()) if self.cycles[cid].positions]

    @precondition(lambda self: bool(self.busy_currencies()))
    @rule(
        data=st.data(),
        tamper=st.one_of(st.none(), st.integers(0, 10)),
        settle=st.booleans(),
    )
    def close_plan_and_settle(self, data: st.DataObject, tamper: int | None, settle: bool) -> None:
        """The clearing agent closes a cycle, a plan with one amount off by one is refused,
        the greedy plan is accepted, and (if `settle`) the operators confirm their positions,
        pay and confirm receipt until the cycle is settled; then the next cycle opens."""
        code = data.draw(st.sampled_from(self.busy_currencies()))
        cycle_id = self.close(code)
        self.plan(cycle_id, tamper)
        if settle:
            self.settle(cycle_id)
        self.open_cycle(CURRENCIES.index(code))

    def close(self, code: bytes) -> int:
        cycle_id = self.open.pop(code)
        self.expect(self.ledger.functions.closeCycle(cycle_id), self.agent, None)
        self.cycles[cycle_id].status = C_CLOSED
        self.check_cycle(cycle_id)
        assert self.ledger.functions.openCycleOf(code).call() == 0
        return cycle_id

    def plan(self, cycle_id: int, tamper_index: int | None) -> None:
        """Submit the greedy plan, after the same plan with transfer `tamper_index` (modulo
        the plan's length) one unit too large, which must be refused."""
        cycle = self.cycles[cycle_id]
        plan = [(t.payer, t.payee, t.amount) for t in settlement_plan(dict(cycle.positions))]
        nonzero = [op for op in cycle.positions if cycle.positions[op]]
        assert len(plan) <= max(len(nonzero) - 1, 0)
        if tamper_index is not None and plan:
            index = tamper_index % len(plan)
            payer, payee, amount = plan[index]
            off = [*plan[:index], (payer, payee, amount + 1), *plan[index + 1 :]]
            participants = self.ledger.functions.participants(cycle_id).call()
            first = next(op for op in participants if op in (payer, payee))
            expected = cycle.positions[first]
            self.expect(
                self.ledger.functions.submitPlan(cycle_id, off),
                self.agent,
                "SettlementLedgerPlanUnbalanced",
                cycleId=cycle_id,
                operator=first,
                expected=expected,
                got=expected - 1 if first == payer else expected + 1,
            )
        self.expect(self.ledger.functions.submitPlan(cycle_id, plan), self.agent, None)
        cycle.plan = plan
        cycle.status = C_PLANNED if plan else C_SETTLED
        assert self.ledger.functions.cycle(cycle_id).call()[1] == cycle.status

    def settle(self, cycle_id: int) -> None:
        cycle = self.cycles[cycle_id]
        for op, position in cycle.positions.items():
            if position:
                self.expect(
                    self.ledger.functions.confirmPosition(cycle_id), self.by_address[op], None
                )
        for index, (payer, _, _) in enumerate(cycle.plan):
            ref = keccak(text=f"{cycle_id}-{index}")
            self.expect(
                self.ledger.functions.markPaid(cycle_id, index, ref), self.by_address[payer], None
            )
        for index, (_, payee, _) in enumerate(cycle.plan):
            self.expect(
                self.ledger.functions.confirmReceived(cycle_id, index), self.by_address[payee], None
            )
        cycle.status = C_SETTLED
        assert self.ledger.functions.cycle(cycle_id).call()[1] == C_SETTLED

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def confirm_after_cut_off(self, data: st.DataObject) -> None:
        """Travel past an open cycle's cut-off: its confirmations revert until the agent
        closes it and opens the next one."""
        code = data.draw(st.sampled_from(sorted(self.open)))
        cycle_id = self.open[code]
        cutoff = self.ledger.functions.cycle(cycle_id).call()[2]
        waiting = [ob for ob in self.confirmable() if ob.record[2] == code]
        if not waiting:
            return
        ob = waiting[0]
        self.chain.travel_to(cutoff + 1)
        self.expect(
            self.ledger.functions.confirm(ob.record, ob.salt),
            self.by_address[ob.counterparty],
            "SettlementLedgerCycleCutoffPassed",
            cycleId=cycle_id,
            cutoff=cutoff,
            timestamp=cutoff + 1,
        )
        # The agent closes every cycle whose cut-off has passed or is about to (each
        # transaction moves the clock on), so no later step travels back in time.
        soon = self.chain.now() + 3600
        for other in sorted(self.open):
            if self.ledger.functions.cycle(self.open[other]).call()[2] <= soon:
                self.close(other)
                self.open_cycle(CURRENCIES.index(other))

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def net_positions_sum_to_zero_and_match_the_model(self) -> None:
        for cycle_id, cycle in self.cycles.items():
            if cycle.status in (C_OPEN, C_CLOSED):
                self.check_cycle(cycle_id)

    @invariant()
    def open_cycles_match_the_model(self) -> None:
        for code in CURRENCIES:
            assert self.ledger.functions.openCycleOf(code).call() == self.open.get(code, 0)


def test_random_ledger_histories_keep_positions_balanced_and_match_the_model(
    session_chain, deployment
):
    run_state_machine_as_test(
        lambda: LedgerMachine(session_chain, deployment),
        settings=settings(
            max_examples=6,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# -- record validation ----------------------------------------------------------------------


def expected_refusal(
    rec: tuple[Any, ...], caller: str, operators: set[str]
) -> tuple[str, dict[str, Any]] | None:
    """The error a proposal of `rec` by `caller` must revert with, in the contract's order
    of checks, or None if it must be accepted. Written from the interface's rules."""
    debtor, creditor, currency, amount, service, period = rec[:6]
    if caller not in (debtor, creditor):
        return "SettlementLedgerNotAParty", {
            "caller": caller,
            "debtor": debtor,
            "creditor": creditor,
        }
    if debtor == creditor:
        return "SettlementLedgerSameParty", {"party": debtor}
    if not all(0x41 <= letter <= 0x5A for letter in currency):
        return "SettlementLedgerInvalidCurrency", {"currency": currency}
    if not 0 < amount < 2**96:
        return "SettlementLedgerInvalidAmount", {"amount": amount}
    if not 1 <= service <= 8:
        return "SettlementLedgerInvalidServiceType", {"serviceType": service, "maxServiceType": 8}
    if not (1970 <= period // 100 <= 9999 and 1 <= period % 100 <= 12):
        return "SettlementLedgerInvalidPeriod", {"period": period}
    counterparty = creditor if caller == debtor else debtor
    if counterparty not in operators:
        return "SettlementLedgerCounterpartyNotOperator", {"counterparty": counterparty}
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_is_accepted_exactly_when_every_field_is_valid(session_chain, deployment, data):
    """The proposal's fast path checks every field in one expression; whatever the record,
    it must agree with the field-by-field rules, and a refusal names the first bad field."""
    ops = [op.address for op in deployment.ops]
    parties = st.sampled_from([*ops[:3], session_chain.accounts[11].address])
    caller = data.draw(st.sampled_from(deployment.ops[:2]))
    rec = (
        data.draw(st.one_of(st.just(caller.address), parties)),
        data.draw(st.one_of(st.just(caller.address), parties)),
        data.draw(
            st.one_of(st.sampled_from([b"EUR", b"USD", b"AZA"]), st.binary(min_size=3, max_size=3))
        ),
        data.draw(
            st.one_of(st.integers(0, 2**97), st.sampled_from([0, 1, 2**96 - 1, 2**96, 2**256 - 1]))
        ),
        data.draw(st.one_of(st.integers(1, 8), st.integers(0, 255))),
        data.draw(
            st.one_of(
                st.builds(lambda y, m: 100 * y + m, st.integers(1960, 10_010), st.integers(0, 13)),
                st.integers(0, 2**32 - 1),
            )
        ),
        bytes(32),
        keccak(text="evidence"),
    )
    salt = data.draw(st.binary(min_size=32, max_size=32))
    refusal = expected_refusal(rec, caller.address, set(ops))
    call = deployment.ledger.functions.propose(rec, salt)
    if refusal is None:
        assert call.call({"from": caller.address}) == obligation_id(rec, salt)
    else:
        error, args = refusal
        session_chain.expect_revert(lambda: call.call({"from": caller.address}), error, **args)
