"""Compiled contract artifacts: loading them and telling when they are stale.

Artifacts are produced by ``scripts/compile_contracts.py`` and committed under
``contracts/build``; nothing compiles at run time.  Each artifact records the SHA-256 of
the sources it was built from, so a source edited after the last compile is caught here
with an error that says how to fix it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ledger.errors import ArtifactError

SOLC_VERSION = "0.8.28"
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "viaIR": False,
}

CONTRACTS_DIR = Path(
    os.environ.get("LEDGERLINE_CONTRACTS_DIR", Path(__file__).resolve().parent.parent / "contracts")
)
BUILD_DIR = CONTRACTS_DIR / "build"

RECOMPILE_HINT = "run `python scripts/compile_contracts.py` and commit contracts/build"


@dataclass(frozen=True)
class Artifact:
    """One deployable contract: its ABI, creation and runtime code, and provenance."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    sources_sha256: str
    compiler_version: str

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [entry for entry in self.abi if entry.get("type") == "error"]


def sources_hash(source_names: list[str], contracts_dir: Path | None = None) -> str:
    """SHA-256 over the named sources (sorted), each as ``name NUL content NUL``."""
    base = contracts_dir or CONTRACTS_DIR
    digest = hashlib.sha256()
    for name in sorted(source_names):
        digest.update(name.encode() + b"\0")
        digest.update((base / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ArtifactError(f"contract artifact {path} is missing; {RECOMPILE_HINT}")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"contract artifact {path} is not valid JSON ({exc}); {RECOMPILE_HINT}"
        ) from exc
    return data


def check_fresh(data: dict[str, Any], contracts_dir: Path | None = None) -> str | None:
    """Return why the artifact no longer matches its sources, or None if it does."""
    base = contracts_dir or CONTRACTS_DIR
    sources: list[str] = data.get("sources", [])
    missing = [name for name in sources if not (base / name).is_file()]
    if missing:
        if all(not (base / name).exists() for name in sources):
            return None  # an installed copy without sources: nothing to compare against
        return f"source {missing[0]} is missing"
    if sources_hash(sources, base) != data.get("sourcesSha256"):
        return f"{', '.join(sources)} changed since it was compiled"
    return None


@cache
def load_artifact(name: str) -> Artifact:
    """Load ``contracts/build/<name>.json``, refusing a missing or stale artifact."""
    path = BUILD_DIR / f"{name}.json"
    data = _read(path)
    reason = check_fresh(data)
    if reason:
        raise ArtifactError(f"contract artifact {name} is stale: {reason}; {RECOMPILE_HINT}")
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        sources_sha256=data["sourcesSha256"],
        compiler_version=data["compiler"]["version"],
    )


def artifact_names() -> list[str]:
    return sorted(path.stem for path in BUILD_DIR.glob("*.json"))


def stale_artifacts(contracts_dir: Path | None = None) -> dict[str, str]:
    """Every contract whose artifact is missing or stale, with the reason."""
    base = contracts_dir or CONTRACTS_DIR
    build = base / "build"
    result: dict[str, str] = {}
    built_sources: set[str] = set()
    for path in sorted(build.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        built_sources.update(data.get("sources", []))
        reason = check_fresh(data, base)
        if reason:
            result[path.stem] = reason
    for source in sorted(base.glob("*.sol")):
        if source.name not in built_sources:
            result[source.stem] = f"{source.name} has never been compiled"
    return result
