"""Account rules: users, roles, passwords, logins and API tokens.

Every public function is one use case and one transaction: it validates, changes the
session and commits, or raises an :mod:`app.errors` error and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from eth_utils import is_address, to_checksum_address
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts import passwords
from app.accounts.models import MEMBER_ROLES, ApiToken, Role, User, UserRole
from app.database import utcnow
from app.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from app.extensions import db

TOKEN_SCHEME = "ll"
_TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)
_BAD_LOGIN = "Invalid email or password."


@dataclass(frozen=True)
class IssuedToken:
    """A new API token: ``secret`` is the full bearer value, shown to its owner once."""

    token: ApiToken
    secret: str


# -- validation ------------------------------------------------------------------------


def normalize_email(raw: str) -> str:
    """The canonical (lower-case) form of an email address, or a ValidationError."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(
            f"email {raw!r} is not valid: {exc}", details={"email": str(exc)}
        ) from None
    return result.normalized.lower()


def parse_roles(raw: Iterable[str | Role]) -> frozenset[Role]:
    roles: set[Role] = set()
    for value in raw:
        try:
            roles.add(Role(value))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise ValidationError(
                f"unknown role {value!r}; use one of: {allowed}", details={"roles": allowed}
            ) from None
    return frozenset(roles)


def normalize_member_address(raw: str | None, roles: frozenset[Role]) -> str | None:
    """Checksummed member address; required exactly when a member role is held."""
    value = (raw or "").strip()
    if not value:
        if roles & MEMBER_ROLES:
            needing = ", ".join(sorted(r.value for r in roles & MEMBER_ROLES))
            raise ValidationError(
                f"the {needing} role needs a registry member address; "
                "enter the member's 0x address (see `ledgerline registry members`)",
                details={"member_address": "required for the operator and clearing_agent roles"},
            )
        return None
    if not is_address(value):
        raise ValidationError(
            f"member address {value!r} is not a 20-byte hex address; "
            "paste the member's 0x… address from `ledgerline registry members`",
            details={"member_address": "not an address"},
        )
    return to_checksum_address(value)


def check_password_strength(password: str, email: str | None = None) -> None:
    minimum = int(current_app.config["PASSWORD_MIN_LENGTH"])
    if len(password) < minimum:
        raise ValidationError(
            f"the password has {len(password)} characters; use at least {minimum}",
            details={"password": f"at least {minimum} characters"},
        )
    if email and password.lower() == email.lower():
        raise ValidationError(
            "the password must not be the email address; choose another",
            details={"password": "same as the email address"},
        )


def _display_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > 120:
        raise ValidationError(
            "the display name must have 1 to 120 characters",
            details={"display_name": "1 to 120 characters"},
        )
    return name


# -- users ------------------------------------------------------------------------------


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}; pick one from the users list")
    return user


def find_user_by_email(email: str) -> User | None:
    try:
        normalized = normalize_email(email)
    except ValidationError:
        return None
    return db.session.scalar(select(User).where(User.email == normalized))


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.email)))


def count_active_admins() -> int:
    query = (
        select(func.count())
        .select_from(User)
        .join(UserRole)
        .where(User.active.is_(True), UserRole.role == Role.ADMIN)
    )
    return int(db.session.scalar(query) or 0)


def create_user(
    email: str,
    display_name: str,
    password: str,
    roles: Iterable[str | Role] = (),
    member_address: str | None = None,
) -> User:
    """A new active user.  Raises ValidationError or ConflictError (email taken)."""
    normalized = normalize_email(email)
    role_set = parse_roles(roles)
    address = normalize_member_address(member_address, role_set)
    check_password_strength(password, normalized)
    if db.session.scalar(select(User.id).where(User.email == normalized)) is not None:
        raise ConflictError(
            f"a user with email {normalized} already exists; edit that user instead",
            details={"email": "taken"},
        )
    user = User(
        email=normalized,
        display_name=_display_name(display_name),
        password_hash=passwords.hash_password(password),
        active=True,
        member_address=address,
        failed_login_count=0,
        session_version=1,
        created_at=utcnow(),
    )
    user.role_rows = [UserRole(role=role) for role in sorted(role_set)]
    db.session.add(user)
    from app.approvals import keys as signing_keys  # approvers sign with a password-locked key

    signing_keys.provision_for_new_user(user, password)
    _commit_or_conflict(normalized)
    return user


def update_user(
    user_id: int,
    *,
    display_name: str,
    roles: Iterable[str | Role],
    member_address: str | None,
    actor: User,
) -> User:
    """Change a user's name, roles and member link; never removes the last admin."""
    user = get_user(user_id)
    role_set = parse_roles(roles)
    address = normalize_member_address(member_address, role_set)
    name = _display_name(display_name)
    if Role.ADMIN in user.roles and Role.ADMIN not in role_set:
        _ensure_not_last_admin(user, "remove the admin role from")
    user.display_name = name
    user.member_address = address
    current = {row.role: row for row in user.role_rows}
    user.role_rows = [current.get(role) or UserRole(role=role) for role in sorted(role_set)]
    db.session.commit()
    return user


def deactivate_user(user_id: int, actor: User) -> User:
    """Deactivate a user: they can no longer log in, and their sessions and tokens stop."""
    user = get_user(user_id)
    if user.id == actor.id:
        raise PermissionDeniedError(
            "you cannot deactivate your own account; ask another admin to do it"
        )
    if user.active and Role.ADMIN in user.roles:
        _ensure_not_last_admin(user, "deactivate")
    user.active = False
    user.session_version += 1
    db.session.commit()
    return user


