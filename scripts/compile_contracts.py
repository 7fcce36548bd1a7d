"""Compile contracts/*.sol with the pinned solc into contracts/build/<Name>.json.

The compiler is the npm ``solc`` package at SOLC_VERSION (installed by ``npm ci`` from
the committed package.json and lock file), driven through py-solc-x's
``compile_standard`` by the small ``scripts/solc.js`` front.  Run after any change to a
contract; the artifacts are committed and ``tests/contracts/test_artifacts.py`` fails
while they are stale.

    python scripts/compile_contracts.py          # write the artifacts
    python scripts/compile_contracts.py --check  # exit 1 if any artifact is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import solcx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger.artifacts import (  # noqa: E402
    BUILD_DIR,
    CONTRACTS_DIR,
    SOLC_SETTINGS,
    SOLC_VERSION,
    sources_hash,
    stale_artifacts,
)

SOLC_FRONT = ROOT / "scripts" / "solc.js"


def standard_input() -> dict:
    sources = {
        path.name: {"content": path.read_text(encoding="utf-8")}
        for path in sorted(CONTRACTS_DIR.glob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            **SOLC_SETTINGS,
            "outputSelection": {
                "*": {
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]
                }
            },
        },
    }


def compile_all() -> list[Path]:
    if not (ROOT / "node_modules" / "solc").is_dir():
        raise SystemExit("node_modules/solc is missing: run `npm ci` first")
    found = solcx.wrapper.get_solc_version(SOLC_FRONT, with_commit_hash=True)
    if str(found.base_version) != SOLC_VERSION:
        raise SystemExit(f"node_modules/solc is {found}, expected {SOLC_VERSION}: run `npm ci`")
    output = solcx.compile_standard(standard_input(), solc_binary=SOLC_FRONT)
    for error in output.get("errors", []):
        if error.get("severity") == "warning":
            print(error["formattedMessage"], file=sys.stderr)

    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for source_name, contracts in sorted(output["contracts"].items()):
        for name, compiled in sorted(contracts.items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts have no code
                continue
            metadata = json.loads(compiled["metadata"])
            used_sources = sorted(metadata["sources"])
            artifact = {
                "contractName": name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {"name": "solc", "version": found.public, "settings": SOLC_SETTINGS},
                "sources": used_sources,
                "sourcesSha256": sources_hash(used_sources),
            }
            path = BUILD_DIR / f"{name}.json"
            path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale artifacts")
    args = parser.parse_args()
    if args.check:
        stale = stale_artifacts()
        for name, reason in stale.items():
            print(f"{name}: {reason}")
        return 1 if stale else 0
    for path in compile_all():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
