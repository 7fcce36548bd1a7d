"""Dispatch pages, its JSON API, the bounce endpoint and one-click unsubscribe.

* ``/dispatch/…`` (marketers, compliance, admins): dispatches, a campaign's live
  dashboard, per-recipient drill-down, review of ambiguous rows, the capture outbox.
* ``/api/dispatch/…``: the same data as JSON, actions, and ``POST /bounces`` for DSNs.
* ``/unsubscribe/<token>``: public.  GET shows a confirm button; POST (RFC 8058
  one-click, no CSRF token possible) unsubscribes at once.  An unknown token gets the
  same neutral page, so the endpoint reveals nothing about tokens.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from app.accounts.access import current_account, roles_required
from app.accounts.models import Role
from app.dispatch import services
from app.dispatch.charts import timeline_svg
from app.dispatch.models import CapturedMessage, DeliveryStatus
from app.errors import NotFoundError, ValidationError
from app.extensions import csrf, db

dispatch_bp = Blueprint("dispatch", __name__)
dispatch_api_bp = Blueprint("dispatch_api", __name__)
unsubscribe_bp = Blueprint("unsubscribe", __name__)

VIEWERS = (Role.MARKETER, Role.COMPLIANCE, Role.ADMIN, Role.AUDITOR)
SENDERS = (Role.MARKETER, Role.ADMIN)
STATUSES = [s.value for s in DeliveryStatus]
ACTIONS = {
    "pause": services.pause,
    "resume": services.resume,
    "cancel": services.cancel,
}


def health_check() -> dict[str, Any]:
    """Dispatch's row on /healthz: rows waiting for review, outbox backlog."""
    from sqlalchemy import func

    from app.database import utcnow
    from app.dispatch.models import Delivery, OutboxMessage

    try:
        review = db.session.execute(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == DeliveryStatus.NEEDS_REVIEW.value)
        ).scalar_one()
        oldest = db.session.execute(
            select(func.min(OutboxMessage.available_at)).where(OutboxMessage.relayed_at.is_(None))
        ).scalar_one()
    except Exception as exc:  # a health probe reports every failure, it never raises
        db.session.rollback()
        return {"status": "error", "error": str(exc).splitlines()[0]}
    lag = (utcnow() - oldest).total_seconds() if oldest else 0.0
    facts = {"needs_review": review, "outbox_lag_seconds": round(max(lag, 0.0), 1)}
    if lag > 300:
        return {
            **facts,
            "status": "error",
            "error": f"the outbox has waited {lag:.0f}s; is celery beat running?",
        }
    return {**facts, "status": "ok"}


# -- pages --------------------------------------------------------------------------------


@dispatch_bp.get("/")
@roles_required(*VIEWERS)
def index() -> Any:
    dispatches = services.list_dispatches()
    rows = [(d, services.progress(d.campaign_id)) for d in dispatches]
    return render_template("dispatch/index.html", rows=rows)


@dispatch_bp.get("/campaigns/<int:campaign_id>")
@roles_required(*VIEWERS)
def dashboard(campaign_id: int) -> Any:
    dispatch = services.dispatch_for(campaign_id)
    if dispatch is None:
        from app.dispatch.models import DispatchSettings

        settings = db.session.get(DispatchSettings, campaign_id)
        return render_template(
            "dispatch/start.html",
            campaign_id=campaign_id,
            fallback=(settings.fallback if settings else {}),
            channels=services.CHANNELS,
        )
    return render_template(
        "dispatch/dashboard.html",
        campaign_id=campaign_id,
        progress=services.progress(campaign_id),
        statuses=STATUSES,
    )


@dispatch_bp.post("/campaigns/<int:campaign_id>/start")
@roles_required(*SENDERS)
def start(campaign_id: int) -> Any:
    try:
        services.start_dispatch(campaign_id, current_account())
    except services.DispatchRefusedError as exc:
        for failure in exc.details["failures"]:
            flash(failure, "error")
        return redirect(url_for("dispatch.dashboard", campaign_id=campaign_id))
    flash(f"Dispatch of campaign {campaign_id} started.", "success")
    return redirect(url_for("dispatch.dashboard", campaign_id=campaign_id))


@dispatch_bp.post("/campaigns/<int:campaign_id>/settings")
@roles_required(*SENDERS)
def settings(campaign_id: int) -> Any:
    fallback = {
        first: request.form.get(f"fallback_{first}", "")
        for first in services.CHANNELS
        if request.form.get(f"fallback_{first}")
    }
    services.save_settings(campaign_id, fallback, current_account())
    flash("Fallback settings saved.", "success")
    return redirect(url_for("dispatch.dashboard", campaign_id=campaign_id))


@dispatch_bp.post("/campaigns/<int:campaign_id>/<any(pause, resume, cancel):action>")
@roles_required(*SENDERS)
def act(campaign_id: int, action: str) -> Any:
    ACTIONS[action](campaign_id, current_account())
    flash(f"Dispatch {action}d." if action != "cancel" else "Dispatch cancelled.", "success")
    return redirect(url_for("dispatch.dashboard", campaign_id=campaign_id))


