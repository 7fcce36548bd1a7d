"""Benchmark: inter-operator settlement on the embedded chain, netting and reconciliation.

Figures, each printed with its baseline measured in the same run, then one JSON line per
figure (``{"name", "value", "unit", "baseline", "ratio", "target"}``, ratio = value /
baseline) for ``make bench``:

1. obligations recorded per second through ``SettlementClient``: ``propose_batch`` in
   batches of 100 against ``propose`` one transaction per obligation (target >= 10x);
2. gas per obligation of ``proposeBatch`` and ``confirmBatch`` in batches of 100 (target
   <= 30,000 each) against single-obligation ``propose`` / ``confirm`` transactions;
3. gas to close a cycle and verify its plan (``closeCycle`` + ``submitPlan``) with 10, 50
   and 100 operators, each with two obligation counts (2 and 10 per operator); the
   baseline is the smaller count, so a ratio near 1 shows the cost follows operators,
   not obligations;
4. netting 1,000,000 obligations among 500 operators (``net_positions`` +
   ``settlement_plan``, target < 2 s); the baseline is a textbook implementation in the
   same run: obligations as dicts with Decimal amounts, positions via ``dict.get``, and a
   plan that re-sorts every balance before each transfer;
5. reconciling 100,000 billing lines (CSV parsing + matching against 100,000 ledger
   obligations, target < 5 s); the baseline is a naive nested-loop matcher (each line
   scans the whole ledger) timed on a random sample of lines and extrapolated to
   100,000 lines.

Times 4 and 5 are the best wall time of three runs (the machine is shared), printed with
the CPU time of that run.

The chain is a fresh embedded chain in a temporary folder.  ``--quick`` shrinks every
size (for CI smoke runs); the default run takes about two minutes here.

    python scripts/bench_settlement.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402

from ledger.chain import Chain, connect, embedded_url  # noqa: E402
from ledger.deploy import GenesisMember, default_plan, deploy  # noqa: E402
from ledger.netting import net_positions, settlement_plan  # noqa: E402
from ledger.reconcile import PartnerDirectory, read_billing_csv, reconcile  # noqa: E402
from ledger.registry import MemberProfile, RegistryClient, Role  # noqa: E402
from ledger.settlement import (  # noqa: E402
    LedgerObligation,
    Obligation,
    ObligationStatus,
    ServiceType,
    SettlementClient,
    format_amount,
    reference_hash,
)

DAY = 86400
GENESIS_OPERATORS = 30  # the registry's genesis holds at most 32 members


def figure(
    name: str, value: float, unit: str, baseline: float, target: str, digits: int = 3
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, digits),
        "unit": unit,
        "baseline": round(baseline, digits),
        "ratio": round(value / baseline, 3) if baseline else None,
        "target": target,
    }


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def best_of(rounds: int, action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best wall time, its CPU time, result) of ``rounds`` runs: the machine is shared,
    so the best run is the one least disturbed by other processes."""
    best: tuple[float, float, Any] | None = None
    for _ in range(rounds):
        cpu = time.process_time()
        wall, result = timed(action)
        cpu = time.process_time() - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu, result)
    assert best is not None
    return best


# -- the consortium ----------------------------------------------------------------------------


class Consortium:
    """A governor, a clearing agent and ``size`` operators on a fresh embedded chain."""

    def __init__(self, chain: Chain, folder: Path, size: int) -> None:
        self.chain = chain
        self.governor = Account.from_key(b"\x0b" * 32)
        self.agent = Account.from_key(b"\x0c" * 32)
        self.operators: list[LocalAccount] = [
            Account.from_key((1000 + i).to_bytes(32, "big")) for i in range(size)
        ]
        for account in (self.governor, self.agent, *self.operators):
            chain.fund(account.address, 10**21)
        genesis = [
            GenesisMember(self.governor.address, "Bench governor", "BE", "BELGV", ("EUR",)),
            GenesisMember(
                self.agent.address, "Bench clearing", "BE", "BELCA", ("EUR",), ("CLEARING_AGENT",)
            ),
        ]
        genesis += [
            GenesisMember(op.address, f"Operator {i}", "FR", self.code(i), ("EUR",), ("OPERATOR",))
            for i, op in enumerate(self.operators[:GENESIS_OPERATORS])
        ]
        deployment = deploy(chain, self.governor, folder / "deployment.json", default_plan(genesis))
        self.registry = RegistryClient(chain, deployment.address("OperatorRegistry"))
        for i, op in enumerate(self.operators[GENESIS_OPERATORS:], start=GENESIS_OPERATORS):
            profile = MemberProfile(f"Operator {i}", "FR", self.code(i), ("EUR",))
            self.registry.propose_admission(self.governor, op.address, profile, [Role.OPERATOR])
        self.client = SettlementClient(chain, deployment.address("SettlementLedger"))

    @staticmethod
    def code(index: int) -> str:
        return f"9{index:04d}"  # an MCC-MNC-shaped member code


