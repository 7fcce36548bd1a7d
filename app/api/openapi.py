"""The OpenAPI 3.1 document of the JSON API, maintained by hand in ``openapi.yaml``.

The YAML file is the source (it may use anchors to share whole ``responses`` objects);
clients get it as JSON from ``GET /api/openapi.json``.  A test checks that it lists
exactly the app's ``/api/`` routes and methods and that it is a valid OpenAPI 3.1 document.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify

SPEC_PATH = Path(__file__).resolve().parent / "openapi.yaml"

openapi_bp = Blueprint("openapi", __name__)


@cache
def openapi_document() -> dict[str, Any]:
    """The document as a JSON-ready dict, without the top-level ``x-`` helper keys."""
    with SPEC_PATH.open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.safe_load(file)
    return {key: value for key, value in document.items() if not key.startswith("x-")}


@openapi_bp.get("/openapi.json")
def openapi_json() -> Response:
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