def activate_user(user_id: int) -> User:
    user = get_user(user_id)
    user.active = True
    user.failed_login_count = 0
    user.locked_until = None
    db.session.commit()
    return user


def reset_password(user_id: int) -> tuple[User, str]:
    """Give a user a new random password (returned once); ends their sessions."""
    user = get_user(user_id)
    password = passwords.generate_password()
    user.password_hash = passwords.hash_password(password)
    user.session_version += 1
    user.failed_login_count = 0
    user.locked_until = None
    from app.approvals import keys as signing_keys  # the old key is unreadable now: rotate

    signing_keys.password_reset(user, password)
    from app.settlement import keys as member_keys  # unreadable now: import it again

    member_keys.password_reset(user)
    db.session.commit()
    return user, password


def change_password(user: User, current_password: str, new_password: str) -> User:
    """The user's own password change; ends their other sessions."""
    if not passwords.verify_password(user.password_hash, current_password):
        raise ValidationError(
            "the current password is wrong; type it again",
            details={"current_password": "wrong"},
        )
    check_password_strength(new_password, user.email)
    user.password_hash = passwords.hash_password(new_password)
    user.session_version += 1
    from app.approvals import keys as signing_keys  # re-encrypt the signing key

    signing_keys.password_changed(user, current_password, new_password)
    from app.settlement import keys as member_keys  # re-encrypt the member key

    member_keys.password_changed(user, current_password, new_password)
    db.session.commit()
    return user


def _ensure_not_last_admin(user: User, action: str) -> None:
    if count_active_admins() <= 1 and user.active:
        raise ConflictError(
            f"cannot {action} {user.email}: it is the last active admin; "
            "make another user admin first"
        )


def _commit_or_conflict(email: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(
            f"a user with email {email} already exists; edit that user instead",
            details={"email": "taken"},
        ) from None


# -- login ------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User:
    """The user whose credentials these are, with the login recorded.

    Wrong email and wrong password give the same message.  After
    ``LOGIN_MAX_FAILURES`` failures in a row the account is locked for
    ``LOGIN_LOCKOUT_SECONDS``, even for the right password.
    """
    user = find_user_by_email(email)
    if user is None:
        passwords.burn_verification_time(password)
        raise AuthenticationError(_BAD_LOGIN)
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLockedError(
            f"too many failed logins; try again in {_minutes_until(user.locked_until, now)}"
        )
    if not passwords.verify_password(user.password_hash, password):
        _record_failure(user, now)
        raise AuthenticationError(_BAD_LOGIN)
    if not user.active:
        raise AuthenticationError("this account is deactivated; ask an administrator")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    db.session.commit()
    return user


def _record_failure(user: User, now: datetime) -> None:
    config = current_app.config
    user.failed_login_count += 1
    if user.failed_login_count >= int(config["LOGIN_MAX_FAILURES"]):
        user.locked_until = now + timedelta(seconds=int(config["LOGIN_LOCKOUT_SECONDS"]))
        user.failed_login_count = 0
    db.session.commit()


def _minutes_until(moment: datetime, now: datetime) -> str:
    minutes = max(1, int((moment - now).total_seconds() + 59) // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def load_session_user(session_id: str) -> User | None:
    """Flask-Login's user loader: ``"<id>:<session_version>"`` of an active user."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


# -- API tokens -------------------------------------------------------------------------


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(user: User, name: str) -> IssuedToken:
    """A new API token for ``user``; the returned secret is not stored anywhere."""
    label = name.strip()
    if not label or len(label) > 80:
        raise ValidationError(
            "the token name must have 1 to 80 characters, e.g. 'billing export job'",
            details={"name": "1 to 80 characters"},
        )
    if not user.active:
        raise PermissionDeniedError(f"{user.email} is deactivated; activate the user first")
    prefix = secrets.token_hex(6)
    secret = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user=user, name=label, prefix=prefix, token_hash=_hash_token(secret), created_at=utcnow()
    )
    db.session.add(token)
    db.session.commit()
    return IssuedToken(token=token, secret=secret)


def list_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(token_id: int, actor: User) -> ApiToken:
    """Revoke a token.  Its owner or an admin may; revoking twice is a no-op."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and not actor.has_role(Role.ADMIN)):
        raise NotFoundError(f"no API token with id {token_id} among yours")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
    return token


def authenticate_token(secret: str) -> User:
    """The active user owning this bearer token; AuthenticationError otherwise."""
    scheme, _, rest = secret.strip().partition("_")
    prefix, _, _ = rest.partition("_")
    if scheme != TOKEN_SCHEME or not prefix:
        raise AuthenticationError(
            "malformed API token; send 'Authorization: Bearer ll_…' with a token "
            "created on your account page"
        )
    token = db.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if token is None or not hmac.compare_digest(token.token_hash, _hash_token(secret.strip())):
        raise AuthenticationError("unknown API token; create a new one on your account page")
    if token.revoked_at is not None:
        raise AuthenticationError(
            f"API token {token.prefix} was revoked; create a new one on your account page"
        )
    if not token.user.active:
        raise AuthenticationError("the token's user is deactivated; ask an administrator")
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > _TOKEN_LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token.user
