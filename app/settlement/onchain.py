"""The app's handle on the settlement contracts: the deployed SettlementLedger and
OperatorRegistry on the app's chain, read from the deployment file once per connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from app.errors import AppError
from app.extensions import chain as chain_ext
from ledger.chain import Chain
from ledger.registry import RegistryClient
from ledger.settlement import SettlementClient

_KEY = "ledgerline.settlement.contracts"
_LOCK = threading.Lock()


class SettlementUnavailableError(AppError):
    """The settlement contracts are not deployed on the app's chain."""

    status_code = 503
    code = "settlement_unavailable"


@dataclass(frozen=True)
class Contracts:
    """The chain and typed clients of one connection."""

    chain: Chain
    settlement: SettlementClient
    registry: RegistryClient
    start_block: int  # SettlementLedger's deployment block: where its events begin

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id


def contracts(app: Flask | None = None) -> Contracts:
    """The settlement contracts of the app's chain (connecting on first use).

    Raises :class:`SettlementUnavailableError` when they are not deployed, and the chain's
    own errors (``ChainUnavailableError``) when it cannot be reached.
    """
    from ledger.deploy import load_deployment

    target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    chain = chain_ext.get(target)
    with _LOCK:
        cached = target.extensions.get(_KEY)
        if isinstance(cached, Contracts) and cached.chain is chain:
            return cached
        path = Path(target.config["DEPLOYMENT_FILE"])
        if not path.exists():
            raise SettlementUnavailableError(
                f"the settlement ledger is not deployed: {path} does not exist; "
                "run `flask --app app init`"
            )
        deployment = load_deployment(chain, path)
        if "SettlementLedger" not in deployment.contracts:
            raise SettlementUnavailableError(
                "the settlement ledger is not deployed on this chain; run `flask --app app init`"
            )
        ledger = deployment.contracts["SettlementLedger"]
        found = Contracts(
            chain,
            SettlementClient(chain, ledger.address, start_block=ledger.block_number),
            RegistryClient(chain, deployment.address("OperatorRegistry")),
            ledger.block_number,
        )
        target.extensions[_KEY] = found
        return found


__all__ = ["Contracts", "SettlementUnavailableError", "contracts"]
