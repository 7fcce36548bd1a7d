"""``flask --app app audit …``: verify the log, export evidence, anchor, show the status.

Errors print one line and exit 1; ``verify-log`` exits 1 when any check fails.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from app.errors import AppError
from ledger.errors import LedgerError

audit_cli = AppGroup("audit", help="The approval log: verify it, export evidence, anchor it.")


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


def _write(bundle: dict[str, Any], out: str) -> None:
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}", err=True)


@audit_cli.command("verify-log")
@click.option("--no-chain", is_flag=True, help="Only re-derive the log from the database.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_log_command(no_chain: bool, as_json: bool) -> None:
    """Re-derive every entry from the database and check the log against the chain."""
    from app.audit.services import verify_log

    with _one_line_errors():
        report = verify_log(check_chain=not no_chain)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        sys.exit(1)


@audit_cli.command("evidence")
@click.argument("entry_id", type=int)
@click.option(
    "--out", required=True, metavar="FILE", help="Where to write the bundle (- for stdout)."
)
def evidence_command(entry_id: int, out: str) -> None:
    """Write the evidence bundle of approval log entry ENTRY_ID."""
    from app.audit.services import evidence_for

    with _one_line_errors():
        _write(evidence_for(entry_id), out)


@audit_cli.command("recipient-evidence")
@click.argument("snapshot_id", type=int)
@click.argument("contact_id", type=int)
@click.argument("channel")
@click.option(
    "--out", required=True, metavar="FILE", help="Where to write the bundle (- for stdout)."
)
def recipient_evidence_command(snapshot_id: int, contact_id: int, channel: str, out: str) -> None:
    """Write the evidence that CONTACT_ID on CHANNEL was in the approved SNAPSHOT_ID."""
    from app.audit.services import recipient_evidence

    with _one_line_errors():
        _write(recipient_evidence(snapshot_id, contact_id, channel), out)


@audit_cli.command("anchor")
def anchor_command() -> None:
    """Anchor every pending entry now."""
    from app.audit.services import anchor_now

    with _one_line_errors():
        checkpoint = anchor_now()
    if checkpoint is None:
        click.echo("the approval log is empty; nothing to anchor")
    else:
        click.echo(
            f"anchored {checkpoint.tree_size} entries: root {checkpoint.root}, "
            f"transaction {checkpoint.tx_hash} in block {checkpoint.block_number}"
        )


@audit_cli.command("status")
def status_command() -> None:
    """Show the log size, the last anchor and the outbox."""
    from app.audit.services import anchoring_status

    with _one_line_errors():
        status = anchoring_status()
    click.echo(json.dumps(status.to_json(), indent=2))
