#!/usr/bin/env python3
"""Benchmark the approval log's anchoring: gas per entry, and evidence verification time.

Usage::

    .venv/bin/python scripts/bench_anchoring.py [--chain hardhat|embedded] [--rounds 5]

It starts a Hardhat node from ``node_modules/.bin/hardhat`` (or uses the embedded chain
when Hardhat is missing or ``--chain embedded`` is given), deploys OperatorRegistry and
ApprovalLog, and measures in the same run:

* ``gas_per_entry_<k>``: the anchoring transaction's gas divided by the k entries it
  adds to the log, for k = 1, 10, 100 and 1,000 entries per checkpoint, each the mean of
  ``--rounds`` checkpoints on a log that already holds entries (so every checkpoint
  carries a consistency proof, as in production).  ``..._without_base`` subtracts the
  21,000 gas every transaction pays before it runs any code.  The baseline is one
  transaction per approval (k = 1) measured in the same run; ``ratio`` is how many
  times cheaper per entry the batch is.
* ``verify_bundle_ms``: the wall time of ``ledger.evidence.verify_evidence`` on one
  evidence bundle over the chain's JSON-RPC (median of ``--verify-runs``).

The last lines are one JSON object per figure:
``{"name", "value", "unit", "baseline", "ratio", "target"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from eth_utils import keccak  # noqa: E402

from ledger.approval_log import ApprovalLogClient  # noqa: E402
from ledger.approval_record import make_record  # noqa: E402
from ledger.chain import Chain, connect  # noqa: E402
from ledger.deploy import default_genesis, default_plan, deploy  # noqa: E402
from ledger.eip712 import sign_decision  # noqa: E402
from ledger.evidence import AnchorInfo, build_approval_evidence, verify_evidence  # noqa: E402
from ledger.merkle import MerkleLog, record_leaf  # noqa: E402

BATCHES = (1, 10, 100, 1000)
BASE_TX_GAS = 21_000
TARGET_AT_100 = 600
HARDHAT = ROOT / "node_modules" / ".bin" / "hardhat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hardhat(log_dir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    if not HARDHAT.exists():
        return None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = (log_dir / "hardhat.log").open("wb")
    process = subprocess.Popen(
        [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
        start_new_session=True,
    )
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            request = urllib.request.Request(
                url, body.encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=2) as response:
                if json.loads(response.read()).get("result"):
                    return process, url
        except OSError:
            time.sleep(0.3)
    stop(process)
    return None


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def record(i: int, approver: Any) -> dict[str, Any]:
    return make_record(
        {
            "campaign_id": str(i // 4),
            "campaign_version": 1,
            "content_hash": keccak(text=f"content {i}"),
            "segment_version": 1,
            "segment_definition_hash": keccak(text="segment"),
            "snapshot_count": 250,
            "snapshot_root": keccak(text="snapshot"),
            "stage": "compliance",
            "decision": "approve",
            "approver_id": "7",
            "approver_address": approver.address,
            "policy_version": 1,
            "expires_at": None,
            "prev_entry_hash": None,
        }
    )


def measure(chain: Chain, rounds: int, verify_runs: int, workdir: Path) -> list[dict[str, Any]]:
    governor = Account.create()
    approver = Account.create()
    chain.fund(governor.address, 10**20)
    genesis = default_genesis(governor.address, roles=("GOVERNOR", "ANCHORER"))
    deployment = deploy(chain, governor, workdir / "deployment.json", default_plan(genesis))
    client = ApprovalLogClient(chain, deployment.address("ApprovalLog"))

    total = 3 + rounds * sum(BATCHES)
    records = [record(i, approver) for i in range(total)]
    log = MerkleLog(record_leaf(r) for r in records)

    # A first checkpoint (it needs no proof, so it is not measured).
    size = 3
    client.anchor(governor, size, log.root(size), [])
    gas: dict[int, list[int]] = {k: [] for k in BATCHES}
    proof_lengths: dict[int, list[int]] = {k: [] for k in BATCHES}
    for _ in range(rounds):
        for k in BATCHES:
            new = size + k
            proof = log.consistency_proof(size, new)
            result = client.anchor(governor, new, log.root(new), proof)
            gas[k].append(result.gas_used)
            proof_lengths[k].append(len(proof))
            size = new

    # One evidence bundle, verified over the chain's RPC.
    index = size // 2
    signature = sign_decision(approver, records[index], chain.chain_id, client.address)
    event = client.anchored_event(size)
    assert event is not None
    bundle = build_approval_evidence(
        record=records[index],
        leaf_index=index,
        log=log,
        anchor=AnchorInfo(
            chain.chain_id, client.address, size, log.root(size), event.tx_hash, event.block_number
        ),
        signature=signature,
        signer=approver.address,
    )
    timings = []
    for _ in range(verify_runs):
        started = time.perf_counter()
        report = verify_evidence(bundle, chain)
        timings.append((time.perf_counter() - started) * 1000)
        assert report.ok, report.lines()

    baseline = statistics.mean(gas[1])
    figures: list[dict[str, Any]] = []
    print(f"{'entries/checkpoint':>18} {'proof':>5} {'gas/tx':>9} {'gas/entry':>10} "
          f"{'w/o 21k base':>12} {'vs 1 tx/approval':>17}")  # fmt: skip
    for k in BATCHES:
        mean = statistics.mean(gas[k])
        per_entry = mean / k
        without = (mean - BASE_TX_GAS) / k
        ratio = baseline / per_entry
        print(
            f"{k:>18} {statistics.mean(proof_lengths[k]):>5.1f} {mean:>9.0f} {per_entry:>10.1f} "
            f"{without:>12.1f} {ratio:>16.1f}x"
        )
        target = TARGET_AT_100 if k == 100 else None
        figures.append(
            {
                "name": f"gas_per_entry_{k}",
                "value": round(per_entry, 1),
                "unit": "gas",
                "baseline": round(baseline, 1),
                "ratio": round(ratio, 2),
                "target": target,
            }
        )
        figures.append(
            {
                "name": f"gas_per_entry_{k}_without_base",
                "value": round(without, 1),
                "unit": "gas",
                "baseline": round(baseline - BASE_TX_GAS, 1),
                "ratio": round((baseline - BASE_TX_GAS) / without, 2),
                "target": target,
            }
        )
    median = statistics.median(timings)
    print(f"verify one evidence bundle over {chain.url}: median {median:.1f} ms "
          f"(min {min(timings):.1f}, max {max(timings):.1f}, {verify_runs} runs)")  # fmt: skip
    figures.append(
        {
            "name": "verify_bundle_ms",
            "value": round(median, 1),
            "unit": "ms",
            "baseline": None,
            "ratio": None,
            "target": None,
        }
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=["hardhat", "embedded"], default="hardhat")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--verify-runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        node = start_hardhat(workdir) if args.chain == "hardhat" else None
        if node is None:
            if args.chain == "hardhat":
                print("Hardhat is not available: using the embedded chain", file=sys.stderr)
            url, kind = f"embedded://{workdir / 'chain.db'}", "embedded (py-evm, in-process)"
        else:
            url, kind = node[1], f"Hardhat node at {node[1]} (JSON-RPC)"
        print(f"chain: {kind}")
        try:
            with connect(url) as chain:
                figures = measure(chain, args.rounds, args.verify_runs, workdir)
        finally:
            if node is not None:
                stop(node[0])
    for figure in figures:
        print(json.dumps(figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
