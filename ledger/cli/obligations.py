"""``ledgerline obligations``: propose, confirm, dispute, withdraw and list obligations.

Operators are named by registry member code (``FRAF1``) or 0x address; amounts are
decimals in major units (``123.45`` EUR is 12345 cents); ``propose --file`` reads the
billing-export CSV of :mod:`ledger.reconcile` (one obligation per valid row, bad rows
reported with their line numbers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ledger.cli._app import Options, cli, common_options, emit, note, unlock_sender
from ledger.cli._ledger import (
    Ledger,
    batch_options,
    key_address,
    money,
    open_ledger,
    progress_bar,
    sender_option,
)
from ledger.errors import LedgerValueError
from ledger.settlement import (
    DisputeReason,
    LedgerObligation,
    Obligation,
    ObligationStatus,
    Receipt,
    check_currency,
    parse_amount,
    reason_label,
)


@cli.group()
def obligations() -> None:
    """Obligations between operators: each proposed by one party, confirmed or disputed by
    the other."""


def _line(ledger: Ledger, entry: LedgerObligation) -> str:
    ob = entry.obligation
    extra = ""
    if entry.cycle_id:
        extra = f"  cycle {entry.cycle_id}"
    if entry.dispute_reason:
        extra = f"  reason {reason_label(entry.dispute_reason)}"
    if entry.amended_by:
        extra += f"  amended by {entry.amended_by}"
    return (
        f"{entry.id}  {entry.status.label:9}  {ledger.name(ob.debtor)} owes "
        f"{ledger.name(ob.creditor)} {money(ob.amount, ob.currency)}  {ob.service.label} "
        f"{ob.period}  proposed by {ledger.name(entry.proposer)}{extra}"
    )


def _obligation_line(ledger: Ledger, ob: Obligation, verb: str) -> str:
    return (
        f"{verb} {ob.id}: {ledger.name(ob.debtor)} owes {ledger.name(ob.creditor)} "
        f"{money(ob.amount, ob.currency)} for {ob.service.label} in {ob.period}"
    )


@obligations.command("propose")
@click.option("--debtor", metavar="PARTY", help="Who owes (code or address; default: you).")
@click.option("--creditor", metavar="PARTY", help="Who is owed (code or address; default: you).")
@click.option("--currency", metavar="CODE", help="ISO 4217 currency, e.g. EUR.")
@click.option("--amount", metavar="DECIMAL", help="Amount in major units, e.g. 1234.56.")
@click.option("--service", metavar="NAME", help="interconnect, roaming, transit, sms_termination…")
@click.option("--period", metavar="YYYYMM", help="Billing month, e.g. 202501.")
@click.option("--reference", metavar="TEXT", help="Invoice or agreement number (hashed).")
@click.option(
    "--evidence-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Supporting file; its SHA-256 is the evidence hash.",
)
@click.option("--salt", metavar="0xHEX", help="32-byte salt, to record a second identical record.")
@click.option(
    "--file",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Propose every valid row of a billing-export CSV instead (partner,direction,service,"
    "period,currency,amount,reference[,volume,unit]).",
)
@batch_options
@sender_option
@common_options
def obligations_propose(
    options: Options,
    debtor: str | None,
    creditor: str | None,
    currency: str | None,
    amount: str | None,
    service: str | None,
    period: str | None,
    reference: str | None,
    evidence_file: Path | None,
    salt: str | None,
    csv_file: Path | None,
    batch_size: int | None,
    progress: bool | None,
    sender: str | None,
) -> None:
    """Propose an obligation between you and a counterparty (or many, from --file)."""
    if csv_file is not None:
        given = [debtor, creditor, currency, amount, service, period, reference, evidence_file]
        if any(v is not None for v in given) or salt:
            raise click.UsageError(
                "--file replaces the other record options; give one or the other"
            )
        _propose_file(options, csv_file, batch_size, progress, sender)
        return
    missing = [
        name
        for name, value in (
            ("--currency", currency),
            ("--amount", amount),
            ("--service", service),
            ("--period", period),
        )
        if value is None
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or give --file)")
    assert currency is not None and amount is not None and service is not None
    assert period is not None
    me = key_address(options, sender)
    with open_ledger(options) as ledger:
        record = Obligation.create(
            ledger.party(debtor, "debtor") if debtor else me,
            ledger.party(creditor, "creditor") if creditor else me,
            check_currency(currency),
            parse_amount(amount, check_currency(currency)),
            service,
            period,
            reference=reference,
            evidence_file=evidence_file,
            salt=salt,
        )
        signer = unlock_sender(options, ledger.chain, sender)
        result = ledger.settlement.propose(signer, record)
        line = _obligation_line(ledger, record, "proposed")
    emit(
        options,
        {**record.to_json(), **result.to_json()},
        f"{line} (tx {result.receipts[0].tx_hash})",
    )


def _propose_file(
    options: Options,
    path: Path,
    batch_size: int | None,
    progress: bool | None,
    sender: str | None,
) -> None:
    from ledger.reconcile import read_billing_csv

    me = key_address(options, sender)
    with open_ledger(options) as ledger:
        billing = read_billing_csv(path, me, ledger.directory())
        for row in billing.rejected:
            note(f"{path}:{row.line}: {row.reason}")
        records = [line.obligation(me) for line in billing.lines]
        if not records:
            raise LedgerValueError(f"{path} holds no valid row to propose")
        signer = unlock_sender(options, ledger.chain, sender)
        with progress_bar(progress, "proposing", len(records)) as bar:
            result = ledger.settlement.propose_batch(
                signer, records, batch_size=batch_size, progress=bar
            )
    data = {
        **result.to_json(),
        "rejected": [{"line": r.line, "reason": r.reason} for r in billing.rejected],
    }
    emit(
        options,
        data,
        f"proposed {len(records)} obligations in {len(result.receipts)} transactions "
        f"({result.gas_used} gas); {len(billing.rejected)} rows rejected",
    )


def _selected(
    ledger: Ledger,
    ids: tuple[str, ...],
    awaiting: bool,
    me: str,
    filters: dict[str, Any],
) -> list[LedgerObligation]:
    if ids and awaiting:
        raise click.UsageError("give obligation ids or --all-awaiting, not both")
    if ids:
        return ledger.settlement.find_obligations(ids)
    if not awaiting:
        raise click.UsageError("give one or more obligation ids, or --all-awaiting")
    return ledger.settlement.awaiting_confirmation(me, **filters)


def _filters(
    ledger: Ledger, partner: str | None, currency: str | None, period: str | None
) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if partner:
        filters["counterparty"] = ledger.party(partner, "partner")
    if currency:
        filters["currency"] = currency
    if period:
        filters["period"] = period
    return filters


def _selection_options(command: Any) -> Any:
    for decorator in reversed(
        [
            click.argument("ids", nargs=-1, metavar="[ID]..."),
            click.option(
                "--all-awaiting",
                "awaiting",
                is_flag=True,
                help="Every obligation awaiting your confirmation (narrow with the filters).",
            ),
            click.option("--partner", metavar="PARTY", help="Only with this counterparty."),
            click.option("--currency", metavar="CODE", help="Only in this currency."),
            click.option("--period", metavar="YYYYMM", help="Only for this billing month."),
        ]
    ):
        command = decorator(command)
    return command


def _batch_action(
    options: Options,
    ids: tuple[str, ...],
    awaiting: bool,
    partner: str | None,
    currency: str | None,
    period: str | None,
    batch_size: int | None,
    progress: bool | None,
    sender: str | None,
    verbs: tuple[str, str, str],
    run: Any,
) -> None:
    verb, doing, done = verbs
    me = key_address(options, sender)
    with open_ledger(options) as ledger:
        chosen = _selected(ledger, ids, awaiting, me, _filters(ledger, partner, currency, period))
        if not chosen:
            emit(
                options,
                {"ids": [], "count": 0, "transactions": [], "gasUsed": 0},
                f"nothing to {verb}",
            )
            return
        signer = unlock_sender(options, ledger.chain, sender)
        records = [entry.obligation for entry in chosen]
        with progress_bar(progress, doing, len(records)) as bar:
            result = run(ledger, signer, records, bar)
        lines = [_obligation_line(ledger, r, done) for r in records]
    emit(options, result.to_json(), lines)


@obligations.command("confirm")
@_selection_options
@batch_options
@sender_option
@common_options
def obligations_confirm(
    options: Options,
    ids: tuple[str, ...],
    awaiting: bool,
    partner: str | None,
    currency: str | None,
    period: str | None,
    batch_size: int | None,
    progress: bool | None,
    sender: str | None,
) -> None:
    """Confirm obligations your counterparties proposed; they join the open cycle."""
    _batch_action(
        options, ids, awaiting, partner, currency, period, batch_size, progress, sender,
        ("confirm", "confirming", "confirmed"),
        lambda ledger, signer, records, bar: ledger.settlement.confirm_batch(
            signer, records, batch_size=batch_size, progress=bar
        ),
    )  # fmt: skip


@obligations.command("dispute")
@_selection_options
@click.option(
    "--reason",
    default="amount_mismatch",
    show_default=True,
    help="Reason: " + ", ".join(r.label for r in DisputeReason) + ", or a code 1..65535.",
)
@batch_options
@sender_option
@common_options
def obligations_dispute(
    options: Options,
    ids: tuple[str, ...],
    awaiting: bool,
    partner: str | None,
    currency: str | None,
    period: str | None,
    reason: str,
    batch_size: int | None,
    progress: bool | None,
    sender: str | None,
) -> None:
    """Dispute obligations your counterparties proposed, with a reason code."""
    code = DisputeReason.parse(reason)
    _batch_action(
        options, ids, awaiting, partner, currency, period, batch_size, progress, sender,
        ("dispute", "disputing", "disputed"),
        lambda ledger, signer, records, bar: ledger.settlement.dispute_batch(
            signer, records, code, batch_size=batch_size, progress=bar
        ),
    )  # fmt: skip


@obligations.command("withdraw")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@sender_option
@common_options
def obligations_withdraw(options: Options, ids: tuple[str, ...], sender: str | None) -> None:
    """Withdraw obligations you proposed (proposed or disputed; a confirmed one is final)."""
    with open_ledger(options) as ledger:
        chosen = ledger.settlement.find_obligations(ids)
        signer = unlock_sender(options, ledger.chain, sender)
        receipts: list[Receipt] = []
        for entry in chosen:
            receipts.extend(ledger.settlement.withdraw(signer, entry.obligation).receipts)
        lines = [_obligation_line(ledger, e.obligation, "withdrew") for e in chosen]
    data = {
        "ids": [e.id for e in chosen],
        "count": len(chosen),
        "transactions": [r.to_json() for r in receipts],
        "gasUsed": sum(r.gas_used for r in receipts),
    }
    emit(options, data, lines)


_STATUSES = [s.label for s in ObligationStatus if s is not ObligationStatus.NONE]


@obligations.command("list")
@click.option("--party", metavar="PARTY", help="Only obligations of this operator.")
@click.option("--mine", is_flag=True, help="Only obligations of your key's operator.")
@click.option("--awaiting", is_flag=True, help="Only those awaiting your confirmation.")
@click.option(
    "--partner", metavar="PARTY", help="Only with this counterparty (with --party/--mine)."
)
@click.option("--status", type=click.Choice(_STATUSES), help="Only in this state.")
@click.option("--currency", metavar="CODE", help="Only in this currency.")
@click.option("--period", metavar="YYYYMM", help="Only for this billing month.")
@click.option("--cycle", "cycle_id", type=int, help="Only those confirmed into this cycle.")
@sender_option
@common_options
def obligations_list(
    options: Options,
    party: str | None,
    mine: bool,
    awaiting: bool,
    partner: str | None,
    status: str | None,
    currency: str | None,
    period: str | None,
    cycle_id: int | None,
    sender: str | None,
) -> None:
    """List obligations with their current state, oldest first."""
    if party and (mine or awaiting):
        raise click.UsageError("give --party or --mine/--awaiting, not both")
    with open_ledger(options) as ledger:
        who = ledger.party(party, "party") if party else None
        if mine or awaiting:
            who = key_address(options, sender)
        filters: dict[str, Any] = {
            "party": who,
            "currency": currency,
            "period": period,
            "cycle_id": cycle_id,
            "status": ObligationStatus[status.upper()] if status else None,
        }
        if partner:
            if who is None:
                raise click.UsageError("--partner needs --party or --mine")
            filters["counterparty"] = ledger.party(partner, "partner")
        found = ledger.settlement.obligations(**filters)
        if awaiting:
            found = [entry for entry in found if who is not None and entry.awaits(who)]
        lines = [_line(ledger, entry) for entry in found]
    emit(options, [entry.to_json() for entry in found], lines or ["no obligations"])
