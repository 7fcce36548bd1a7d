"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3.1 and true to the app's routes."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from app.api.openapi import openapi_document

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def app_api_routes(app: Flask) -> dict[str, set[str]]:
    """Every ``/api/`` path template of the app (``<int:id>`` as ``{id}``) and its methods."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(
            m for m in rule.methods or () if m not in _IGNORED_METHODS
        )
    return routes


def documented_routes(document: dict) -> dict[str, set[str]]:
    methods = {"get", "put", "post", "delete", "patch"}
    return {
        path: {m.upper() for m in item if m in methods} for path, item in document["paths"].items()
    }


def test_the_document_is_served_as_json_without_authentication(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == openapi_document()


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_of_the_app_is_documented(app: Flask) -> None:
    routes = app_api_routes(app)
    documented = documented_routes(openapi_document())
    assert sorted(set(routes) - set(documented)) == [], "routes missing from openapi.yaml"
    assert sorted(set(documented) - set(routes)) == [], "openapi.yaml lists paths the app lacks"


def test_every_documented_path_has_exactly_the_app_methods(app: Flask) -> None:
    routes = app_api_routes(app)
    documented = documented_routes(openapi_document())
    wrong = {
        path: {"app": sorted(routes[path]), "document": sorted(methods)}
        for path, methods in documented.items()
        if path in routes and routes[path] != methods
    }
    assert wrong == {}


def test_the_document_shares_the_error_shape_and_bearer_auth() -> None:
    document = openapi_document()
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from the account page (`ll_...`).",
    }
    assert document["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "409", "503"])
def test_every_error_response_uses_the_shared_error_schema(status: str) -> None:
    document = openapi_document()
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            found = operation.get("responses", {}).get(status)
            if found is None:
                continue
            name = found["$ref"].rsplit("/", 1)[-1]
            schema = responses[name]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"


def test_the_yaml_helper_keys_are_not_served() -> None:
    assert [key for key in openapi_document() if key.startswith("x-")] == []
