"""The settlement JSON API, under ``/api/settlement`` (API token or session; errors in the
one JSON shape of :mod:`app.errors`).

Reads come from the event index, brought up to date first when that is cheap; every
response carries ``index`` (indexed block, head block, problem if any).

Actions sign with the caller's member key, which the caller unlocks by sending its
sign-in ``password`` in the JSON body.  In production (``LEDGERLINE_HTTPS=true``) such a
request is refused unless it arrived over HTTPS (behind a proxy, let the proxy set
``X-Forwarded-Proto`` and run the app with ``ProxyFix``), so the password never crosses
the network in clear.  A body without ``password`` gets a 400 naming the field; a wrong
password a 400 saying so; a contract revert a 409 whose message is one sentence and whose
``details.error_name`` is the contract's custom error.

==========================================================  ===================================
``GET  /obligations``                                       filters ``box`` (inbox, proposed,
                                                            disputes), ``status``,
                                                            ``counterparty``, ``currency``,
                                                            ``period``, ``cycle``; ``page``,
                                                            ``per_page``
``GET  /obligations/<id>``                                  one obligation
``POST /obligations``                                       propose: one record, or
                                                            ``{"obligations": [...]}``
``POST /obligations/confirm`` / ``/obligations/dispute``    ``{"ids": [...], "password"}``
                                                            (dispute: ``reason``, ``comment``)
``POST /obligations/<id>/confirm|dispute|withdraw|amend``   one obligation
``GET  /cycles`` / ``/cycles/<id>``                         cycles; positions, plan, transfers,
                                                            metrics
``POST /cycles``                                            open: ``currency``, ``cutoff``
``POST /cycles/<id>/close|plan|confirm-position``           cycle steps
``POST /cycles/<id>/transfers/<i>/paid|received``           payments (paid: ``reference``)
``GET  /cycles/<id>/statement/<member>``                    statement (JSON; ``?format=csv``)
``GET  /members``                                           registry members
``GET  /index`` / ``POST /index/rebuild``                   the index and re-sync
``POST /reconciliations``                                   billing CSV (multipart ``file`` or
                                                            ``text/csv`` body) → report
``GET  /reconciliations/<id>`` / ``POST .../apply``         report; apply it
==========================================================  ===================================
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.accounts.access import current_account, roles_required
from app.accounts.models import Role
from app.errors import AppError, NotFoundError, ValidationError, jsonable
from app.settlement import indexer, queries, reconciliation, services, statements
from ledger.errors import LedgerValueError
from ledger.reconcile import ApplyResult
from ledger.settlement import CycleResult

settlement_api_bp = Blueprint("settlement_api", __name__)

F = TypeVar("F", bound=Callable[..., Any])
ROLES = (Role.OPERATOR, Role.CLEARING_AGENT)


class InsecureTransportError(AppError):
    status_code = 400
    code = "https_required"


def api_view(view: F) -> F:
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


def _ok(data: dict[str, Any], status: int = 200) -> Response:
    if request.method != "GET":
        g.index_status = indexer.status()
    body = {**jsonable(data), "index": g.index_status.to_json()}
    response = jsonify(body)
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError(
            "the request body must be a JSON object (Content-Type: application/json)",
            details={"body": "not a JSON object"},
        )
    return data


def _password(data: dict[str, Any]) -> str:
    """The sign-in password from the body, over HTTPS when the app runs in production."""
    if current_app.config.get("HTTPS") and not request.is_secure:
        raise InsecureTransportError(
            "actions carry your password: send them over HTTPS (this server requires it)"
        )
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise ValidationError(
            'the request body needs a "password" field: your sign-in password unlocks your '
            "member key for this action",
            details={"password": "required"},
        )
    return password


def _ids(data: dict[str, Any]) -> list[str]:
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValidationError(
            'the request body needs "ids": a non-empty list of obligation ids (0x…)',
            details={"ids": "required"},
        )
    return ids


def _outcome(outcome: services.ObligationsOutcome, status: int = 200) -> Response:
    return _ok(outcome.to_json(), status)


def _cycle(result: CycleResult) -> Response:
    return _ok({"cycle": queries.cycle_view(result.cycle.id).to_json(), **result.receipt.to_json()})


# -- reads ----------------------------------------------------------------------------------------


@settlement_api_bp.get("/obligations")
@api_view
def list_obligations() -> Any:
    filters = queries.ObligationFilters.parse(request.args)
    page, per_page = queries.paging(request.args)
    found = queries.list_obligations(_viewer(), filters, page, per_page)
    names = queries.member_map()
    texts = queries.reference_texts(r.external_ref for r in found.items)
    notes = queries.dispute_notes(r.id for r in found.items if r.dispute_reason)
    return _ok(
        {
            "items": [
                queries.obligation_json(r, names, texts, notes.get(r.id, ())) for r in found.items
            ],
            "page": found.page,
            "perPage": found.per_page,
            "total": found.total,
            "pages": found.pages,
        }
    )


@settlement_api_bp.get("/obligations/<obligation_id>")
@api_view
def get_obligation(obligation_id: str) -> Any:
    row = queries.get_obligation(_viewer(), obligation_id)
    texts = queries.reference_texts([row.external_ref])
    notes = queries.dispute_notes([row.id]).get(row.id, [])
    return _ok({"obligation": queries.obligation_json(row, None, texts, notes)})


@settlement_api_bp.get("/cycles")
@api_view
def list_cycles() -> Any:
    found = queries.list_cycles(request.args.get("currency"), request.args.get("status"))
    return _ok({"items": [queries.cycle_json(c) for c in found]})


@settlement_api_bp.get("/cycles/<int:cycle_id>")
@api_view
def get_cycle(cycle_id: int) -> Any:
    return _ok({"cycle": queries.cycle_view(cycle_id).to_json()})


@settlement_api_bp.get("/cycles/<int:cycle_id>/statement/<member>")
@api_view
def get_statement(cycle_id: int, member: str) -> Any:
    viewer = _viewer()
    address = queries.resolve_member(member, "member")
    if address != viewer.member and not viewer.agent:
        raise NotFoundError("you can only read your own member's statements")
    found = statements.build_statement(cycle_id, address)
    if request.args.get("format") == "csv":
        return Response(statements.statement_csv(found), mimetype="text/csv")
    return _ok({"statement": found.to_json()})


@settlement_api_bp.get("/members")
@api_view
def list_members() -> Any:
    return _ok({"items": [queries.member_json(m) for m in queries.members()]})


@settlement_api_bp.get("/index")
@api_view
def index_status() -> Any:
    return _ok({})


@settlement_api_bp.post("/index/rebuild")
@api_view
def rebuild() -> Any:
    result = indexer.rebuild_index()
    g.index_status = indexer.status()
    return _ok({"sync": result.to_json()})


# -- obligation actions ---------------------------------------------------------------------------


def _record(viewer: queries.Viewer, item: Any, where: str) -> tuple[Any, str]:
    if not isinstance(item, dict):
        raise ValidationError(f"{where} must be a JSON object")
    missing = [
        name
        for name in (
            "counterparty",
            "direction",
            "currency",
            "amount",
            "service",
            "period",
            "reference",
        )
        if item.get(name) in (None, "")
    ]
    if missing:
        raise ValidationError(
            f"{where} lacks {', '.join(missing)}; an obligation needs counterparty, direction "
            "(payable|receivable), currency, amount (decimal, major units), service, period "
            "(YYYYMM) and reference",
            details={name: "required" for name in missing},
        )
    try:
        record = services.build_obligation(
            viewer,
            counterparty=str(item["counterparty"]),
            direction=str(item["direction"]),
            currency=str(item["currency"]),
            amount=str(item["amount"]),
            service=str(item["service"]),
            period=str(item["period"]),
            reference=str(item["reference"]),
        )
    except LedgerValueError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    return record, str(item["reference"])


@settlement_api_bp.post("/obligations")
@api_view
def propose() -> Any:
    data = _body()
    viewer = services.require_operator(current_account())
    items = data.get("obligations")
    if items is None:
        pairs = [_record(viewer, data, "the obligation")]
    elif isinstance(items, list) and items:
        pairs = [_record(viewer, item, f"obligation {i}") for i, item in enumerate(items)]
    else:
        raise ValidationError('"obligations" must be a non-empty list of obligations')
    password = _password(data)
    outcome = services.propose(
        current_account(), password, [r for r, _ in pairs], [ref for _, ref in pairs]
    )
    return _outcome(outcome, 201)


@settlement_api_bp.post("/obligations/confirm")
@api_view
def confirm_many() -> Any:
    data = _body()
    return _outcome(services.confirm(current_account(), _password(data), _ids(data)))


@settlement_api_bp.post("/obligations/dispute")
@api_view
def dispute_many() -> Any:
    data = _body()
    return _outcome(_dispute(data, _ids(data)))


def _dispute(data: dict[str, Any], ids: list[str]) -> services.ObligationsOutcome:
    reason = data.get("reason")
    if reason in (None, ""):
        raise ValidationError(
            'the request body needs a "reason": a dispute reason code or name '
            "(amount_mismatch, not_recognised, duplicate, wrong_period, wrong_rate, ...)",
            details={"reason": "required"},
        )
    comment = data.get("comment") or ""
    return services.dispute(current_account(), _password(data), ids, reason, str(comment))


@settlement_api_bp.post("/obligations/<obligation_id>/confirm")
@api_view
def confirm_one(obligation_id: str) -> Any:
    data = _body()
    return _outcome(services.confirm(current_account(), _password(data), [obligation_id]))


@settlement_api_bp.post("/obligations/<obligation_id>/dispute")
@api_view
def dispute_one(obligation_id: str) -> Any:
    return _outcome(_dispute(_body(), [obligation_id]))


@settlement_api_bp.post("/obligations/<obligation_id>/withdraw")
@api_view
def withdraw_one(obligation_id: str) -> Any:
    data = _body()
    return _outcome(services.withdraw(current_account(), _password(data), obligation_id))


@settlement_api_bp.post("/obligations/<obligation_id>/amend")
@api_view
def amend_one(obligation_id: str) -> Any:
    data = _body()
    if data.get("amount") in (None, ""):
        raise ValidationError(
            'the request body needs "amount": the corrected amount (decimal, major units)',
            details={"amount": "required"},
        )
    outcome = services.amend(
        current_account(),
        _password(data),
        obligation_id,
        amount=str(data["amount"]),
        service=data.get("service"),
        period=data.get("period"),
        reference=data.get("reference"),
    )
    return _outcome(outcome, 201)


# -- cycle actions --------------------------------------------------------------------------------


@settlement_api_bp.post("/cycles")
@api_view
def open_cycle() -> Any:
    data = _body()
    missing = [n for n in ("currency", "cutoff") if not data.get(n)]
    if missing:
        raise ValidationError(
            f"the request body needs {' and '.join(missing)}: the cycle's ISO 4217 currency and "
            "its cut-off (ISO 8601, e.g. 2026-12-31T18:00:00Z)",
            details={n: "required" for n in missing},
        )
    cutoff = services.parse_cutoff(str(data["cutoff"]))
    result = services.open_cycle(current_account(), _password(data), str(data["currency"]), cutoff)
    response = _cycle(result)
    response.status_code = 201
    return response


@settlement_api_bp.post("/cycles/<int:cycle_id>/close")
@api_view
def close_cycle(cycle_id: int) -> Any:
    data = _body()
    return _cycle(services.close_cycle(current_account(), _password(data), cycle_id))


@settlement_api_bp.post("/cycles/<int:cycle_id>/plan")
@api_view
def submit_plan(cycle_id: int) -> Any:
    data = _body()
    exact = bool(data.get("exact", False))
    return _cycle(services.submit_plan(current_account(), _password(data), cycle_id, exact=exact))


@settlement_api_bp.post("/cycles/<int:cycle_id>/confirm-position")
@api_view
def confirm_position(cycle_id: int) -> Any:
    data = _body()
    return _cycle(services.confirm_position(current_account(), _password(data), cycle_id))


@settlement_api_bp.post("/cycles/<int:cycle_id>/transfers/<int:index>/paid")
@api_view
def mark_paid(cycle_id: int, index: int) -> Any:
    data = _body()
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        raise ValidationError(
            'the request body needs "reference": the bank transfer\'s payment reference',
            details={"reference": "required"},
        )
    return _cycle(
        services.mark_paid(current_account(), _password(data), cycle_id, index, reference)
    )


@settlement_api_bp.post("/cycles/<int:cycle_id>/transfers/<int:index>/received")
@api_view
def confirm_received(cycle_id: int, index: int) -> Any:
    data = _body()
    return _cycle(services.confirm_received(current_account(), _password(data), cycle_id, index))


# -- reconciliation -------------------------------------------------------------------------------


@settlement_api_bp.post("/reconciliations")
@api_view
def upload_reconciliation() -> Any:
    upload = request.files.get("file")
    args: Any
    if upload is not None and upload.filename:
        name, content = upload.filename, upload.read()
        args = request.form
    elif request.mimetype == "text/csv":
        name, content, args = "billing.csv", request.get_data(), request.args
    else:
        raise ValidationError(
            "send the billing export as a multipart field named file, or as a text/csv body",
            details={"file": "required"},
        )
    tolerance = reconciliation.parse_tolerance(args.get("tolerance_abs"), args.get("tolerance_pct"))
    row = reconciliation.upload_billing(current_account(), name, content, tolerance)
    report = reconciliation.report_for(row)
    return _ok({"id": row.id, "report": report.to_json()}, 201)


@settlement_api_bp.get("/reconciliations/<int:upload_id>")
@api_view
def get_reconciliation(upload_id: int) -> Any:
    row = reconciliation.get_upload(current_account(), upload_id)
    report = reconciliation.report_for(row)
    if request.args.get("format") == "csv":
        return Response(report.to_csv(), mimetype="text/csv")
    return _ok({"id": row.id, "report": report.to_json()})


@settlement_api_bp.post("/reconciliations/<int:upload_id>/apply")
@api_view
def apply_reconciliation(upload_id: int) -> Any:
    data = _body()
    result: ApplyResult = reconciliation.apply_upload(current_account(), _password(data), upload_id)
    return _ok({"applied": result.to_json()})
