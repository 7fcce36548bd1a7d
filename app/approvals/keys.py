"""Approvers' signing keys: one Ethereum key per user, stored only as a V3 keystore
encrypted with the user's own password.

The key is decrypted in memory when the user approves (they type their password on the
approval form), signs the decision's EIP-712 typed data, and is dropped.  Whoever runs
the database holds only ciphertext, so they cannot produce an approver's signature.

Lifecycle:

* created when a user is created with the approver or compliance role (the password is
  known then), or on first need: the first time a user signs, with the password typed;
* re-encrypted when the user changes their password (:func:`password_changed`);
* replaced when an administrator resets the password (:func:`password_reset`): the old
  key cannot be decrypted any more, so a new key is generated and the old one is kept,
  retired with the reason, so signatures it made keep a known owner.

The key derivation is ``KEYSTORE_KDF`` (scrypt by default) with ``KEYSTORE_ITERATIONS``
(eth-account's default work factor when unset; the tests use a low cost).
"""

from __future__ import annotations

from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from flask import current_app
from sqlalchemy import select

from app.accounts import passwords
from app.accounts.models import Role, User
from app.approvals.models import UserSigningKey
from app.database import utcnow
from app.errors import ValidationError
from app.extensions import db

#: Roles whose holders get a key as soon as they are created.
SIGNING_ROLES = frozenset({Role.APPROVER, Role.COMPLIANCE})

WRONG_PASSWORD = "the password is wrong; type your sign-in password to sign the decision"


def _encrypt(key: bytes, password: str) -> dict[str, Any]:
    config = current_app.config
    kdf: Literal["scrypt", "pbkdf2"] = (
        "pbkdf2" if config.get("KEYSTORE_KDF") == "pbkdf2" else "scrypt"
    )
    iterations = config.get("KEYSTORE_ITERATIONS")
    encrypted: dict[str, Any] = Account.encrypt(key, password, kdf=kdf, iterations=iterations)
    return encrypted


def active_key(user_id: int) -> UserSigningKey | None:
    """The user's current key, if they have one."""
    return db.session.scalar(
        select(UserSigningKey)
        .where(UserSigningKey.user_id == user_id, UserSigningKey.retired_at.is_(None))
        .order_by(UserSigningKey.id.desc())
    )


def keys_of(user_id: int) -> list[UserSigningKey]:
    """Every key the user ever had, newest first."""
    return list(
        db.session.scalars(
            select(UserSigningKey)
            .where(UserSigningKey.user_id == user_id)
            .order_by(UserSigningKey.id.desc())
        )
    )


def _new_key(user: User, password: str) -> UserSigningKey:
    account = Account.create()
    row = UserSigningKey(
        user=user,
        address=account.address,
        keystore=_encrypt(account.key, password),
        created_at=utcnow(),
    )
    db.session.add(row)
    return row


def provision_for_new_user(user: User, password: str) -> UserSigningKey | None:
    """Add a key for a new user holding a signing role (in the caller's transaction)."""
    if not user.roles & SIGNING_ROLES:
        return None
    return _new_key(user, password)


def _decrypt(row: UserSigningKey, password: str) -> LocalAccount | None:
    try:
        key = Account.decrypt(row.keystore, password)
    except ValueError:
        return None
    account: LocalAccount = Account.from_key(key)
    if account.address != row.address:
        raise ValidationError(
            f"the signing key stored for {row.address} holds another key ({account.address}); "
            "the key row was tampered with: ask an administrator to investigate"
        )
    return account


def unlock(user: User, password: str) -> LocalAccount:
    """The user's signing key, decrypted with ``password`` (created on first need).

    Raises ValidationError when the password is wrong.  Does not commit: a key created
    here is saved with the decision that needed it.
    """
    if not password:
        raise ValidationError(
            "type your sign-in password: it unlocks your signing key",
            details={"password": "required"},
        )
    row = active_key(user.id)
    if row is None:
        if not passwords.verify_password(user.password_hash, password):
            raise ValidationError(WRONG_PASSWORD, details={"password": "wrong"})
        row = _new_key(user, password)
    account = _decrypt(row, password)
    if account is None:
        raise ValidationError(WRONG_PASSWORD, details={"password": "wrong"})
    return account


def password_changed(user: User, old_password: str, new_password: str) -> None:
    """Re-encrypt the user's key under their new password (in the caller's transaction).

    A key that the old password does not open (it cannot happen through the app) is
    retired and replaced rather than left unusable.
    """
    row = active_key(user.id)
    if row is None:
        return
    account = _decrypt(row, old_password)
    if account is None:
        _retire(row, "the old password did not open it at a password change")
        _new_key(user, new_password)
        return
    row.keystore = _encrypt(account.key, new_password)


def password_reset(user: User, new_password: str) -> UserSigningKey | None:
    """After an administrator's reset the old key is unreadable: retire it, make a new one."""
    row = active_key(user.id)
    if row is None:
        return None
    _retire(row, "password reset by an administrator")
    return _new_key(user, new_password)


def _retire(row: UserSigningKey, reason: str) -> None:
    row.retired_at = utcnow()
    row.retired_reason = reason
    db.session.flush()  # the new key is then the only active one


def owner_of(address: str) -> UserSigningKey | None:
    """The key row (active or retired) for ``address``."""
    return db.session.scalar(select(UserSigningKey).where(UserSigningKey.address == address))


__all__ = [
    "SIGNING_ROLES",
    "active_key",
    "keys_of",
    "owner_of",
    "password_changed",
    "password_reset",
    "provision_for_new_user",
    "unlock",
]
