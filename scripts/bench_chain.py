"""Benchmark: what persisting the embedded chain on SQLite costs.

Runs the same signed contract calls and transfers through ``ledger.transactions`` on
three chains in this process: the embedded chain persisted to a SQLite file, the same
backend on an in-memory store, and plain eth-tester.  Interleaved, best of two, because
the machine is shared.  Prints each figure with its baseline from this run, then one JSON
line per figure for ``make bench``.

    python scripts/bench_chain.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth.db.backends.memory import MemoryDB  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402
from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402
from web3 import EthereumTesterProvider, Web3  # noqa: E402

from ledger.chain import Chain, connect, embedded_url  # noqa: E402
from ledger.deploy import default_genesis, deploy, registry_plan  # noqa: E402
from ledger.embedded import EmbeddedProvider, PersistentPyEVMBackend  # noqa: E402
from ledger.registry import RegistryClient  # noqa: E402
from ledger.transactions import send_transaction, transact  # noqa: E402

GENESIS_KEY = "0x" + "00" * 31 + "01"  # eth-tester's funded genesis account


class _MemoryStore(MemoryDB):
    """The embedded backend's store interface without SQLite, to isolate its cost."""

    path = Path("memory")

    def commit(self) -> int:
        return 0


def throughput(
    chain: Chain, funder: LocalAccount, rounds: int, scratch: Path
) -> tuple[float, float]:
    """(contract calls per second, transfers per second) through ledger.transactions."""
    governor = Account.create()
    send_transaction(chain, funder, {"to": governor.address, "value": 10**20})
    plan = registry_plan(default_genesis(governor.address))
    deployment = deploy(chain, governor, scratch / f"{governor.address}.json", plan)
    registry = RegistryClient(chain, deployment.address("OperatorRegistry"))
    started = time.perf_counter()
    for i in range(rounds):
        transact(
            chain, governor, registry.contract.functions.proposeQuorumChange(6000 + 1000 * (i % 2))
        )
    calls = rounds / (time.perf_counter() - started)
    recipient = Account.create().address
    started = time.perf_counter()
    for _ in range(rounds):
        send_transaction(chain, governor, {"to": recipient, "value": 1})
    transfers = rounds / (time.perf_counter() - started)
    return calls, transfers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 10 if args.quick else args.rounds
    funder = Account.from_key(GENESIS_KEY)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        persisted = connect(embedded_url(scratch / "chain.db"))
        backend = PersistentPyEVMBackend(_MemoryStore())  # type: ignore[arg-type]
        memory_w3 = Web3(EmbeddedProvider(EthereumTester(backend), threading.RLock()))
        plain_w3 = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
        chains = {
            "sqlite": persisted,
            "memory": Chain(
                "memory://embedded", "embedded", memory_w3, int(memory_w3.eth.chain_id)
            ),
            "plain": Chain("memory://eth-tester", "http", plain_w3, int(plain_w3.eth.chain_id)),
        }
        best: dict[str, tuple[float, float]] = {}
        for _ in range(2):
            for name, chain in chains.items():
                calls, transfers = throughput(chain, funder, rounds, scratch)
                old = best.get(name, (0.0, 0.0))
                best[name] = (max(old[0], calls), max(old[1], transfers))
        persisted.close()

    figures = []
    for index, kind in enumerate(("contract calls", "transfers")):
        sqlite, memory, plain = best["sqlite"][index], best["memory"][index], best["plain"][index]
        print(
            f"{kind}: SQLite-persisted {sqlite:.0f}/s, in-memory {memory:.0f}/s, "
            f"plain eth-tester {plain:.0f}/s"
        )
        figures.append(
            {
                "name": f"embedded chain {kind}/s, persisted vs in-memory store",
                "value": round(sqlite, 1),
                "unit": "tx/s",
                "baseline": round(memory, 1),
                "ratio": round(sqlite / memory, 3),
                "target": "ratio >= 0.9 (persistence costs < 10%)",
            }
        )
        figures.append(
            {
                "name": f"embedded chain {kind}/s, persisted vs plain eth-tester",
                "value": round(sqlite, 1),
                "unit": "tx/s",
                "baseline": round(plain, 1),
                "ratio": round(sqlite / plain, 3),
                "target": "informational",
            }
        )
    for figure in figures:
        print(json.dumps(figure))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
