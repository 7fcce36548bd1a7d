"""``ledgerline obligations|cycles|netting|reconcile`` run as real processes: outputs,
each operator signing with its own keystore, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.chain import connect, embedded_url
from ledger.keys import Keystore
from ledger.registry import RegistryClient
from ledger.settlement import SettlementClient
from tests.integration.settlement_fixtures import deploy_consortium, seed_ledger
from tests.settlement_data import BILLING_CSV, OBLIGATIONS_CSV, members, outsider, outsider_key

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "settlement cli password"
M = members()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


Ledgerline = Callable[..., Run]


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def base_env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LEDGERLINE_INSTANCE": str(instance),
            "LEDGERLINE_KEY_PASSWORD": PASSWORD,
            "LEDGERLINE_KEYSTORE_KDF_ITERATIONS": "1024",  # fast scrypt for tests only
        }
    )
    return env


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """An instance folder holding the consortium on an embedded chain and one keystore per
    member (and one for an outsider), set up in-process, then released for the CLI."""
    folder = tmp_path / "instance"
    with connect(embedded_url(folder / "chain.db")) as chain:
        deployment = deploy_consortium(chain, folder / "deployment.json")
        registry = RegistryClient(chain, deployment.address("OperatorRegistry"))
        registry.propose_suspension(M["BELGV"].signer, M["ITAWI"].account)
    for code, member in M.items():
        Keystore(tmp_path / "keys" / code, iterations=1024).import_key(member.key, PASSWORD)
    Keystore(tmp_path / "keys" / "OUTSIDER", iterations=1024).import_key(outsider_key(), PASSWORD)
    return folder


@pytest.fixture
def ledgerline(tmp_path: Path, instance: Path) -> Callable[..., Run]:
    """``ledgerline(CODE, *args)`` runs a command signed with CODE's keystore."""
    env = base_env(instance)

    def run(code: str, *args: str) -> Run:
        return run_cli(tmp_path, env, *args, "--keystore", str(tmp_path / "keys" / code))

    return run


def assert_error(run: Run, message: str) -> None:
    assert "Traceback" not in run.stderr
    assert run.stderr == f"error: {message}\n"
    assert run.code == 1


def test_netting_plan_prints_the_plan_as_json_and_rejected_rows_on_stderr(tmp_path: Path) -> None:
    run = run_cli(
        tmp_path, base_env(tmp_path), "netting", "plan", str(OBLIGATIONS_CSV), "--format", "json"
    )

    assert run.json() == {
        "EUR": {
            "positions": {"DEUD1": 300, "ESPTE": -250, "FRAF1": -350, "GBRVF": 300},
            "transfers": [
                {"payer": "FRAF1", "payee": "DEUD1", "amount": 300},
                {"payer": "ESPTE", "payee": "GBRVF", "amount": 250},
                {"payer": "FRAF1", "payee": "GBRVF", "amount": 50},
            ],
            "gross": 2350,
            "net": 600,
            "saving_pct": 74.47,
        },
        "JPY": {
            "positions": {"DEUD1": -2000, "FRAF1": 2000},
            "transfers": [{"payer": "DEUD1", "payee": "FRAF1", "amount": 2000}],
            "gross": 8000,
            "net": 2000,
            "saving_pct": 75.0,
        },
    }
    assert run.stderr == (
        f"{OBLIGATIONS_CSV}:6: amount must be a positive integer in minor units (1250 for 12.50), "
        "got 'abc'\n"
        f"{OBLIGATIONS_CSV}:7: debtor and creditor are both 'GBRVF'\n"
    )


def test_netting_plan_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    run = run_cli(tmp_path, base_env(tmp_path), "netting", "plan", "nowhere.csv")

    assert_error(run, "cannot read nowhere.csv: No such file or directory; check the path")


