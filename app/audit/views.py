"""The auditor page: entries with their verification status, evidence downloads, the
anchoring status panel, and buttons to verify the whole log and to anchor now."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from app.accounts.access import roles_required
from app.accounts.models import Role
from app.audit import services
from app.audit.verification import LogReport, verify_log
from app.errors import AppError

audit_bp = Blueprint("audit", __name__)

VIEWERS = (Role.AUDITOR, Role.ADMIN, Role.COMPLIANCE)
PAGE_SIZE = 100


def _page(report: LogReport | None = None, status: int = 200) -> tuple[str, int]:
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    return (
        render_template(
            "audit/index.html",
            anchoring=services.anchoring_status(),
            rows=services.list_entries(PAGE_SIZE, offset),
            offset=offset,
            page_size=PAGE_SIZE,
            report=report,
        ),
        status,
    )


@audit_bp.get("/")
@roles_required(*VIEWERS)
def index() -> Any:
    return _page()


@audit_bp.post("/verify")
@roles_required(*VIEWERS)
def verify() -> Any:
    report = verify_log()
    return _page(report)


@audit_bp.post("/anchor")
@roles_required(Role.AUDITOR, Role.ADMIN)
def anchor() -> Any:
    try:
        checkpoint = services.anchor_now()
    except AppError as exc:
        flash(exc.message, "error")
    else:
        if checkpoint is None:
            flash("The approval log is empty; there is nothing to anchor.", "info")
        else:
            flash(
                f"The log is anchored up to {checkpoint.tree_size} entries "
                f"(transaction {checkpoint.tx_hash}).",
                "success",
            )
    return redirect(url_for("audit.index"))


@audit_bp.get("/entries/<int:entry_id>/evidence.json")
@roles_required(*VIEWERS)
def evidence(entry_id: int) -> Response:
    bundle = services.evidence_for(entry_id)
    body = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="approval-evidence-{entry_id}.json"'
    )
    return response