@dispatch_bp.get("/campaigns/<int:campaign_id>/chart.svg")
@roles_required(*VIEWERS)
def chart(campaign_id: int) -> Response:
    svg = timeline_svg(services.timeline(campaign_id))
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _filters() -> tuple[str | None, str | None, int]:
    status = request.args.get("status") or None
    channel = request.args.get("channel") or None
    if status and status not in STATUSES:
        raise ValidationError(f"status {status!r} is unknown; use one of {', '.join(STATUSES)}")
    if channel and channel not in services.CHANNELS:
        raise ValidationError(f"channel {channel!r} is unknown; use email, sms or webhook")
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        raise ValidationError("page must be a whole number") from None
    if page > 1_000_000:
        raise ValidationError(
            "page must be a whole number from 1 to 1000000", details={"page": "at most 1000000"}
        )
    return status, channel, page


@dispatch_bp.get("/campaigns/<int:campaign_id>/deliveries")
@roles_required(*VIEWERS)
def deliveries(campaign_id: int) -> Any:
    status, channel, page = _filters()
    rows, total = services.deliveries(campaign_id, status=status, channel=channel, page=page)
    return render_template(
        "dispatch/deliveries.html",
        campaign_id=campaign_id,
        rows=rows,
        total=total,
        page=page,
        status=status,
        channel=channel,
        statuses=STATUSES,
        channels=services.CHANNELS,
    )


@dispatch_bp.get("/deliveries/<int:delivery_id>")
@roles_required(*VIEWERS)
def delivery(delivery_id: int) -> Any:
    row, events = services.delivery_detail(delivery_id)
    return render_template("dispatch/delivery.html", row=row, events=events)


@dispatch_bp.post("/deliveries/<int:delivery_id>/review")
@roles_required(*SENDERS)
def review(delivery_id: int) -> Any:
    services.resolve_review(
        delivery_id,
        request.form.get("outcome", ""),
        current_account(),
        request.form.get("note", "").strip(),
    )
    flash("Review recorded.", "success")
    return redirect(url_for("dispatch.delivery", delivery_id=delivery_id))


@dispatch_bp.get("/outbox")
@roles_required(*VIEWERS)
def outbox() -> Any:
    captured = (
        db.session.execute(select(CapturedMessage).order_by(CapturedMessage.id.desc()).limit(200))
        .scalars()
        .all()
    )
    return render_template("dispatch/outbox.html", captured=captured)


@dispatch_bp.get("/outbox/<int:message_id>")
@roles_required(*VIEWERS)
def captured(message_id: int) -> Any:
    message = db.session.get(CapturedMessage, message_id)
    if message is None:
        raise NotFoundError(f"no captured message {message_id}")
    return render_template("dispatch/captured.html", message=message)


# -- JSON API -----------------------------------------------------------------------------


@dispatch_api_bp.get("/campaigns/<int:campaign_id>")
@roles_required(*VIEWERS)
def api_progress(campaign_id: int) -> Response:
    return jsonify(services.progress(campaign_id))


@dispatch_api_bp.get("/campaigns/<int:campaign_id>/timeline")
@roles_required(*VIEWERS)
def api_timeline(campaign_id: int) -> Response:
    return jsonify(services.timeline(campaign_id))


@dispatch_api_bp.get("/campaigns/<int:campaign_id>/deliveries")
@roles_required(*VIEWERS)
def api_deliveries(campaign_id: int) -> Response:
    status, channel, page = _filters()
    rows, total = services.deliveries(campaign_id, status=status, channel=channel, page=page)
    return jsonify(
        {"total": total, "page": page, "deliveries": [services.delivery_json(r) for r in rows]}
    )


@dispatch_api_bp.get("/deliveries/<int:delivery_id>")
@roles_required(*VIEWERS)
def api_delivery(delivery_id: int) -> Response:
    row, events = services.delivery_detail(delivery_id)
    return jsonify(
        {
            **services.delivery_json(row),
            "events": [
                {"status": e.status, "detail": e.detail, "at": e.created_at.isoformat()}
                for e in events
            ],
        }
    )


@dispatch_api_bp.post("/campaigns/<int:campaign_id>/start")
@roles_required(*SENDERS)
def api_start(campaign_id: int) -> tuple[Response, int]:
    services.start_dispatch(campaign_id, current_account())
    return jsonify(services.progress(campaign_id)), 202


@dispatch_api_bp.post("/campaigns/<int:campaign_id>/<any(pause, resume, cancel):action>")
@roles_required(*SENDERS)
def api_act(campaign_id: int, action: str) -> Response:
    ACTIONS[action](campaign_id, current_account())
    return jsonify(services.progress(campaign_id))


@dispatch_api_bp.post("/bounces")
@roles_required(*SENDERS)
def api_bounce() -> tuple[Response, int]:
    """A DSN as posted by the mail server's bounce pipe (``Content-Type: message/rfc822``)."""
    raw = request.get_data(cache=False)
    if not raw:
        raise ValidationError("post the DSN message itself as the request body")
    report = services.process_bounce(raw)
    return jsonify(
        {
            "message_id": report.message_id,
            "delivery_id": report.delivery_id,
            "recipients": report.verdicts,
            "applied": report.applied,
        }
    ), 200


# -- one-click unsubscribe ----------------------------------------------------------------


@unsubscribe_bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str) -> Any:
    if request.method == "GET":
        return render_template("dispatch/unsubscribe.html", token=token, done=False)
    services.unsubscribe(token)
    # The same page whether the token was known or not: probing learns nothing.
    return render_template("dispatch/unsubscribe.html", token=token, done=True)
