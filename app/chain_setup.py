"""The web app's view of the contracts: are they deployed, and deploying them at init.

The chain work itself is :mod:`ledger.deploy`; this module only decides, from the app's
config, which deployment file, keystore and deployer key to use.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from flask import Flask

from ledger.artifacts import BUILD_DIR
from ledger.chain import Chain
from ledger.errors import DeploymentError, LedgerConfigError

if TYPE_CHECKING:
    from app.audit.anchoring import AnchorerSetup

DEPLOYER_LABEL = "deployer"
DEPLOYER_PASSWORD_ENV = "LEDGERLINE_KEY_PASSWORD"  # as `ledgerline` reads it
DEV_PASSWORD_FILE = "deployer-password"


@dataclass(frozen=True)
class ContractsStatus:
    """Whether the contracts the app needs are deployed on the connected chain."""

    ok: bool
    problem: str | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    outdated: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"deployed": self.addresses}
        if self.outdated:
            data["outdated"] = self.outdated
        return data


def expected_contracts() -> list[str]:
    """The contracts of the default plan whose artifacts are built, in deploy order."""
    from ledger.deploy import default_plan

    return [
        spec.name
        for spec in default_plan([])
        if not spec.optional or (BUILD_DIR / f"{spec.name}.json").is_file()
    ]


def deployment_status(chain: Chain, deployment_file: str | Path) -> ContractsStatus:
    """Check the deployment file against ``chain``; never raises for a deployment problem."""
    from ledger.deploy import load_deployment

    path = Path(deployment_file)
    if not path.exists():
        return ContractsStatus(
            False,
            f"no contracts deployed: {path} does not exist; run `flask --app app init`",
        )
    try:
        deployment = load_deployment(chain, path)
    except (DeploymentError, LedgerConfigError) as exc:
        return ContractsStatus(False, str(exc))
    addresses = {name: str(c.address) for name, c in deployment.contracts.items()}
    missing = [name for name in expected_contracts() if name not in deployment.contracts]
    if missing:
        return ContractsStatus(
            False,
            f"{', '.join(missing)} built but not deployed; run `flask --app app init`",
            addresses,
            dict(deployment.outdated),
        )
    return ContractsStatus(True, None, addresses, dict(deployment.outdated))


@dataclass(frozen=True)
class SetupReport:
    chain_id: int
    deployer: str | None
    created: tuple[str, ...]
    addresses: dict[str, str]
    password_file: Path | None = None
    anchorer: AnchorerSetup | None = None


def deployer_password(app: Flask, chain: Chain, given: str | None) -> tuple[str, Path | None]:
    """The deployer key's password: given, ``LEDGERLINE_KEY_PASSWORD``, or on a development
    chain a generated one kept in ``<instance>/deployer-password`` (0600), which
    ``ledgerline --password-file`` can read."""
    if given:
        return given, None
    from_env = os.environ.get(DEPLOYER_PASSWORD_ENV, "")
    if from_env:
        return from_env, None
    if not chain.is_dev:
        raise LedgerConfigError(
            f"chain {chain.chain_id} at {chain.url} is not a development chain: set "
            f"{DEPLOYER_PASSWORD_ENV} (or --deployer-password) to the deployer key's password"
        )
    path = Path(app.instance_path) / DEV_PASSWORD_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), path
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password, path


def ensure_contracts(
    app: Flask, *, password: str | None = None, genesis_file: Path | None = None
) -> SetupReport:
    """Deploy whatever the default plan still lacks on the app's chain (idempotent).

    The deployer is the key labelled ``deployer`` in the app's keystore, created on first
    use; with no genesis file it becomes the registry's sole genesis governor.  Once the
    ApprovalLog is deployed, the approval log's anchoring key is set up
    (:func:`app.audit.anchoring.ensure_anchorer`).
    """
    from app.audit.anchoring import ensure_anchorer
    from app.extensions import chain as chain_ext

    report = _deploy_contracts(app, password=password, genesis_file=genesis_file)
    if "ApprovalLog" not in report.addresses:
        return report
    chain = chain_ext.get(app)
    anchorer = ensure_anchorer(
        app,
        chain,
        report.addresses["OperatorRegistry"],
        lambda: _deployer_account(app, chain, password),
    )
    return replace(report, anchorer=anchorer)


def _deployer_account(app: Flask, chain: Chain, password: str | None) -> LocalAccount:
    """The unlocked deployer key (the genesis governor of a default deployment)."""
    from ledger.keys import Keystore

    keystore = Keystore(
        app.config["KEYSTORE"],
        kdf=app.config["KEYSTORE_KDF"],
        iterations=app.config["KEYSTORE_ITERATIONS"],
    )
    labelled = [key for key in keystore.list() if key.label == DEPLOYER_LABEL]
    if not labelled:
        raise LedgerConfigError(
            f"keystore {keystore.path} has no key labelled {DEPLOYER_LABEL!r} to act as the "
            "registry governor; admit the anchoring key through the registry yourself"
        )
    secret, _ = deployer_password(app, chain, password)
    return keystore.unlock(labelled[0].address, secret)


def _deploy_contracts(
    app: Flask, *, password: str | None = None, genesis_file: Path | None = None
) -> SetupReport:
    from app.extensions import chain as chain_ext
    from ledger.deploy import (
        default_genesis,
        default_plan,
        deploy,
        load_deployment,
        load_genesis,
    )
    from ledger.keys import Keystore

    chain = chain_ext.get(app)
    path = Path(app.config["DEPLOYMENT_FILE"])
    if path.exists():
        # A file for another chain, or a reset chain, raises: never redeploy over it.
        recorded = load_deployment(chain, path)
        if all(name in recorded.contracts for name in expected_contracts()):
            addresses = {name: str(c.address) for name, c in recorded.contracts.items()}
            return SetupReport(chain.chain_id, None, (), addresses)

    keystore = Keystore(
        app.config["KEYSTORE"],
        kdf=app.config["KEYSTORE_KDF"],
        iterations=app.config["KEYSTORE_ITERATIONS"],
    )
    secret, password_file = deployer_password(app, chain, password)
    labelled = [key for key in keystore.list() if key.label == DEPLOYER_LABEL]
    address = labelled[0].address if labelled else keystore.new(secret, label=DEPLOYER_LABEL)
    deployer = keystore.unlock(address, secret)
    genesis = load_genesis(genesis_file) if genesis_file else default_genesis(deployer.address)
    deployment = deploy(chain, deployer, path, default_plan(genesis))
    return SetupReport(
        chain.chain_id,
        deployer.address,
        deployment.created,
        {name: str(c.address) for name, c in deployment.contracts.items()},
        password_file,
    )
