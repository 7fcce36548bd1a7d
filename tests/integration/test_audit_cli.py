"""The full audit flow from the command line: decisions are logged and anchored by the
app, ``flask --app app audit evidence`` exports a bundle, and ``ledgerline audit verify``
(a separate process, with only the bundle and the chain) checks it, on the embedded
chain and over JSON-RPC against Hardhat.  ``ledgerline audit evidence`` exports the same
bundle straight from the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from app.audit import services
from app.extensions import chain as chain_ext
from tests.audit_support import APPROVERS, deployed_app, log_decision

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).parent / "ledgerline"
MAKER, COMPLIANCE, MANAGER = APPROVERS


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def ledgerline(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    command = (
        [str(CONSOLE_SCRIPT)] if CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "ledger.cli"]
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    done = subprocess.run(
        [*command, *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def two_stage_approval(app: Flask) -> int:
    """Submit, approve in two stages, anchor; the final approval's entry id."""
    with app.app_context():
        log_decision(MAKER, campaign=12, decision="submit", stage="")
        log_decision(COMPLIANCE, campaign=12, stage="compliance")
        final = log_decision(MANAGER, campaign=12, stage="account management")
        log_decision(MAKER, campaign=13, decision="submit", stage="")
        checkpoint = services.anchor_now()
        assert checkpoint is not None and checkpoint.tree_size == 4
        assert services.entry_status(final).anchored
        return final


def export(app: Flask, entry_id: int, out: Path) -> dict[str, object]:
    result = app.test_cli_runner().invoke(
        args=["audit", "evidence", str(entry_id), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    bundle: dict[str, object] = json.loads(out.read_text())
    return bundle


def check_lines(run: Run) -> list[str]:
    return run.stdout.splitlines()


def test_evidence_exported_by_the_app_verifies_on_the_embedded_chain(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = deployed_app(make_app, tmp_path)
    final = two_stage_approval(app)
    bundle = export(app, final, tmp_path / "evidence.json")
    assert bundle["leaf_index"] == final and bundle["tree_size"] == 4
    chain_ext.close(app)  # the embedded chain file has one owner: hand it to the verifier

    ok = ledgerline(
        "audit", "verify", "evidence.json", "--rpc", app.config["CHAIN_URL"], cwd=tmp_path
    )
    assert ok.code == 0, ok.stderr
    lines = check_lines(ok)
    assert lines[-1] == "VERIFIED"
    assert [line[0] for line in lines[:-1]] == ["✓"] * 10
    assert lines[9] == f"✓ approver's EIP-712 signature: signed by the approver {MANAGER.address}"

    tampered = json.loads((tmp_path / "evidence.json").read_text())
    tampered["record"]["stage"] = "marketing"
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    bad = ledgerline(
        "audit", "verify", "tampered.json", "--rpc", app.config["CHAIN_URL"], cwd=tmp_path
    )
    assert bad.code == 1
    lines = check_lines(bad)
    assert lines[2].startswith("✗ leaf hash: the record hashes to 0x")
    assert lines[-1] == "FAILED (leaf_hash, signature)"

    as_json = ledgerline(
        "audit", "verify", "evidence.json", "--rpc", app.config["CHAIN_URL"], "--format", "json",
        cwd=tmp_path,
    )  # fmt: skip
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["failed"]) == (True, [])


def test_ledgerline_exports_the_same_bundle_from_the_database(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = deployed_app(make_app, tmp_path)
    final = two_stage_approval(app)
    from_app = export(app, final, tmp_path / "app.json")
    run = ledgerline(
        "audit", "evidence", str(final), "--out", "cli.json",
        "--database-url", app.config["DATABASE_URL"], cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert json.loads((tmp_path / "cli.json").read_text()) == from_app
    missing = ledgerline(
        "audit", "evidence", "99", "--out", "x.json", "--database-url", app.config["DATABASE_URL"],
        cwd=tmp_path,
    )  # fmt: skip
    assert (missing.code, missing.stderr) == (
        1,
        "error: the approval log has no entry 99 (4 entries)\n",
    )


def test_verify_explains_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    run = ledgerline("audit", "verify", "notes.txt", "--rpc", "http://127.0.0.1:9", cwd=tmp_path)
    assert run.code == 1
    assert run.stderr.startswith("error: notes.txt is not JSON (")
    assert run.stderr.endswith("); give an evidence bundle\n")


def test_the_app_refuses_evidence_for_an_entry_not_yet_anchored(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = deployed_app(make_app, tmp_path)
    with app.app_context():
        entry = log_decision(MANAGER, campaign=3)
    result = app.test_cli_runner().invoke(
        args=["audit", "evidence", str(entry), "--out", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: approval log entry 0 is not anchored yet; anchor the log "
        "(`flask --app app audit anchor`) and try again\n"
    )
    anchored = app.test_cli_runner().invoke(args=["audit", "anchor"])
    assert anchored.exit_code == 0, anchored.output
    assert anchored.output.startswith("anchored 1 entries: root 0x")


@pytest.mark.hardhat
def test_the_full_flow_over_json_rpc_against_hardhat(
    make_app: Callable[..., Flask], tmp_path: Path, hardhat_url: str
) -> None:
    app = deployed_app(make_app, tmp_path, CHAIN_URL=hardhat_url)
    final = two_stage_approval(app)
    bundle = export(app, final, tmp_path / "evidence.json")
    assert bundle["anchor"]["chain_id"] == 31337  # type: ignore[index]
    run = ledgerline("audit", "verify", "evidence.json", "--rpc", hardhat_url, cwd=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert check_lines(run)[-1] == "VERIFIED"
    with app.app_context():
        report = services.verify_log()
        assert report.ok, report.lines()

    tampered = json.loads((tmp_path / "evidence.json").read_text())
    tampered["anchor"]["contract"] = tampered["signer"]  # an account, not the log
    (tmp_path / "elsewhere.json").write_text(json.dumps(tampered))
    bad = ledgerline("audit", "verify", "elsewhere.json", "--rpc", hardhat_url, cwd=tmp_path)
    assert bad.code == 1
    assert f"✗ ApprovalLog contract: {tampered['signer']} holds no ApprovalLog on chain 31337" in (
        check_lines(bad)
    )
