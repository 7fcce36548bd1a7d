"""``ledgerline audit``: independent verification of approval evidence.

``verify FILE --rpc URL`` checks an evidence bundle with nothing but the bundle and a
JSON-RPC node (``docs/audit.md`` lists every check); it prints one ✓/✗ line per check
and exits 1 when any fails.  ``evidence ID --out FILE`` exports a bundle straight from
the web app's database (SQLAlchemy Core on its two tables, so this package never
imports the app); ``flask --app app audit evidence`` does the same from the app.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from ledger.cli._app import Options, cli, common_options, emit, instance_dir, note, open_chain
from ledger.errors import LedgerConfigError, LedgerValueError
from ledger.evidence import AnchorInfo, build_approval_evidence, verify_evidence
from ledger.merkle import MerkleLog, leaf_hash

DATABASE_ENV = "LEDGERLINE_DATABASE_URL"

_metadata = MetaData()
_entries = Table(
    "approval_log_entries",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("record_json", Text),
    Column("signature", String),
    Column("signer", String),
)
_checkpoints = Table(
    "approval_log_checkpoints",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("status", String),
    Column("tree_size", Integer),
    Column("root", String),
    Column("chain_id", BigInteger),
    Column("contract", String),
    Column("tx_hash", String),
    Column("block_number", BigInteger),
)


@cli.group()
def audit() -> None:
    """Approval-log evidence: verify a bundle independently, or export one."""


def _load_bundle(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LedgerValueError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise LedgerValueError(f"{path} is not JSON ({exc}); give an evidence bundle") from None


@audit.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@common_options
def audit_verify(options: Options, file: Path) -> int:
    """Verify the evidence bundle FILE against the chain at --rpc."""
    bundle = _load_bundle(file)
    with open_chain(options) as chain:
        report = verify_evidence(bundle, chain)
    emit(options, report.to_json(), report.lines())
    return 0 if report.ok else 1


def database_url(given: str | None) -> str:
    """``--database-url``, else ``LEDGERLINE_DATABASE_URL``, else the instance's SQLite file."""
    url = given or os.environ.get(DATABASE_ENV) or f"sqlite:///{instance_dir() / 'ledgerline.db'}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def evidence_from_database(url: str, entry_id: int) -> dict[str, Any]:
    """The evidence bundle of entry ``entry_id``, read from the app's database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    _entries.c.id, _entries.c.record_json, _entries.c.signature, _entries.c.signer
                ).order_by(_entries.c.id)
            ).all()
            checkpoint = connection.execute(
                select(_checkpoints)
                .where(_checkpoints.c.status == "anchored")
                .order_by(_checkpoints.c.tree_size.desc())
                .limit(1)
            ).first()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip() or type(cause).__name__).splitlines()[0]
        raise LedgerConfigError(
            f"cannot read the approval log from {engine.url.render_as_string()}: {reason}; "
            f"give --database-url or set {DATABASE_ENV}"
        ) from None
    finally:
        engine.dispose()
    by_id = {row.id: row for row in rows}
    if entry_id not in by_id:
        raise LedgerValueError(f"the approval log has no entry {entry_id} ({len(rows)} entries)")
    if checkpoint is None or checkpoint.tree_size <= entry_id:
        raise LedgerValueError(
            f"entry {entry_id} is not anchored yet; anchor the log "
            "(`flask --app app audit anchor`) and export again"
        )
    log = MerkleLog(leaf_hash(row.record_json.encode("utf-8")) for row in rows)
    entry = by_id[entry_id]
    return build_approval_evidence(
        record=json.loads(entry.record_json),
        leaf_index=entry_id,
        log=log,
        anchor=AnchorInfo(
            chain_id=int(checkpoint.chain_id),
            contract=checkpoint.contract,
            tree_size=int(checkpoint.tree_size),
            root=bytes.fromhex(checkpoint.root[2:]),
            tx_hash=checkpoint.tx_hash,
            block_number=checkpoint.block_number,
        ),
        signature=entry.signature,
        signer=entry.signer,
    )


@audit.command("evidence")
@click.argument("entry_id", type=int)
@click.option(
    "--out", required=True, metavar="FILE", help="Where to write the bundle (- for stdout)."
)
@click.option(
    "--database-url",
    "database_url_",
    metavar="URL",
    help=f"The web app's database (default: {DATABASE_ENV}, else instance/ledgerline.db).",
)
def audit_evidence(entry_id: int, out: str, database_url_: str | None) -> None:
    """Export the evidence bundle of approval log entry ENTRY_ID."""
    bundle = evidence_from_database(database_url(database_url_), entry_id)
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if out == "-":
        click.echo(text, nl=False)
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    note(f"wrote {path}")
