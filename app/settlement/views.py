"""Settlement pages for operators and clearing agents: the inbox, proposals, disputes,
cycles with their picture and statements, reconciliation and the member key.

Views are thin: they parse the form, call one service function and flash its outcome.
Every action asks for the user's sign-in password, which unlocks the member key for
that one request.  A contract revert is flashed as the client's one-sentence
translation, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from app.accounts.access import current_account, roles_required
from app.accounts.models import Role
from app.errors import AppError, NotFoundError, ValidationError
from app.settlement import indexer, keys, queries, reconciliation, services, statements
from app.settlement.pictures import cycle_svg
from app.settlement.svg import money
from ledger.errors import LedgerError
from ledger.settlement import DisputeReason, ServiceType, reason_label

settlement_bp = Blueprint("settlement", __name__)

F = TypeVar("F", bound=Callable[..., Any])
ROLES = (Role.OPERATOR, Role.CLEARING_AGENT)
BOX_TITLES = {
    "inbox": "Awaiting my confirmation",
    "proposed": "My proposals",
    "disputes": "Disputes",
    None: "All obligations",
}


def settlement_page(view: F) -> F:
    """Settlement roles only; the index is brought up to date (when cheap) first, so an
    action finds what the chain holds."""

    @roles_required(*ROLES)
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.viewer = queries.viewer_of(current_account())
        g.index_status = indexer.refresh_index()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _viewer() -> queries.Viewer:
    viewer: queries.Viewer = g.viewer
    return viewer


def _failed(exc: Exception) -> None:
    message = exc.message if isinstance(exc, AppError) else str(exc)
    flash(message, "error")


def _back(default: str) -> Any:
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = default
    return redirect(target)


@settlement_bp.app_template_filter("money")
def money_filter(amount: int | None, currency: str) -> str:
    return "" if amount is None else money(amount, currency)


@settlement_bp.app_template_filter("member")
def member_filter(address: str | None) -> str:
    return queries.member_label(address)


@settlement_bp.app_template_filter("service")
def service_filter(code: int) -> str:
    try:
        return ServiceType(code).label.replace("_", " ")
    except ValueError:
        return str(code)


@settlement_bp.app_template_filter("reason")
def reason_filter(code: int | None) -> str:
    return reason_label(code).replace("_", " ") if code else ""


@settlement_bp.app_context_processor
def settlement_context() -> dict[str, Any]:
    return {
        "dispute_reasons": [(int(r), r.label.replace("_", " ")) for r in DisputeReason],
        "service_types": [(s.label, s.label.replace("_", " ")) for s in ServiceType],
    }


# -- overview and the index -----------------------------------------------------------------------


@settlement_bp.get("/")
@settlement_page
def index() -> Any:
    viewer = _viewer()
    counts = {
        box: queries.count_obligations(viewer, queries.ObligationFilters(box=box))
        for box in ("inbox", "proposed", "disputes")
    }
    return render_template(
        "settlement/index.html",
        counts=counts,
        cycles=queries.list_cycles()[:10],
        key_status=keys.key_status(viewer.user),
        member=queries.member_map().get(viewer.member),
    )


@settlement_bp.post("/sync")
@settlement_page
def resync() -> Any:
    try:
        result = indexer.rebuild_index()
    except (AppError, LedgerError) as exc:
        _failed(exc)
    else:
        flash(
            f"The index was rebuilt from the chain: {result.events} events up to block "
            f"{result.indexed_block}.",
            "success",
        )
    return _back(url_for("settlement.index"))


# -- obligations ----------------------------------------------------------------------------------


@settlement_bp.get("/obligations")
@settlement_page
def obligations() -> Any:
    viewer = _viewer()
    filters = queries.ObligationFilters.parse(request.args)
    page, per_page = queries.paging(request.args)
    found = queries.list_obligations(viewer, filters, page, per_page)
    texts = queries.reference_texts(r.external_ref for r in found.items)
    notes = queries.dispute_notes(r.id for r in found.items if r.dispute_reason)
    return render_template(
        "settlement/obligations.html",
        page=found,
        filters=filters,
        title=BOX_TITLES.get(filters.box, "Obligations"),
        texts=texts,
        notes=notes,
        members=queries.members(),
    )


@settlement_bp.get("/obligations/<obligation_id>")
@settlement_page
def obligation(obligation_id: str) -> Any:
    viewer = _viewer()
    row = queries.get_obligation(viewer, obligation_id)
    texts = queries.reference_texts([row.external_ref])
    return render_template(
        "settlement/obligation.html",
        row=row,
        reference=texts.get(row.external_ref),
        notes=queries.dispute_notes([row.id]).get(row.id, []),
        awaits_me=row.status == "proposed" and row.counterparty == viewer.member,
        mine=row.proposer == viewer.member,
    )


@settlement_bp.post("/obligations/act")
@settlement_page
def act() -> Any:
    """The bulk (and single) confirm / dispute form."""
    user = current_account()
    ids = request.form.getlist("ids")
    action = request.form.get("action", "")
    password = request.form.get("password", "")
    try:
        if action == "confirm":
            outcome = services.confirm(user, password, ids)
            flash(
                f"Confirmed {outcome.count} obligation{'s' if outcome.count != 1 else ''} "
                f"in {len(outcome.result.receipts) if outcome.result else 0} transaction(s).",
                "success",
            )
        elif action == "dispute":
            outcome = services.dispute(
                user,
                password,
                ids,
                request.form.get("reason", ""),
                request.form.get("comment", ""),
            )
            flash(
                f"Disputed {outcome.count} obligation{'s' if outcome.count != 1 else ''}.",
                "success",
            )
        else:
            raise ValidationError(f"unknown action {action!r}; choose confirm or dispute")
    except (AppError, LedgerError) as exc:
        _failed(exc)
    return _back(url_for("settlement.obligations", box="inbox"))


@settlement_bp.post("/obligations/<obligation_id>/withdraw")
@settlement_page
def withdraw(obligation_id: str) -> Any:
    try:
        services.withdraw(current_account(), request.form.get("password", ""), obligation_id)
        flash(f"Obligation {obligation_id} withdrawn.", "success")
    except (AppError, LedgerError) as exc:
        _failed(exc)
    return redirect(url_for("settlement.obligation", obligation_id=obligation_id))


@settlement_bp.route("/obligations/<obligation_id>/amend", methods=["GET", "POST"])
@settlement_page
def amend(obligation_id: str) -> Any:
    viewer = _viewer()
    row = queries.get_obligation(viewer, obligation_id)
    if request.method == "POST":
        form = request.form
        try:
            outcome = services.amend(
                current_account(),
                form.get("password", ""),
                obligation_id,
                amount=form.get("amount", ""),
                service=form.get("service") or None,
                period=form.get("period") or None,
                reference=form.get("reference") or None,
            )
        except (AppError, LedgerError) as exc:
            _failed(exc)
        else:
            assert outcome.result is not None
            new_id = outcome.result.ids[-1]
            flash(f"Obligation amended: the corrected proposal is {new_id}.", "success")
            return redirect(url_for("settlement.obligation", obligation_id=new_id))
    texts = queries.reference_texts([row.external_ref])
    return render_template(
        "settlement/amend.html", row=row, reference=texts.get(row.external_ref, "")
    )


@settlement_bp.route("/propose", methods=["GET", "POST"])
@settlement_page
def propose() -> Any:
    viewer = _viewer()
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        user = current_account()
        try:
            evidence = request.files.get("evidence")
            record = services.build_obligation(
                viewer,
                counterparty=values.get("counterparty", ""),
                direction=values.get("direction", ""),
                currency=values.get("currency", ""),
                amount=values.get("amount", ""),
                service=values.get("service", ""),
                period=values.get("period", ""),
                reference=values.get("reference", ""),
                evidence=evidence.read() if evidence and evidence.filename else None,
            )
            services.propose(user, values.get("password", ""), [record], [values["reference"]])
        except (AppError, LedgerError) as exc:
            _failed(exc)
        else:
            flash(f"Proposed obligation {record.id}.", "success")
            return redirect(url_for("settlement.obligation", obligation_id=record.id))
    others = [m for m in queries.operators() if m.address != viewer.member]
    return render_template("settlement/propose.html", operators=others, values=values)


@settlement_bp.post("/propose/csv")
@settlement_page
def propose_csv() -> Any:
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationError("choose a billing CSV file to propose from")
        text = upload.read().decode("utf-8-sig", errors="replace")
        outcome = services.propose_csv(current_account(), request.form.get("password", ""), text)
    except (AppError, LedgerError) as exc:
        _failed(exc)
        return redirect(url_for("settlement.propose"))
    flash(
        f"Proposed {outcome.count} obligations; {len(outcome.rejected)} rows rejected, "
        f"{len(outcome.skipped)} skipped.",
        "success" if outcome.count else "info",
    )
    for row in outcome.rejected[:20]:
        flash(f"line {row.line}: {row.reason}", "error")
    for _id, why in outcome.skipped[:20]:
        flash(why, "info")
    return redirect(url_for("settlement.obligations", box="proposed"))


# -- cycles ---------------------------------------------------------------------------------------


@settlement_bp.get("/cycles")
@settlement_page
def cycles() -> Any:
    currency = request.args.get("currency") or None
    status = request.args.get("status") or None
    found = queries.list_cycles(currency, status)
    by_currency: dict[str, list[Any]] = {}
    for cycle in found:
        by_currency.setdefault(cycle.currency, []).append(cycle)
    return render_template(
        "settlement/cycles.html",
        by_currency=by_currency,
        currency=currency,
        status=status,
    )


@settlement_bp.post("/cycles/open")
@settlement_page
def open_cycle() -> Any:
    form = request.form
    try:
        result = services.open_cycle(
            current_account(),
            form.get("password", ""),
            form.get("currency", ""),
            services.parse_cutoff(form.get("cutoff", "")),
        )
    except (AppError, LedgerError) as exc:
        _failed(exc)
        return redirect(url_for("settlement.cycles"))
    flash(f"Cycle {result.cycle.id} opened for {result.cycle.currency}.", "success")
    return redirect(url_for("settlement.cycle", cycle_id=result.cycle.id))


@settlement_bp.get("/cycles/<int:cycle_id>")
@settlement_page
def cycle(cycle_id: int) -> Any:
    viewer = _viewer()
    view = queries.cycle_view(cycle_id)
    texts = queries.reference_texts(t.payment_ref or "" for t in view.transfers)
    return render_template(
        "settlement/cycle.html",
        view=view,
        c=view.cycle,
        mine=view.position_of(viewer.member),
        picture=cycle_svg(view),
        texts=texts,
    )


@settlement_bp.get("/cycles/<int:cycle_id>/picture.svg")
@settlement_page
def cycle_picture(cycle_id: int) -> Any:
    view = queries.cycle_view(cycle_id)
    return Response(cycle_svg(view), mimetype="image/svg+xml")


def _cycle_action(cycle_id: int, action: Callable[[], Any], done: str) -> Any:
    try:
        action()
    except (AppError, LedgerError) as exc:
        _failed(exc)
    else:
        flash(done, "success")
    return redirect(url_for("settlement.cycle", cycle_id=cycle_id))


@settlement_bp.post("/cycles/<int:cycle_id>/close")
@settlement_page
def close_cycle(cycle_id: int) -> Any:
    password = request.form.get("password", "")
    return _cycle_action(
        cycle_id,
        lambda: services.close_cycle(current_account(), password, cycle_id),
        f"Cycle {cycle_id} closed; its net positions are final.",
    )


@settlement_bp.post("/cycles/<int:cycle_id>/plan")
@settlement_page
def submit_plan(cycle_id: int) -> Any:
    password = request.form.get("password", "")
    exact = request.form.get("exact") == "on"
    return _cycle_action(
        cycle_id,
        lambda: services.submit_plan(current_account(), password, cycle_id, exact=exact),
        f"The settlement plan of cycle {cycle_id} was accepted by the ledger.",
    )


@settlement_bp.post("/cycles/<int:cycle_id>/confirm-position")
@settlement_page
def confirm_position(cycle_id: int) -> Any:
    password = request.form.get("password", "")
    return _cycle_action(
        cycle_id,
        lambda: services.confirm_position(current_account(), password, cycle_id),
        f"You confirmed your position in cycle {cycle_id}.",
    )


@settlement_bp.post("/cycles/<int:cycle_id>/transfers/<int:index>/paid")
@settlement_page
def mark_paid(cycle_id: int, index: int) -> Any:
    password = request.form.get("password", "")
    reference = request.form.get("reference", "")
    return _cycle_action(
        cycle_id,
        lambda: services.mark_paid(current_account(), password, cycle_id, index, reference),
        f"Transfer {index} marked paid.",
    )


@settlement_bp.post("/cycles/<int:cycle_id>/transfers/<int:index>/received")
@settlement_page
def confirm_received(cycle_id: int, index: int) -> Any:
    password = request.form.get("password", "")
    return _cycle_action(
        cycle_id,
        lambda: services.confirm_received(current_account(), password, cycle_id, index),
        f"Receipt of transfer {index} confirmed.",
    )


# -- statements -----------------------------------------------------------------------------------


def _statement_member(viewer: queries.Viewer) -> str:
    wanted = (request.args.get("member") or "").strip()
    if not wanted:
        return viewer.member
    member = queries.resolve_member(wanted, "member")
    if member != viewer.member and not viewer.agent:
        raise NotFoundError("you can only download your own member's statements")
    return member


@settlement_bp.get("/cycles/<int:cycle_id>/statement")
@settlement_page
def statement(cycle_id: int) -> Any:
    found = statements.build_statement(cycle_id, _statement_member(_viewer()))
    return render_template("settlement/statement.html", s=found)


@settlement_bp.get("/cycles/<int:cycle_id>/statement.csv")
@settlement_page
def statement_csv(cycle_id: int) -> Any:
    found = statements.build_statement(cycle_id, _statement_member(_viewer()))
    name = statements.statement_filename(found, "csv")
    return Response(
        statements.statement_csv(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- reconciliation -------------------------------------------------------------------------------


@settlement_bp.route("/reconcile", methods=["GET", "POST"])
@settlement_page
def reconcile() -> Any:
    user = current_account()
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise ValidationError("choose your billing export (CSV) to reconcile")
            tolerance = reconciliation.parse_tolerance(
                request.form.get("tolerance_abs"), request.form.get("tolerance_pct")
            )
            row = reconciliation.upload_billing(user, upload.filename, upload.read(), tolerance)
        except (AppError, LedgerError) as exc:
            _failed(exc)
            return redirect(url_for("settlement.reconcile"))
        return redirect(url_for("settlement.reconcile_report", upload_id=row.id))
    return render_template("settlement/reconcile.html", uploads=reconciliation.uploads_of(user))


@settlement_bp.get("/reconcile/<int:upload_id>")
@settlement_page
def reconcile_report(upload_id: int) -> Any:
    upload = reconciliation.get_upload(current_account(), upload_id)
    report = reconciliation.report_for(upload)
    return render_template(
        "settlement/reconcile_report.html",
        upload=upload,
        report=report,
        counts=report.counts(),
        by_label=report.totals_by_label(),
        by_partner=report.totals_by_partner(),
        items=report.items[:1000],
    )


@settlement_bp.get("/reconcile/<int:upload_id>.<any(csv, json):fmt>")
@settlement_page
def reconcile_download(upload_id: int, fmt: str) -> Any:
    upload = reconciliation.get_upload(current_account(), upload_id)
    report = reconciliation.report_for(upload)
    body = report.to_csv() if fmt == "csv" else report.to_json_text()
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{upload_id}.{fmt}"'},
    )


@settlement_bp.post("/reconcile/<int:upload_id>/apply")
@settlement_page
def reconcile_apply(upload_id: int) -> Any:
    try:
        result = reconciliation.apply_upload(
            current_account(), request.form.get("password", ""), upload_id
        )
    except (AppError, LedgerError) as exc:
        _failed(exc)
    else:
        actions = result.actions
        flash(
            f"Applied: {len(actions.propose)} proposed, {len(actions.confirm)} confirmed, "
            f"{len(actions.dispute)} disputed; {len(actions.skipped)} left for you to handle.",
            "success",
        )
        for skipped in actions.skipped[:20]:
            flash(f"line {skipped.item.line or '-'}: {skipped.reason}", "info")
    return redirect(url_for("settlement.reconcile_report", upload_id=upload_id))


# -- the member key -------------------------------------------------------------------------------


@settlement_bp.route("/key", methods=["GET", "POST"])
@settlement_page
def key() -> Any:
    user = current_account()
    if request.method == "POST":
        upload = request.files.get("keystore")
        try:
            if upload is None or not upload.filename:
                raise ValidationError("choose your member's keystore file (JSON)")
            keys.import_keystore(
                user,
                upload.read().decode("utf-8", errors="replace"),
                request.form.get("keystore_password", ""),
                request.form.get("password", ""),
            )
        except (AppError, LedgerError) as exc:
            _failed(exc)
        else:
            flash("Your member key is stored, encrypted with your sign-in password.", "success")
        return redirect(url_for("settlement.key"))
    row = keys.active_key(user.id)
    return render_template("settlement/key.html", key_status=keys.key_status(user), key=row)
