"""``ledgerline reconcile``: match an operator's billing export against the ledger, and act.

The billing-export columns are documented in :mod:`ledger.reconcile`.  Without
``--apply`` the command only reports (and shows what ``--apply`` would do); with it, it
proposes the lines missing on the ledger, confirms the matched obligations awaiting you
and disputes the mismatched ones, in batches, signed with your own key.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from ledger.cli._app import Options, cli, common_options, emit, note, unlock_sender
from ledger.cli._ledger import (
    batch_options,
    key_address,
    money,
    open_ledger,
    progress_bar,
    sender_option,
)
from ledger.errors import LedgerValueError
from ledger.reconcile import (
    ApplyResult,
    Label,
    ReconciliationReport,
    Tolerance,
    apply_reconciliation,
    planned_actions,
    reconcile_file,
)


def _percent(text: str | None) -> Decimal:
    if text is None:
        return Decimal(0)
    try:
        return Decimal(text.strip().removesuffix("%"))
    except InvalidOperation:
        raise LedgerValueError(f"--tolerance-pct {text!r} is not a number of percent") from None


def _summary(report: ReconciliationReport) -> list[str]:
    counts = report.counts()
    lines = [
        f"reconciled {sum(counts[label.value] for label in Label)} items for {report.operator} "
        f"(periods {', '.join(str(p) for p in report.periods) or '-'})"
    ]
    for label, by_currency in report.totals_by_label().items():
        amounts = ", ".join(
            f"billed {money(a.billing, cur)} / ledger {money(a.ledger, cur)}"
            for cur, a in sorted(by_currency.items())
        )
        lines.append(f"  {label:19} {counts[label]:>7}" + (f"  {amounts}" if amounts else ""))
    lines.append("by partner:")
    for partner, entry in report.totals_by_partner().items():
        labels = ", ".join(f"{k} {v}" for k, v in entry["labels"].items() if v)
        lines.append(f"  {partner:12} {labels}")
    if report.rejected:
        lines.append(f"rejected rows: {len(report.rejected)}")
        lines += [f"  line {r.line}: {r.reason}" for r in report.rejected]
    return lines


def _actions(result: ApplyResult) -> list[str]:
    actions = result.actions
    verb = "would" if result.dry_run else "did"
    lines = [
        f"{verb} propose {len(actions.propose)}, confirm {len(actions.confirm)}, "
        f"dispute {len(actions.dispute)} obligations"
        + ("" if result.dry_run else f" ({_gas(result)} gas)")
    ]
    lines += [
        f"  skipped line {s.item.line or '-'} ({s.item.label.value}): {s.reason}"
        for s in actions.skipped
    ]
    if result.dry_run and (actions.propose or actions.confirm or actions.dispute):
        lines.append("run again with --apply to send them")
    return lines


def _gas(result: ApplyResult) -> int:
    return sum(r.gas_used for r in (result.proposed, result.confirmed, result.disputed) if r)


@cli.command("reconcile")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--apply", "do_apply", is_flag=True, help="Propose, confirm and dispute for real.")
@click.option(
    "--tolerance-abs",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    metavar="N",
    help="Tolerated difference in minor units (cents).",
)
@click.option(
    "--tolerance-pct",
    metavar="P",
    help="Tolerated difference in percent of the billed amount, e.g. 0.5.",
)
@click.option(
    "--report-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full report (every item) as JSON.",
)
@click.option(
    "--report-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full report (every item, rejects, totals) as CSV.",
)
@batch_options
@sender_option
@common_options
def reconcile_command(
    options: Options,
    file: Path,
    do_apply: bool,
    tolerance_abs: int,
    tolerance_pct: str | None,
    report_json: Path | None,
    report_csv: Path | None,
    batch_size: int | None,
    progress: bool | None,
    sender: str | None,
) -> None:
    """Reconcile billing export FILE with the ledger, as your key's operator."""
    tolerance = Tolerance(tolerance_abs, _percent(tolerance_pct))
    me = key_address(options, sender)
    with open_ledger(options) as ledger:
        directory = ledger.directory()
        report = reconcile_file(ledger.settlement, me, file, directory, tolerance=tolerance)
        _write_reports(report, report_json, report_csv)
        actions = planned_actions(ledger.settlement, report, inactive=directory.inactive)
        if do_apply and actions.count:
            signer = unlock_sender(options, ledger.chain, sender)
            with progress_bar(progress, "reconciling", actions.count) as bar:
                result = apply_reconciliation(
                    ledger.settlement,
                    signer,
                    report,
                    actions=actions,
                    batch_size=batch_size,
                    progress=bar,
                )
        else:
            result = ApplyResult(actions, not do_apply)
    data: dict[str, Any] = {
        "operator": report.operator,
        "periods": list(report.periods),
        "tolerance": tolerance.to_json(),
        "counts": report.counts(),
        "totals": report.totals_json(),
        "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
        "actions": result.to_json(),
    }
    emit(options, data, _summary(report) + _actions(result))


def _write_reports(
    report: ReconciliationReport, json_path: Path | None, csv_path: Path | None
) -> None:
    for path, text in ((json_path, report.to_json_text), (csv_path, report.to_csv)):
        if path is None:
            continue
        try:
            path.write_text(text(), encoding="utf-8")
        except OSError as exc:
            raise LedgerValueError(f"cannot write report {path}: {exc.strerror}") from exc
        note(f"wrote {path}")
