"""Deploying the contracts once per chain, and finding them again.

A deployment is an ordered :data:`Plan` of :class:`ContractSpec`: each names an artifact
and builds its constructor arguments from the addresses deployed before it, so
``SettlementLedger(address registry)`` simply follows ``OperatorRegistry`` in the plan.
Specs marked ``optional`` are skipped while their artifact does not exist yet.

:func:`deploy` records every contract (address, deploy transaction, block, artifact
``sourcesSha256``) with the chain id in a JSON deployment file, written after each
contract so an interrupted run resumes where it stopped.  Later runs reuse the recorded
addresses.  A file made for another chain id, or a recorded address where the chain has
no code (the node was reset), is refused with :class:`~ledger.errors.DeploymentError`:
nothing is ever redeployed over a recorded address.  An artifact that changed since its
contract was deployed is reported in :attr:`Deployment.outdated` (upgrades are manual).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

from ledger._utils.addresses import to_address
from ledger.artifacts import BUILD_DIR, Artifact, load_artifact
from ledger.chain import Chain
from ledger.errors import DeploymentError, LedgerValueError
from ledger.transactions import deploy_contract

FILE_VERSION = 1
DEPLOY_MINIMUM_WEI = 10**17
DEPLOY_FUNDING_WEI = 10**18


@dataclass(frozen=True)
class ContractSpec:
    """One contract of a plan: its artifact and how to build its constructor arguments.

    ``args`` receives the addresses deployed so far (by contract name) and returns the
    constructor arguments.
    """

    name: str
    args: Callable[[Mapping[str, ChecksumAddress]], Sequence[Any]] = lambda deployed: ()
    optional: bool = False


Plan = Sequence[ContractSpec]


@dataclass(frozen=True)
class DeployedContract:
    name: str
    address: ChecksumAddress
    tx_hash: str
    block_number: int
    sources_sha256: str
    deployer: ChecksumAddress | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "txHash": self.tx_hash,
            "blockNumber": self.block_number,
            "sourcesSha256": self.sources_sha256,
            "deployer": self.deployer,
        }


@dataclass(frozen=True)
class Deployment:
    """The contracts of one chain, as recorded in ``file``."""

    chain_id: int
    file: Path
    contracts: dict[str, DeployedContract]
    created: tuple[str, ...] = ()
    outdated: dict[str, str] = field(default_factory=dict)

    def address(self, name: str) -> ChecksumAddress:
        try:
            return self.contracts[name].address
        except KeyError:
            raise DeploymentError(
                f"{name} is not recorded in {self.file}; run `ledgerline deploy` to deploy it"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.contracts

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FILE_VERSION,
            "chainId": self.chain_id,
            "contracts": {name: c.to_json() for name, c in self.contracts.items()},
        }


# -- genesis members and the default plan ---------------------------------------------------


@dataclass(frozen=True)
class GenesisMember:
    """A member of the registry's genesis set (constructor argument)."""

    account: ChecksumAddress
    legal_name: str
    country: str
    code: str
    currencies: tuple[str, ...]
    roles: tuple[str, ...] = ("GOVERNOR",)

    def as_abi(self) -> tuple[Any, ...]:
        from ledger.registry import Role, encode_country, encode_currency

        return (
            self.account,
            self.legal_name,
            encode_country(self.country),
            self.code,
            [encode_currency(c) for c in self.currencies],
            [Role.parse(r).id for r in self.roles],
        )

    @classmethod
    def from_json(cls, data: Any, source: str = "genesis") -> GenesisMember:
        if not isinstance(data, dict):
            raise LedgerValueError(f"{source}: each genesis member must be a JSON object")
        required = ("account", "legalName", "country", "code", "currencies")
        missing = [k for k in required if k not in data]
        if missing:
            raise LedgerValueError(f"{source}: genesis member lacks {', '.join(missing)}")
        currencies = data["currencies"]
        if isinstance(currencies, str):
            currencies = [currencies]
        roles = data.get("roles", ["GOVERNOR"])
        return cls(
            account=to_address(data["account"], f"{source} account"),
            legal_name=str(data["legalName"]),
            country=str(data["country"]),
            code=str(data["code"]),
            currencies=tuple(str(c) for c in currencies),
            roles=tuple(str(r) for r in roles),
        )


def default_genesis(
    account: str,
    *,
    legal_name: str = "Ledgerline genesis governor",
    country: str = "XX",
    code: str = "GOVXX",
    currencies: Sequence[str] = ("XDR",),
    roles: Sequence[str] = ("GOVERNOR",),
) -> list[GenesisMember]:
    """A one-member genesis: ``account`` as the sole governor (placeholder metadata)."""
    return [
        GenesisMember(
            to_address(account, "genesis account"),
            legal_name,
            country,
            code,
            tuple(currencies),
            tuple(roles),
        )
    ]


