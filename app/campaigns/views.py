"""Campaign pages: the list, the editor (templates per channel, variables, preview, SMS
counter, test send), a version's read-only view, and submitting for approval.

The editor's live helpers are small JSON endpoints (``/campaigns/preview``,
``/campaigns/sms-count``, ``/campaigns/segment-versions/<id>/recipients``) called by
``static/js/campaign-editor.js`` with the page's CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from wtforms import SelectChoice

from app.accounts.access import current_account, login_required, roles_required
from app.accounts.models import Role
from app.approvals import services as approvals
from app.campaigns import recipients, services
from app.campaigns.content import CHANNEL_FIELDS
from app.campaigns.forms import CampaignForm, SimpleActionForm, TestSendForm
from app.campaigns.models import Campaign, CampaignTestSend, CampaignVersion
from app.campaigns.services import CampaignDraft
from app.campaigns.templating import VARIABLES, TemplateValidationError
from app.errors import AppError, ValidationError
from app.extensions import db

campaigns_bp = Blueprint("campaigns", __name__)

VIEW_ROLES = (Role.MARKETER, Role.APPROVER, Role.COMPLIANCE, Role.ADMIN, Role.AUDITOR)

# The rendered email in the preview frame: no script, no network, only inline styles.
PREVIEW_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"
)


def _fill_choices(form: CampaignForm) -> None:
    form.segment_version_id.choices = [
        SelectChoice(0, "— choose —"),
        *(SelectChoice(i, label) for i, label in recipients.segment_version_choices()),
    ]
    form.policy_id.choices = [
        SelectChoice(p.id, p.name + (" (default)" if p.is_default else ""))
        for p in approvals.list_policies()
    ]


def _form_for(version: CampaignVersion | None) -> CampaignForm:
    if version is None:
        form = CampaignForm()
        default = approvals.default_policy()
        if request.method == "GET" and default is not None:
            form.policy_id.data = default.id
    else:
        t = version.templates
        form = (
            CampaignForm(
                data={
                    "name": version.name,
                    "objective": version.objective,
                    "segment_version_id": version.segment_version_id,
                    "channels": version.channels,
                    "policy_id": version.campaign.policy_id or 0,
                    "email_subject": t.get("email", {}).get("subject", ""),
                    "email_html": t.get("email", {}).get("html", ""),
                    "email_text": t.get("email", {}).get("text", ""),
                    "sms_text": t.get("sms", {}).get("text", ""),
                    "webhook_text": t.get("webhook", {}).get("text", ""),
                    "webhook_payload": t.get("webhook", {}).get("payload", ""),
                }
            )
            if request.method == "GET"
            else CampaignForm()
        )
    _fill_choices(form)
    return form


def _template_errors(exc: AppError) -> dict[str, list[str]]:
    """Problems keyed by form field name (``email.html`` → ``email_html``)."""
    errors: dict[str, list[str]] = {}
    if isinstance(exc, TemplateValidationError):
        for problem in exc.problems:
            key = problem.field.replace(".", "_")
            where = f"line {problem.line}: " if problem.line else ""
            errors.setdefault(key, []).append(where + problem.message)
    elif isinstance(exc.details, dict):
        for key, message in exc.details.items():
            errors.setdefault(str(key), []).append(str(message))
    return errors


def _editor(
    form: CampaignForm, campaign: Campaign | None, status: int = 200, errors: Any = None
) -> tuple[str, int]:
    return (
        render_template(
            "campaigns/editor.html",
            form=form,
            campaign=campaign,
            variables=VARIABLES,
            channel_fields=CHANNEL_FIELDS,
            errors=errors or {},
        ),
        status,
    )


@campaigns_bp.get("/")
@roles_required(*VIEW_ROLES)
def index() -> Any:
    campaigns = services.list_campaigns()
    states = {}
    for campaign in campaigns:
        submission = approvals.latest_submission(campaign.id)
        states[campaign.id] = approvals.submission_state(submission) if submission else None
    return render_template("campaigns/index.html", campaigns=campaigns, states=states)


@campaigns_bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.MARKETER)
def new() -> Any:
    form = _form_for(None)
    if request.method == "GET":
        return _editor(form, None)
    if not form.validate():
        return _editor(form, None, 400)
    try:
        campaign = services.create_campaign(
            form.draft(), current_account(), policy_id=form.policy_id.data or None
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _editor(form, None, exc.status_code, _template_errors(exc))
    flash(f"Campaign {campaign.name!r} is saved as version 1.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@campaigns_bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@roles_required(Role.MARKETER)
def edit(campaign_id: int) -> Any:
    campaign = services.get_campaign(campaign_id)
    form = _form_for(services.latest_version(campaign))
    if request.method == "GET":
        return _editor(form, campaign)
    if not form.validate():
        return _editor(form, campaign, 400)
    try:
        before = services.latest_version(campaign).number
        version = services.save_campaign(campaign_id, form.draft(), current_account())
    except AppError as exc:
        flash(exc.message, "error")
        return _editor(form, campaign, exc.status_code, _template_errors(exc))
    if version.number == before:
        flash(f"Nothing changed; the campaign stays at version {version.number}.", "info")
    else:
        flash(f"Saved as version {version.number}.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@campaigns_bp.get("/<int:campaign_id>")
@roles_required(*VIEW_ROLES)
def show(campaign_id: int) -> Any:
    campaign = services.get_campaign(campaign_id)
    version = services.latest_version(campaign)
    submission = approvals.latest_submission(campaign.id)
    tests = db.session.scalars(
        db.select(CampaignTestSend)
        .where(CampaignTestSend.campaign_version_id == version.id)
        .order_by(CampaignTestSend.id.desc())
        .limit(10)
    ).all()
    return render_template(
        "campaigns/show.html",
        campaign=campaign,
        version=version,
        submission=submission,
        state=approvals.submission_state(submission) if submission else None,
        action_form=SimpleActionForm(),
        test_form=TestSendForm(),
        tests=tests,
        recipients_sample=_recipients_or_empty(version),
    )


def _recipients_or_empty(version: CampaignVersion) -> list[Any]:
    try:
        return services.preview_recipients(version.segment_version_id, limit=50)
    except AppError:
        return []


@campaigns_bp.get("/<int:campaign_id>/versions/<int:number>")
@roles_required(*VIEW_ROLES)
def version(campaign_id: int, number: int) -> Any:
    campaign = services.get_campaign(campaign_id)
    found = next((v for v in campaign.versions if v.number == number), None)
    if found is None:
        abort(404, f"campaign {campaign_id} has no version {number}")
    return render_template(
        "campaigns/version.html",
        campaign=campaign,
        version=found,
        recipients_sample=_recipients_or_empty(found),
        contact_id=request.args.get("contact_id", type=int),
    )


@campaigns_bp.get("/<int:campaign_id>/versions/<int:number>/render/<channel>")
@roles_required(*VIEW_ROLES)
def rendered(campaign_id: int, number: int, channel: str) -> Any:
    """One channel of a saved version rendered for a recipient (or the sample), as JSON;
    ``?format=html`` returns the email HTML alone for the sandboxed preview frame."""
    campaign = services.get_campaign(campaign_id)
    found = next((v for v in campaign.versions if v.number == number), None)
    if found is None:
        abort(404, f"campaign {campaign_id} has no version {number}")
    contact_id = request.args.get("contact_id", type=int)
    draft = services.draft_from_version(found)
    message = services.preview(draft, channel, contact_id=contact_id, campaign_id=campaign_id)
    if request.args.get("format") == "html":
        response = make_response(message.html or "")
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response
    return jsonify(_message_json(message))


@campaigns_bp.post("/<int:campaign_id>/submit")
@roles_required(Role.MARKETER)
def submit(campaign_id: int) -> Any:
    form = SimpleActionForm()
    if not form.validate():
        abort(400)
    try:
        submission = approvals.submit(campaign_id, current_account())
    except AppError as exc:
        flash(exc.message, "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    flash(
        f"Version {submission.campaign_version.number} is submitted for approval with "
        f"{len([s for s in submission.stages if s['applies']])} stage(s).",
        "success",
    )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@campaigns_bp.post("/<int:campaign_id>/refresh-recipients")
@roles_required(Role.MARKETER)
def refresh_recipients(campaign_id: int) -> Any:
    form = SimpleActionForm()
    if not form.validate():
        abort(400)
    try:
        changed = approvals.refresh_recipients(campaign_id, current_account())
    except AppError as exc:
        flash(exc.message, "error")
    else:
        if changed is None:
            flash("The recipients are unchanged; the approvals stand.", "info")
        else:
            flash(
                "The recipients changed: the review is invalidated. Submit the campaign again.",
                "info",
            )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@campaigns_bp.post("/<int:campaign_id>/test-send")
@roles_required(Role.MARKETER, Role.APPROVER, Role.COMPLIANCE)
def test_send(campaign_id: int) -> Any:
    form = TestSendForm()
    if not form.validate():
        abort(400)
    campaign = services.get_campaign(campaign_id)
    version = services.latest_version(campaign)
    try:
        lines = services.send_test(version.id, current_account(), contact_id=form.contact_id.data)
    except AppError as exc:
        flash(exc.message, "error")
    else:
        for line in lines:
            flash(line, "success" if "not sent" not in line else "error")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


# -- editor helpers (JSON) ------------------------------------------------------------------


def _message_json(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": message.channel,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
        "sms_text": message.sms_text,
        "payload_json": message.payload_json,
    }
    if message.sms_text is not None:
        data["sms"] = services.sms_count(message.sms_text).as_json()
    return data


def _draft_from_json(body: dict[str, Any]) -> CampaignDraft:
    raw_segment = body.get("segment_version_id")
    try:
        segment = int(raw_segment) if raw_segment not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        raise ValidationError(
            "segment_version_id must be a number", details={"segment_version_id": "not a number"}
        ) from None
    templates = body.get("templates") or {}
    if not isinstance(templates, dict):
        raise ValidationError("templates must be an object of channel → fields")
    return CampaignDraft(
        name=str(body.get("name") or ""),
        objective=str(body.get("objective") or ""),
        segment_version_id=segment,
        channels=[str(c) for c in body.get("channels") or []],
        contact_roles=[str(r) for r in body.get("contact_roles") or []],
        templates={str(k): dict(v) for k, v in templates.items() if isinstance(v, dict)},
    )


@campaigns_bp.post("/preview")
@login_required
def preview() -> Response:
    """Render an unsaved draft: ``{"draft": {...}, "channel": "email", "contact_id": 7}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError('send a JSON object {"draft": {...}, "channel": "email"}')
    channel = str(body.get("channel") or "")
    contact = body.get("contact_id")
    message = services.preview(
        _draft_from_json(body.get("draft") or {}),
        channel,
        contact_id=int(contact) if contact not in (None, "") else None,
        campaign_id=int(body.get("campaign_id") or 0),
    )
    return jsonify(_message_json(message))


@campaigns_bp.post("/sms-count")
@login_required
def sms_count() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ValidationError('send a JSON object {"text": "..."}')
    return jsonify(services.sms_count(body["text"]).as_json())


@campaigns_bp.get("/segment-versions/<int:segment_version_id>/recipients")
@login_required
def segment_recipients(segment_version_id: int) -> Response:
    channel = request.args.get("channel") or None
    contacts = services.preview_recipients(segment_version_id, channel=channel, limit=100)
    return jsonify(
        {
            "recipients": [
                {
                    "id": c.id,
                    "name": f"{c.first_name} {c.last_name}".strip(),
                    "organisation": c.organisation.legal_name,
                    "email": c.email,
                    "phone": c.phone,
                    "role": c.role,
                }
                for c in contacts
            ]
        }
    )