_serial = 0


def obligation(debtor: str, creditor: str, amount: int, period: int = 202501) -> Obligation:
    global _serial
    _serial += 1
    return Obligation(
        debtor, creditor, "EUR", amount, ServiceType.ROAMING, period, reference_hash(f"B-{_serial}")
    )


# -- 1 and 2: throughput and gas ------------------------------------------------------------


def throughput_and_gas(c: Consortium, singles: int, batched: int) -> list[dict[str, Any]]:
    client = c.client
    alice, bob = c.operators[0], c.operators[1]
    one_by_one = [obligation(alice.address, bob.address, 100 + i) for i in range(singles)]
    in_batches = [obligation(alice.address, bob.address, 100 + i) for i in range(batched)]

    single_time, single_results = timed(lambda: [client.propose(alice, o) for o in one_by_one])
    batch_time, batch_result = timed(
        lambda: client.propose_batch(alice, in_batches, batch_size=100)
    )
    single_rate, batch_rate = singles / single_time, batched / batch_time
    propose_single_gas = sum(r.gas_used for r in single_results) / singles
    propose_batch_gas = batch_result.gas_used / batched

    cycle_id = client.open_cycle(c.agent, "EUR", client.chain_time() + 30 * DAY).cycle.id
    confirm_single = [client.confirm(bob, o).gas_used for o in one_by_one]
    confirm_batch = client.confirm_batch(bob, in_batches, batch_size=100)
    client.close_cycle(c.agent, cycle_id)
    confirm_single_gas = sum(confirm_single) / singles
    confirm_batch_gas = confirm_batch.gas_used / batched

    print(
        f"recording: {batch_rate:,.0f} obligations/s in batches of 100 vs {single_rate:,.1f}/s "
        f"one per transaction ({batch_rate / single_rate:.1f}x; {batched} vs {singles} obligations)"
    )
    print(
        f"gas per obligation, batches of 100: propose {propose_batch_gas:,.0f} (single tx "
        f"{propose_single_gas:,.0f}), confirm {confirm_batch_gas:,.0f} (single tx "
        f"{confirm_single_gas:,.0f})"
    )
    return [
        figure("obligations recorded per second, batches of 100 vs one per transaction",
               batch_rate, "obligations/s", single_rate, "ratio >= 10", 1),
        figure("gas per obligation, proposeBatch of 100 vs single propose",
               propose_batch_gas, "gas", propose_single_gas, "value <= 30000", 0),
        figure("gas per obligation, confirmBatch of 100 vs single confirm",
               confirm_batch_gas, "gas", confirm_single_gas, "value <= 30000", 0),
    ]  # fmt: skip


# -- 3: closing a cycle and verifying its plan --------------------------------------------------


