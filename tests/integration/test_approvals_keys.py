"""Approvers' signing keys: encrypted with the approver's password, unlocked only to sign,
re-encrypted on a password change and rotated on an administrator's reset."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from eth_account import Account
from flask import Flask

from app.accounts import services as accounts
from app.approvals import keys
from app.errors import ValidationError
from app.extensions import db
from tests.campaigns_support import PASSWORD


@pytest.fixture
def ids(app: Flask, make_user: Callable[..., int]) -> dict[str, int]:
    return {
        "anna": make_user("anna@example.com", PASSWORD, ("approver",), "Anna Approver"),
        "clara": make_user("clara@example.com", PASSWORD, ("compliance",), "Clara Compliance"),
        "mia": make_user("mia@example.com", PASSWORD, ("marketer",), "Mia Maker"),
        "root": make_user("root@example.com", PASSWORD, ("admin",), "Root Admin"),
    }


def test_approvers_and_compliance_get_a_key_when_they_are_created_and_marketers_do_not(
    app: Flask, ids: dict[str, int]
) -> None:
    with app.app_context():
        assert keys.active_key(ids["anna"]) is not None
        assert keys.active_key(ids["clara"]) is not None
        assert keys.active_key(ids["mia"]) is None


def test_the_stored_key_is_a_v3_keystore_that_only_the_password_opens(
    app: Flask, ids: dict[str, int]
) -> None:
    with app.app_context():
        row = keys.active_key(ids["anna"])
        assert row is not None
        assert row.keystore["version"] == 3
        assert row.keystore["address"].lower() == row.address[2:].lower()
        account = keys.unlock(accounts.get_user(ids["anna"]), PASSWORD)
        assert account.address == row.address
        assert account.key.hex().removeprefix("0x") not in json.dumps(row.keystore)
        with pytest.raises(ValidationError) as wrong:
            keys.unlock(accounts.get_user(ids["anna"]), "guess")
        assert wrong.value.message == (
            "the password is wrong; type your sign-in password to sign the decision"
        )
        with pytest.raises(ValueError, match="MAC mismatch"):
            Account.decrypt(row.keystore, "guess")


def test_a_key_is_created_on_first_need_with_the_password_typed(
    app: Flask, ids: dict[str, int]
) -> None:
    with app.app_context():
        mia = accounts.get_user(ids["mia"])
        with pytest.raises(ValidationError, match="the password is wrong"):
            keys.unlock(mia, "not it")
        assert keys.active_key(mia.id) is None
        account = keys.unlock(mia, PASSWORD)
        db.session.commit()
        assert keys.active_key(mia.id).address == account.address


def test_a_password_change_re_encrypts_the_same_key(app: Flask, ids: dict[str, int]) -> None:
    with app.app_context():
        anna = accounts.get_user(ids["anna"])
        before = keys.active_key(anna.id)
        address, old_cipher = before.address, dict(before.keystore)
        accounts.change_password(anna, PASSWORD, "a brand new secret")
        after = keys.active_key(anna.id)
        assert after.address == address
        assert after.keystore != old_cipher
        assert keys.unlock(anna, "a brand new secret").address == address
        with pytest.raises(ValidationError, match="the password is wrong"):
            keys.unlock(anna, PASSWORD)


def test_an_administrators_reset_rotates_the_key_and_keeps_the_old_one_retired(
    app: Flask, ids: dict[str, int]
) -> None:
    with app.app_context():
        old = keys.active_key(ids["anna"]).address
        user, password = accounts.reset_password(ids["anna"])
        new = keys.active_key(user.id)
        assert new.address != old
        assert keys.unlock(user, password).address == new.address
        retired = keys.owner_of(old)
        assert retired.user_id == user.id
        assert retired.retired_reason == "password reset by an administrator"
        assert retired.retired_at is not None
        assert [k.address for k in keys.keys_of(user.id)] == [new.address, old]