def test_operators_settle_a_cycle_from_the_command_line(
    ledgerline: Ledgerline, tmp_path: Path
) -> None:
    proposed = ledgerline(
        "FRAF1", "obligations", "propose", "--creditor", "DEUD1", "--currency", "EUR",
        "--amount", "1000.00", "--service", "roaming", "--period", "202501",
        "--reference", "INV-F-1", "--format", "json",
    ).json()  # fmt: skip
    assert (proposed["debtor"], proposed["creditor"], proposed["amount"]) == (
        M["FRAF1"].account,
        M["DEUD1"].account,
        100_000,
    )

    billing = tmp_path / "deud1.csv"
    billing.write_text(
        "partner,direction,service,period,currency,amount,reference\n"
        "FRAF1,receivable,transit,202501,EUR,250.00,INV-D-1\n"
        "FRAF1,receivable,sms,202501,EUR,40.00,INV-D-2\n"
        "FRAF1,receivable,sms,202501,EUR,4O.00,INV-D-3\n"
        "GBRVF,payable,roaming,202501,EUR,75.50,INV-D-4\n"
    )
    batch = ledgerline(
        "DEUD1", "obligations", "propose", "--file", str(billing), "--batch-size", "2",
        "--progress", "--format", "json",
    )  # fmt: skip
    data = batch.json()
    assert (data["count"], len(data["transactions"])) == (3, 2)
    assert data["rejected"] == [
        {
            "line": 4,
            "reason": "amount '4O.00' is not a decimal number in major units such as 1234.56",
        }
    ]
    assert f"{billing}:4: amount '4O.00' is not a decimal number" in batch.stderr
    assert "proposing" in batch.stderr  # the progress bar's label
    from_deud1 = data["ids"]

    opened = ledgerline("BELCA", "cycles", "open", "EUR", "--cutoff", "+1d", "--format", "json")
    assert (opened.json()["id"], opened.json()["status"]) == (1, "open")

    awaiting = ledgerline("DEUD1", "obligations", "list", "--awaiting", "--format", "json").json()
    assert [o["id"] for o in awaiting] == [proposed["id"]]
    confirmed = ledgerline("DEUD1", "obligations", "confirm", "--all-awaiting", "--format", "json")
    assert confirmed.json()["ids"] == [proposed["id"]]

    gbrvf_confirms = ledgerline("GBRVF", "obligations", "confirm", from_deud1[2])
    assert gbrvf_confirms.code == 0, gbrvf_confirms.stderr
    disputed = ledgerline(
        "FRAF1",
        "obligations",
        "dispute",
        from_deud1[1],
        "--reason",
        "wrong_rate",
        "--format",
        "json",
    )
    assert disputed.json()["ids"] == [from_deud1[1]]
    ledgerline("FRAF1", "obligations", "confirm", from_deud1[0]).json  # noqa: B018
    withdrawn = ledgerline("DEUD1", "obligations", "withdraw", from_deud1[1], "--format", "json")
    assert withdrawn.json()["ids"] == [from_deud1[1]]

    listed = ledgerline("FRAF1", "obligations", "list", "--mine", "--format", "json").json()
    assert [(o["id"], o["status"]) for o in listed] == [
        (proposed["id"], "confirmed"),
        (from_deud1[0], "confirmed"),
        (from_deud1[1], "withdrawn"),
    ]
    text = ledgerline("FRAF1", "obligations", "list", "--mine", "--status", "withdrawn")
    assert text.stdout == (
        f"{from_deud1[1]}  withdrawn  FRAF1 owes DEUD1 EUR 40.00  sms_termination 202501  "
        "proposed by DEUD1  reason wrong_rate\n"
    )

    assert ledgerline("BELCA", "cycles", "close", "1").code == 0
    planned = ledgerline("BELCA", "cycles", "plan", "1", "--format", "json").json()
    # FRAF1 owes DEUD1 1000.00 + 250.00; DEUD1 owes GBRVF 75.50
    assert [(t["payer"], t["payee"], t["amount"]) for t in planned["transfers"]] == [
        (M["FRAF1"].account, M["DEUD1"].account, 117_450),
        (M["FRAF1"].account, M["GBRVF"].account, 7_550),
    ]
    assert planned["status"] == "planned"
    for code in ("FRAF1", "DEUD1", "GBRVF"):
        assert ledgerline(code, "cycles", "confirm", "1").code == 0
    paid = ledgerline("FRAF1", "cycles", "paid", "1", "0", "--ref", "SEPA-20250205-1")
    assert paid.stdout == "marked paid: #0   FRAF1 pays DEUD1 EUR 1174.50  paid\n"
    assert_error(
        ledgerline("FRAF1", "cycles", "paid", "1", "0", "--ref", "SEPA-20250205-1"),
        "transfer 0 of cycle 1 is already marked paid; a transfer is paid only once",
    )
    ledgerline("FRAF1", "cycles", "paid", "1", "1", "--ref", "SEPA-20250205-2").json  # noqa: B018
    assert ledgerline("DEUD1", "cycles", "received", "1", "0").code == 0
    last = ledgerline("GBRVF", "cycles", "received", "1", "1")
    assert last.stdout.splitlines()[-1].startswith("settled: cycle 1    EUR  settled  ")

    shown = ledgerline("BELCA", "cycles", "show", "1", "--format", "json").json()
    assert (shown["status"], shown["grossValue"], shown["netValue"]) == (
        "settled",
        132_550,
        125_000,
    )
    assert [(p["name"], p["position"], p["confirmed"]) for p in shown["positions"]] == [
        ("FRAF1", -125_000, True),
        ("DEUD1", 117_450, True),
        ("GBRVF", 7_550, True),
    ]


