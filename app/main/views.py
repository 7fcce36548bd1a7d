"""The home dashboard: who you are, where to go, and whether the system is healthy."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from app.accounts.access import current_account, login_required
from app.accounts.models import Role
from app.health.checks import run_health_checks
from app.navigation import nav_items_for

main_bp = Blueprint("main", __name__)

# What each role comes here to do; the links appear as their features land.
ROLE_SUMMARIES: dict[Role, str] = {
    Role.ADMIN: "Manage users, their roles and their link to registry members.",
    Role.MARKETER: "Import customers, build segments and prepare campaigns.",
    Role.APPROVER: "Review campaigns waiting for your approval.",
    Role.COMPLIANCE: "Check consent, suppression and the channels a campaign uses.",
    Role.AUDITOR: "Verify approvals against the anchored log and download evidence.",
    Role.OPERATOR: "Confirm or dispute the settlement obligations of your member.",
    Role.CLEARING_AGENT: "Run netting cycles and follow them to settlement.",
}


@main_bp.get("/")
@login_required
def index() -> Any:
    user = current_account()
    _, components = run_health_checks()
    return render_template(
        "main/index.html",
        user=user,
        roles=sorted(user.roles),
        summaries=ROLE_SUMMARIES,
        links=[item for item in nav_items_for(user) if item.endpoint != "main.index"],
        components=components,
    )
