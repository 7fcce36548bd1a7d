"""Import use cases: upload, map columns, dry-run preview, commit, run, report.

An import moves through ``uploaded`` (file stored, mapping editable) -> ``queued``
(committed; a Celery task will run it) -> ``running`` -> ``completed`` or ``failed``.
The file's bytes live in ``import_files`` until the import completes; its SHA-256 stays
on the job.  A real run commits after every chunk, updating the job's progress, so a
failure leaves the chunks before it written (imports are idempotent upserts: running the
same file again finishes the work) and the job says where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from flask import current_app
from sqlalchemy import Connection, delete, func, insert, select, update

from app.accounts.models import User
from app.audience.imports.engine import (
    ImportCounts,
    Importer,
    ImportSettings,
    Rejection,
    fewer_gc_passes,
)
from app.audience.imports.fields import (
    ParseContext,
    fields_for,
    mapping_problems,
    suggest_mapping,
)
from app.audience.imports.reading import (
    ENCODING_LABELS,
    FileReadError,
    Table,
    open_table,
)
from app.audience.models import (
    IMPORT_KIND_VALUES,
    ImportFile,
    ImportJob,
    ImportRejection,
    ImportStatus,
)
from app.database import utcnow
from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db

DEFAULT_PHONE_REGION = "DE"
DEFAULT_PREVIEW_LINES = 2000
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
PREVIEW_REJECTIONS_SHOWN = 200

SQLITE_IMPORT_PRAGMAS = ("cache_size=-131072", "synchronous=NORMAL", "wal_autocheckpoint=20000")
SQLITE_DEFAULT_PRAGMAS = ("cache_size=-2000", "synchronous=FULL", "wal_autocheckpoint=1000")

IMPORT_JOBS = ImportJob.__table__
IMPORT_REJECTIONS = ImportRejection.__table__


class ImportFileError(ValidationError):
    """The uploaded file cannot be read as a table (format, encoding, header)."""

    code = "import_file_unreadable"


@dataclass
class ImportPreview:
    """A dry run over the first ``checked`` lines: what a commit would do to them."""

    job: ImportJob
    counts: ImportCounts
    rejections: list[Rejection]
    checked: int
    limit: int
    more_lines: bool  # the file has lines beyond the ones checked
    ignored_columns: list[str] = field(default_factory=list)


# -- settings ----------------------------------------------------------------------------


def default_phone_region() -> str:
    return str(current_app.config.get("AUDIENCE_PHONE_REGION", DEFAULT_PHONE_REGION)).upper()


def _preview_lines() -> int:
    return int(current_app.config.get("AUDIENCE_PREVIEW_LINES", DEFAULT_PREVIEW_LINES))


def _max_bytes() -> int:
    return int(current_app.config.get("AUDIENCE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _check_kind(kind: str) -> str:
    if kind not in IMPORT_KIND_VALUES:
        raise ValidationError(
            f"unknown import kind {kind!r}; use one of: {', '.join(IMPORT_KIND_VALUES)}",
            details={"kind": f"one of {', '.join(IMPORT_KIND_VALUES)}"},
        )
    return kind


def _check_region(region: str | None) -> str:
    value = (region or default_phone_region()).strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            f"{value!r} is not a region for national phone numbers; use a two-letter "
            "country code such as DE or GB",
            details={"phone_region": "a two-letter ISO 3166 country code"},
        )
    return value


def _check_encoding(encoding: str | None) -> str:
    value = (encoding or "auto").strip().lower()
    if value not in ENCODING_LABELS:
        raise ValidationError(
            f"unknown encoding {value!r}; use one of: {', '.join(ENCODING_LABELS)}",
            details={"encoding": f"one of {', '.join(ENCODING_LABELS)}"},
        )
    return value


def _open(content: bytes, filename: str, encoding: str) -> Table:
    try:
        return open_table(content, filename, None if encoding == "auto" else encoding)
    except FileReadError as exc:
        raise ImportFileError(str(exc), details={"file": str(exc)}) from None


# -- queries -----------------------------------------------------------------------------


def get_import(import_id: int) -> ImportJob:
    job = db.session.get(ImportJob, import_id)
    if job is None:
        raise NotFoundError(f"import #{import_id} does not exist")
    return job


def list_imports(*, limit: int = 50, offset: int = 0) -> list[ImportJob]:
    statement = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit).offset(offset)
    return list(db.session.scalars(statement))


def count_imports() -> int:
    return int(db.session.scalar(select(func.count()).select_from(ImportJob)) or 0)


def import_status(job: ImportJob) -> dict[str, Any]:
    """The job as the progress poller and the API see it."""
    total = job.total or 0
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "filename": job.filename,
        "file_sha256": job.file_sha256,
        "encoding": job.encoding,
        "mapping": job.mapping,
        "total": total,
        "processed": job.processed,
        "percent": 100
        if job.status == ImportStatus.COMPLETED
        else (min(99, int(job.processed * 100 / total)) if total else 0),
        "counts": {
            "inserted": job.inserted,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "rejected": job.rejected,
            "empty": job.empty,
        },
        "side_effects": dict((job.options or {}).get("side_effects", {})),
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def list_rejections(import_id: int, *, limit: int = 500) -> list[ImportRejection]:
    statement = (
        select(ImportRejection)
        .where(ImportRejection.import_id == import_id)
        .order_by(ImportRejection.line, ImportRejection.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


def rejections_csv(import_id: int) -> Iterator[str]:
    """The rejected lines as CSV: ``line``, ``reason``, then the file's own columns, so
    the fixed file imports again with the same mapping (``line`` and ``reason`` are left
    unmapped).  Starts with a UTF-8 byte order mark for spreadsheet programs."""
    job = get_import(import_id)
    headers = list(job.headers)
    line_column = "line" if "line" not in headers else "rejected line"
    reason_column = "reason" if "reason" not in headers else "rejection reason"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([line_column, reason_column, *headers])
    yield "\ufeff" + flush()
    last_id = 0
    while True:
        batch = db.session.execute(
            select(
                ImportRejection.id,
                ImportRejection.line,
                ImportRejection.reason,
                ImportRejection.raw,
            )
            .where(ImportRejection.import_id == import_id, ImportRejection.id > last_id)
            .order_by(ImportRejection.id)
            .limit(2000)
        ).all()
        if not batch:
            return
        for rejection_id, line, reason, raw in batch:
            writer.writerow([line, reason, *raw])
            last_id = rejection_id
        yield flush()


# -- use cases ---------------------------------------------------------------------------


def create_import(
    kind: str,
    filename: str,
    content: bytes,
    actor: User | None = None,
    *,
    encoding: str | None = None,
    phone_region: str | None = None,
) -> ImportJob:
    """Store an uploaded file as a new import with a suggested column mapping."""
    kind = _check_kind(kind)
    encoding = _check_encoding(encoding)
    region = _check_region(phone_region)
    name = (filename or "").strip().replace("\\", "/").rsplit("/", 1)[-1][:255]
    if not name:
        raise ValidationError(
            "the upload has no file name; choose a .csv or .xlsx file", details={"file": "missing"}
        )
    if len(content) > _max_bytes():
        raise ImportFileError(
            f"{name!r} is {len(content)} bytes; at most {_max_bytes()} are accepted, "
            "split the file",
            details={"file": "too large"},
        )
    table = _open(content, name, encoding)
    job = ImportJob(
        kind=kind,
        status=ImportStatus.UPLOADED.value,
        filename=name,
        file_format=table.file_format,
        file_sha256=hashlib.sha256(content).hexdigest(),
        file_size=len(content),
        encoding=table.encoding,
        headers=table.headers,
        mapping=suggest_mapping(kind, table.headers),
        options={"encoding": encoding, "phone_region": region},
        total=table.estimated_lines,
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(job)
    db.session.flush()
    db.session.add(ImportFile(import_id=job.id, content=content))
    db.session.commit()
    return job


def _uploaded(import_id: int) -> ImportJob:
    job = get_import(import_id)
    if job.status != ImportStatus.UPLOADED:
        raise ConflictError(
            f"import #{job.id} is already {job.status}; upload the file again to change it"
        )
    return job


def _content(job: ImportJob) -> bytes:
    stored = db.session.get(ImportFile, job.id)
    if stored is None:
        raise ConflictError(f"the file of import #{job.id} is no longer stored; upload it again")
    return bytes(stored.content)


def configure_import(
    import_id: int,
    mapping: dict[str, str],
    *,
    encoding: str | None = None,
    phone_region: str | None = None,
) -> ImportJob:
    """Set the column mapping (header -> field, "" to ignore) and the reading options.

    A changed encoding re-reads the header; columns whose names changed get a fresh
    suggestion.  Raises ValidationError naming every problem of the mapping.
    """
    job = _uploaded(import_id)
    options = dict(job.options or {})
    new_encoding = _check_encoding(encoding or options.get("encoding"))
    region = _check_region(phone_region or options.get("phone_region"))
    headers = list(job.headers)
    if new_encoding != options.get("encoding"):
        table = _open(_content(job), job.filename, new_encoding)
        job.encoding = table.encoding
        if table.headers != headers:
            headers = table.headers
            suggested = suggest_mapping(job.kind, headers)
            mapping = {h: mapping.get(h, suggested[h]) for h in headers}
            job.headers = headers
    clean = {header: (mapping.get(header) or "").strip() for header in headers}
    unknown = [h for h in mapping if h not in headers]
    problems = mapping_problems(job.kind, headers, clean)
    for header in unknown:
        problems[header] = f"the file has no column {header!r}"
    if problems:
        raise ValidationError(
            "the column mapping cannot be used: " + "; ".join(problems.values()),
            details=problems,
        )
    job.mapping = clean
    job.options = {**options, "encoding": new_encoding, "phone_region": region}
    db.session.commit()
    return job


def _settings(job: ImportJob, chunk_size: int | None = None) -> ImportSettings:
    options = job.options or {}
    extra = {"chunk_size": chunk_size} if chunk_size else {}
    return ImportSettings(
        kind=job.kind,
        headers=list(job.headers),
        mapping=dict(job.mapping),
        context=ParseContext(phone_region=options.get("phone_region") or default_phone_region()),
        source=f"import #{job.id} ({job.filename})",
        now=utcnow(),
        actor_id=job.created_by_id,
        **extra,
    )


def preview_import(import_id: int, *, limit: int | None = None) -> ImportPreview:
    """Dry-run the first ``limit`` lines (default ``AUDIENCE_PREVIEW_LINES``) exactly as a
    commit would, including the database lookups, then roll every write back."""
    job = _uploaded(import_id)
    problems = mapping_problems(job.kind, list(job.headers), job.mapping)
    if problems:
        raise ValidationError(
            "map the columns before previewing: " + "; ".join(problems.values()),
            details=problems,
        )
    limit = limit or _preview_lines()
    table = _open(_content(job), job.filename, (job.options or {}).get("encoding", "auto"))
    settings = _settings(job)
    rejections: list[Rejection] = []

    def keep(batch: list[Rejection]) -> None:
        rejections.extend(batch)

    db.session.commit()  # release the session's connection: the dry run writes on its own
    with db.engine.connect() as connection:
        try:
            importer = Importer(connection, settings, keep)
            counts = importer.run(table.lines(), limit=limit)
            more = importer.truncated
        finally:
            connection.rollback()
    job = get_import(import_id)
    ignored = [h for h in job.headers if not job.mapping.get(h)]
    return ImportPreview(job, counts, rejections, counts.total, limit, more, ignored)


def commit_import(import_id: int) -> ImportJob:
    """Queue the import for the Celery task (run at once when Celery is eager)."""
    job = _uploaded(import_id)
    problems = mapping_problems(job.kind, list(job.headers), job.mapping)
    if problems:
        raise ValidationError(
            "map the columns before importing: " + "; ".join(problems.values()),
            details=problems,
        )
    job.status = ImportStatus.QUEUED.value
    db.session.commit()
    from app.audience.tasks import run_import_task

    run_import_task.delay(job.id)
    db.session.expire_all()
    return get_import(job.id)


def run_import(import_id: int, *, chunk_size: int | None = None) -> ImportJob:
    """Run a queued import to its end (the Celery task's body).

    A job already completed or failed is returned untouched, so a redelivered task does
    no harm; a job left ``running`` by a killed worker starts again from the top.
    """
    job = get_import(import_id)
    if job.status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
        return job
    if job.status == ImportStatus.UPLOADED:
        raise ConflictError(f"import #{job.id} is not committed yet; commit it first")
    job.status = ImportStatus.RUNNING.value
    job.started_at = utcnow()
    job.finished_at = None
    job.error = None
    job.processed = job.inserted = job.updated = job.unchanged = job.rejected = job.empty = 0
    db.session.execute(delete(ImportRejection).where(ImportRejection.import_id == job.id))
    try:
        table = _open(_content(job), job.filename, (job.options or {}).get("encoding", "auto"))
    except (ImportFileError, ConflictError) as exc:
        return _fail(job.id, exc.message)
    settings = _settings(job, chunk_size)
    job_id, estimated = job.id, table.estimated_lines
    job.total = estimated
    db.session.commit()
    with db.engine.connect() as connection:
        try:
            _run(connection, job_id, table, settings)
        except Exception as exc:
            connection.rollback()
            _fail(job_id, f"the import stopped: {exc}")
            raise
    db.session.expire_all()
    return get_import(job_id)


def _run(
    connection: Connection, job_id: int, table: Table, settings: ImportSettings
) -> ImportCounts:
    def store(batch: list[Rejection]) -> None:
        connection.execute(
            insert(IMPORT_REJECTIONS),
            [
                {
                    "import_id": job_id,
                    "line": r.line,
                    "field": r.field,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for r in batch
            ],
        )

    def progress(counts: ImportCounts) -> None:
        connection.execute(
            update(IMPORT_JOBS).where(IMPORT_JOBS.c.id == job_id).values(**_count_values(counts))
        )
        connection.commit()

    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # For the length of the import: a page cache that holds the indexes being
        # written, and (WAL mode) no fsync per chunk commit and fewer checkpoints.
        # A crash can lose only the last chunks, together with the job's own progress.
        for pragma in SQLITE_IMPORT_PRAGMAS:
            connection.exec_driver_sql(f"PRAGMA {pragma}")
    try:
        with fewer_gc_passes():
            counts = Importer(connection, settings, store, progress).run(table.lines())
    finally:
        if sqlite:
            connection.rollback()
            for pragma in SQLITE_DEFAULT_PRAGMAS:
                connection.exec_driver_sql(f"PRAGMA {pragma}")
            connection.commit()
    if counts.accounted != counts.total:  # every line has exactly one outcome
        raise RuntimeError(f"{counts.total} lines read but {counts.accounted} accounted for")
    options = connection.execute(
        select(IMPORT_JOBS.c.options).where(IMPORT_JOBS.c.id == job_id)
    ).scalar_one()
    connection.execute(
        update(IMPORT_JOBS)
        .where(IMPORT_JOBS.c.id == job_id)
        .values(
            **_count_values(counts),
            total=counts.total,
            status=ImportStatus.COMPLETED.value,
            finished_at=utcnow(),
            options={**(options or {}), "side_effects": dict(counts.extra)},
        )
    )
    connection.execute(
        delete(ImportFile.__table__).where(ImportFile.__table__.c.import_id == job_id)
    )
    connection.commit()
    return counts


def _count_values(counts: ImportCounts) -> dict[str, int]:
    return {
        "processed": counts.total,
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "rejected": counts.rejected,
        "empty": counts.empty,
    }


def _fail(job_id: int, message: str) -> ImportJob:
    db.session.rollback()
    job = get_import(job_id)
    job.status = ImportStatus.FAILED.value
    job.error = message[:2000]
    job.finished_at = utcnow()
    db.session.commit()
    return job


def import_file(
    kind: str,
    filename: str,
    content: bytes,
    actor: User | None = None,
    *,
    mapping: dict[str, str] | None = None,
    encoding: str | None = None,
    phone_region: str | None = None,
    chunk_size: int | None = None,
) -> ImportJob:
    """Upload, map (the suggestion unless ``mapping`` is given) and run one file at
    once, in this process: for scripts, the CLI, the benchmark and tests."""
    job = create_import(
        kind, filename, content, actor, encoding=encoding, phone_region=phone_region
    )
    configure_import(job.id, mapping if mapping is not None else dict(job.mapping))
    job = get_import(job.id)
    job.status = ImportStatus.QUEUED.value
    db.session.commit()
    return run_import(job.id, chunk_size=chunk_size)


def field_choices(kind: str) -> list[tuple[str, str, str, str]]:
    """``(name, label, requirement, help)`` of every field of ``kind``, for the wizard."""
    _check_kind(kind)
    return [(s.name, s.label, s.required or "", s.help) for s in fields_for(kind)]
