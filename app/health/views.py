"""``GET /healthz``: 200 when every component is ok, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.health.checks import run_health_checks

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    ok, components = run_health_checks()
    body = {"status": "ok" if ok else "error", "components": components}
    return jsonify(body), 200 if ok else 503