def load_genesis(path: Path) -> list[GenesisMember]:
    """Read ``{"members": [...]}`` (or a bare list) of genesis members from a JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LedgerValueError(f"cannot read genesis file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise LedgerValueError(f"genesis file {path} is not valid JSON ({exc})") from exc
    members = data.get("members") if isinstance(data, dict) else data
    if not isinstance(members, list) or not members:
        raise LedgerValueError(f"genesis file {path} must hold a non-empty list of members")
    return [GenesisMember.from_json(m, f"{path} member {i + 1}") for i, m in enumerate(members)]


def registry_dependent(name: str) -> ContractSpec:
    """A contract constructed with the registry address, deployed once its artifact exists."""
    return ContractSpec(name, lambda deployed: (deployed["OperatorRegistry"],), optional=True)


def registry_plan(genesis: Sequence[GenesisMember]) -> list[ContractSpec]:
    """Only OperatorRegistry(genesis)."""
    members = [m.as_abi() for m in genesis]
    return [ContractSpec("OperatorRegistry", lambda deployed: (members,))]


def default_plan(genesis: Sequence[GenesisMember]) -> list[ContractSpec]:
    """OperatorRegistry(genesis), then every registry-dependent contract that is built."""
    return [
        *registry_plan(genesis),
        registry_dependent("SettlementLedger"),
        registry_dependent("ApprovalLog"),
    ]


# -- the deployment file --------------------------------------------------------------------


def plan_artifacts(plan: Plan) -> dict[ContractSpec, Artifact]:
    """The artifact of every spec to deploy (optional ones only once built).

    Raises ArtifactError for a missing or stale one, so a plan can be checked before a
    key is unlocked or a transaction sent.
    """
    return {
        spec: load_artifact(spec.name)
        for spec in plan
        if not (spec.optional and not (BUILD_DIR / f"{spec.name}.json").is_file())
    }


def _read_file(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeploymentError(
            f"deployment file {path} cannot be read ({exc}); fix it or remove it to deploy anew"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("chainId"), int):
        raise DeploymentError(
            f"deployment file {path} has no chainId; fix it or remove it to deploy anew"
        )
    return data


def _write_file(deployment: Deployment) -> None:
    path = deployment.file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = deployment.to_json()
    data["updated"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _parse_contracts(data: dict[str, Any], path: Path) -> dict[str, DeployedContract]:
    contracts: dict[str, DeployedContract] = {}
    for name, entry in (data.get("contracts") or {}).items():
        try:
            contracts[name] = DeployedContract(
                name=name,
                address=to_address(entry["address"], f"{name} address in {path}"),
                tx_hash=str(entry.get("txHash", "")),
                block_number=int(entry.get("blockNumber", 0)),
                sources_sha256=str(entry.get("sourcesSha256", "")),
                deployer=entry.get("deployer"),
            )
        except (KeyError, TypeError, LedgerValueError) as exc:
            raise DeploymentError(
                f"deployment file {path} has a malformed entry for {name} ({exc}); "
                "fix it or remove the file to deploy anew"
            ) from exc
    return contracts


def _verify(chain: Chain, path: Path, data: dict[str, Any]) -> Deployment:
    """Check the recorded chain id and code presence; report outdated artifacts."""
    if data["chainId"] != chain.chain_id:
        raise DeploymentError(
            f"deployment file {path} is for chain id {data['chainId']} but {chain.url} "
            f"is chain id {chain.chain_id}; use the matching --deployment file or --rpc URL"
        )
    contracts = _parse_contracts(data, path)
    for name, contract in contracts.items():
        if not chain.has_code(contract.address):
            raise DeploymentError(
                f"{name} is recorded at {contract.address} in {path} but the chain has no code "
                f"there; the chain was reset: remove {path} to deploy anew"
            )
    outdated: dict[str, str] = {}
    for name, contract in contracts.items():
        artifact_file = BUILD_DIR / f"{name}.json"
        if not artifact_file.is_file():
            continue
        current = json.loads(artifact_file.read_text(encoding="utf-8")).get("sourcesSha256")
        if current and contract.sources_sha256 and current != contract.sources_sha256:
            outdated[name] = (
                f"{name} at {contract.address} was deployed from sources "
                f"{contract.sources_sha256[:12]}… but the artifact is now {current[:12]}…; "
                "upgrading is not automatic"
            )
    return Deployment(data["chainId"], path, contracts, outdated=outdated)


def load_deployment(chain: Chain, deployment_file: Path) -> Deployment:
    """The recorded deployment for ``chain``, verified against it."""
    data = _read_file(deployment_file)
    if data is None:
        raise DeploymentError(
            f"deployment file {deployment_file} does not exist; run `ledgerline deploy` first"
        )
    return _verify(chain, deployment_file, data)


def deploy(chain: Chain, deployer: LocalAccount, deployment_file: Path, plan: Plan) -> Deployment:
    """Deploy every contract of ``plan`` not yet recorded in ``deployment_file``."""
    data = _read_file(deployment_file)
    if data is None:
        current = Deployment(chain.chain_id, deployment_file, {})
    else:
        current = _verify(chain, deployment_file, data)
    contracts = dict(current.contracts)
    addresses: dict[str, ChecksumAddress] = {n: c.address for n, c in contracts.items()}
    created: list[str] = []
    # Load every artifact first: a missing or stale one stops the run before any transaction.
    todo = [
        (spec, artifact)
        for spec, artifact in plan_artifacts(plan).items()
        if spec.name not in contracts
    ]
    for spec, artifact in todo:
        try:
            args = spec.args(addresses)
        except KeyError as exc:
            raise DeploymentError(
                f"{spec.name} needs {exc.args[0]}, which the plan has not deployed before it"
            ) from None
        if not created:
            chain.ensure_funded(deployer.address, DEPLOY_MINIMUM_WEI, DEPLOY_FUNDING_WEI)
        sent = deploy_contract(chain, deployer, artifact, *args)
        assert sent.contract_address is not None
        contracts[spec.name] = DeployedContract(
            name=spec.name,
            address=sent.contract_address,
            tx_hash=sent.tx_hash,
            block_number=sent.block_number,
            sources_sha256=artifact.sources_sha256,
            deployer=deployer.address,
        )
        addresses[spec.name] = sent.contract_address
        created.append(spec.name)
        _write_file(Deployment(chain.chain_id, deployment_file, contracts))
    if not created and data is None:
        _write_file(Deployment(chain.chain_id, deployment_file, contracts))
    return Deployment(
        chain.chain_id, deployment_file, contracts, tuple(created), dict(current.outdated)
    )
