"""One error shape, produced in one place, for API clients; HTML pages for browsers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.errors import ConflictError
from ledger.errors import (
    ChainLockedError,
    ChainUnavailableError,
    ContractRevertError,
    DeploymentError,
    KeystoreError,
    LedgerError,
    LedgerValueError,
    TransactionFailedError,
)


def _raising(app: Flask, path: str, error: BaseException) -> None:
    def view() -> str:
        raise error

    app.add_url_rule(path, endpoint=path, view_func=view)


def test_an_unknown_api_path_gets_the_json_error_shape(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json == {
        "error": {
            "code": "not_found",
            "message": (
                "The requested URL was not found on the server. If you entered the URL "
                "manually please check your spelling and try again."
            ),
            "details": None,
        }
    }


def test_a_browser_gets_an_html_error_page(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Error code <code>not_found</code>" in response.get_data(as_text=True)


def test_a_client_that_prefers_json_gets_json_outside_the_api(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_wrong_method_gets_405_with_the_allowed_methods(client: FlaskClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_an_app_error_keeps_its_status_code_message_and_details(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    _raising(
        app,
        "/api/test-conflict",
        ConflictError("segment 7 changed since you opened it; reload", details={"version": 3}),
    )
    response = app.test_client().get("/api/test-conflict")
    assert response.status_code == 409
    assert response.json == {
        "error": {
            "code": "conflict",
            "message": "segment 7 changed since you opened it; reload",
            "details": {"version": 3},
        }
    }


def test_a_contract_revert_maps_to_409_with_the_custom_error_and_its_arguments(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    revert = ContractRevertError(
        "OperatorRegistryAlreadyVoted",
        {"proposalId": 4, "voter": "0x" + "11" * 20, "hash": b"\x01\x02", "big": 2**200},
        contract="OperatorRegistry",
    )
    _raising(app, "/api/test-revert", revert)
    response = app.test_client().get("/api/test-revert")
    assert response.status_code == 409
    assert response.json == {
        "error": {
            "code": "contract_reverted",
            "message": str(revert),
            "details": {
                "error_name": "OperatorRegistryAlreadyVoted",
                "args": {
                    "proposalId": 4,
                    "voter": "0x" + "11" * 20,
                    "hash": "0x0102",
                    "big": str(2**200),
                },
                "contract": "OperatorRegistry",
            },
        }
    }


class _FutureChainError(ChainUnavailableError):
    """A subclass the mapping has never heard of: it maps like its parent."""


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            ChainUnavailableError("cannot reach the chain at http://x: refused"),
            503,
            "chain_unavailable",
        ),
        (ChainLockedError("chain.db is owned by pid 7"), 503, "chain_locked"),
        (_FutureChainError("node is syncing"), 503, "chain_unavailable"),
        (TransactionFailedError("tx 0x12 ran out of gas"), 502, "transaction_failed"),
        (KeystoreError("wrong password for keystore 0xAB"), 422, "keystore_error"),
        (DeploymentError("deployment file is for chain id 1"), 503, "deployment_mismatch"),
        (LedgerValueError("amount -1 is negative"), 400, "invalid_value"),
        (LedgerError("something in the ledger"), 500, "ledger_error"),
    ],
)
def test_ledger_errors_map_to_status_codes_in_one_place(
    make_app: Callable[..., Flask], error: LedgerError, status: int, code: str
) -> None:
    app = make_app()
    _raising(app, "/api/test-ledger", error)
    response = app.test_client().get("/api/test-ledger")
    assert response.status_code == status
    assert response.json == {"error": {"code": code, "message": str(error), "details": None}}


def test_an_unexpected_exception_is_a_500_that_leaks_nothing(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    _raising(app, "/api/test-crash", RuntimeError("password=hunter2 in a stack"))
    response = app.test_client().get("/api/test-crash")
    assert response.status_code == 500
    assert response.json == {
        "error": {
            "code": "internal_error",
            "message": "An internal error occurred; it has been logged. Try again later.",
            "details": None,
        }
    }


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