def test_every_bad_input_is_one_clear_line(ledgerline: Ledgerline, tmp_path: Path) -> None:
    record = ["--currency", "EUR", "--amount", "10.00", "--service", "roaming",
              "--period", "202501", "--reference", "BAD-1"]  # fmt: skip

    assert_error(
        ledgerline("OUTSIDER", "obligations", "propose", "--creditor", "DEUD1", *record),
        f"{outsider().address} is not a member of the operator registry; only active members "
        "act on the settlement ledger: ask the governors to admit it",
    )
    assert_error(
        ledgerline("ITAWI", "obligations", "propose", "--creditor", "DEUD1", *record),
        f"{M['ITAWI'].account} is suspended in the operator registry; a suspended member cannot "
        "act on the settlement ledger until the governors reinstate it",
    )
    wrong = {"--currency": "EURO", "--amount": "0", "--period": "202513", "--service": "fax"}
    messages = {
        "--currency": "currency 'EURO' is not an ISO 4217 currency code; give three upper-case "
        "letters such as EUR, USD or XDR",
        "--amount": "amount '0' is zero; amounts must be positive",
        "--period": "period '202513' is not a billing month YYYYMM (e.g. 202501, year "
        "1970..9999, month 01..12)",
        "--service": "service 'fax' is unknown: use one of interconnect, roaming, transit, "
        "sms_termination, a2p_messaging, data_transit, signalling, other (or 1..8)",
    }
    for option, value in wrong.items():
        args = list(record)
        args[args.index(option) + 1] = value
        assert_error(
            ledgerline("FRAF1", "obligations", "propose", "--creditor", "DEUD1", *args),
            messages[option],
        )
    assert_error(
        ledgerline("FRAF1", "obligations", "propose", "--creditor", "DEUD1",
                   *record[:2], "--amount", "-5", *record[4:]),
        "amount '-5' is negative; amounts must be positive",
    )  # fmt: skip
    assert_error(
        ledgerline("FRAF1", "obligations", "propose", "--creditor", "NOONE", *record),
        "creditor 'NOONE' is neither a registry member code nor a 0x address; "
        "`ledgerline registry members` lists the members",
    )

    made = ledgerline(
        "FRAF1", "obligations", "propose", "--creditor", "DEUD1", *record, "--format", "json"
    )
    ident = made.json()["id"]
    assert_error(
        ledgerline("FRAF1", "obligations", "propose", "--creditor", "DEUD1", *record),
        f"obligation {ident} is already on the ledger: the same record with the same salt was "
        "proposed before; give another salt only if it really is a second obligation",
    )
    assert_error(
        ledgerline("GBRVF", "obligations", "confirm", ident),
        f"only the counterparty {M['DEUD1'].account} can confirm obligation {ident}, "
        f"not {M['GBRVF'].account}",
    )
    assert_error(
        ledgerline("DEUD1", "obligations", "confirm", ident),
        "no EUR settlement cycle is open, so nothing in EUR can be confirmed now; ask the "
        "clearing agent to open one, then confirm again",
    )

    assert ledgerline("BELCA", "cycles", "open", "EUR", "--cutoff", "+2s").code == 0
    time.sleep(3)
    late = ledgerline("DEUD1", "obligations", "confirm", ident)
    assert late.code == 1 and "Traceback" not in late.stderr
    assert late.stderr.startswith("error: cycle 1 stopped taking confirmations at its cut-off ")
    assert late.stderr.endswith(
        "; confirm again once the clearing agent has opened the next cycle\n"
    )

    assert ledgerline("BELCA", "cycles", "close", "1").code == 0
    assert ledgerline("BELCA", "cycles", "open", "EUR", "--cutoff", "+1d").code == 0
    assert ledgerline("DEUD1", "obligations", "confirm", ident).code == 0
    assert ledgerline("BELCA", "cycles", "close", "2").code == 0
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"payer": "FRAF1", "payee": "DEUD1", "amount": 900}]))
    assert_error(
        ledgerline("BELCA", "cycles", "plan", "2", "--file", str(plan)),
        f"the plan does not balance: it leaves {M['FRAF1'].account} at -900 instead of its net "
        "position -1000 in cycle 2; let Ledgerline compute the plan (`ledgerline cycles plan 2`)",
    )
    assert_error(
        ledgerline("FRAF1", "cycles", "plan", "2"),
        f"{M['FRAF1'].account} is an active member but lacks the CLEARING_AGENT role this step "
        "needs; ask the governors to grant it",
    )
    assert_error(
        ledgerline("BELCA", "cycles", "open", "EURO"),
        "currency 'EURO' is not an ISO 4217 currency code; give three upper-case letters such "
        "as EUR, USD or XDR",
    )
    assert_error(
        ledgerline("BELCA", "cycles", "show", "9"),
        "there is no cycle 9; `ledgerline cycles show` lists the cycles",
    )


