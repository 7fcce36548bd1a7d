"""The ``ledgerline`` command, run as a real process: outputs, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.chain import connect, embedded_url
from ledger.embedded import EMBEDDED_CHAIN_ID
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "cli test password"
CONSOLE_SCRIPT = Path(sys.executable).parent / "ledgerline"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


Ledgerline = Callable[..., Run]


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def registry_contracts(tmp_path: Path) -> Path:
    """A contracts folder holding only OperatorRegistry (sources and artifact), so these
    tests exercise the registry whatever state the other contracts are in."""
    artifact = ROOT / "contracts" / "build" / "OperatorRegistry.json"
    folder = tmp_path / "registry-contracts"
    (folder / "build").mkdir(parents=True)
    shutil.copy(artifact, folder / "build")
    for source in json.loads(artifact.read_text())["sources"]:
        shutil.copy(ROOT / "contracts" / source, folder / source)
    return folder


@pytest.fixture
def ledgerline(tmp_path: Path, instance: Path, registry_contracts: Path) -> Ledgerline:
    """Run the console script (or ``python -m ledger.cli`` before ``pip install -e``)."""
    command = (
        [str(CONSOLE_SCRIPT)] if CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "ledger.cli"]
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    base.update(
        {
            "PYTHONPATH": str(ROOT),
            "LEDGERLINE_INSTANCE": str(instance),
            "LEDGERLINE_KEY_PASSWORD": PASSWORD,
            "LEDGERLINE_KEYSTORE_KDF_ITERATIONS": "1024",  # fast scrypt for tests only
            "LEDGERLINE_CONTRACTS_DIR": str(registry_contracts),
        }
    )

    def run(*args: str, env: dict[str, str | None] | None = None) -> Run:
        full_env = dict(base)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        done = subprocess.run(
            [*command, *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=180,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def assert_error(run: Run, message: str, code: int = 1) -> None:
    assert "Traceback" not in run.stderr
    assert run.stderr == f"error: {message}\n"
    assert run.code == code


# -- the happy paths -----------------------------------------------------------------------------


def test_deploy_then_members_on_the_embedded_default(
    ledgerline: Ledgerline, instance: Path
) -> None:
    deployed = ledgerline("deploy", "--format", "json")

    data = deployed.json()
    [deployer] = ledgerline("keys", "list", "--format", "json").json()
    assert deployer["label"] == "deployer"
    assert f"created deployer key {deployer['address']}" in deployed.stderr
    assert data["chainId"] == EMBEDDED_CHAIN_ID
    assert data["file"] == str(instance / "deployment.json")
    assert data["created"] == ["OperatorRegistry"]

    members = ledgerline("registry", "members", "--format", "json").json()
    assert [(m["account"], m["status"], m["roles"]) for m in members] == [
        (deployer["address"], "active", ["GOVERNOR"])
    ]

    again = ledgerline("deploy", "--format", "json").json()
    assert again["created"] == []
    assert again["contracts"] == data["contracts"]


def test_a_governor_admits_a_member_from_the_command_line(ledgerline: Ledgerline) -> None:
    ledgerline("deploy")
    newcomer = Account.create().address

    proposed = ledgerline(
        "registry", "propose", "admit", newcomer, "--legal-name", "Orange SA", "--country", "FR",
        "--code", "FRAF1", "--currency", "EUR", "--currency", "XDR", "--role", "operator",
        "--format", "json",
    ).json()  # fmt: skip

    assert (proposed["id"], proposed["kind"], proposed["status"]) == (1, "admit", "executed")
    shown = ledgerline("registry", "show", newcomer, "--format", "json").json()
    assert shown == {
        "account": newcomer,
        "status": "active",
        "admittedAt": shown["admittedAt"],
        "legalName": "Orange SA",
        "country": "FR",
        "code": "FRAF1",
        "currencies": ["EUR", "XDR"],
        "roles": ["OPERATOR"],
    }
    [listed] = ledgerline("registry", "proposals", "--format", "json").json()
    assert listed["description"] == f"admit {newcomer} (Orange SA, FRAF1; OPERATOR)"
    text = ledgerline("registry", "members")
    assert text.code == 0
    assert len(text.stdout.splitlines()) == 2


@pytest.mark.hardhat
def test_deploy_then_members_against_a_hardhat_node(
    ledgerline: Ledgerline, hardhat_url: str, instance: Path
) -> None:
    data = ledgerline("deploy", "--rpc", hardhat_url, "--format", "json").json()
    assert data["chainId"] == 31337
    assert data["file"] == str(instance / "deployment-31337.json")
    [deployer] = ledgerline("keys", "list", "--format", "json").json()

    members = ledgerline("registry", "members", "--rpc", hardhat_url, "--format", "json").json()

    assert [(m["account"], m["roles"]) for m in members] == [(deployer["address"], ["GOVERNOR"])]
    info = ledgerline("chain", "info", "--rpc", hardhat_url, "--format", "json").json()
    assert info["chain_id"] == 31337
    assert info["block"] >= 2


def test_keys_new_import_and_list(ledgerline: Ledgerline, tmp_path: Path) -> None:
    created = ledgerline("keys", "new", "--label", "ops", "--format", "json").json()
    imported_account = Account.create()
    password_file = tmp_path / "password.txt"
    password_file.write_text("from a file\n")
    imported = ledgerline(
        "keys", "import", imported_account.key.hex(), "--label", "imported",
        "--password-file", str(password_file), "--format", "json",
    ).json()  # fmt: skip

    listed = ledgerline("keys", "list", "--format", "json").json()

    assert imported["address"] == imported_account.address
    assert sorted((k["address"], k["label"]) for k in listed) == sorted(
        [(created["address"], "ops"), (imported_account.address, "imported")]
    )
    keyfile = json.loads(Path(imported["path"]).read_text())
    assert Account.decrypt(keyfile, "from a file") == imported_account.key


# -- bad input: one line, no traceback -----------------------------------------------------------


def test_a_wrong_keystore_password_is_one_line(ledgerline: Ledgerline) -> None:
    ledgerline("deploy")
    [key] = ledgerline("keys", "list", "--format", "json").json()

    run = ledgerline("registry", "propose", "quorum", "6000", env={"LEDGERLINE_KEY_PASSWORD": "no"})

    assert_error(run, f"wrong password for keystore {key['address']}")


def test_a_malformed_address_is_one_line(ledgerline: Ledgerline) -> None:
    assert_error(
        ledgerline("registry", "show", "0x123"),
        "member '0x123' is not an address: expected 0x followed by 40 hex digits",
    )


def test_an_unknown_member_is_one_line(ledgerline: Ledgerline) -> None:
    ledgerline("deploy")
    stranger = Account.create().address
    assert_error(
        ledgerline("registry", "show", stranger),
        f"{stranger} is not a member of the registry; "
        "`ledgerline registry members` lists the members",
    )


def test_an_unreachable_rpc_url_is_one_line(ledgerline: Ledgerline) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert_error(
        ledgerline("chain", "info", "--rpc", url),
        f"cannot reach the chain at {url}: Connection refused; check the URL or start the node",
    )


def test_a_deployment_file_of_another_chain_is_one_line(
    ledgerline: Ledgerline, tmp_path: Path, instance: Path
) -> None:
    other = tmp_path / "mainnet.json"
    other.write_text(json.dumps({"version": 1, "chainId": 1, "contracts": {}}))
    url = embedded_url(instance / "chain.db")
    assert_error(
        ledgerline("registry", "members", "--deployment", str(other)),
        f"deployment file {other} is for chain id 1 but {url} is chain id {EMBEDDED_CHAIN_ID}; "
        "use the matching --deployment file or --rpc URL",
    )


def test_a_missing_artifact_is_one_line(ledgerline: Ledgerline, tmp_path: Path) -> None:
    empty = tmp_path / "no-contracts"
    (empty / "build").mkdir(parents=True)
    assert_error(
        ledgerline("deploy", env={"LEDGERLINE_CONTRACTS_DIR": str(empty)}),
        f"contract artifact {empty / 'build' / 'OperatorRegistry.json'} is missing; "
        "run `python scripts/compile_contracts.py` and commit contracts/build",
    )


def test_a_stale_artifact_is_one_line(ledgerline: Ledgerline, registry_contracts: Path) -> None:
    with (registry_contracts / "OperatorRegistry.sol").open("a") as source:
        source.write("\n// edited after the last compile\n")

    run = ledgerline("deploy")

    assert run.code == 1
    assert "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("error: contract artifact OperatorRegistry is stale: ")
    assert "OperatorRegistry.sol" in line
    assert line.endswith(
        "changed since it was compiled; "
        "run `python scripts/compile_contracts.py` and commit contracts/build"
    )


def test_an_embedded_chain_owned_by_another_process_is_one_line(
    ledgerline: Ledgerline, instance: Path
) -> None:
    chain_file = instance / "chain.db"
    with connect(embedded_url(chain_file)):
        assert_error(
            ledgerline("chain", "info"),
            f"embedded chain {chain_file.resolve()} is already open in process {os.getpid()}; "
            "use a JSON-RPC node (--rpc http://…) to share a chain between processes",
        )


def test_a_missing_password_is_one_line(ledgerline: Ledgerline) -> None:
    assert_error(
        ledgerline("keys", "new", env={"LEDGERLINE_KEY_PASSWORD": None}),
        "no password for the new key: give --password-file FILE or set LEDGERLINE_KEY_PASSWORD",
    )


def test_a_usage_error_is_one_line_with_exit_status_2(ledgerline: Ledgerline) -> None:
    run = ledgerline("deploy", "--no-such-option")
    assert run.code == 2
    assert "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("error: No such option")
    assert line.endswith("; see `ledgerline deploy --help`")
