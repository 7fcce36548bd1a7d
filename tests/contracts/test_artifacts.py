"""Compiled artifacts: committed, fresh, and refused when they no longer match a source.

``test_the_committed_artifacts_match_their_sources`` is THE test that fails when a
contract was edited without re-running ``scripts/compile_contracts.py``.  The others
work on a copy of ``contracts/`` so they can edit, add and delete files freely.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import artifacts
from ledger.artifacts import (
    CONTRACTS_DIR,
    SOLC_SETTINGS,
    SOLC_VERSION,
    load_artifact,
    sources_hash,
    stale_artifacts,
)
from ledger.errors import ArtifactError

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `python scripts/compile_contracts.py` and commit contracts/build"


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    """A faithful copy of contracts/ (sources and build) to break at will."""
    copy = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, copy, ignore=shutil.ignore_patterns("*~", ".*"))
    assert stale_artifacts(copy) == {}
    return copy


def built_from(contracts: Path, source: str) -> set[str]:
    """Contracts whose artifact lists ``source`` among the sources it was built from."""
    return {
        path.stem
        for path in (contracts / "build").glob("*.json")
        if source in json.loads(path.read_text(encoding="utf-8"))["sources"]
    }


def test_the_committed_artifacts_match_their_sources() -> None:
    assert stale_artifacts() == {}, f"stale artifacts: {FIX}"


def test_the_registry_artifact_records_its_compiler_settings_and_source_hash() -> None:
    data = json.loads((CONTRACTS_DIR / "build" / "OperatorRegistry.json").read_text("utf-8"))
    assert data["contractName"] == "OperatorRegistry"
    assert data["compiler"] == {"name": "solc", "version": SOLC_VERSION, "settings": SOLC_SETTINGS}
    assert data["sources"] == ["IOperatorRegistry.sol", "OperatorRegistry.sol"]
    assert data["sourcesSha256"] == sources_hash(data["sources"])
    assert data["bytecode"].startswith("0x6080") and data["deployedBytecode"].startswith("0x")
    artifact = load_artifact("OperatorRegistry")
    assert {e["name"] for e in artifact.errors} >= {
        "OperatorRegistryNotGovernor",
        "OperatorRegistryUnknownMember",
    }
    # Under the 24 KiB limit of EIP-170, so it deploys on any EVM chain.
    assert len(artifact.deployed_bytecode) // 2 - 1 < 24 * 1024


def test_editing_a_contract_source_makes_exactly_its_artifact_stale(contracts: Path) -> None:
    source = contracts / "OperatorRegistry.sol"
    source.write_text(source.read_text("utf-8") + "\n// an edit\n", "utf-8")
    users = built_from(contracts, "OperatorRegistry.sol")
    assert users == {"OperatorRegistry"}
    assert stale_artifacts(contracts) == {
        "OperatorRegistry": (
            "IOperatorRegistry.sol, OperatorRegistry.sol changed since it was compiled"
        )
    }


def test_editing_an_interface_makes_every_contract_built_from_it_stale(contracts: Path) -> None:
    source = contracts / "IOperatorRegistry.sol"
    source.write_text(source.read_text("utf-8").replace("operators", "carriers", 1), "utf-8")
    stale = stale_artifacts(contracts)
    assert set(stale) == built_from(contracts, "IOperatorRegistry.sol")
    assert "changed since it was compiled" in stale["OperatorRegistry"]


def test_a_removed_artifact_is_reported(contracts: Path) -> None:
    (contracts / "build" / "OperatorRegistry.json").unlink()
    stale = stale_artifacts(contracts)
    assert stale["OperatorRegistry"] == "OperatorRegistry.sol has never been compiled"
    # The interface has no artifact of its own; it is reported only if nothing built uses it.
    expected = {"OperatorRegistry"}
    if not built_from(contracts, "IOperatorRegistry.sol"):
        expected.add("IOperatorRegistry")
    assert set(stale) == expected


def test_an_uncompiled_contract_is_reported(contracts: Path) -> None:
    (contracts / "Extra.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.28;\ncontract Extra {}\n",
        "utf-8",
    )
    assert stale_artifacts(contracts) == {"Extra": "Extra.sol has never been compiled"}


def test_a_deleted_source_is_reported(contracts: Path) -> None:
    (contracts / "IOperatorRegistry.sol").unlink()
    stale = stale_artifacts(contracts)
    assert stale["OperatorRegistry"] == "source IOperatorRegistry.sol is missing"


def test_loading_a_missing_artifact_says_how_to_fix_it() -> None:
    with pytest.raises(ArtifactError) as caught:
        load_artifact("NoSuchContract")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("contract artifact ") and "NoSuchContract.json is missing" in message
    assert message.endswith(FIX)


def test_loading_a_stale_artifact_is_refused(
    contracts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = contracts / "OperatorRegistry.sol"
    source.write_text(source.read_text("utf-8") + "\n// an edit\n", "utf-8")
    monkeypatch.setattr(artifacts, "CONTRACTS_DIR", contracts)
    monkeypatch.setattr(artifacts, "BUILD_DIR", contracts / "build")
    with pytest.raises(ArtifactError) as caught:
        load_artifact.__wrapped__("OperatorRegistry")  # past the cache of fresh loads
    assert str(caught.value) == (
        "contract artifact OperatorRegistry is stale: IOperatorRegistry.sol, "
        f"OperatorRegistry.sol changed since it was compiled; {FIX}"
    )


def test_loading_a_corrupt_artifact_is_refused(
    contracts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (contracts / "build" / "OperatorRegistry.json").write_text("{not json", "utf-8")
    monkeypatch.setattr(artifacts, "BUILD_DIR", contracts / "build")
    with pytest.raises(ArtifactError, match=r"is not valid JSON .*; run `python scripts/"):
        load_artifact.__wrapped__("OperatorRegistry")


def test_the_compile_script_check_fails_on_a_stale_copy(contracts: Path) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "compile_contracts.py"), "--check"],
            env={**os.environ, "LEDGERLINE_CONTRACTS_DIR": str(contracts)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert check().returncode == 0
    (contracts / "Extra.sol").write_text("pragma solidity 0.8.28;\ncontract Extra {}\n", "utf-8")
    result = check()
    assert (result.returncode, result.stdout) == (1, "Extra: Extra.sol has never been compiled\n")
