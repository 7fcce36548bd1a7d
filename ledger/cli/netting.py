"""``ledgerline netting``: multilateral netting of an obligations CSV, with no chain."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ledger.cli._app import cli, note
from ledger.cli._ledger import money


@cli.group()
def netting() -> None:
    """Multilateral netting of obligations (pure computation, no chain)."""


@netting.command("plan")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--exact", is_flag=True, help="Fewest transfers (up to 20 non-zero operators).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def netting_plan(file: Path, exact: bool, fmt: str) -> None:
    """Net the obligations of FILE (CSV: debtor,creditor,amount,currency; amounts in minor
    units) per currency into positions and a settlement plan.

    JSON output: {"<currency>": {"positions": {operator: int}, "transfers": [{"payer",
    "payee", "amount"}], "gross": int, "net": int, "saving_pct": float}}.  Rejected rows
    are reported on stderr with their line numbers; the other rows are netted.
    """
    from ledger.netting import plan_from_csv

    result, rejected = plan_from_csv(file, exact=exact)
    for row in rejected:
        note(f"{file}:{row.line}: {row.reason}")
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    lines: list[str] = []
    for currency, netted in result.items():
        lines.append(
            f"{currency}: gross {money(netted['gross'], currency)}, net "
            f"{money(netted['net'], currency)} in {len(netted['transfers'])} transfers "
            f"(saving {netted['saving_pct']}%)"
        )
        lines += [
            f"  {t['payer']} pays {t['payee']} {money(t['amount'], currency)}"
            for t in netted["transfers"]
        ]
    click.echo("\n".join(lines) if lines else "no obligations to net")
