"""The anchoring key: the Ledgerline backend's registry member holding ANCHORER.

The key is a V3 file in the app's keystore: ``ANCHOR_KEY_ADDRESS`` names it, else the key
labelled ``anchorer``.  Its password comes from ``LEDGERLINE_ANCHOR_KEY_PASSWORD``, else
from ``<instance>/anchorer-password`` (written, mode 0600, when the key is created on a
development chain).  The unlocked key is kept in memory for the process.

:func:`ensure_anchorer` is the setup step of ``flask --app app init``: on a development
chain it creates the key, funds it and has the genesis governor admit it to the
registry with the ANCHORER role; elsewhere it only reports what the operator must do.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from flask import Flask

from app.errors import AppError
from ledger.chain import Chain
from ledger.errors import LedgerError
from ledger.keys import Keystore

ANCHORER_LABEL = "anchorer"
PASSWORD_ENV = "LEDGERLINE_ANCHOR_KEY_PASSWORD"
PASSWORD_FILE = "anchorer-password"
ANCHORER_CODE = "LLANC"  # a TADIG-shaped member code for the backend's anchoring member
ANCHORER_MINIMUM_WEI = 10**17
ANCHORER_FUNDING_WEI = 10**18
_CACHE_KEY = "ledgerline.anchorer"
_UNLOCK = threading.Lock()


class AnchorKeyError(AppError):
    """The anchoring key is missing, locked or not allowed to anchor."""

    status_code = 503
    code = "anchor_key_unavailable"


def _keystore(app: Flask) -> Keystore:
    return Keystore(
        app.config["KEYSTORE"],
        kdf=app.config["KEYSTORE_KDF"],
        iterations=app.config["KEYSTORE_ITERATIONS"],
    )


def anchor_key_address(app: Flask) -> str | None:
    """The configured anchoring key's address, else the keystore key labelled anchorer."""
    configured = (app.config.get("ANCHOR_KEY_ADDRESS") or "").strip()
    if configured:
        return configured
    for key in _keystore(app).list():
        if key.label == ANCHORER_LABEL:
            return str(key.address)
    return None


def _password_file(app: Flask) -> Path:
    return Path(app.instance_path) / PASSWORD_FILE


def anchor_password(app: Flask) -> str:
    """``LEDGERLINE_ANCHOR_KEY_PASSWORD``, else the instance's password file."""
    from_env = os.environ.get(PASSWORD_ENV, "")
    if from_env:
        return from_env
    path = _password_file(app)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    raise AnchorKeyError(
        f"no password for the anchoring key: set {PASSWORD_ENV} or put it in {path}"
    )


def anchorer_account(app: Flask) -> LocalAccount:
    """The unlocked anchoring key (unlocked once per process and address)."""
    address = anchor_key_address(app)
    if address is None:
        raise AnchorKeyError(
            "there is no anchoring key: run `flask --app app init` (development chains) "
            "or set LEDGERLINE_ANCHOR_KEY_ADDRESS to a keystore key holding ANCHORER"
        )
    with _UNLOCK:
        cached = app.extensions.get(_CACHE_KEY)
        if isinstance(cached, LocalAccount) and cached.address.lower() == address.lower():
            return cached
        account = _keystore(app).unlock(address, anchor_password(app))
        app.extensions[_CACHE_KEY] = account
        return account


@dataclass(frozen=True)
class AnchorerSetup:
    address: str | None
    created: bool = False
    admitted: bool = False
    funded: bool = False
    problem: str | None = None
    password_file: Path | None = None

    def describe(self) -> str:
        """One line for ``flask --app app init``."""
        if self.problem:
            return f"approval-log anchoring key: {self.problem}"
        done = [
            word
            for word, flag in (
                ("created", self.created),
                ("funded", self.funded),
                ("admitted as ANCHORER", self.admitted),
            )
            if flag
        ]
        state = ", ".join(done) if done else "holds ANCHORER"
        where = f" (password in {self.password_file})" if self.password_file else ""
        return f"approval-log anchoring key {self.address}: {state}{where}"


def ensure_anchorer(
    app: Flask, chain: Chain, registry_address: str, governor: Callable[[], LocalAccount]
) -> AnchorerSetup:
    """Make sure an anchoring key exists and holds ANCHORER (idempotent).

    ``governor`` unlocks the registry governor's key; it is called only when the
    anchoring key still has to be admitted.  Off development chains nothing is created or
    proposed: the result's ``problem`` says what the operator must do.
    """
    from ledger.registry import MemberProfile, RegistryClient, Role

    registry = RegistryClient(chain, registry_address)
    address = anchor_key_address(app)
    created = False
    password_file: Path | None = None
    if address is None:
        if not chain.is_dev:
            return AnchorerSetup(
                None,
                problem="no anchoring key: create one (`ledgerline keys new --label anchorer`), "
                "have the registry admit it with ANCHORER, and set LEDGERLINE_ANCHOR_KEY_ADDRESS",
            )
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            password = secrets.token_urlsafe(24)
            password_file = _password_file(app)
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(password + "\n")
        address = str(_keystore(app).new(password, label=ANCHORER_LABEL))
        created = True
    funded = chain.is_dev and chain.ensure_funded(
        address, ANCHORER_MINIMUM_WEI, ANCHORER_FUNDING_WEI
    )
    if registry.has_role(Role.ANCHORER, address):
        return AnchorerSetup(address, created, False, funded, None, password_file)
    if not chain.is_dev:
        return AnchorerSetup(
            address,
            created,
            False,
            funded,
            f"{address} does not hold ANCHORER: propose it through the registry "
            f"(`ledgerline registry propose grant ANCHORER {address}` for a member)",
            password_file,
        )
    try:
        sender = governor()
        if registry.is_active_member(address):
            result = registry.propose_role_grant(sender, Role.ANCHORER, address)
        else:
            profile = MemberProfile(
                "Ledgerline approval-log anchorer", "XX", ANCHORER_CODE, ("XDR",)
            )
            result = registry.propose_admission(sender, address, profile, roles=[Role.ANCHORER])
    except LedgerError as exc:
        return AnchorerSetup(
            address,
            created,
            False,
            funded,
            f"{address} could not be made an anchorer ({exc}); "
            "have a governor propose it through the registry",
            password_file,
        )
    if not result.executed:
        return AnchorerSetup(
            address,
            created,
            False,
            funded,
            f"proposal {result.proposal.id} to make {address} an anchorer awaits votes",
            password_file,
        )
    return AnchorerSetup(address, created, True, funded, None, password_file)
