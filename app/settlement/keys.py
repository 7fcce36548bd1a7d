"""Operators' and clearing agents' on-chain keys, held as the approvers' keys are
(:mod:`app.approvals.keys`): a V3 keystore encrypted with the user's own sign-in password,
decrypted in memory only while the user acts (they type their password on the form or
send it in the API request), used to sign, and dropped.

Unlike an approver's key, this key *is* the registry member's account
(``User.member_address``): it is never generated here for an existing member.  A user
imports it from a keystore file (:func:`import_keystore`, re-encrypted under their
sign-in password); the settlement demo stores the keys it created (:func:`store_key`).

* A password change re-encrypts the key (:func:`password_changed`).
* An administrator's password reset leaves the key unreadable: it is retired with the
  reason, and the user imports the keystore again (:func:`password_reset`).
"""

from __future__ import annotations

from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from flask import current_app
from sqlalchemy import select

from app.accounts import passwords
from app.accounts.models import User
from app.database import utcnow
from app.errors import ValidationError
from app.extensions import db
from app.settlement.models import OperatorKey

WRONG_PASSWORD = "the password is wrong; type your sign-in password: it unlocks your operator key"


class KeyMissingError(ValidationError):
    """The user has no usable operator key."""

    status_code = 409
    code = "operator_key_missing"


def _encrypt(key: bytes, password: str) -> dict[str, Any]:
    config = current_app.config
    kdf: Literal["scrypt", "pbkdf2"] = (
        "pbkdf2" if config.get("KEYSTORE_KDF") == "pbkdf2" else "scrypt"
    )
    encrypted: dict[str, Any] = Account.encrypt(
        key, password, kdf=kdf, iterations=config.get("KEYSTORE_ITERATIONS")
    )
    return encrypted


def active_key(user_id: int) -> OperatorKey | None:
    """The user's current operator key row, if any."""
    return db.session.scalar(
        select(OperatorKey)
        .where(OperatorKey.user_id == user_id, OperatorKey.retired_at.is_(None))
        .order_by(OperatorKey.id.desc())
    )


def key_status(user: User) -> str:
    """``ok``, ``missing``, ``retired`` (after a reset) or ``mismatch`` (another member)."""
    row = active_key(user.id)
    if row is None:
        retired = db.session.scalar(
            select(OperatorKey.id).where(OperatorKey.user_id == user.id).limit(1)
        )
        return "retired" if retired is not None else "missing"
    if user.member_address and row.address != user.member_address:
        return "mismatch"
    return "ok"


def _check_sign_in_password(user: User, password: str) -> None:
    if not password:
        raise ValidationError(
            "type your sign-in password: it unlocks your operator key",
            details={"password": "required"},
        )
    if not passwords.verify_password(user.password_hash, password):
        raise ValidationError(WRONG_PASSWORD, details={"password": "wrong"})


def _replace(user: User, account: LocalAccount, password: str, reason: str) -> OperatorKey:
    for row in db.session.scalars(
        select(OperatorKey).where(OperatorKey.user_id == user.id, OperatorKey.retired_at.is_(None))
    ):
        row.retired_at = utcnow()
        row.retired_reason = reason
    db.session.flush()
    row = OperatorKey(
        user_id=user.id,
        address=account.address,
        keystore=_encrypt(account.key, password),
        created_at=utcnow(),
    )
    db.session.add(row)
    return row


def store_key(user: User, account: LocalAccount, password: str) -> OperatorKey:
    """Keep ``account`` for ``user``, encrypted with their sign-in ``password`` (in the
    caller's transaction).  The key must be the user's member account."""
    if user.member_address != account.address:
        raise ValidationError(
            f"the key is {account.address} but {user.email} acts for member "
            f"{user.member_address}; store that member's key",
            details={"keystore": "another account"},
        )
    return _replace(user, account, password, "replaced by another key")


def import_keystore(
    user: User, keystore: dict[str, Any] | str, keystore_password: str, password: str
) -> OperatorKey:
    """Import the member's V3 keystore file for ``user`` and commit.

    ``keystore_password`` opens the file; ``password`` (the user's sign-in password)
    encrypts the copy kept here.
    """
    import json

    _check_sign_in_password(user, password)
    try:
        data = json.loads(keystore) if isinstance(keystore, str) else keystore
        if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data}:
            raise ValueError("not a V3 keystore")
    except ValueError:
        raise ValidationError(
            "the file is not a V3 keystore (JSON with a crypto section); upload the key "
            "file of your member's account from the `ledgerline` keystore directory",
            details={"keystore": "not a V3 keystore"},
        ) from None
    try:
        key = Account.decrypt(data, keystore_password)
    except (ValueError, KeyError, TypeError):
        raise ValidationError(
            "the keystore password does not open this keystore file; type the password "
            "the file was encrypted with",
            details={"keystore_password": "wrong"},
        ) from None
    account: LocalAccount = Account.from_key(key)
    row = store_key(user, account, password)
    db.session.commit()
    return row


def unlock(user: User, password: str) -> LocalAccount:
    """The user's member key, decrypted with their sign-in ``password``.

    Raises ValidationError (wrong or missing password) or :class:`KeyMissingError`.
    """
    if not password:
        raise ValidationError(
            "type your sign-in password: it unlocks your operator key",
            details={"password": "required"},
        )
    row = active_key(user.id)
    if row is None:
        status = key_status(user)
        hint = (
            "an administrator reset your password, which left the stored key unreadable"
            if status == "retired"
            else "no operator key is stored for your account"
        )
        raise KeyMissingError(
            f"{hint}; import your member's keystore file on the Settlement › Key page",
            details={"key": status},
        )
    try:
        key = Account.decrypt(row.keystore, password)
    except ValueError:
        raise ValidationError(WRONG_PASSWORD, details={"password": "wrong"}) from None
    account: LocalAccount = Account.from_key(key)
    if account.address != row.address:
        raise ValidationError(
            f"the key stored for {row.address} holds another key ({account.address}); "
            "the key row was tampered with: ask an administrator to investigate"
        )
    if user.member_address and account.address != user.member_address:
        raise KeyMissingError(
            f"your stored key is {account.address} but you act for member "
            f"{user.member_address}; import that member's keystore file",
            details={"key": "mismatch"},
        )
    return account


def password_changed(user: User, old_password: str, new_password: str) -> None:
    """Re-encrypt the user's key under their new password (in the caller's transaction)."""
    row = active_key(user.id)
    if row is None:
        return
    try:
        key = Account.decrypt(row.keystore, old_password)
    except ValueError:
        row.retired_at = utcnow()
        row.retired_reason = "the old password did not open it at a password change"
        return
    row.keystore = _encrypt(key, new_password)


def password_reset(user: User) -> None:
    """After an administrator's reset nobody can decrypt the key: retire it (the user
    imports the keystore file again)."""
    row = active_key(user.id)
    if row is not None:
        row.retired_at = utcnow()
        row.retired_reason = "password reset by an administrator: import the keystore again"


__all__ = [
    "KeyMissingError",
    "active_key",
    "import_keystore",
    "key_status",
    "password_changed",
    "password_reset",
    "store_key",
    "unlock",
]
