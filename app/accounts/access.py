"""Who may reach what: session and API-token authentication, role checks, CSRF.

Browser requests authenticate with the Flask-Login session cookie and must carry a CSRF
token on every unsafe method.  Requests under ``/api/`` may instead send
``Authorization: Bearer <token>``; such a request is authenticated by the token alone
(any session cookie is ignored) and, carrying no ambient credentials, skips CSRF.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user

from app.accounts import services
from app.accounts.models import Role, User
from app.errors import AuthenticationError, PermissionDeniedError, error_response, wants_json
from app.extensions import csrf, login_manager

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIX = "/api/"


def roles_required(*roles: Role | str) -> Callable[[F], F]:
    """Allow the view to users holding at least one of ``roles``.

    With no roles, any logged-in user passes.  Anonymous users are sent to the login
    page (HTML) or get a 401 (API); logged-in users without the role get a 403.
    """
    wanted = tuple(Role(role) for role in roles)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if wanted and not current_user.has_role(*wanted):
                names = " or ".join(role.value for role in wanted)
                raise PermissionDeniedError(
                    f"this page needs the {names} role; ask an administrator for it",
                    details={"required_roles": [role.value for role in wanted]},
                )
            return view(*args, **kwargs)

        wrapper.required_roles = wanted  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


login_required = roles_required()


def is_token_request() -> bool:
    """True when this request was authenticated by an API token."""
    return bool(g.get("api_token_authenticated", False))


def _authenticate_api_token() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError(
            "the Authorization header must be 'Bearer <token>'; create a token on your account page"
        )
    user = services.authenticate_token(value)
    login_manager._update_request_context_with_user(user)
    g.api_token_authenticated = True


def _before_request() -> None:
    if request.path.startswith(API_PREFIX) and "Authorization" in request.headers:
        _authenticate_api_token()
        return
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect(apply_exemptions=True)


def _unauthorized() -> Any:
    if wants_json():
        response = error_response(
            401,
            "authentication_required",
            "log in, or send 'Authorization: Bearer <token>' with an API token",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="ledgerline"'
        return response
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def init_access(app: Flask) -> None:
    """Wire Flask-Login and the CSRF/token hook into ``app``."""
    login_manager.init_app(app)
    login_manager.user_loader(services.load_session_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.login_view = "accounts.login"
    # The app runs CSRF itself (see _before_request) so token requests can skip it.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_before_request)


def current_account() -> User:
    """The logged-in user, typed (only inside views guarded by roles_required)."""
    return cast(User, current_user._get_current_object())
