"""The settlement demo seed on an embedded chain (SQLite only: it sends about 30
transactions; the pages it feeds are tested on both backends elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from app.chain_setup import ensure_contracts
from app.extensions import db
from app.settlement.demo import demo_accounts, seed_demo_settlement
from app.settlement.models import DisputeNote, IndexedCycle, IndexedObligation
from app.settlement.onchain import contracts
from ledger.settlement import CycleStatus
from tests.integration.app_fixtures import login

pytestmark = pytest.mark.parametrize("app_database", ["sqlite"], indirect=True)


@pytest.fixture
def demo_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    app = make_app(
        CHAIN_URL=f"embedded://{tmp_path / 'instance' / 'chain.db'}", ANCHOR_EVERY_ENTRIES=0
    )
    ensure_contracts(app)
    return app


def test_the_demo_seeds_a_consortium_with_a_settled_and_an_open_cycle(demo_app: Flask) -> None:
    demo = seed_demo_settlement(demo_app, seed=3, operators=3, obligations=30)

    assert demo.created
    assert [(a.role, a.email, a.code) for a in demo.accounts] == [
        ("operator", "ops@nordicmobile.example", "SWENM"),
        ("operator", "ops@alpenfunk.example", "AUTAF"),
        ("operator", "ops@iberiamovil.example", "ESPIM"),
        ("clearing_agent", "clearing@meridianclearing.example", "LUXMC"),
    ]
    assert demo.accounts == tuple(demo_accounts(seed=3, operators=3))
    assert (demo.obligations, demo.amended) == (31, 1)
    assert demo.confirmed + demo.disputed + demo.pending == 31
    assert demo.transactions < 40
    with demo_app.app_context():
        handle = contracts(demo_app)
        registry, client = handle.registry, handle.settlement
        for account in demo.accounts:
            member = registry.member(account.member)
            assert (member.code, member.legal_name) == (account.code, account.name)
        assert client.cycle(demo.settled_cycle).status is CycleStatus.SETTLED
        assert client.cycle(demo.open_cycle).status is CycleStatus.OPEN
        cycles = {c.id: (c.currency, c.status) for c in db.session.scalars(db.select(IndexedCycle))}
        assert cycles == {demo.settled_cycle: ("EUR", "settled"), demo.open_cycle: ("USD", "open")}
        statuses = [r.status for r in db.session.scalars(db.select(IndexedObligation))]
        assert statuses.count("confirmed") == demo.confirmed
        assert statuses.count("disputed") == demo.disputed - demo.amended
        assert statuses.count("amended") == demo.amended
        assert statuses.count("proposed") == demo.pending
        assert db.session.scalar(db.select(db.func.count()).select_from(DisputeNote)) == (
            demo.disputed
        )

    browser = demo_app.test_client()
    operator = demo.accounts[0]
    assert login(browser, operator.email, operator.password).status_code == 302
    page = browser.get(f"/settlement/cycles/{demo.settled_cycle}").get_data(as_text=True)
    assert "Nordic Mobile AB" in page or "SWENM" in page
    assert browser.get(f"/settlement/cycles/{demo.settled_cycle}/statement.csv").status_code == 200

    again = seed_demo_settlement(demo_app, seed=3, operators=3, obligations=30)
    assert not again.created and again.accounts == demo.accounts
    assert again.lines()[0] == "settlement: the demo consortium is already on the ledger"
