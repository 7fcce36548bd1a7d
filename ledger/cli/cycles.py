"""``ledgerline cycles``: settlement cycles, from opening to settled.

The clearing agent opens a cycle per currency (``open``), closes it (``close``) and
submits its plan (``plan``, computed from the on-chain net positions); each operator with
a non-zero position confirms it (``confirm``); payers mark transfers paid (``paid``) and
payees confirm receipt (``received``).  ``show`` lists the cycles or shows one with its
positions and transfers.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ledger.cli._app import Options, cli, common_options, emit, unlock_sender
from ledger.cli._ledger import Ledger, money, open_ledger, sender_option
from ledger.errors import LedgerValueError
from ledger.settlement import Cycle, CycleResult, PlanTransfer, check_currency

_RELATIVE = re.compile(r"\+([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_cutoff(text: str, now: int) -> int:
    """``+30m``/``+2h``/``+7d`` from ``now``, or an ISO 8601 time (UTC unless it says)."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now + int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LedgerValueError(
            f"cut-off {text!r} is neither a relative time (+90s, +30m, +2h, +7d) nor an "
            "ISO 8601 time such as 2025-02-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@cli.group()
def cycles() -> None:
    """Settlement cycles: one open cycle per currency, netted into a plan of transfers."""


def _cycle_line(cycle: Cycle) -> str:
    line = (
        f"cycle {cycle.id:<4} {cycle.currency}  {cycle.status.label:9}  "
        f"cut-off {cycle.cutoff:%Y-%m-%d %H:%M:%SZ}  {cycle.obligation_count} obligations  "
        f"gross {money(cycle.gross_value, cycle.currency)}"
    )
    if cycle.transfer_count or cycle.status.label in ("planned", "confirmed", "settled"):
        line += (
            f"  net {money(cycle.net_value, cycle.currency)} in {cycle.transfer_count} "
            f"transfers (saving {cycle.saving_pct}%)"
        )
    return line


def _transfer_line(ledger: Ledger, t: PlanTransfer, currency: str) -> str:
    return (
        f"  #{t.index:<3} {ledger.name(t.payer)} pays {ledger.name(t.payee)} "
        f"{money(t.amount, currency)}  {t.status.label}"
    )


def _result(options: Options, ledger: Ledger, result: CycleResult, verb: str) -> None:
    lines = [f"{verb}: {_cycle_line(result.cycle)}  (tx {result.receipt.tx_hash})"]
    lines += [_transfer_line(ledger, t, result.cycle.currency) for t in result.transfers]
    emit(options, result.to_json(), lines)


@cycles.command("open")
@click.argument("currency")
@click.option(
    "--cutoff",
    default="+7d",
    show_default=True,
    help="Last moment for confirmations: +90s, +30m, +2h, +7d or an ISO 8601 time.",
)
@sender_option
@common_options
def cycles_open(options: Options, currency: str, cutoff: str, sender: str | None) -> None:
    """Open the CURRENCY settlement cycle (clearing agent)."""
    code = check_currency(currency)
    with open_ledger(options) as ledger:
        when = parse_cutoff(cutoff, ledger.settlement.chain_time())
        signer = unlock_sender(options, ledger.chain, sender)
        result = ledger.settlement.open_cycle(signer, code, when)
        _result(options, ledger, result, "opened")


@cycles.command("close")
@click.argument("cycle_id", type=int)
@sender_option
@common_options
def cycles_close(options: Options, cycle_id: int, sender: str | None) -> None:
    """Close cycle CYCLE_ID: its net positions become final (clearing agent)."""
    with open_ledger(options) as ledger:
        signer = unlock_sender(options, ledger.chain, sender)
        _result(options, ledger, ledger.settlement.close_cycle(signer, cycle_id), "closed")


