"""Who sees what in the settlement pages and API, on SQLite and PostgreSQL.

No chain here: the index tables are filled directly, as the indexer would, and the
app's chain URL points at a closed port, so the pages also show how they behave when
the chain cannot be read (the index as last synced, with the problem).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from flask import Flask
from flask.testing import FlaskClient

from app.accounts import passwords
from app.accounts import services as accounts
from app.accounts.models import User
from app.database import utcnow
from app.extensions import db
from app.settlement import keys
from app.settlement.models import IndexedMember, IndexedObligation
from tests.integration.app_fixtures import login
from tests.settlement_app_support import flashes, post

PASSWORD = "operator password 1"
A, B, C, AGENT = (Account.from_key(bytes([i]) * 32) for i in (11, 12, 13, 14))


def _member(account: Any, code: str, position: int, role: str = "OPERATOR") -> IndexedMember:
    return IndexedMember(
        address=account.address,
        code=code,
        legal_name=f"{code} Telecom",
        country="SE",
        currencies=["EUR", "USD"],
        roles=[role],
        status="active",
        admitted_at=utcnow(),
        position=position,
    )


def _obligation(
    number: int, debtor: Any, creditor: Any, proposer: Any, status: str = "proposed", **extra: Any
) -> IndexedObligation:
    ident = "0x" + f"{number:064x}"
    return IndexedObligation(
        id=ident,
        debtor=debtor.address,
        creditor=creditor.address,
        currency=extra.get("currency", "EUR"),
        amount=extra.get("amount", 1000 * number),
        service_type=2,
        period=extra.get("period", 202510),
        external_ref="0x" + "ab" * 32,
        evidence_hash="0x" + "00" * 32,
        salt="0x" + "00" * 32,
        proposer=proposer.address,
        counterparty=creditor.address if proposer.address == debtor.address else debtor.address,
        status=status,
        proposed_block=number,
        proposed_tx="0x" + f"{number:064x}",
        log_index=0,
    )


@pytest.fixture
def index(app: Flask) -> dict[str, str]:
    """Three operators and an agent in the index; four obligations; their users."""
    with app.app_context():
        db.session.add_all(
            [
                _member(A, "SWENM", 0),
                _member(B, "AUTAF", 1),
                _member(C, "ESPIM", 2),
                _member(AGENT, "LUXMC", 3, "CLEARING_AGENT"),
            ]
        )
        db.session.add_all(
            [
                _obligation(1, A, B, B),  # awaits A
                _obligation(2, B, A, B, "disputed", currency="USD"),
                _obligation(3, B, C, C, amount=2**96 - 1, period=202511),
                _obligation(4, C, A, A, "confirmed"),
            ]
        )
        db.session.commit()
        for email, account, role in (
            ("ops@swenm.example", A, "operator"),
            ("ops@espim.example", C, "operator"),
            ("clearing@luxmc.example", AGENT, "clearing_agent"),
        ):
            user = accounts.create_user(email, email, PASSWORD, [role], account.address)
            keys.store_key(user, account, PASSWORD)
            db.session.commit()
        accounts.create_user("marketer@example.com", "Marketer", PASSWORD, ["marketer"])
    return {"a": "ops@swenm.example", "c": "ops@espim.example", "agent": "clearing@luxmc.example"}


def token(app: Flask, email: str) -> dict[str, str]:
    with app.app_context():
        user = accounts.find_user_by_email(email)
        assert isinstance(user, User)
        return {"Authorization": f"Bearer {accounts.issue_token(user, 'tests').secret}"}


def signed_in(app: Flask, email: str) -> FlaskClient:
    browser = app.test_client()
    assert login(browser, email, PASSWORD).status_code == 302
    return browser


def ident(number: int) -> str:
    return "0x" + f"{number:064x}"


def test_a_marketer_is_refused_the_settlement_pages_and_api(
    app: Flask, index: dict[str, str]
) -> None:
    browser = signed_in(app, "marketer@example.com")
    page = browser.get("/settlement/")
    assert page.status_code == 403
    assert "this page needs the operator or clearing_agent role" in page.get_data(as_text=True)
    api = app.test_client().get(
        "/api/settlement/obligations", headers=token(app, "marketer@example.com")
    )
    assert api.status_code == 403
    assert api.get_json()["error"]["code"] == "forbidden"
    assert app.test_client().get("/api/settlement/cycles").status_code == 401
    assert app.test_client().get("/settlement/cycles").status_code == 302  # to the login page


def test_an_operator_sees_only_its_own_obligations(app: Flask, index: dict[str, str]) -> None:
    response = app.test_client().get("/api/settlement/obligations", headers=token(app, index["a"]))
    assert response.status_code == 200
    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [ident(4), ident(2), ident(1)]
    assert body["total"] == 3
    assert body["index"]["problem"].startswith("the chain could not be read")

    hidden = app.test_client().get(
        f"/api/settlement/obligations/{ident(3)}", headers=token(app, index["a"])
    )
    assert hidden.status_code == 404
    assert hidden.get_json()["error"]["message"].startswith(f"no obligation {ident(3)} among yours")

    page = signed_in(app, index["a"]).get("/settlement/obligations").get_data(as_text=True)
    assert ident(1) in page and ident(4) in page and ident(3) not in page
    assert "the chain could not be read" in page


def test_the_clearing_agent_sees_every_obligation_and_huge_amounts_survive(
    app: Flask, index: dict[str, str]
) -> None:
    headers = token(app, index["agent"])
    body = app.test_client().get("/api/settlement/obligations", headers=headers).get_json()
    assert body["total"] == 4
    huge = app.test_client().get(f"/api/settlement/obligations/{ident(3)}", headers=headers)
    obligation = huge.get_json()["obligation"]
    assert obligation["amount"] == str(2**96 - 1)  # beyond 2**53: sent as a string
    assert obligation["amountText"] == "792281625142643375935439503.35"
    assert (obligation["debtorCode"], obligation["creditorCode"]) == ("AUTAF", "ESPIM")


def test_obligation_filters_and_paging(app: Flask, index: dict[str, str]) -> None:
    client, headers = app.test_client(), token(app, index["a"])

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/settlement/obligations?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("box=inbox") == [ident(1)]
    assert ids("box=proposed") == [ident(4)]
    assert ids("box=disputes") == [ident(2)]
    assert ids("status=confirmed") == [ident(4)]
    assert ids("counterparty=AUTAF") == [ident(2), ident(1)]
    assert ids("counterparty=espim") == [ident(4)]
    assert ids("currency=USD") == [ident(2)]
    assert ids("period=202510&per_page=1&page=2") == [ident(2)]
    paged = client.get("/api/settlement/obligations?per_page=2", headers=headers).get_json()
    assert (paged["page"], paged["perPage"], paged["total"], paged["pages"]) == (1, 2, 3, 2)

    for query, message in (
        (
            "status=paid",
            "status 'paid' is unknown; use one of proposed, confirmed, disputed, "
            "withdrawn, amended",
        ),
        ("currency=eur", "currency 'eur' must be written in upper case: EUR"),
        (
            "period=2025-10",
            "period '2025-10' is not a billing month YYYYMM (e.g. 202501, "
            "year 1970..9999, month 01..12)",
        ),
        (
            "counterparty=NOPE",
            "counterparty 'NOPE' is neither a registry member code nor a 0x "
            "address; GET /api/settlement/members lists the members",
        ),
        ("per_page=0", "per_page '0' must be a positive whole number"),
    ):
        response = client.get(f"/api/settlement/obligations?{query}", headers=headers)
        assert response.status_code == 400
        assert response.get_json()["error"]["message"] == message


def test_actions_need_the_password_in_the_body_and_a_wrong_one_is_refused(
    app: Flask, index: dict[str, str]
) -> None:
    client, headers = app.test_client(), token(app, index["a"])
    missing = client.post(
        f"/api/settlement/obligations/{ident(1)}/confirm", json={}, headers=headers
    )
    assert missing.status_code == 400
    error = missing.get_json()["error"]
    assert error["message"] == (
        'the request body needs a "password" field: your sign-in password unlocks your member '
        "key for this action"
    )
    assert error["details"] == {"password": "required"}

    wrong = client.post(
        "/api/settlement/obligations/confirm",
        json={"ids": [ident(1)], "password": "guess"},
        headers=headers,
    )
    assert wrong.status_code == 400
    assert wrong.get_json()["error"]["message"] == (
        "the password is wrong; type your sign-in password: it unlocks your operator key"
    )

    no_ids = client.post(
        "/api/settlement/obligations/dispute",
        json={"password": PASSWORD, "reason": "amount_mismatch"},
        headers=headers,
    )
    assert no_ids.status_code == 400
    assert no_ids.get_json()["error"]["details"] == {"ids": "required"}


def test_actions_carry_the_password_only_over_https_in_production(
    make_app: Callable[..., Flask], index: dict[str, str]
) -> None:
    secure = make_app(HTTPS=True)
    headers = token(secure, index["a"])
    body = {"ids": [ident(1)], "password": PASSWORD}
    plain = secure.test_client().post(
        "/api/settlement/obligations/confirm",
        json=body,
        headers=headers,
        base_url="http://localhost",
    )
    assert plain.status_code == 400
    assert plain.get_json()["error"] == {
        "code": "https_required",
        "message": "actions carry your password: send them over HTTPS (this server requires it)",
        "details": None,
    }
    # Over HTTPS it goes through, as far as the (unreachable) chain.
    https = secure.test_client().post(
        "/api/settlement/obligations/confirm",
        json=body,
        headers=headers,
        base_url="https://localhost",
    )
    assert https.status_code == 503
    assert https.get_json()["error"]["code"] == "chain_unavailable"


def test_a_user_without_a_stored_key_is_told_to_import_it(
    app: Flask, index: dict[str, str]
) -> None:
    with app.app_context():
        user = accounts.find_user_by_email(index["a"])
        assert user is not None
        accounts.reset_password(user.id)
        user.password_hash = passwords.hash_password(PASSWORD)
        user.session_version += 1
        db.session.commit()
    response = app.test_client().post(
        "/api/settlement/obligations/confirm",
        json={"ids": [ident(1)], "password": PASSWORD},
        headers=token(app, index["a"]),
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == (
        "an administrator reset your password, which left the stored key unreadable; import "
        "your member's keystore file on the Settlement › Key page"
    )


def test_importing_a_keystore_stores_the_member_key_under_the_sign_in_password(
    app: Flask, index: dict[str, str]
) -> None:
    keystore = Account.encrypt(C.key, "file password", kdf="pbkdf2", iterations=1000)
    with app.app_context():
        user = accounts.find_user_by_email(index["c"])
        assert user is not None
        accounts.reset_password(user.id)  # retires the stored key
        user.password_hash = passwords.hash_password(PASSWORD)
        db.session.commit()
    browser = signed_in(app, index["c"])
    page = browser.get("/settlement/key").get_data(as_text=True)
    assert "An administrator reset your password" in page

    wrong = post(
        browser,
        "/settlement/key",
        {
            "keystore": (io.BytesIO(json.dumps(keystore).encode()), "key.json"),
            "keystore_password": "not it",
            "password": PASSWORD,
        },
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert (
        "error",
        "the keystore password does not open this keystore file; type the password the file "
        "was encrypted with",
    ) in flashes(wrong)

    page = post(
        browser,
        "/settlement/key",
        {
            "keystore": (io.BytesIO(json.dumps(keystore).encode()), "key.json"),
            "keystore_password": "file password",
            "password": PASSWORD,
        },
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert ("success", "Your member key is stored, encrypted with your sign-in password.") in (
        flashes(page)
    )
    with app.app_context():
        user = accounts.find_user_by_email(index["c"])
        assert user is not None
        assert keys.unlock(user, PASSWORD).address == C.address


def test_the_members_endpoint_lists_the_registry(app: Flask, index: dict[str, str]) -> None:
    body = (
        app.test_client().get("/api/settlement/members", headers=token(app, index["c"])).get_json()
    )
    assert [(m["code"], m["roles"]) for m in body["items"]] == [
        ("SWENM", ["OPERATOR"]),
        ("AUTAF", ["OPERATOR"]),
        ("ESPIM", ["OPERATOR"]),
        ("LUXMC", ["CLEARING_AGENT"]),
    ]
