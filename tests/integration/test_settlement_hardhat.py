"""The full settlement cycle over JSON-RPC against a real Hardhat node, every transaction
signed locally with each operator's own key:
propose → confirm or dispute → close → plan → confirm → paid → received → settled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.chain import Chain, connect
from ledger.errors import ContractRevertError
from ledger.reconcile import PartnerDirectory, Tolerance, apply_reconciliation, reconcile_file
from ledger.registry import RegistryClient
from ledger.settlement import (
    CycleStatus,
    Obligation,
    ObligationStatus,
    SettlementClient,
    TransferStatus,
)
from tests.integration.settlement_fixtures import deploy_consortium, seed_ledger
from tests.settlement_data import BILLING_CSV, members

pytestmark = pytest.mark.hardhat

DAY = 86400


@pytest.fixture
def client(hardhat_url: str, tmp_path: Path) -> Iterator[SettlementClient]:
    with connect(hardhat_url) as chain:
        deployment = deploy_consortium(chain, tmp_path / "deployment.json")
        yield SettlementClient(chain, deployment.address("SettlementLedger"))


def test_the_full_settlement_cycle_over_json_rpc(client: SettlementClient) -> None:
    chain: Chain = client.chain
    assert chain.kind == "http"
    m = members()
    agent, fraf1, deud1, gbrvf = (m[c].signer for c in ("BELCA", "FRAF1", "DEUD1", "GBRVF"))
    by_account = {x.account: x.signer for x in m.values()}

    def record(debtor: str, creditor: str, amount: int, ref: str) -> Obligation:
        return Obligation.create(
            m[debtor].account, m[creditor].account, "EUR", amount, "interconnect", 202501,
            reference=ref,
        )  # fmt: skip

    cycle_id = client.open_cycle(agent, "EUR", client.chain_time() + DAY).cycle.id
    a = record("FRAF1", "DEUD1", 50_000, "HH-1")
    b = record("DEUD1", "GBRVF", 80_000, "HH-2")
    c = record("GBRVF", "FRAF1", 20_000, "HH-3")
    disputed = record("GBRVF", "DEUD1", 9_999, "HH-4")
    assert client.obligation_id(a) == a.id

    client.propose_batch(deud1, [a, b])
    client.propose(fraf1, c)
    client.propose(deud1, disputed)
    client.confirm(fraf1, a)
    client.confirm(gbrvf, b)
    client.confirm(gbrvf, c)
    client.dispute(gbrvf, disputed, "wrong_rate")
    with pytest.raises(ContractRevertError) as caught:
        client.confirm(fraf1, b)
    assert str(caught.value) == (
        f"only the counterparty {m['GBRVF'].account} can confirm obligation {b.id}, "
        f"not {m['FRAF1'].account}"
    )

    statuses = {o.id: o.status for o in client.obligations(party=m["DEUD1"].account)}
    assert statuses == {
        a.id: ObligationStatus.CONFIRMED,
        b.id: ObligationStatus.CONFIRMED,
        disputed.id: ObligationStatus.DISPUTED,
    }

    client.close_cycle(agent, cycle_id)
    assert client.positions(cycle_id) == {
        m["FRAF1"].account: -30_000,
        m["DEUD1"].account: -30_000,
        m["GBRVF"].account: 60_000,
    }
    planned = client.submit_plan(agent, cycle_id)
    assert sorted((t.payer, t.payee, t.amount) for t in planned.transfers) == sorted(
        [
            (m["FRAF1"].account, m["GBRVF"].account, 30_000),
            (m["DEUD1"].account, m["GBRVF"].account, 30_000),
        ]
    )
    for signer in (fraf1, deud1, gbrvf):
        client.confirm_position(signer, cycle_id)
    for transfer in client.transfers(cycle_id):
        client.mark_paid(by_account[transfer.payer], cycle_id, transfer.index, "SEPA-HH")
        settled = client.confirm_received(by_account[transfer.payee], cycle_id, transfer.index)

    assert settled.cycle.status is CycleStatus.SETTLED
    assert (settled.cycle.gross_value, settled.cycle.net_value) == (150_000, 60_000)
    assert [t.status for t in client.transfers(cycle_id)] == [TransferStatus.RECEIVED] * 2
    assert [e.name for e in client.events("CycleSettled")] == ["CycleSettled"]


def test_a_reconciliation_is_applied_over_json_rpc(client: SettlementClient) -> None:
    m = members()
    seeded = seed_ledger(client)
    client.open_cycle(m["BELCA"].signer, "GBP", client.chain_time() + DAY)
    registry = RegistryClient(client.chain, client.registry_address())
    directory = PartnerDirectory.from_members(registry.members())
    fraf1 = m["FRAF1"].signer

    report = reconcile_file(client, fraf1.address, BILLING_CSV, directory, tolerance=Tolerance(5))
    result = apply_reconciliation(client, fraf1, report)

    assert result.proposed is not None and len(result.proposed.ids) == 2
    assert client.obligation_state(seeded["L1"].id).status is ObligationStatus.CONFIRMED
    assert client.obligation_state(seeded["L3"].id).status is ObligationStatus.CONFIRMED
    assert client.obligation_state(seeded["L4"].id).status is ObligationStatus.DISPUTED
