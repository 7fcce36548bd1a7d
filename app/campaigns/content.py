"""What a campaign version says, as one JSON document, and its content hash.

The content hash is ``0x`` + SHA-256 of the RFC 8785 canonical JSON of
:func:`version_content`.  An auditor recomputes it from the stored version with any RFC
8785 implementation; the approval log records it, and the dispatch gate recomputes it
from the database rows before anything is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import rfc8785

from app.campaigns.templating import Kind

if TYPE_CHECKING:
    from app.campaigns.models import CampaignVersion

CONTENT_SCHEMA = "ledgerline-campaign-content/1"

#: Each channel's template fields and their kind (see :mod:`app.campaigns.templating`).
CHANNEL_FIELDS: dict[str, dict[str, Kind]] = {
    "email": {"subject": "line", "html": "html", "text": "text"},
    "sms": {"text": "text"},
    "webhook": {"text": "text", "payload": "json"},
}
#: Fields that may be left empty: the email text is then generated from the HTML.
OPTIONAL_FIELDS = frozenset({("email", "text"), ("webhook", "text")})
CHANNELS = tuple(CHANNEL_FIELDS)


def content_document(
    *,
    campaign_id: int,
    name: str,
    objective: str,
    segment_version_id: int,
    contact_roles: Sequence[str],
    channels: Sequence[str],
    templates: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The canonical content of a campaign version (ids as strings, no floats)."""
    return {
        "schema": CONTENT_SCHEMA,
        "campaign_id": str(campaign_id),
        "name": name,
        "objective": objective,
        "segment_version_id": str(segment_version_id),
        "contact_roles": list(contact_roles),  # priority order (organisations level)
        "channels": {
            channel: {
                name: str(templates.get(channel, {}).get(name, ""))
                for name in CHANNEL_FIELDS[channel]
            }
            for channel in sorted(channels)
        },
    }


def version_content(version: CampaignVersion) -> dict[str, Any]:
    return content_document(
        campaign_id=version.campaign_id,
        name=version.name,
        objective=version.objective,
        segment_version_id=version.segment_version_id,
        contact_roles=version.contact_roles or [],
        channels=version.channels or [],
        templates=version.templates or {},
    )


def content_hash(document: Mapping[str, Any]) -> str:
    """``0x`` + SHA-256 hex of the RFC 8785 canonical JSON of ``document``."""
    return "0x" + hashlib.sha256(rfc8785.dumps(dict(document))).hexdigest()


def recompute_content_hash(version: CampaignVersion) -> str:
    """The content hash recomputed from the version's stored columns."""
    return content_hash(version_content(version))


__all__ = [
    "CHANNELS",
    "CHANNEL_FIELDS",
    "CONTENT_SCHEMA",
    "OPTIONAL_FIELDS",
    "content_document",
    "content_hash",
    "recompute_content_hash",
    "version_content",
]
