"""The segments JSON API under ``/api/segments`` (API token or session + CSRF).

Marketers and admins create and edit segments and take snapshots; approvers, compliance
officers and auditors read them and may preview.  Errors use the app's one JSON shape; a
bad rule tree is a 400 ``invalid_rules`` whose ``details.path`` names the node at fault.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.accounts.access import current_account, roles_required
from app.accounts.models import Role, User
from app.api import MAX_ID
from app.errors import ValidationError
from app.segments import services
from app.segments.fields import registry_as_json
from app.segments.models import Segment, SegmentSnapshot, SegmentVersion

segments_api_bp = Blueprint("segments_api", __name__)

EDIT_ROLES = (Role.MARKETER, Role.ADMIN)
READ_ROLES = (*EDIT_ROLES, Role.APPROVER, Role.COMPLIANCE, Role.AUDITOR)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("send a JSON object as the body, with Content-Type: application/json")
    return body


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ValidationError(
            f"'{key}' must be a version number (1, 2, ...), got {value!r}",
            details={"path": key, "allowed": None},
        )
    return value


def _user(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "display_name": user.display_name}


def version_json(version: SegmentVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "segment_id": version.segment_id,
        "number": version.number,
        "rules": version.rules,
        "target": version.target,
        "definition_hash": version.definition_hash,
        "note": version.note,
        "author": _user(version.author),
        "created_at": version.created_at.isoformat(),
    }


def segment_json(segment: Segment, *, with_versions: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "created_by": _user(segment.created_by),
        "created_at": segment.created_at.isoformat(),
        "updated_at": segment.updated_at.isoformat(),
        "latest_version": version_json(segment.latest_version),
    }
    if with_versions:
        found["versions"] = [version_json(v) for v in segment.versions]
    return found


def snapshot_json(snapshot: SegmentSnapshot) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "segment_id": snapshot.version.segment_id,
        "version_id": snapshot.version_id,
        "version_number": snapshot.version.number,
        "channel": snapshot.channel,
        "evaluated_on": snapshot.evaluated_on.isoformat(),
        "member_count": snapshot.member_count,
        "merkle_root": snapshot.merkle_root,
        "members_sha256": snapshot.members_sha256,
        "created_by": _user(snapshot.created_by),
        "created_at": snapshot.created_at.isoformat(),
    }


@segments_api_bp.get("/fields")
@roles_required(*READ_ROLES)
def fields() -> ResponseReturnValue:
    return jsonify(registry_as_json())


@segments_api_bp.post("/preview")
@roles_required(*READ_ROLES)
def preview() -> ResponseReturnValue:
    body = _body()
    result = services.preview(body.get("rules"), body.get("target"))
    payload: dict[str, Any] = {
        "count": result.count,
        "sample": result.sample,
        "target": result.definition.target.as_json(),
        "definition_hash": result.definition.hash,
        "evaluated_on": result.evaluated_on.isoformat(),
    }
    if result.by_channel is not None:
        payload["by_channel"] = result.by_channel
    return jsonify(payload)


@segments_api_bp.get("")
@roles_required(*READ_ROLES)
def list_segments() -> ResponseReturnValue:
    return jsonify({"segments": [segment_json(s) for s in services.list_segments()]})


@segments_api_bp.post("")
@roles_required(*EDIT_ROLES)
def create_segment() -> ResponseReturnValue:
    body = _body()
    segment = services.create_segment(
        body.get("name"),  # type: ignore[arg-type]  # checked by the service
        body.get("rules"),
        body.get("target"),
        current_account(),
        description=body.get("description") or "",
        note=body.get("note") or "",
    )
    return jsonify(segment_json(segment)), 201


@segments_api_bp.get("/<int:segment_id>")
@roles_required(*READ_ROLES)
def get_segment(segment_id: int) -> ResponseReturnValue:
    return jsonify(segment_json(services.get_segment(segment_id)))


@segments_api_bp.put("/<int:segment_id>")
@roles_required(*EDIT_ROLES)
def revise_segment(segment_id: int) -> ResponseReturnValue:
    body = _body()
    revision = services.revise_segment(
        segment_id,
        body.get("rules"),
        body.get("target"),
        current_account(),
        name=body.get("name"),
        description=body.get("description"),
        note=body.get("note") or "",
        base_version=_optional_int(body, "base_version"),
    )
    segment = services.get_segment(segment_id)
    return jsonify(
        {
            **segment_json(segment),
            "version": version_json(revision.version),
            "version_created": revision.created,
        }
    ), (201 if revision.created else 200)


@segments_api_bp.get("/<int:segment_id>/versions")
@roles_required(*READ_ROLES)
def list_versions(segment_id: int) -> ResponseReturnValue:
    segment = services.get_segment(segment_id)
    return jsonify({"versions": [version_json(v) for v in segment.versions]})


@segments_api_bp.get("/<int:segment_id>/versions/<int:number>")
@roles_required(*READ_ROLES)
def get_version(segment_id: int, number: int) -> ResponseReturnValue:
    return jsonify(version_json(services.get_segment_version(segment_id, number)))


@segments_api_bp.post("/<int:segment_id>/snapshot")
@roles_required(*EDIT_ROLES)
def take_snapshot(segment_id: int) -> ResponseReturnValue:
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise ValidationError('send a JSON object such as {"version": 2, "channel": "email"}')
    version = services.get_segment_version(segment_id, _optional_int(body, "version"))
    channel = body.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ValidationError(
            f"'channel' must be one of {', '.join(version.channels)}",
            details={"path": "channel", "allowed": version.channels},
        )
    snapshot = services.snapshot_segment(version.id, channel, created_by=current_account())
    return jsonify(snapshot_json(snapshot)), 201


@segments_api_bp.get("/<int:segment_id>/snapshots")
@roles_required(*READ_ROLES)
def list_snapshots(segment_id: int) -> ResponseReturnValue:
    return jsonify({"snapshots": [snapshot_json(s) for s in services.list_snapshots(segment_id)]})


@segments_api_bp.get("/snapshots/<int:snapshot_id>")
@roles_required(*READ_ROLES)
def get_snapshot(snapshot_id: int) -> ResponseReturnValue:
    return jsonify(snapshot_json(services.get_snapshot(snapshot_id)))


@segments_api_bp.get("/snapshots/<int:snapshot_id>/proof")
@roles_required(*READ_ROLES)
def snapshot_proof(snapshot_id: int) -> ResponseReturnValue:
    contact = request.args.get("contact_id", "")
    channel = request.args.get("channel", "")
    contact_ok = contact.isascii() and contact.isdigit() and int(contact) <= MAX_ID
    if not contact_ok or not channel:
        raise ValidationError(
            "pass ?contact_id=<id>&channel=<email|sms|webhook>",
            details={"path": "contact_id" if not contact_ok else "channel"},
        )
    return jsonify(services.snapshot_proof(snapshot_id, int(contact), channel).as_json())