def test_reconcile_reports_then_applies(
    ledgerline: Ledgerline, tmp_path: Path, instance: Path
) -> None:
    with connect(embedded_url(instance / "chain.db")) as chain:
        address = json.loads((instance / "deployment.json").read_text())["contracts"][
            "SettlementLedger"
        ]["address"]
        seeded = seed_ledger(SettlementClient(chain, address))  # leaves the EUR cycle open
    report_json, report_csv = tmp_path / "report.json", tmp_path / "report.csv"

    dry = ledgerline(
        "FRAF1", "reconcile", str(BILLING_CSV), "--tolerance-abs", "5",
        "--report-json", str(report_json), "--report-csv", str(report_csv), "--format", "json",
    ).json()  # fmt: skip

    assert dry["counts"] == {
        "matched": 3,
        "amount_mismatch": 3,
        "missing_on_ledger": 2,
        "missing_in_billing": 1,
        "duplicate": 1,
        "rejected": 13,
    }
    assert dry["actions"]["dryRun"] is True
    assert dry["actions"]["planned"]["confirm"] == [seeded["L1"].id]  # no GBP cycle is open
    assert dry["actions"]["planned"]["dispute"] == [seeded["L4"].id]
    assert len(dry["actions"]["planned"]["propose"]) == 2
    assert dry["actions"]["planned"]["skipped"][0] == {
        "line": 4,
        "label": "matched",
        "obligationId": seeded["L3"].id,
        "reason": "no GBP settlement cycle is open; confirm it once the clearing agent has "
        "opened one",
    }
    assert json.loads(report_json.read_text())["counts"] == dry["counts"]
    assert report_csv.read_text().splitlines()[0].startswith("kind,line,label,detail,partner")

    applied = ledgerline(
        "FRAF1", "reconcile", str(BILLING_CSV), "--tolerance-abs", "5", "--apply",
        "--format", "json",
    ).json()["actions"]  # fmt: skip
    assert applied["dryRun"] is False
    assert applied["confirmed"]["ids"] == [seeded["L1"].id]
    assert applied["disputed"]["ids"] == [seeded["L4"].id]
    assert applied["proposed"]["count"] == 2

    text = ledgerline("FRAF1", "reconcile", str(BILLING_CSV), "--tolerance-abs", "5")
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1] == (
        "  matched                   5  billed EUR 4365.60 / ledger EUR 4365.60, "
        "billed GBP 310.00 / ledger GBP 310.02"
    )
    assert (
        "  line 11: partner 'XXXXX' is neither a registry member code (TADIG or MCC-MNC) "
        "nor a 0x address" in lines
    )
    assert lines[-1] == (
        "  skipped line 10 (amount_mismatch): "
        f"{seeded['L10'].id} is already confirmed; offset the difference with a new, opposite "
        "obligation"
    )
