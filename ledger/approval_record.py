"""The approval log's entry: one JSON record per campaign decision, and its checks.

A record is a flat JSON object with exactly the fields of :data:`RECORD_FIELDS`.  It is
hashed as RFC 9162 prescribes (``leaf hash = SHA-256(0x00 || RFC 8785 canonical JSON)``,
:func:`ledger.merkle.record_leaf`), so the same record always yields the same bytes in
any language.  Ids are strings, versions and counts integers, hashes ``0x`` followed by
64 lower-case hex digits, times ``YYYY-MM-DDTHH:MM:SSZ`` in UTC; there are no floats.

Every entry of a campaign names the leaf hash of that campaign's previous entry
(``prev_entry_hash``, ``null`` for its first), so one campaign's history is a hash chain
inside the log; the random ``salt`` keeps two otherwise identical decisions apart and
stops anyone from guessing a record from its hash.

:func:`make_record` builds a record from its parts (the web app fills in the previous
hash, the salt and the time); :func:`validate_record` checks a record read back from
anywhere and names the first field that is wrong.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ledger._utils.addresses import to_address
from ledger.errors import LedgerValueError
from ledger.merkle import canonical_record, record_leaf

#: The value of every record's ``schema`` field.
RECORD_SCHEMA = "ledgerline-approval-record/1"

#: What a record says happened.  ``submit``: the maker submitted a version for approval;
#: ``approve``/``reject``: a stage's approver decided; ``revoke``: an approval was taken
#: back; ``invalidate``: a change voided the approvals given.
DECISIONS = ("submit", "approve", "reject", "revoke", "invalidate")

#: Every field of a record and the kind of value it holds (see :func:`validate_record`).
RECORD_FIELDS: dict[str, str] = {
    "schema": "schema",
    "campaign_id": "id",
    "campaign_version": "count",
    "content_hash": "hash",
    "segment_version": "count",
    "segment_definition_hash": "hash",
    "snapshot_count": "count",
    "snapshot_root": "hash",
    "stage": "text",
    "decision": "decision",
    "approver_id": "id",
    "approver_address": "address?",
    "policy_version": "count",
    "decided_at": "time",
    "expires_at": "time?",
    "prev_entry_hash": "hash?",
    "salt": "hash",
}

#: The fields :func:`make_record` fills in when they are not given.
GENERATED_FIELDS = ("schema", "decided_at", "salt")

_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MAX_TEXT = 200
_MAX_COUNT = 2**53 - 1


def format_time(moment: datetime) -> str:
    """``moment`` as a record time: UTC, whole seconds, ``YYYY-MM-DDTHH:MM:SSZ``."""
    if moment.tzinfo is None:
        raise LedgerValueError(
            f"time {moment.isoformat()} has no time zone; give an aware UTC datetime"
        )
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(value: str) -> datetime:
    """A record time back as an aware UTC datetime."""
    if not isinstance(value, str) or not _TIME.match(value):
        raise LedgerValueError(f"time {value!r} is not of the form YYYY-MM-DDTHH:MM:SSZ")
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


def hex32(value: bytes | bytearray | str, what: str = "hash") -> str:
    """A 32-byte value as ``0x`` + 64 lower-case hex digits (from bytes or any-case hex)."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise LedgerValueError(f"{what} is {len(value)} bytes long; a hash is 32 bytes")
        return "0x" + bytes(value).hex()
    text = value.strip().lower() if isinstance(value, str) else ""
    if not text.startswith("0x"):
        text = "0x" + text
    if not _HASH.match(text):
        raise LedgerValueError(
            f"{what} {value!r} is not a 32-byte hash: expected 0x followed by 64 hex digits"
        )
    return text


def new_salt() -> str:
    """32 random bytes as hex, from the operating system's CSPRNG."""
    return "0x" + secrets.token_bytes(32).hex()


