"""Password hashing with argon2id (argon2-cffi), parameters from the app config."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

_KEY = "ledgerline.password_hasher"


def hasher() -> PasswordHasher:
    """The current app's hasher, built once from ``ARGON2_*`` settings."""
    existing: PasswordHasher | None = current_app.extensions.get(_KEY)
    if existing is None:
        config = current_app.config
        existing = PasswordHasher(
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST"],
            parallelism=config["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
        current_app.extensions[_KEY] = existing
    return existing


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with other parameters than the current ones."""
    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def burn_verification_time(password: str) -> None:
    """Spend as long as a real verification, so unknown emails answer as slowly."""
    verify_password(_decoy_hash(), password)


def _decoy_hash() -> str:
    key = _KEY + ".decoy"
    existing: str | None = current_app.extensions.get(key)
    if existing is None:
        existing = hash_password(secrets.token_urlsafe(16))
        current_app.extensions[key] = existing
    return existing


def generate_password() -> str:
    """A random password for first admins and resets: 20 URL-safe characters."""
    return secrets.token_urlsafe(15)
