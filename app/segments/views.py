"""The segment pages: the list, the builder, a segment's history and its snapshots.

The builder is a static page driven by ``static/js/segment-builder.js`` through the JSON
API; the pages here only render what the services return.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.accounts.access import current_account, roles_required
from app.errors import AppError
from app.segments import services
from app.segments.api import EDIT_ROLES, READ_ROLES

segments_bp = Blueprint("segments", __name__)

MEMBERS_PAGE = 200


def _can_edit() -> bool:
    return current_account().has_role(*EDIT_ROLES)


@segments_bp.get("")
@roles_required(*READ_ROLES)
def index() -> ResponseReturnValue:
    return render_template(
        "segments/list.html", segments=services.list_segments(), can_edit=_can_edit()
    )


@segments_bp.get("/new")
@roles_required(*EDIT_ROLES)
def new() -> ResponseReturnValue:
    return render_template("segments/builder.html", segment=None, can_edit=True)


@segments_bp.get("/<int:segment_id>")
@roles_required(*READ_ROLES)
def edit(segment_id: int) -> ResponseReturnValue:
    segment = services.get_segment(segment_id)
    return render_template("segments/builder.html", segment=segment, can_edit=_can_edit())


@segments_bp.get("/<int:segment_id>/history")
@roles_required(*READ_ROLES)
def history(segment_id: int) -> ResponseReturnValue:
    segment = services.get_segment(segment_id)
    versions = list(reversed(segment.versions))
    diffs = {
        newer.id: services.diff_versions(older, newer)
        for older, newer in zip(segment.versions, segment.versions[1:], strict=False)
    }
    return render_template(
        "segments/history.html",
        segment=segment,
        versions=versions,
        diffs=diffs,
        describe_rules=services.describe_rules,
        describe_target=services.describe_target,
        snapshots=services.list_snapshots(segment_id),
        can_edit=_can_edit(),
    )


@segments_bp.post("/<int:segment_id>/snapshots")
@roles_required(*EDIT_ROLES)
def take_snapshot(segment_id: int) -> ResponseReturnValue:
    number = request.form.get("version", "")
    channel = request.form.get("channel") or None
    try:
        version = services.get_segment_version(
            segment_id, int(number) if number.isdigit() else None
        )
        snapshot = services.snapshot_segment(version.id, channel, created_by=current_account())
    except AppError as exc:
        flash(exc.message, "error")
        return redirect(url_for("segments.history", segment_id=segment_id))
    flash(
        f"Snapshot {snapshot.id} of version {version.number} on {snapshot.channel}: "
        f"{snapshot.member_count} recipients.",
        "success",
    )
    return redirect(url_for("segments.snapshot", segment_id=segment_id, snapshot_id=snapshot.id))


@segments_bp.get("/<int:segment_id>/snapshots/<int:snapshot_id>")
@roles_required(*READ_ROLES)
def snapshot(segment_id: int, snapshot_id: int) -> ResponseReturnValue:
    found = services.get_snapshot(snapshot_id)
    if found.version.segment_id != segment_id:
        return redirect(
            url_for(
                "segments.snapshot", segment_id=found.version.segment_id, snapshot_id=snapshot_id
            )
        )
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    members = services.snapshot_members(
        snapshot_id, offset=(page - 1) * MEMBERS_PAGE, limit=MEMBERS_PAGE
    )
    return render_template(
        "segments/snapshot.html",
        segment=found.version.segment,
        snapshot=found,
        members=members,
        page=page,
        page_size=MEMBERS_PAGE,
        verified=services.verify_snapshot(snapshot_id),
    )
