"""Application errors and the one place that turns any error into a response.

API clients (paths under ``/api/``, ``/healthz``, or a client that prefers JSON) always
get the same shape::

    {"error": {"code": "not_found", "message": "...", "details": {...} | null}}

Browsers get an HTML error page with the same message.  Views raise :class:`AppError`
subclasses (or let ``ledger`` errors through); they never build error responses.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ledger.errors import (
    ArtifactError,
    ChainLockedError,
    ChainUnavailableError,
    ContractRevertError,
    DeploymentError,
    KeystoreError,
    LedgerConfigError,
    LedgerError,
    LedgerValueError,
    TransactionFailedError,
)

log = logging.getLogger(__name__)

JSON_PATH_PREFIXES = ("/api/", "/healthz")


class AppError(Exception):
    """Root of the web application's domain errors.

    ``status_code`` and ``code`` are class defaults; ``details`` is any JSON-safe value
    that helps the client fix its request (e.g. the invalid fields).
    """

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(AppError):
    """The request's data is invalid; ``details`` maps each field to what is wrong."""

    status_code = 400
    code = "validation_error"


class AuthenticationError(AppError):
    """Credentials (password or API token) are wrong, missing, revoked or inactive."""

    status_code = 401
    code = "authentication_failed"


class AccountLockedError(AuthenticationError):
    """Too many failed logins in a row; the account waits before the next try."""

    status_code = 429
    code = "account_locked"


class PermissionDeniedError(AppError):
    """The user is known but lacks the role, or the rule forbids the action."""

    status_code = 403
    code = "forbidden"


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    """The action clashes with current state (duplicate email, last admin, ...)."""

    status_code = 409
    code = "conflict"


# The ledger package's errors, most specific first is not needed: the lookup walks the
# exception's MRO, so a future subclass maps to its nearest listed ancestor.
LEDGER_ERROR_RESPONSES: dict[type[LedgerError], tuple[int, str]] = {
    ChainLockedError: (503, "chain_locked"),
    ChainUnavailableError: (503, "chain_unavailable"),
    ContractRevertError: (409, "contract_reverted"),
    TransactionFailedError: (502, "transaction_failed"),
    KeystoreError: (422, "keystore_error"),
    DeploymentError: (503, "deployment_mismatch"),
    ArtifactError: (500, "artifact_error"),
    LedgerConfigError: (500, "ledger_configuration_error"),
    LedgerValueError: (400, "invalid_value"),
    LedgerError: (500, "ledger_error"),
}


def ledger_error_status(error: LedgerError) -> tuple[int, str]:
    """HTTP status and error code for a ``ledger`` exception."""
    for klass in type(error).__mro__:
        if klass in LEDGER_ERROR_RESPONSES:
            return LEDGER_ERROR_RESPONSES[klass]
    return 500, "ledger_error"


def jsonable(value: Any) -> Any:
    """``value`` made JSON-safe: bytes as 0x-hex, integers beyond 2**53 as strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def wants_json() -> bool:
    """Whether the current request should get a JSON error rather than an HTML page."""
    if request.path.startswith(JSON_PATH_PREFIXES):
        return True
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """The single builder of error responses, JSON or HTML as the client wants."""
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "details": details}})
    else:
        response = Response(
            render_template(
                "errors/error.html", status=status, code=code, message=message, details=details
            ),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def _code_from_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def handle_app_error(error: AppError) -> Response:
    response = error_response(error.status_code, error.code, error.message, jsonable(error.details))
    if error.status_code == 401 and request.path.startswith("/api/"):
        response.headers["WWW-Authenticate"] = 'Bearer realm="ledgerline"'
    return response


def handle_ledger_error(error: LedgerError) -> Response:
    status, code = ledger_error_status(error)
    details: Any = None
    if isinstance(error, ContractRevertError):
        details = {
            "error_name": error.error_name,
            "args": jsonable(error.error_args),
            "contract": error.contract,
        }
    if status >= 500:
        log.warning("ledger error on %s %s: %s", request.method, request.path, error)
    return error_response(status, code, str(error), details)


def handle_csrf_error(error: CSRFError) -> Response:
    return error_response(
        400,
        "csrf_failed",
        f"{error.description} Reload the page and submit the form again.",
    )


def handle_http_exception(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error  # redirects raised as exceptions pass through untouched
    if error.response is not None:
        return error.response  # type: ignore[return-value]
    response = error_response(
        error.code, _code_from_name(error.name), error.description or error.name
    )
    if error.code == 405:
        valid = error.get_headers()
        for name, value in valid:
            if name.lower() == "allow":
                response.headers["Allow"] = value
    return response


def handle_internal_error(error: InternalServerError) -> Response:
    original = getattr(error, "original_exception", None)
    if original is not None:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
    return error_response(
        500, "internal_error", "An internal error occurred; it has been logged. Try again later."
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(LedgerError, handle_ledger_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_internal_error)
    app.register_error_handler(HTTPException, handle_http_exception)
