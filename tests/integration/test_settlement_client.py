"""The settlement client on the embedded chain: the full cycle, event queries, batches,
one-sentence errors, and applying a reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from ledger.chain import Chain, connect, embedded_url
from ledger.errors import ContractRevertError, LedgerValueError
from ledger.netting import settlement_plan
from ledger.reconcile import (
    Label,
    PartnerDirectory,
    Tolerance,
    apply_reconciliation,
    reconcile_file,
)
from ledger.registry import RegistryClient
from ledger.settlement import (
    CycleStatus,
    DisputeReason,
    Obligation,
    ObligationStatus,
    PlanTransfer,
    SettlementClient,
    TransferStatus,
    reference_hash,
)
from tests.integration.settlement_fixtures import deploy_consortium, seed_ledger
from tests.settlement_data import BILLING_CSV, Member, members, outsider

DAY = 86400


@dataclass
class Consortium:
    chain: Chain
    client: SettlementClient
    registry: RegistryClient
    members: dict[str, Member]

    def signer(self, code: str) -> LocalAccount:
        return self.members[code].signer

    def account(self, code: str) -> str:
        return self.members[code].account

    def obligation(
        self, debtor: str, creditor: str, amount: int, ref: str, **kw: object
    ) -> Obligation:
        fields: dict[str, object] = {"currency": "EUR", "service": "roaming", "period": 202501}
        fields.update(kw)
        return Obligation.create(
            self.account(debtor),
            self.account(creditor),
            amount=amount,
            reference=ref,
            **fields,  # type: ignore[arg-type]
        )


@pytest.fixture
def consortium(tmp_path: Path) -> Iterator[Consortium]:
    with connect(embedded_url(tmp_path / "chain.db")) as chain:
        deployment = deploy_consortium(chain, tmp_path / "deployment.json")
        yield Consortium(
            chain,
            SettlementClient(chain, deployment.address("SettlementLedger")),
            RegistryClient(chain, deployment.address("OperatorRegistry")),
            members(),
        )


def sentence(action: object) -> str:
    with pytest.raises(ContractRevertError) as caught:
        action()  # type: ignore[operator]
    return str(caught.value)


def test_the_locally_computed_id_is_the_contracts_obligation_id(consortium: Consortium) -> None:
    record = consortium.obligation(
        "DEUD1", "FRAF1", 987654, "INV-77", service="sms_termination", period=202412,
        evidence="0x" + "5e" * 32, salt="0x" + "0a" * 32,
    )  # fmt: skip

    assert consortium.client.obligation_id(record) == record.id


def test_a_full_cycle_propose_confirm_or_dispute_close_plan_confirm_pay_receive_settle(
    consortium: Consortium,
) -> None:
    c, client = consortium, consortium.client
    agent = c.signer("BELCA")
    opened = client.open_cycle(agent, "EUR", client.chain_time() + DAY)
    cycle_id = opened.cycle.id
    assert (cycle_id, opened.cycle.status) == (1, CycleStatus.OPEN)

    fraf1_owes_deud1 = c.obligation("FRAF1", "DEUD1", 100_000, "D-1")
    deud1_owes_gbrvf = c.obligation("DEUD1", "GBRVF", 70_000, "V-1", service="transit")
    gbrvf_owes_fraf1 = c.obligation("GBRVF", "FRAF1", 40_000, "O-1", service="sms_termination")
    espte_owes_fraf1 = c.obligation("ESPTE", "FRAF1", 25_000, "O-2")
    withdrawn = c.obligation("GBRVF", "ESPTE", 5_000, "V-2")

    client.propose(c.signer("DEUD1"), fraf1_owes_deud1)
    client.propose(c.signer("DEUD1"), deud1_owes_gbrvf)
    batch = client.propose_batch(c.signer("FRAF1"), [gbrvf_owes_fraf1, espte_owes_fraf1])
    assert batch.ids == (gbrvf_owes_fraf1.id, espte_owes_fraf1.id)
    client.propose(c.signer("GBRVF"), withdrawn)
    client.withdraw(c.signer("GBRVF"), withdrawn)

    client.confirm(c.signer("FRAF1"), fraf1_owes_deud1)
    client.confirm_batch(c.signer("GBRVF"), [deud1_owes_gbrvf, gbrvf_owes_fraf1])
    client.dispute(c.signer("ESPTE"), espte_owes_fraf1, "amount_mismatch")
    amended = c.obligation("ESPTE", "FRAF1", 20_000, "O-2", salt="0x" + "01" * 32)
    assert client.amend(c.signer("FRAF1"), espte_owes_fraf1, amended).ids == (
        espte_owes_fraf1.id,
        amended.id,
    )
    client.confirm(c.signer("ESPTE"), amended)

    listed = {o.id: o for o in client.obligations()}
    assert [(o.status, o.cycle_id) for o in listed.values()] == [
        (ObligationStatus.CONFIRMED, 1),
        (ObligationStatus.CONFIRMED, 1),
        (ObligationStatus.CONFIRMED, 1),
        (ObligationStatus.AMENDED, None),
        (ObligationStatus.WITHDRAWN, None),
        (ObligationStatus.CONFIRMED, 1),
    ]
    assert listed[espte_owes_fraf1.id].dispute_reason == DisputeReason.AMOUNT_MISMATCH
    assert listed[espte_owes_fraf1.id].amended_by == amended.id
    assert listed[amended.id].amends == espte_owes_fraf1.id
    assert listed[gbrvf_owes_fraf1.id].proposer == c.account("FRAF1")

    closed = client.close_cycle(agent, cycle_id)
    assert (closed.cycle.status, closed.cycle.obligation_count, closed.cycle.gross_value) == (
        CycleStatus.CLOSED,
        4,
        230_000,
    )
    positions = client.positions(cycle_id)
    assert positions == {
        c.account("DEUD1"): 30_000,
        c.account("FRAF1"): -40_000,
        c.account("GBRVF"): 30_000,
        c.account("ESPTE"): -20_000,
    }

    planned = client.submit_plan(agent, cycle_id)
    expected = settlement_plan(dict(positions))
    assert [(t.payer, t.payee, t.amount) for t in planned.transfers] == [
        (t.payer, t.payee, t.amount) for t in expected
    ]
    assert [(t.payer, t.payee, t.amount) for t in planned.transfers] == [
        (c.account("FRAF1"), c.account("GBRVF"), 30_000),
        (c.account("ESPTE"), c.account("DEUD1"), 20_000),
        (c.account("FRAF1"), c.account("DEUD1"), 10_000),
    ]
    assert (planned.cycle.status, planned.cycle.net_value, planned.cycle.pending_positions) == (
        CycleStatus.PLANNED,
        60_000,
        4,
    )
    assert planned.cycle.saving_pct == 73.91

    for code in ("FRAF1", "DEUD1", "GBRVF", "ESPTE"):
        confirmed = client.confirm_position(c.signer(code), cycle_id)
    assert confirmed.cycle.status is CycleStatus.CONFIRMED

    by_account = {m.account: m.signer for m in c.members.values()}
    for transfer in client.transfers(cycle_id):
        payer, payee = by_account[transfer.payer], by_account[transfer.payee]
        client.mark_paid(payer, cycle_id, transfer.index, f"SEPA-{transfer.index}")
        twice = sentence(lambda t=transfer, p=payer: client.mark_paid(p, cycle_id, t.index, "x"))
        assert twice == (
            f"transfer {transfer.index} of cycle 1 is already marked paid; "
            "a transfer is paid only once"
        )
        last = client.confirm_received(payee, cycle_id, transfer.index)

    assert last.cycle.status is CycleStatus.SETTLED
    assert [t.status for t in client.transfers(cycle_id)] == [TransferStatus.RECEIVED] * 3
    names = [e.name for e in client.events(cycle_id=cycle_id)]
    assert names[:2] == ["CycleOpened", "CycleClosed"]
    assert names.count("TransferPlanned") == 3
    assert names.count("PositionConfirmed") == 4
    assert names[-2:] == ["TransferReceived", "CycleSettled"]
    settled = client.events("CycleSettled")[0]
    assert settled.args == {"cycleId": 1, "transferCount": 3, "netValue": 60_000}


def test_obligations_are_queried_by_party_currency_period_cycle_and_status(
    consortium: Consortium,
) -> None:
    c, client = consortium, consortium.client
    client.open_cycle(c.signer("BELCA"), "GBP", client.chain_time() + DAY)
    jan = c.obligation("DEUD1", "FRAF1", 100, "A", period=202501)
    feb = c.obligation("DEUD1", "FRAF1", 200, "B", period=202502)
    gbp = c.obligation("GBRVF", "FRAF1", 300, "C", currency="GBP")
    other = c.obligation("GBRVF", "ESPTE", 400, "D")
    client.propose_batch(c.signer("FRAF1"), [jan, feb, gbp])
    client.propose(c.signer("ESPTE"), other)
    client.confirm(c.signer("GBRVF"), gbp)

    def ids(**filters: object) -> list[str]:
        return [o.id for o in client.obligations(**filters)]  # type: ignore[arg-type]

    assert ids(party=c.account("FRAF1")) == [jan.id, feb.id, gbp.id]
    assert ids(party=c.account("ESPTE")) == [other.id]
    assert ids(party=c.account("FRAF1"), counterparty=c.account("DEUD1")) == [jan.id, feb.id]
    assert ids(currency="GBP") == [gbp.id]
    assert ids(period=202502) == [feb.id]
    assert ids(cycle_id=1) == [gbp.id]
    assert ids(status=ObligationStatus.PROPOSED) == [jan.id, feb.id, other.id]
    assert [o.id for o in client.awaiting_confirmation(c.account("DEUD1"))] == [jan.id, feb.id]
    assert [o.id for o in client.awaiting_confirmation(c.account("GBRVF"))] == [other.id]
    found = client.find_obligation(gbp.id)
    assert (found.obligation, found.status, found.cycle_id) == (gbp, ObligationStatus.CONFIRMED, 1)
    with pytest.raises(LedgerValueError, match=r"no obligation 0x0{64} is on the ledger"):
        client.find_obligation("0x" + "00" * 32)


def test_batches_are_split_to_the_batch_size_and_report_progress(consortium: Consortium) -> None:
    c, client = consortium, consortium.client
    records = [c.obligation("FRAF1", "DEUD1", 100 + i, f"B-{i}") for i in range(7)]
    seen: list[tuple[int, int]] = []

    result = client.propose_batch(
        c.signer("DEUD1"), records, batch_size=3, progress=lambda d, t: seen.append((d, t))
    )

    assert seen == [(3, 7), (6, 7), (7, 7)]
    assert len(result.receipts) == 3
    assert [o.id for o in client.obligations()] == [r.id for r in records]
    with pytest.raises(LedgerValueError, match=r"batch size 501 is out of range: use 1\.\.500"):
        client.confirm_batch(c.signer("FRAF1"), records, batch_size=501)
    with pytest.raises(LedgerValueError, match="obligations 0 and 1 of the batch are the same"):
        client.propose_batch(c.signer("DEUD1"), [records[0], records[0]])


def test_every_bad_input_gives_one_sentence(consortium: Consortium) -> None:
    c, client = consortium, consortium.client
    agent, fraf1, deud1, gbrvf = (c.signer(x) for x in ("BELCA", "FRAF1", "DEUD1", "GBRVF"))
    stranger = outsider()
    record = c.obligation("FRAF1", "DEUD1", 1000, "X-1")

    assert sentence(lambda: client.propose(stranger, record)) == (
        f"{stranger.address} is not a member of the operator registry; only active members act "
        "on the settlement ledger: ask the governors to admit it"
    )
    c.registry.propose_suspension(c.signer("BELGV"), c.account("ITAWI"))
    suspended = c.obligation("ITAWI", "DEUD1", 1000, "X-2")
    assert sentence(lambda: client.propose(c.signer("ITAWI"), suspended)) == (
        f"{c.account('ITAWI')} is suspended in the operator registry; a suspended member cannot "
        "act on the settlement ledger until the governors reinstate it"
    )
    to_agent = Obligation.create(c.account("FRAF1"), c.account("BELCA"), "EUR", 5, "other", 202501)
    assert sentence(lambda: client.propose(fraf1, to_agent)) == (
        f"counterparty {c.account('BELCA')} is not an active operator in the registry (not a "
        "member, suspended, or without the OPERATOR role), so it cannot owe or be owed"
    )
    assert sentence(lambda: client.open_cycle(fraf1, "EUR", client.chain_time() + DAY)) == (
        f"{c.account('FRAF1')} is an active member but lacks the CLEARING_AGENT role this step "
        "needs; ask the governors to grant it"
    )

    client.propose(deud1, record)
    assert sentence(lambda: client.propose(fraf1, record)) == (
        f"obligation {record.id} is already on the ledger: the same record with the same salt "
        "was proposed before; give another salt only if it really is a second obligation"
    )
    assert sentence(lambda: client.confirm(gbrvf, record)) == (
        f"only the counterparty {c.account('FRAF1')} can confirm obligation {record.id}, "
        f"not {c.account('GBRVF')}"
    )
    assert sentence(lambda: client.confirm(deud1, record)) == (
        f"only the counterparty {c.account('FRAF1')} can confirm obligation {record.id}, "
        f"not {c.account('DEUD1')}"
    )
    assert sentence(lambda: client.withdraw(fraf1, record)) == (
        f"only the proposer {c.account('DEUD1')} can withdraw obligation {record.id}, "
        f"not {c.account('FRAF1')}"
    )
    assert sentence(lambda: client.confirm(fraf1, record)) == (
        "no EUR settlement cycle is open, so nothing in EUR can be confirmed now; ask the "
        "clearing agent to open one, then confirm again"
    )

    opened = client.open_cycle(agent, "EUR", client.chain_time() + 5)
    for _ in range(6):  # each block is at least a second later than its parent
        c.chain.fund(c.account("FRAF1"), 1)
    passed = sentence(lambda: client.confirm(fraf1, record))
    assert passed.startswith(
        f"cycle {opened.cycle.id} stopped taking confirmations at its cut-off "
        f"{opened.cycle.cutoff:%Y-%m-%d %H:%M:%S}Z (block time is now "
    )
    assert passed.endswith("); confirm again once the clearing agent has opened the next cycle")

    client.close_cycle(agent, opened.cycle.id)
    second = client.open_cycle(agent, "EUR", client.chain_time() + DAY).cycle.id
    client.confirm(fraf1, record)
    assert sentence(lambda: client.dispute(fraf1, record, "not_recognised")) == (
        f"obligation {record.id} is already confirmed, so it cannot be disputed: a confirmed "
        "obligation is final and can only be offset by a new, opposite obligation"
    )
    client.close_cycle(agent, second)
    unbalanced = [PlanTransfer(second, 0, c.account("FRAF1"), c.account("DEUD1"), 999)]
    assert sentence(lambda: client.submit_plan(agent, second, unbalanced)) == (
        f"the plan does not balance: it leaves {c.account('FRAF1')} at -999 instead of its net "
        f"position -1000 in cycle {second}; let Ledgerline compute the plan "
        f"(`ledgerline cycles plan {second}`)"
    )
    client.submit_plan(agent, second)
    assert sentence(lambda: client.mark_paid(fraf1, second, 0, "SEPA-1")) == (
        f"cycle {second} is planned, so marking a transfer paid is not possible now; every "
        "operator with a non-zero position must first confirm it "
        f"(`ledgerline cycles confirm {second}`)"
    )
    client.confirm_position(fraf1, second)
    client.confirm_position(deud1, second)
    assert sentence(lambda: client.mark_paid(deud1, second, 0, "SEPA-1")) == (
        f"only the payer {c.account('FRAF1')} of transfer 0 of cycle {second} can mark it paid, "
        f"not {c.account('DEUD1')}"
    )

    with pytest.raises(LedgerValueError, match="amount must be positive, got 0"):
        c.obligation("FRAF1", "DEUD1", 0, "X-3")
    with pytest.raises(LedgerValueError, match="currency 'EURO' is not an ISO 4217 currency"):
        c.obligation("FRAF1", "DEUD1", 10, "X-4", currency="EURO")


def test_applying_a_reconciliation_proposes_confirms_and_disputes(consortium: Consortium) -> None:
    c, client = consortium, consortium.client
    seeded = seed_ledger(client)
    client.open_cycle(c.signer("BELCA"), "GBP", client.chain_time() + DAY)
    fraf1 = c.signer("FRAF1")
    directory = PartnerDirectory.from_members(c.registry.members())
    report = reconcile_file(client, fraf1.address, BILLING_CSV, directory, tolerance=Tolerance(5))
    assert report.counts() == {
        "matched": 3,
        "amount_mismatch": 3,
        "missing_on_ledger": 2,
        "missing_in_billing": 1,
        "duplicate": 1,
        "rejected": 13,
    }

    head = c.chain.block_number()
    dry = apply_reconciliation(client, fraf1, report, dry_run=True)
    assert c.chain.block_number() == head
    assert [o.id for o in dry.actions.confirm] == [seeded["L1"].id, seeded["L3"].id]

    seen: list[tuple[int, int]] = []
    done = apply_reconciliation(
        client, fraf1, report, batch_size=1, progress=lambda d, t: seen.append((d, t))
    )

    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    state = {name: client.obligation_state(ob.id).status for name, ob in seeded.items()}
    assert state == {
        "L1": ObligationStatus.CONFIRMED,
        "L2": ObligationStatus.PROPOSED,
        "L3": ObligationStatus.CONFIRMED,
        "L4": ObligationStatus.DISPUTED,
        "L5": ObligationStatus.PROPOSED,
        "L6": ObligationStatus.WITHDRAWN,
        "L7": ObligationStatus.PROPOSED,
        "L8": ObligationStatus.PROPOSED,
        "L9": ObligationStatus.PROPOSED,
        "L10": ObligationStatus.CONFIRMED,
    }
    assert client.find_obligation(seeded["L4"].id).dispute_reason == DisputeReason.AMOUNT_MISMATCH
    assert done.proposed is not None
    proposals = client.find_obligations(done.proposed.ids)
    assert [
        (p.proposer, p.obligation.debtor, p.obligation.creditor, p.obligation.amount,
         p.obligation.external_ref)
        for p in proposals
    ] == [
        (fraf1.address, fraf1.address, c.account("ESPTE"), 200_000, reference_hash("INV-E-3")),
        (fraf1.address, c.account("ESPTE"), fraf1.address, 4_510, reference_hash("INV-O-016")),
    ]  # fmt: skip

    again = reconcile_file(client, fraf1.address, BILLING_CSV, directory, tolerance=Tolerance(5))
    assert again.counts()["missing_on_ledger"] == 0
    assert [i.line for i in again.by_label(Label.MATCHED)] == [2, 3, 4, 7, 8]
    assert apply_reconciliation(client, fraf1, again, dry_run=True).actions.count == 0