def _check(name: str, kind: str, value: Any) -> None:
    optional = kind.endswith("?")
    if optional and value is None:
        return
    kind = kind.rstrip("?")
    where = f"record field {name!r}"
    if kind == "schema":
        if value != RECORD_SCHEMA:
            raise LedgerValueError(f"{where} is {value!r}; this verifier reads {RECORD_SCHEMA!r}")
    elif kind in ("id", "text"):
        if not isinstance(value, str):
            raise LedgerValueError(
                f"{where} is a {type(value).__name__}; ids and names are strings"
            )
        if kind == "id" and not value.strip():
            raise LedgerValueError(f"{where} is empty; give the id")
        if len(value) > _MAX_TEXT:
            raise LedgerValueError(f"{where} has {len(value)} characters; at most {_MAX_TEXT}")
    elif kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_COUNT:
            raise LedgerValueError(f"{where} is {value!r}; expected a whole number >= 0")
    elif kind == "hash":
        if not isinstance(value, str) or not _HASH.match(value):
            raise LedgerValueError(
                f"{where} is {value!r}; expected 0x followed by 64 lower-case hex digits"
            )
    elif kind == "decision":
        if value not in DECISIONS:
            raise LedgerValueError(f"{where} is {value!r}; use one of {', '.join(DECISIONS)}")
    elif kind == "address":
        if not isinstance(value, str) or to_address(value, where) != value:
            raise LedgerValueError(f"{where} is {value!r}; expected an EIP-55 checksummed address")
    elif kind == "time":
        if not isinstance(value, str) or not _TIME.match(value):
            raise LedgerValueError(f"{where} is {value!r}; expected YYYY-MM-DDTHH:MM:SSZ (UTC)")
        try:
            parse_time(value)
        except ValueError:
            raise LedgerValueError(f"{where} is {value!r}, which is not a real time") from None


def validate_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` as a plain dict once every field is present and well formed.

    Raises :class:`LedgerValueError` naming the missing, extra or malformed field.
    """
    if not isinstance(record, Mapping):
        raise LedgerValueError(f"an approval record is a JSON object, not {type(record).__name__}")
    missing = [name for name in RECORD_FIELDS if name not in record]
    if missing:
        raise LedgerValueError(f"the approval record lacks {', '.join(missing)}; give every field")
    extra = sorted(name for name in record if name not in RECORD_FIELDS)
    if extra:
        raise LedgerValueError(
            f"the approval record has unknown field(s) {', '.join(map(repr, extra))}; "
            f"the fields are {', '.join(RECORD_FIELDS)}"
        )
    for name, kind in RECORD_FIELDS.items():
        _check(name, kind, record[name])
    if record["expires_at"] is not None and record["expires_at"] <= record["decided_at"]:
        raise LedgerValueError(
            f"record field 'expires_at' ({record['expires_at']}) is not after "
            f"'decided_at' ({record['decided_at']})"
        )
    return {name: record[name] for name in RECORD_FIELDS}


def make_record(fields: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """A validated record from ``fields``, filling in ``schema``, ``decided_at`` (now) and
    ``salt`` (32 random bytes) when absent.

    Friendly forms are normalised first: integer ids become strings, hashes may be bytes
    or hex of any case, times may be aware datetimes and addresses any valid case.
    """
    record: dict[str, Any] = dict(fields)
    record.setdefault("schema", RECORD_SCHEMA)
    record.setdefault("decided_at", now or datetime.now(UTC))
    record.setdefault("salt", new_salt())
    for name, kind in RECORD_FIELDS.items():
        if name not in record or record[name] is None:
            continue
        value = record[name]
        base = kind.rstrip("?")
        if base == "id" and isinstance(value, int) and not isinstance(value, bool):
            record[name] = str(value)
        elif base == "hash" and isinstance(value, (bytes, bytearray, str)):
            record[name] = hex32(value, f"record field {name!r}")
        elif base == "time" and isinstance(value, datetime):
            record[name] = format_time(value)
        elif base == "address" and isinstance(value, str):
            record[name] = to_address(value, f"record field {name!r}")
    return validate_record(record)


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    """The record's RFC 8785 canonical JSON, the exact bytes that are hashed and stored."""
    return canonical_record(record)


def entry_hash(record: Mapping[str, Any]) -> bytes:
    """The record's RFC 9162 leaf hash, ``SHA-256(0x00 || canonical JSON)``."""
    return record_leaf(record)


__all__ = [
    "DECISIONS",
    "GENERATED_FIELDS",
    "RECORD_FIELDS",
    "RECORD_SCHEMA",
    "canonical_bytes",
    "entry_hash",
    "format_time",
    "hex32",
    "make_record",
    "new_salt",
    "parse_time",
    "validate_record",
]