def cycle_gas(c: Consortium, operators: int, per_operator: int, period: int) -> int:
    """closeCycle + submitPlan gas of a cycle with ``operators`` participants (a hub and
    spokes) and ``operators * per_operator`` obligations of random sizes and directions."""
    client = c.client
    rng = random.Random(operators * 1000 + per_operator)
    hub, spokes = c.operators[0], c.operators[1:operators]
    cycle_id = client.open_cycle(c.agent, "EUR", client.chain_time() + 30 * DAY).cycle.id
    records: list[Obligation] = []
    count = operators * per_operator
    for i in range(count):
        spoke = spokes[i % len(spokes)]
        debtor, creditor = (spoke, hub) if rng.random() < 0.5 else (hub, spoke)
        records.append(
            obligation(debtor.address, creditor.address, rng.randrange(1, 10**6), period)
        )
    by_spoke: dict[str, list[Obligation]] = {}
    for record in records:
        spoke_address = record.debtor if record.debtor != hub.address else record.creditor
        by_spoke.setdefault(spoke_address, []).append(record)
    spoke_keys = {s.address: s for s in spokes}
    for address, mine in by_spoke.items():
        client.propose_batch(spoke_keys[address], mine, batch_size=500)
    client.confirm_batch(hub, records, batch_size=200)
    closed = client.close_cycle(c.agent, cycle_id)
    planned = client.submit_plan(c.agent, cycle_id)
    assert closed.cycle.obligation_count == count
    assert planned.cycle.participant_count == operators
    return closed.receipt.gas_used + planned.receipt.gas_used


def cycles(c: Consortium, sizes: list[int], counts: tuple[int, int]) -> list[dict[str, Any]]:
    figures = []
    period = 202001
    for operators in sizes:
        few = cycle_gas(c, operators, counts[0], period)
        many = cycle_gas(c, operators, counts[1], period + 1)
        period += 2
        print(
            f"close + plan a cycle of {operators} operators: {few:,} gas with "
            f"{operators * counts[0]} obligations, {many:,} gas with {operators * counts[1]} "
            f"({many / few:.3f}x for {counts[1] // counts[0]}x the obligations; "
            f"{few / operators:,.0f} gas per operator)"
        )
        figures.append(
            figure(f"gas to close a cycle and verify its plan, {operators} operators, "
                   f"{counts[1]} vs {counts[0]} obligations per operator",
                   many, "gas", few, "ratio <= 1.1 (grows with operators, not obligations)", 0)
        )  # fmt: skip
    return figures


# -- 4: netting -------------------------------------------------------------------------------


def naive_netting(obligations: list[dict[str, Any]]) -> tuple[dict[str, Decimal], list[Any]]:
    """The textbook version: Decimal amounts, dict.get, re-sorting before each transfer."""
    positions: dict[str, Decimal] = {}
    for o in obligations:
        amount = Decimal(o["amount"])
        positions[o["debtor"]] = positions.get(o["debtor"], Decimal(0)) - amount
        positions[o["creditor"]] = positions.get(o["creditor"], Decimal(0)) + amount
    balances = dict(positions)
    transfers = []
    while True:
        payers = sorted((v, k) for k, v in balances.items() if v < 0)
        payees = sorted(((v, k) for k, v in balances.items() if v > 0), reverse=True)
        if not payers or not payees:
            break
        (debt, payer), (credit, payee) = payers[0], payees[0]
        amount = min(-debt, credit)
        transfers.append((payer, payee, amount))
        balances[payer] += amount
        balances[payee] -= amount
    return positions, transfers


