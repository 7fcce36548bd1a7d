"""Audience pages (organisations, contacts, suppressions, the import wizard) and the
audience JSON API under ``/api``.

Views parse the request, call one service or importing function, and render or redirect;
domain errors from a form submission are shown on the page with their status code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from app.accounts.access import current_account, roles_required
from app.accounts.models import Role
from app.audience import importing, services
from app.audience.forms import (
    RemoveSuppressionForm,
    SuppressionForm,
    UploadForm,
    mapping_form,
)
from app.audience.imports.fields import fields_for
from app.audience.models import ImportStatus
from app.errors import AppError, ValidationError

audience_bp = Blueprint("audience", __name__)
audience_api_bp = Blueprint("audience_api", __name__)

READ_ROLES = (Role.ADMIN, Role.MARKETER, Role.APPROVER, Role.COMPLIANCE, Role.AUDITOR)
IMPORT_ROLES = (Role.ADMIN, Role.MARKETER)
SUPPRESSION_ROLES = (Role.ADMIN, Role.MARKETER, Role.COMPLIANCE)


@audience_bp.get("/")
@roles_required(*READ_ROLES)
def index() -> Any:
    return redirect(url_for("audience.organisations"))


# -- organisations and contacts ----------------------------------------------------------


@audience_bp.get("/organisations")
@roles_required(*READ_ROLES)
def organisations() -> Any:
    filters = services.parse_organisation_filter(request.args)
    page, per_page = services.parse_paging(request.args)
    return render_template(
        "audience/organisations.html",
        filters=filters,
        results=services.search_organisations(filters, page=page, per_page=per_page),
        options=services.filter_options(),
    )


@audience_bp.get("/organisations/<int:organisation_id>")
@roles_required(*READ_ROLES)
def organisation(organisation_id: int) -> Any:
    org = services.get_organisation(organisation_id)
    addresses = [a for c in org.contacts for a in (c.email, c.phone, c.messenger_handle) if a]
    return render_template(
        "audience/organisation.html",
        org=org,
        manager=services.organisation_account_manager(org),
        active_mrr=services.active_mrr(org),
        suppressed=services.suppressed_addresses(addresses),
    )


@audience_bp.get("/contacts")
@roles_required(*READ_ROLES)
def contacts() -> Any:
    filters = services.parse_contact_filter(request.args)
    page, per_page = services.parse_paging(request.args)
    return render_template(
        "audience/contacts.html",
        filters=filters,
        results=services.search_contacts(filters, page=page, per_page=per_page),
        options=services.filter_options(),
    )


# -- suppressions ------------------------------------------------------------------------


def _suppressions_page(form: SuppressionForm | None = None, status: int = 200) -> Any:
    page, per_page = services.parse_paging(request.args)
    q = request.args.get("q", "")
    return (
        render_template(
            "audience/suppressions.html",
            form=form or SuppressionForm(),
            remove_form=RemoveSuppressionForm(),
            q=q,
            results=services.list_suppressions(q, page=page, per_page=per_page),
        ),
        status,
    )


@audience_bp.get("/suppressions")
@roles_required(*READ_ROLES)
def suppressions() -> Any:
    return _suppressions_page()


@audience_bp.post("/suppressions")
@roles_required(*SUPPRESSION_ROLES)
def add_suppression() -> Any:
    form = SuppressionForm()
    if not form.validate():
        return _suppressions_page(form, 400)
    try:
        added = services.add_suppression(
            form.address.data or "",
            form.reason.data or "",
            current_account(),
            channel=form.channel.data or None,
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _suppressions_page(form, exc.status_code)
    flash(f"{added.address} is suppressed on {added.channel or 'all channels'}.", "success")
    return redirect(url_for("audience.suppressions"))


@audience_bp.post("/suppressions/<int:suppression_id>/remove")
@roles_required(*SUPPRESSION_ROLES)
def remove_suppression(suppression_id: int) -> Any:
    form = RemoveSuppressionForm()
    if not form.validate():
        flash("Give a reason for lifting the suppression.", "error")
        return _suppressions_page(status=400)
    removed = services.remove_suppression(suppression_id, form.reason.data or "", current_account())
    flash(f"{removed.address} may be contacted again.", "success")
    return redirect(url_for("audience.suppressions"))


# -- import wizard -----------------------------------------------------------------------


@audience_bp.get("/imports")
@roles_required(*READ_ROLES)
def imports() -> Any:
    page, per_page = services.parse_paging(request.args)
    jobs = importing.list_imports(limit=per_page, offset=(page - 1) * per_page)
    results = services.Page(jobs, importing.count_imports(), page, per_page)
    return render_template("audience/imports.html", results=results)


def _upload_page(form: UploadForm, status: int = 200) -> Any:
    if request.method == "GET" and not form.phone_region.data:
        form.phone_region.data = importing.default_phone_region()
    return render_template("audience/import_new.html", form=form), status


@audience_bp.route("/imports/new", methods=["GET", "POST"])
@roles_required(*IMPORT_ROLES)
def new_import() -> Any:
    form = UploadForm()
    if request.method == "GET":
        return _upload_page(form)
    if not form.validate():
        return _upload_page(form, 400)
    upload = form.file.data
    try:
        job = importing.create_import(
            form.kind.data or "",
            upload.filename or "",
            upload.read(),
            current_account(),
            encoding=form.encoding.data,
            phone_region=form.phone_region.data or None,
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _upload_page(form, exc.status_code)
    return redirect(url_for("audience.import_mapping", import_id=job.id))


def _mapping_page(job: Any, form: Any, status: int = 200, problems: Any = None) -> Any:
    fields = fields_for(job.kind)
    columns = [(header, form[f"column_{i}"]) for i, header in enumerate(job.headers)]
    return (
        render_template(
            "audience/import_mapping.html",
            job=job,
            form=form,
            columns=columns,
            fields=fields,
            problems=problems or {},
        ),
        status,
    )


@audience_bp.route("/imports/<int:import_id>/mapping", methods=["GET", "POST"])
@roles_required(*IMPORT_ROLES)
def import_mapping(import_id: int) -> Any:
    job = importing.get_import(import_id)
    if job.status != ImportStatus.UPLOADED:
        return redirect(url_for("audience.import_job", import_id=job.id))
    fields = fields_for(job.kind)
    if request.method == "GET":
        form = mapping_form(job.headers, fields)
        for index, header in enumerate(job.headers):
            form[f"column_{index}"].data = job.mapping.get(header, "")
        form.encoding.data = (job.options or {}).get("encoding", "auto")
        form.phone_region.data = (job.options or {}).get("phone_region", "")
        return _mapping_page(job, form)
    form = mapping_form(job.headers, fields, request.form)
    if not form.validate():
        return _mapping_page(job, form, 400)
    mapping = {h: form[f"column_{i}"].data or "" for i, h in enumerate(job.headers)}
    try:
        importing.configure_import(
            job.id, mapping, encoding=form.encoding.data, phone_region=form.phone_region.data
        )
    except ValidationError as exc:
        flash(exc.message, "error")
        return _mapping_page(importing.get_import(import_id), form, 400, exc.details)
    except AppError as exc:
        flash(exc.message, "error")
        return _mapping_page(importing.get_import(import_id), form, exc.status_code)
    return redirect(url_for("audience.import_preview", import_id=job.id))


@audience_bp.get("/imports/<int:import_id>/preview")
@roles_required(*IMPORT_ROLES)
def import_preview(import_id: int) -> Any:
    job = importing.get_import(import_id)
    if job.status != ImportStatus.UPLOADED:
        return redirect(url_for("audience.import_job", import_id=job.id))
    try:
        preview = importing.preview_import(import_id)
    except ValidationError as exc:
        flash(exc.message, "error")
        return redirect(url_for("audience.import_mapping", import_id=import_id))
    return render_template(
        "audience/import_preview.html",
        preview=preview,
        job=preview.job,
        shown=preview.rejections[: importing.PREVIEW_REJECTIONS_SHOWN],
    )


@audience_bp.post("/imports/<int:import_id>/commit")
@roles_required(*IMPORT_ROLES)
def commit_import(import_id: int) -> Any:
    job = importing.commit_import(import_id)
    return redirect(url_for("audience.import_job", import_id=job.id))


@audience_bp.get("/imports/<int:import_id>")
@roles_required(*READ_ROLES)
def import_job(import_id: int) -> Any:
    job = importing.get_import(import_id)
    return render_template(
        "audience/import_job.html",
        job=job,
        status=importing.import_status(job),
        rejections=importing.list_rejections(import_id, limit=500),
    )


@audience_bp.get("/imports/<int:import_id>/rejections.csv")
@roles_required(*READ_ROLES)
def import_rejections_csv(import_id: int) -> Response:
    job = importing.get_import(import_id)
    rows: Iterator[str] = importing.rejections_csv(import_id)
    stem = job.filename.rsplit(".", 1)[0]
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{stem}-rejected-{job.id}.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- JSON API ----------------------------------------------------------------------------


def _page_json(page: services.Page[Any], items: list[Any]) -> dict[str, Any]:
    return {
        "items": items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


@audience_api_bp.get("/organisations")
@roles_required(*READ_ROLES)
def api_organisations() -> Response:
    filters = services.parse_organisation_filter(request.args)
    page, per_page = services.parse_paging(request.args)
    results = services.search_organisations(filters, page=page, per_page=per_page)
    return jsonify(_page_json(results, [services.organisation_json(o) for o in results.items]))


@audience_api_bp.get("/organisations/<int:organisation_id>")
@roles_required(*READ_ROLES)
def api_organisation(organisation_id: int) -> Response:
    org = services.get_organisation(organisation_id)
    return jsonify(
        {
            **services.organisation_json(org),
            "active_mrr": str(services.active_mrr(org)),
            "contacts": [services.contact_json(c, with_organisation=False) for c in org.contacts],
            "subscriptions": [services.subscription_json(s) for s in org.subscriptions],
        }
    )


@audience_api_bp.get("/contacts")
@roles_required(*READ_ROLES)
def api_contacts() -> Response:
    filters = services.parse_contact_filter(request.args)
    page, per_page = services.parse_paging(request.args)
    results = services.search_contacts(filters, page=page, per_page=per_page)
    return jsonify(_page_json(results, [services.contact_json(c) for c in results.items]))


@audience_api_bp.get("/imports")
@roles_required(*READ_ROLES)
def api_imports() -> Response:
    page, per_page = services.parse_paging(request.args)
    jobs = importing.list_imports(limit=per_page, offset=(page - 1) * per_page)
    results = services.Page(jobs, importing.count_imports(), page, per_page)
    return jsonify(_page_json(results, [importing.import_status(j) for j in jobs]))


@audience_api_bp.get("/imports/<int:import_id>")
@roles_required(*READ_ROLES)
def api_import(import_id: int) -> Response:
    return jsonify(importing.import_status(importing.get_import(import_id)))


@audience_api_bp.get("/imports/<int:import_id>/rejections")
@roles_required(*READ_ROLES)
def api_import_rejections(import_id: int) -> Response:
    importing.get_import(import_id)
    raw_limit = request.args.get("limit", "500")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= 5000:
        raise ValidationError(
            f"limit {raw_limit!r} is not a whole number from 1 to 5000",
            details={"limit": "a whole number from 1 to 5000"},
        )
    rejections = importing.list_rejections(import_id, limit=int(raw_limit))
    return jsonify(
        {
            "items": [
                {"line": r.line, "field": r.field, "reason": r.reason, "raw": r.raw}
                for r in rejections
            ]
        }
    )


# -- CLI ---------------------------------------------------------------------------------


@audience_bp.cli.command("seed-demo")
@click.option("--orgs", "n_orgs", default=5000, show_default=True, help="Organisations.")
@click.option("--seed", default=42, show_default=True)
def seed_demo_command(n_orgs: int, seed: int) -> None:
    """Seed demo organisations, contacts, consents and subscriptions (once)."""
    from app.audience.demo import seed_demo_audience

    counts = seed_demo_audience(n_orgs, seed)
    if not counts["organisations"]:
        click.echo("audience: demo organisations exist already; nothing added")
        return
    click.echo("audience: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


@audience_bp.cli.command("import")
@click.argument("kind")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", default="auto", show_default=True)
@click.option("--phone-region", default=None, help="Country of national phone numbers.")
def import_command(kind: str, path: str, encoding: str, phone_region: str | None) -> None:
    """Import a CSV/XLSX file with the suggested column mapping."""
    from pathlib import Path

    file = Path(path)
    try:
        job = importing.import_file(
            kind, file.name, file.read_bytes(), encoding=encoding, phone_region=phone_region
        )
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    status = importing.import_status(job)
    counts = ", ".join(f"{n} {what}" for what, n in status["counts"].items())
    click.echo(f"import #{job.id} {job.status}: {job.total} lines; {counts}")
    if job.error:
        raise click.ClickException(job.error)
