"""Approval pages: the inbox (per role), a submission's review page with the approve and
reject forms, revoking, a campaign's timeline of decisions with their log entries, the
dispatch-gate check, and the admin's policy pages (JSON editor, one version per save).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from app.accounts.access import current_account, login_required, roles_required
from app.accounts.models import Role
from app.approvals import gate, services
from app.approvals.forms import (
    ApproveForm,
    GateForm,
    NewPolicyForm,
    PolicyVersionForm,
    RejectForm,
    RevokeForm,
)
from app.approvals.models import ApprovalDecision, Decision
from app.approvals.policy import DEFAULT_POLICY, PolicyValidationError
from app.audit import services as audit
from app.campaigns import recipients
from app.campaigns import services as campaigns
from app.campaigns.content import CHANNEL_FIELDS
from app.errors import AppError, ValidationError
from app.extensions import db
from ledger.merkle import leaf_hash

approvals_bp = Blueprint("approvals", __name__)

TIMELINE_ROLES = (Role.MARKETER, Role.APPROVER, Role.COMPLIANCE, Role.ADMIN, Role.AUDITOR)


@approvals_bp.get("/")
@login_required
def inbox() -> Any:
    user = current_account()
    return render_template(
        "approvals/inbox.html",
        items=services.inbox(user),
        ttl_hours=int(services.ttl().total_seconds() // 3600),
    )


def _review_page(submission_id: int, status: int = 200, **forms: Any) -> tuple[str, int]:
    submission = services.get_submission(submission_id)
    state = services.submission_state(submission)
    user = current_account()
    version = submission.campaign_version
    current = state.current
    can_decide = (
        current is not None
        and submission.status == "open"
        and services.is_eligible(user, current.stage)
        and user.id not in campaigns.makers_of(version)
    )
    return (
        render_template(
            "approvals/review.html",
            submission=submission,
            state=state,
            version=version,
            campaign=submission.campaign,
            snapshot=recipients.snapshot_summary(submission.snapshot_id),
            channel_fields=CHANNEL_FIELDS,
            can_decide=can_decide,
            approve_form=forms.get("approve_form") or ApproveForm(),
            reject_form=forms.get("reject_form") or RejectForm(),
            revoke_form=RevokeForm(),
            users=services.users_by_id([d.user_id for d in submission.decisions]),
            me=user,
        ),
        status,
    )


@approvals_bp.get("/submissions/<int:submission_id>")
@login_required
def review(submission_id: int) -> Any:
    return _review_page(submission_id)


@approvals_bp.post("/submissions/<int:submission_id>/approve")
@login_required
def approve(submission_id: int) -> Any:
    form = ApproveForm()
    if not form.validate():
        flash("Type your password to sign the approval.", "error")
        return _review_page(submission_id, 400, approve_form=form)
    try:
        row = services.approve(
            submission_id,
            campaign_version_id=int(form.campaign_version_id.data or 0),
            stage_index=form.stage_index.data,
            actor=current_account(),
            password=form.password.data or "",
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _review_page(submission_id, exc.status_code, approve_form=form)
    flash(
        f"You approved stage {row.stage_name!r}; log entry {row.log_entry_id}, signed by "
        f"{row.approver_address}.",
        "success",
    )
    return redirect(url_for("approvals.review", submission_id=submission_id))


@approvals_bp.post("/submissions/<int:submission_id>/reject")
@login_required
def reject(submission_id: int) -> Any:
    form = RejectForm()
    if not form.validate():
        flash("Type your password to sign the rejection.", "error")
        return _review_page(submission_id, 400, reject_form=form)
    try:
        row = services.reject(
            submission_id,
            campaign_version_id=int(form.campaign_version_id.data or 0),
            actor=current_account(),
            password=form.password.data or "",
            comment=form.comment.data or "",
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _review_page(submission_id, exc.status_code, reject_form=form)
    flash(f"You rejected the campaign at stage {row.stage_name!r}.", "success")
    return redirect(url_for("approvals.review", submission_id=submission_id))


@approvals_bp.post("/decisions/<int:decision_id>/revoke")
@login_required
def revoke(decision_id: int) -> Any:
    form = RevokeForm()
    approval = db.session.get(ApprovalDecision, decision_id)
    if approval is None:
        abort(404, f"no approval with id {decision_id}")
    if not form.validate():
        flash("Type your password to sign the revocation.", "error")
        return redirect(url_for("approvals.review", submission_id=approval.submission_id))
    try:
        services.revoke(
            decision_id,
            actor=current_account(),
            password=form.password.data or "",
            comment=form.comment.data or "",
        )
    except AppError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Your approval of stage {approval.stage_name!r} is revoked.", "success")
    return redirect(url_for("approvals.review", submission_id=approval.submission_id))


# -- timeline and gate --------------------------------------------------------------------


def _timeline(campaign_id: int) -> list[dict[str, Any]]:
    decisions = services.decisions_of(campaign_id)
    users = services.users_by_id([d.user_id for d in decisions])
    checkpoint = audit.latest_anchored()
    anchored_size = checkpoint.tree_size if checkpoint else 0
    rows = []
    for decision in decisions:
        entry = (
            audit.get_entry(decision.log_entry_id) if decision.log_entry_id is not None else None
        )
        intact = (
            entry is not None
            and "0x" + leaf_hash(entry.record_json.encode("utf-8")).hex() == entry.leaf_hash
        )
        rows.append(
            {
                "decision": decision,
                "user": users.get(decision.user_id),
                "entry": entry,
                "intact": intact,
                "anchored": entry is not None and entry.id < anchored_size,
            }
        )
    return rows


@approvals_bp.get("/campaigns/<int:campaign_id>/timeline")
@roles_required(*TIMELINE_ROLES)
def timeline(campaign_id: int) -> Any:
    campaign = campaigns.get_campaign(campaign_id)
    return render_template(
        "approvals/timeline.html",
        campaign=campaign,
        rows=_timeline(campaign_id),
        submissions=services.submissions_of(campaign_id),
        status=audit.anchoring_status(),
        gate_form=GateForm(),
        gate_result=None,
        Decision=Decision,
    )


@approvals_bp.post("/campaigns/<int:campaign_id>/gate")
@roles_required(Role.MARKETER, Role.OPERATOR, Role.ADMIN, Role.AUDITOR)
def check_gate(campaign_id: int) -> Any:
    """Run the dispatch gate now (it anchors pending entries first)."""
    form = GateForm()
    if not form.validate():
        abort(400)
    campaign = campaigns.get_campaign(campaign_id)
    result = gate.check_dispatch_gate(campaign_id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(result.to_json())
    return render_template(
        "approvals/timeline.html",
        campaign=campaign,
        rows=_timeline(campaign_id),
        submissions=services.submissions_of(campaign_id),
        status=audit.anchoring_status(),
        gate_form=GateForm(),
        gate_result=result,
        Decision=Decision,
    )


# -- policies (admin) -----------------------------------------------------------------------


@approvals_bp.get("/policies")
@roles_required(Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR)
def policies() -> Any:
    return render_template("approvals/policies.html", policies=services.list_policies())


def _policy_errors(exc: AppError) -> list[str]:
    if isinstance(exc, PolicyValidationError):
        return [str(p) for p in exc.problems]
    return [exc.message]


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise ValidationError(
            f"the definition is not valid JSON (line {line}: {exc.args[0].split(':')[0]}); "
            "fix the syntax"
        ) from None


@approvals_bp.route("/policies/<int:policy_id>/versions/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_policy_version(policy_id: int) -> Any:
    policy = services.get_policy(policy_id)
    form = PolicyVersionForm()
    if request.method == "GET":
        latest = policy.latest_version
        form.definition.data = json.dumps(
            latest.definition if latest else DEFAULT_POLICY, indent=2, ensure_ascii=False
        )
        return render_template("approvals/policy_form.html", form=form, policy=policy, errors=[])
    errors: list[str] = []
    if form.validate():
        try:
            version = services.add_policy_version(
                policy_id,
                _parse_json(form.definition.data or ""),
                current_account(),
                form.comment.data or "",
            )
        except AppError as exc:
            errors = _policy_errors(exc)
        else:
            flash(f"Policy {policy.name!r} is now at version {version.number}.", "success")
            return redirect(url_for("approvals.policies"))
    return (
        render_template("approvals/policy_form.html", form=form, policy=policy, errors=errors),
        400,
    )


@approvals_bp.route("/policies/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_policy() -> Any:
    form = NewPolicyForm()
    if request.method == "GET":
        form.definition.data = json.dumps(DEFAULT_POLICY, indent=2, ensure_ascii=False)
        return render_template("approvals/policy_form.html", form=form, policy=None, errors=[])
    errors: list[str] = []
    if form.validate():
        try:
            policy = services.create_policy(
                form.name.data or "", _parse_json(form.definition.data or ""), current_account()
            )
        except AppError as exc:
            errors = _policy_errors(exc)
        else:
            flash(f"Policy {policy.name!r} is created.", "success")
            return redirect(url_for("approvals.policies"))
    return (
        render_template("approvals/policy_form.html", form=form, policy=None, errors=errors),
        400,
    )