def _plan_file(ledger: Ledger, cycle_id: int, path: Path) -> list[PlanTransfer]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LedgerValueError(f"cannot read plan file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise LedgerValueError(f"plan file {path} is not valid JSON ({exc})") from exc
    if isinstance(data, dict):
        data = data.get("transfers")
    if not isinstance(data, list):
        raise LedgerValueError(
            f'plan file {path} must hold a list of {{"payer", "payee", "amount"}} transfers'
        )
    plan = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not {"payer", "payee", "amount"} <= set(item):
            raise LedgerValueError(
                f'transfer {index} of {path} needs "payer", "payee" and "amount"'
            )
        amount = item["amount"]
        if amount.__class__ is not int:
            raise LedgerValueError(
                f"transfer {index} of {path} has amount {amount!r}; give integer minor units"
            )
        plan.append(
            PlanTransfer(
                cycle_id,
                index,
                ledger.party(str(item["payer"]), "payer"),
                ledger.party(str(item["payee"]), "payee"),
                amount,
            )
        )
    return plan


@cycles.command("plan")
@click.argument("cycle_id", type=int)
@click.option("--exact", is_flag=True, help="Fewest transfers (up to 20 non-zero operators).")
@click.option(
    "--file",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Submit this plan instead: JSON [{"payer", "payee", "amount"}, ...].',
)
@click.option("--dry-run", is_flag=True, help="Only compute and show the plan.")
@sender_option
@common_options
def cycles_plan(
    options: Options,
    cycle_id: int,
    exact: bool,
    plan_file: Path | None,
    dry_run: bool,
    sender: str | None,
) -> None:
    """Compute the plan of closed cycle CYCLE_ID from its positions and submit it."""
    with open_ledger(options) as ledger:
        client = ledger.settlement
        cycle = client.cycle(cycle_id)
        if plan_file is not None:
            plan = _plan_file(ledger, cycle_id, plan_file)
        else:
            plan = client.compute_plan(cycle_id, exact=exact)
        if dry_run:
            lines = [f"plan of {_cycle_line(cycle)} (not submitted)"]
            lines += [_transfer_line(ledger, t, cycle.currency) for t in plan]
            emit(options, {**cycle.to_json(), "transfers": [t.to_json() for t in plan]}, lines)
            return
        signer = unlock_sender(options, ledger.chain, sender)
        _result(options, ledger, client.submit_plan(signer, cycle_id, plan), "planned")


@cycles.command("confirm")
@click.argument("cycle_id", type=int)
@sender_option
@common_options
def cycles_confirm(options: Options, cycle_id: int, sender: str | None) -> None:
    """Confirm your net position in planned cycle CYCLE_ID."""
    with open_ledger(options) as ledger:
        signer = unlock_sender(options, ledger.chain, sender)
        position = ledger.settlement.position_of(cycle_id, signer.address)
        result = ledger.settlement.confirm_position(signer, cycle_id)
        currency = result.cycle.currency
        data = {**result.to_json(), "operator": signer.address, "position": position}
        emit(
            options,
            data,
            f"confirmed position {money(position, currency)} of {ledger.name(signer.address)} "
            f"in {_cycle_line(result.cycle)}",
        )


@cycles.command("paid")
@click.argument("cycle_id", type=int)
@click.argument("index", type=int)
@click.option(
    "--ref",
    "reference",
    required=True,
    help="The payment's reference (bank reference; hashed unless 0x + 64 hex digits).",
)
@sender_option
@common_options
def cycles_paid(
    options: Options, cycle_id: int, index: int, reference: str, sender: str | None
) -> None:
    """Mark transfer INDEX of cycle CYCLE_ID paid (its payer)."""
    with open_ledger(options) as ledger:
        signer = unlock_sender(options, ledger.chain, sender)
        result = ledger.settlement.mark_paid(signer, cycle_id, index, reference)
        transfer = ledger.settlement.transfer(cycle_id, index)
        data = {**result.to_json(), "transfer": transfer.to_json()}
        emit(
            options,
            data,
            f"marked paid:{_transfer_line(ledger, transfer, result.cycle.currency)[1:]}",
        )


@cycles.command("received")
@click.argument("cycle_id", type=int)
@click.argument("index", type=int)
@sender_option
@common_options
def cycles_received(options: Options, cycle_id: int, index: int, sender: str | None) -> None:
    """Confirm receipt of transfer INDEX of cycle CYCLE_ID (its payee)."""
    with open_ledger(options) as ledger:
        signer = unlock_sender(options, ledger.chain, sender)
        result = ledger.settlement.confirm_received(signer, cycle_id, index)
        transfer = ledger.settlement.transfer(cycle_id, index)
        data = {**result.to_json(), "transfer": transfer.to_json()}
        lines = [f"received:{_transfer_line(ledger, transfer, result.cycle.currency)[1:]}"]
        if result.cycle.status.label == "settled":
            lines.append(f"settled: {_cycle_line(result.cycle)}")
        emit(options, data, lines)


@cycles.command("show")
@click.argument("cycle_id", type=int, required=False)
@click.option("--currency", metavar="CODE", help="Only cycles of this currency.")
@common_options
def cycles_show(options: Options, cycle_id: int | None, currency: str | None) -> None:
    """List the cycles, or show cycle CYCLE_ID with its positions and transfers."""
    with open_ledger(options) as ledger:
        client = ledger.settlement
        if cycle_id is None:
            found = client.cycles(check_currency(currency) if currency else None)
            emit(
                options,
                [c.to_json() for c in found],
                [_cycle_line(c) for c in found] or ["no cycles"],
            )
            return
        cycle = client.cycle(cycle_id)
        positions = client.positions(cycle_id)
        confirmed = {p: client.is_position_confirmed(cycle_id, p) for p in positions}
        transfers = client.transfers(cycle_id)
        data: dict[str, Any] = {
            **cycle.to_json(),
            "positions": [
                {"operator": p, "name": ledger.name(p), "position": v, "confirmed": confirmed[p]}
                for p, v in positions.items()
            ],
            "transfers": [t.to_json() for t in transfers],
        }
        lines = [_cycle_line(cycle), "positions:"]
        lines += [
            f"  {ledger.name(p):42} {money(v, cycle.currency):>20}"
            + ("  confirmed" if confirmed[p] else "")
            for p, v in positions.items()
        ]
        if transfers:
            lines.append("transfers:")
            lines += [_transfer_line(ledger, t, cycle.currency) for t in transfers]
        emit(options, data, lines)
