"""Chain fixtures of the settlement tests: deploy the example consortium and seed the
example ledger (data in ``tests/settlement_data.py``)."""

from __future__ import annotations

from pathlib import Path

from ledger.chain import Chain
from ledger.deploy import Deployment, default_plan, deploy
from ledger.settlement import Obligation, SettlementClient
from tests.settlement_data import ledger_records, members, outsider, record_obligation

FUNDING_WEI = 10**20


def deploy_consortium(chain: Chain, deployment_file: Path) -> Deployment:
    """Fund every member (and the outsider) and deploy the contracts with the consortium as
    the registry's genesis set."""
    everyone = members()
    for member in everyone.values():
        chain.fund(member.account, FUNDING_WEI)
    chain.fund(outsider().address, FUNDING_WEI)
    governor = everyone["BELGV"].signer
    genesis = [m.genesis() for m in everyone.values()]
    return deploy(chain, governor, deployment_file, default_plan(genesis))


def seed_ledger(client: SettlementClient) -> dict[str, Obligation]:
    """Record the example ledger on chain.  Opens the EUR cycle (needed to confirm L10)
    and leaves it open; returns the records by name."""
    everyone = members()
    agent = everyone["BELCA"].signer
    if not client.open_cycle_of("EUR"):
        client.open_cycle(agent, "EUR", client.chain_time() + 30 * 86400)
    seeded = {}
    for record in ledger_records():
        obligation = record_obligation(record)
        proposer = everyone[record["proposer"]]
        client.propose(proposer.signer, obligation)
        counterparty = (
            record["creditor"] if record["proposer"] == record["debtor"] else record["debtor"]
        )
        if record["status"] == "withdrawn":
            client.withdraw(proposer.signer, obligation)
        elif record["status"] == "confirmed":
            client.confirm(everyone[counterparty].signer, obligation)
        seeded[record["name"]] = obligation
    return seeded