def netting(count: int, operators: int, rounds: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    names = [f"OP{i:03d}" for i in range(operators)]
    debtors = rng.choices(names, k=count)
    creditors = rng.choices(names, k=count)
    triples = []
    for debtor, creditor in zip(debtors, creditors, strict=True):
        if debtor == creditor:
            creditor = names[(names.index(creditor) + 1) % operators]
        triples.append((debtor, creditor, rng.randrange(1, 10**7)))
    as_dicts = [{"debtor": d, "creditor": c, "amount": a} for d, c, a in triples]

    fast, fast_cpu, (positions, plan) = best_of(
        rounds, lambda: (lambda p: (p, settlement_plan(p)))(net_positions(triples))
    )
    slow, _, (naive_positions, naive_plan) = best_of(rounds, lambda: naive_netting(as_dicts))
    assert {k: int(v) for k, v in naive_positions.items()} == positions
    gross = sum(a for _, _, a in triples)
    net = sum(t.amount for t in plan)
    print(
        f"netting {count:,} obligations among {operators} operators: {fast:.2f} s "
        f"({fast_cpu:.2f} s CPU; positions + plan of {len(plan)} transfers) vs {slow:.2f} s "
        f"textbook ({len(naive_plan)} transfers); liquidity saving "
        f"{100 * (1 - net / gross):.2f}%"
    )
    return [
        figure(f"netting {count:,} obligations among {operators} operators (positions + plan)",
               fast, "s", slow, "value < 2 s"),
    ]  # fmt: skip


# -- 5: reconciliation ------------------------------------------------------------------------


def naive_match(lines: list[Any], ledger: list[LedgerObligation], me: str) -> int:
    """Each billing line scans the whole ledger for its key (no index)."""
    matched = 0
    for line in lines:
        for entry in ledger:
            ob = entry.obligation
            partner = ob.creditor if ob.debtor == me else ob.debtor
            direction = "payable" if ob.debtor == me else "receivable"
            if (
                partner == line.partner_address
                and direction == line.direction
                and ob.service == line.service
                and ob.period == line.period
                and ob.currency == line.currency
                and ob.external_ref == line.external_ref
            ):
                matched += 1
                break
    return matched


def reconciliation(count: int, sample: int, rounds: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    me = Account.from_key(b"\x0d" * 32).address
    partners = {
        f"P{i:04d}": Account.from_key((5000 + i).to_bytes(32, "big")).address for i in range(50)
    }
    codes = list(partners)
    text = io.StringIO()
    text.write("partner,direction,service,period,currency,amount,reference,volume,unit\n")
    ledger: list[LedgerObligation] = []
    for i in range(count):
        code = codes[i % len(codes)]
        partner = partners[code]
        direction = "payable" if i % 2 else "receivable"
        amount = rng.randrange(100, 10**7)
        reference = f"INV-{i:07d}"
        text.write(
            f"{code},{direction},roaming,202501,EUR,{format_amount(amount, 'EUR')},{reference},"
            f"{amount // 7},minutes\n"
        )
        if i % 100 == 3:
            continue  # missing on the ledger
        debtor, creditor = (me, partner) if direction == "payable" else (partner, me)
        ledger_amount = amount + (rng.randrange(1, 500) if i % 10 == 0 else 0)
        ob = Obligation(
            debtor, creditor, "EUR", ledger_amount, ServiceType.ROAMING, 202501,
            reference_hash(reference),
        )  # fmt: skip
        ledger.append(LedgerObligation(ob, partner, ObligationStatus.PROPOSED, 1, "0x"))
    csv_text = text.getvalue()
    directory = PartnerDirectory.of(partners)

    def run() -> Any:
        billing = read_billing_csv(io.StringIO(csv_text), me, directory)
        return billing, reconcile(billing.lines, ledger, me, rejected=billing.rejected)

    fast, fast_cpu, (billing, report) = best_of(rounds, run)
    picked = random.Random(13).sample(list(billing.lines), sample)  # spread over the file
    sample_time, matched = timed(lambda: naive_match(picked, ledger, me))
    naive = sample_time * count / sample
    counts = report.counts()
    assert counts["matched"] + counts["amount_mismatch"] >= matched
    print(
        f"reconciling {count:,} billing lines against {len(ledger):,} ledger obligations: "
        f"{fast:.2f} s ({fast_cpu:.2f} s CPU; parse + match: {counts['matched']:,} matched, "
        f"{counts['amount_mismatch']:,} mismatched, {counts['missing_on_ledger']:,} missing) vs "
        f"{naive:,.0f} s for a nested-loop matcher (extrapolated from {sample} lines)"
    )
    return [
        figure(f"reconciliation of {count:,} billing lines (parse + match)",
               fast, "s", naive, "value < 5 s"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, for a smoke run.")
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = [10, 50, 100]
    figures: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory(prefix="bench-settlement-") as scratch:
        folder = Path(scratch)
        with connect(embedded_url(folder / "chain.db")) as chain:
            started = time.perf_counter()
            consortium = Consortium(chain, folder, max(sizes))
            print(f"set up {max(sizes)} operators on the embedded chain in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            figures += throughput_and_gas(
                consortium, singles=20 if quick else 50, batched=200 if quick else 1000
            )
            figures += cycles(consortium, sizes, (1, 3) if quick else (2, 10))
    rounds = 2 if quick else 3
    figures += netting(200_000 if quick else 1_000_000, 500, rounds)
    figures += reconciliation(20_000 if quick else 100_000, 100 if quick else 200, rounds)
    for item in figures:
        print(json.dumps(item))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
