"""Helpers of the settlement web app tests: a deployed app whose registry admitted three
operators and a clearing agent, each with a user account holding its member key.

The keys derive from fixed test seeds: never use them on a real chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from flask import Flask
from flask.testing import FlaskClient

from app.settlement.onchain import contracts
from ledger.registry import MemberProfile, Role
from ledger.settlement import Obligation, SettlementClient
from tests.integration.app_fixtures import csrf_token, login

PASSWORD = "operator password 1"
_FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)


@dataclass(frozen=True)
class Party:
    code: str
    name: str
    email: str
    signer: LocalAccount
    role: str

    @property
    def address(self) -> str:
        return str(self.signer.address)


MEMBERS = (
    ("SWENM", "Nordic Mobile AB", "SE", "ops@nordicmobile.example", "operator"),
    ("AUTAF", "Alpenfunk <Telekom> & Co", "AT", "ops@alpenfunk.example", "operator"),
    ("ESPIM", "Iberia Movil SA", "ES", "ops@iberiamovil.example", "operator"),
    ("LUXMC", "Meridian Clearing House", "LU", "clearing@meridian.example", "clearing_agent"),
)


@dataclass
class Consortium:
    app: Flask
    parties: dict[str, Party]

    @property
    def a(self) -> Party:
        return self.parties["SWENM"]

    @property
    def b(self) -> Party:
        return self.parties["AUTAF"]

    @property
    def c(self) -> Party:
        return self.parties["ESPIM"]

    @property
    def agent(self) -> Party:
        return self.parties["LUXMC"]

    def client(self) -> SettlementClient:
        with self.app.app_context():
            return contracts(self.app).settlement

    def browser(self, party: Party) -> FlaskClient:
        """A test client signed in as ``party``."""
        browser = self.app.test_client()
        response = login(browser, party.email, PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser

    def token(self, party: Party) -> dict[str, str]:
        """An Authorization header with a new API token of ``party``."""
        from app.accounts import services
        from app.accounts.models import User

        with self.app.app_context():
            user = services.find_user_by_email(party.email)
            assert isinstance(user, User)
            issued = services.issue_token(user, "tests")
            return {"Authorization": f"Bearer {issued.secret}"}


def key_of(code: str) -> LocalAccount:
    account: LocalAccount = Account.from_key(keccak(text=f"ledgerline-app-tests/{code}"))
    return account


def consortium_app(make_app: Callable[..., Flask], tmp_path: Path, **overrides: Any) -> Consortium:
    """A deployed app with three operators and a clearing agent admitted and enrolled."""
    from app.accounts import services
    from app.chain_setup import ensure_contracts
    from app.extensions import db
    from app.settlement import keys
    from app.settlement.demo import genesis_governor

    app = make_app(
        CHAIN_URL=f"embedded://{tmp_path / 'instance' / 'chain.db'}",
        ANCHOR_EVERY_ENTRIES=0,
        **overrides,
    )
    ensure_contracts(app)
    parties = {}
    with app.app_context():
        handle = contracts(app)
        governor = genesis_governor(app, handle.chain)
        for code, name, country, email, role in MEMBERS:
            signer = key_of(code)
            handle.chain.ensure_funded(signer.address, 10**17, 10**18)
            registry_role = Role.CLEARING_AGENT if role == "clearing_agent" else Role.OPERATOR
            result = handle.registry.propose_admission(
                governor,
                signer.address,
                MemberProfile(name, country, code, ("EUR", "USD")),
                roles=[registry_role],
            )
            assert result.executed
            user = services.create_user(email, name, PASSWORD, [role], signer.address)
            keys.store_key(user, signer, PASSWORD)
            db.session.commit()
            parties[code] = Party(code, name, email, signer, role)
    return Consortium(app, parties)


def record(
    debtor: Party, creditor: Party, amount: int, reference: str, **fields: Any
) -> Obligation:
    """An obligation of ``amount`` cents, EUR roaming in 202510 unless told otherwise."""
    return Obligation.create(
        debtor.address,
        creditor.address,
        fields.get("currency", "EUR"),
        amount,
        fields.get("service", "roaming"),
        fields.get("period", 202510),
        reference=reference,
    )


def flashes(page: str) -> list[tuple[str, str]]:
    """The (category, message) flash messages of a rendered page, unescaped."""
    import html

    return [(kind, html.unescape(text.strip())) for kind, text in _FLASH.findall(page)]


def post(browser: FlaskClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST a settlement form like a browser (CSRF token included) and follow the redirect."""
    token = csrf_token(browser, "/settlement/key")
    return browser.post(
        path, data={**(data or {}), "csrf_token": token}, follow_redirects=True, **kwargs
    )
