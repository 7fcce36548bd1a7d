"""The JSON API fuzzed from its own OpenAPI document: no request gives a server error.

Schemathesis reads ``/api/openapi.json`` from the WSGI app (no network) and, for every
documented operation, sends ``MAX_EXAMPLES`` valid and ``MAX_EXAMPLES`` invalid requests
(wrong types, missing fields, out-of-range values, bodies that are not what the operation
takes) with the bearer token of a user holding every role, over a little seeded data.

The app runs on its own embedded chain with the contracts deployed and the user as the
registry's member, so settlement reads and actions meet a live chain (actions mostly end
at the password check or a contract revert, a 409).  A 5xx fails the test, except the
documented ``503 chain_unavailable``.  Every response to a valid request must also have
one of the operation's documented status codes and its documented schema (the error
shape for every 4xx).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import openapi_document

MAX_EXAMPLES = int(os.environ.get("LEDGERLINE_FUZZ_EXAMPLES", "12"))
DERANDOMIZE = os.environ.get("LEDGERLINE_FUZZ_RANDOM") != "1"  # CI: the same requests each run
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
ALL_ROLES = (
    "admin",
    "marketer",
    "approver",
    "compliance",
    "auditor",
    "operator",
    "clearing_agent",
)
ACCEPTED_5XX = {(503, "chain_unavailable")}

# A bounce is a mail message; send the generated string as the body, as text would be.
schemathesis.serializer.alias("message/rfc822", "text/plain")

OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in HTTP_METHODS
]


def seed(app: Flask, user_id: int) -> None:
    """A few organisations and contacts, and one segment with a snapshot."""
    from app.accounts.models import User
    from app.audience.demo import seed_demo_audience
    from app.extensions import db
    from app.segments import services as segments

    with app.app_context():
        seed_demo_audience(4, seed=7)
        author = db.session.get(User, user_id)
        assert author is not None
        segment = segments.create_segment(
            "Everyone by email",
            {"combinator": "and", "not": False, "rules": []},
            {"level": "contacts", "channel": "email"},
            author,
        )
        segments.snapshot_segment(segment.latest_version.id, "email", created_by=author)


@pytest.fixture
def deployed(make_app: Callable[..., Flask], tmp_path: Path) -> tuple[Flask, str]:
    """An app on its own embedded chain with the contracts deployed, and the deployer: the
    registry's sole genesis member."""
    from app.chain_setup import ensure_contracts

    made = make_app(CHAIN_URL=f"embedded://{tmp_path / 'instance' / 'chain.db'}")
    deployer = ensure_contracts(made).deployer
    assert deployer is not None
    return made, deployer


@pytest.fixture
def app(deployed: tuple[Flask, str]) -> Flask:
    return deployed[0]


@pytest.fixture
def bearer(
    app: Flask, deployed: tuple[Flask, str], make_user: Callable[..., int]
) -> dict[str, str]:
    """A token of a user with every role, member of the registry (its sole genesis member)."""
    from app.accounts import services
    from app.accounts.models import User
    from app.extensions import db

    member = deployed[1]
    user_id = make_user(
        "root@example.com", roles=ALL_ROLES, display_name="Root", member_address=member
    )
    seed(app, user_id)
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        issued = services.issue_token(user, "fuzzing")
    return {"Authorization": f"Bearer {issued.secret}"}


def no_server_error(response: Any) -> None:
    if response.status_code < 500:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body["error"]["code"] if isinstance(body, dict) and "error" in body else None
    assert (response.status_code, code) in ACCEPTED_5XX, (
        f"{response.request.method} {response.request.url} gave {response.status_code}: "
        f"{response.text[:500]}"
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gives_a_server_error(
    app: Flask, bearer: dict[str, str], method: str, path: str
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=2 * MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        phases=[Phase.explicit, Phase.generate],  # report the first failure, unshrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(headers=bearer)
        no_server_error(response)
        if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
            case.validate_response(
                response, checks=[status_code_conformance, response_schema_conformance]
            )

    fuzz()


# -- the fixes the fuzzer led to, as plain examples ----------------------------------------


def test_the_fuzzing_user_meets_a_live_chain_as_its_registry_member(
    app: Flask, deployed: tuple[Flask, str], bearer: dict[str, str]
) -> None:
    response = app.test_client().get("/api/settlement/members", headers=bearer)
    assert response.status_code == 200
    assert deployed[1] in [m["account"] for m in response.get_json()["items"]]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_an_id_beyond_a_database_integer_is_not_found(
    app: Flask, bearer: dict[str, str], method: str
) -> None:
    client = app.test_client()
    response = client.open("/api/segments/2147483648", method=method, headers=bearer, json={})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_largest_database_integer_still_reaches_the_view(
    app: Flask, bearer: dict[str, str]
) -> None:
    response = app.test_client().get("/api/segments/2147483647", headers=bearer)
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == (
        "there is no segment 2147483647; list them at /api/segments"
    )


def test_a_nul_character_in_a_query_argument_is_refused_naming_it(
    app: Flask, bearer: dict[str, str]
) -> None:
    response = app.test_client().get("/api/organisations?region=No%00rth", headers=bearer)
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "validation_error",
        "message": "the query argument 'region' contains a NUL character; remove it",
        "details": {"region": "contains a NUL character"},
    }


def test_a_nul_character_in_a_json_body_is_refused_naming_the_field(
    app: Flask, bearer: dict[str, str]
) -> None:
    body = {"name": "ok", "rules": {"combinator": "and", "rules": [{"field": "re\x00gion"}]}}
    response = app.test_client().post("/api/segments", headers=bearer, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "validation_error",
        "message": (
            "the JSON field 'rules.rules.0.field' contains a NUL character (\\u0000); remove it"
        ),
        "details": {"rules.rules.0.field": "contains a NUL character"},
    }


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/contacts?page=%C2%B2", "page"),
        ("/api/contacts?organisation_id=2147483648", "organisation_id"),
        ("/api/settlement/obligations?page=1000001", "page"),
        ("/api/settlement/obligations?cycle=%C2%B2", "cycle"),
        ("/api/dispatch/campaigns/1/deliveries?page=1000001", "page"),
    ],
)
def test_out_of_range_or_non_ascii_numbers_are_refused_naming_the_parameter(
    app: Flask, bearer: dict[str, str], path: str, field: str
) -> None:
    response = app.test_client().get(path, headers=bearer)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith(f"{field} ")
