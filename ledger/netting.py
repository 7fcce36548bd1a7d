"""Multilateral netting: from gross obligations to one net position and a settlement plan.

An obligation is ``(debtor, creditor, amount)`` in one currency, the amount a positive
integer in minor units.  :func:`net_positions` reduces any number of them to one signed
position per operator (positive: the operator receives).  :func:`settlement_plan` turns
positions into transfers that realise them exactly:

* the default plan has at most n - 1 transfers for n non-zero operators and moves the
  least possible total (the sum of the positive positions): every payer only pays and
  every payee only receives;
* ``exact=True`` also minimises the number of transfers, which is n minus the largest
  number of disjoint zero-sum groups the operators can be split into (at most 20
  non-zero operators).

Both plans are deterministic: ties are broken by operator id, so the same positions
always give the same plan, transfer for transfer.  That is what lets the settlement
contract's plan be compared with the one computed here.

The module is pure Python: no chain, no Flask.
"""

from __future__ import annotations

import csv
import heapq
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, NamedTuple, TypedDict

from ledger.errors import LedgerValueError

#: ``exact=True`` refuses more non-zero operators than this: its search is exponential.
EXACT_MAX_OPERATORS = 20

#: The columns an obligations CSV must have (more columns are allowed and ignored).
CSV_COLUMNS = ("debtor", "creditor", "amount", "currency")

_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"[0-9]+", re.ASCII)


@dataclass(frozen=True)
class Transfer:
    """One payment of a settlement plan: ``payer`` pays ``amount`` minor units to ``payee``."""

    payer: str
    payee: str
    amount: int


@dataclass(frozen=True)
class NettingMetrics:
    """What netting saved.

    ``gross`` is the sum of the obligations' amounts and ``net`` the sum of the plan's
    transfers; ``saving_pct`` is ``(1 - net / gross) * 100`` rounded to two decimals
    (0.0 when there is nothing to settle).  ``payments_before`` counts one payment per
    obligation (gross settlement pays every invoice on its own); ``payments_after`` is
    the number of transfers in the plan.
    """

    gross: int
    net: int
    saving_pct: float
    payments_before: int
    payments_after: int


class ObligationRow(NamedTuple):
    """One valid row of an obligations CSV."""

    debtor: str
    creditor: str
    amount: int
    currency: str


class RejectedRow(NamedTuple):
    """A CSV row that was left out: its 1-based line number in the file and why."""

    line: int
    reason: str


class TransferRecord(TypedDict):
    """A transfer as JSON."""

    payer: str
    payee: str
    amount: int


class CurrencyResult(TypedDict):
    """The netting of one currency, exactly as ``ledgerline netting plan`` prints it."""

    positions: dict[str, int]
    transfers: list[TransferRecord]
    gross: int
    net: int
    saving_pct: float


# -- positions ----------------------------------------------------------------------------


def net_positions(obligations: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Net every operator's obligations into one signed position, in minor units.

    A position is positive for an operator that receives and negative for one that
    pays; the positions always sum to zero.  Every operator that appears in an
    obligation is in the result, also when its position nets to exactly zero, so the
    result lists who took part.  Keys are sorted by operator id.

    Raises :class:`LedgerValueError` naming the index of the first obligation whose
    amount is not a positive ``int``, whose debtor and creditor are the same, or whose
    parties are not non-empty strings.
    """
    positions, _gross, _count = _aggregate(obligations)
    return positions


def _aggregate(obligations: Iterable[tuple[str, str, int]]) -> tuple[dict[str, int], int, int]:
    """Positions, gross value and obligation count in one pass."""
    totals: defaultdict[str, int] = defaultdict(int)
    gross = 0
    index = -1
    try:
        # The hot loop of a 1,000,000-obligation netting: locals only, one type check.
        for index, obligation in enumerate(obligations):
            debtor, creditor, amount = obligation
            if amount.__class__ is not int or amount <= 0 or debtor == creditor:
                raise LedgerValueError(_obligation_problem(index, obligation))
            totals[debtor] -= amount
            totals[creditor] += amount
            gross += amount
    except LedgerValueError:
        raise
    except (TypeError, ValueError) as exc:
        if index < 0:
            raise LedgerValueError(
                "obligations must be an iterable of (debtor, creditor, amount) triples"
            ) from exc
        raise LedgerValueError(
            f"obligation {index} is not a (debtor, creditor, amount) triple ({exc})"
        ) from exc
    for operator in totals:
        if operator.__class__ is not str or not operator:
            raise LedgerValueError(
                f"operator ids must be non-empty strings, got {operator!r}; "
                "fix the debtor or creditor of the obligations that name it"
            )
    return {operator: totals[operator] for operator in sorted(totals)}, gross, index + 1


def _obligation_problem(index: int, obligation: tuple[str, str, int]) -> str:
    debtor, _creditor, amount = obligation
    if amount.__class__ is not int:
        return (
            f"obligation {index}: amount must be an int in minor units, "
            f"got {type(amount).__name__} {amount!r}"
        )
    if amount <= 0:
        return f"obligation {index}: amount must be positive, got {amount}"
    return f"obligation {index}: debtor and creditor are both {debtor!r}; drop the row"


# -- plans --------------------------------------------------------------------------------


def settlement_plan(positions: Mapping[str, int], exact: bool = False) -> list[Transfer]:
    """Transfers that realise ``positions`` exactly (positive: the operator receives).

    The default plan first settles every pair of operators whose positions cancel
    exactly, then lets the largest remaining payer pay the largest remaining payee until
    all are settled (ties broken by operator id).  It has at most n - 1 transfers for n
    non-zero operators and moves exactly the sum of the positive positions, the least
    any plan can move.

    ``exact=True`` returns a plan with the fewest possible transfers: n minus the
    largest number of disjoint groups of operators whose positions sum to zero, each
    group then settled as above.  It refuses more than :data:`EXACT_MAX_OPERATORS`
    non-zero operators.

    Raises :class:`LedgerValueError` when a position is not an ``int``, an operator id
    is not a non-empty string, the positions do not sum to zero, or ``exact`` is asked
    for too many operators.
    """
    nonzero = _checked_positions(positions)
    if exact and len(nonzero) > EXACT_MAX_OPERATORS:
        raise LedgerValueError(
            f"exact netting handles at most {EXACT_MAX_OPERATORS} operators with a non-zero "
            f"position, got {len(nonzero)}; use the default plan (at most n - 1 transfers)"
        )
    pairs, rest = _split_offsetting_pairs(nonzero)
    groups: list[list[tuple[str, int]]] = [list(pair) for pair in pairs]
    if exact:
        groups.extend(_max_zero_sum_groups(rest))
    elif rest:
        groups.append(rest)
    groups.sort(key=lambda group: min(operator for operator, _ in group))
    plan: list[Transfer] = []
    for group in groups:
        plan.extend(_greedy(group))
    return plan


def plan_positions(plan: Iterable[Transfer]) -> dict[str, int]:
    """The non-zero positions a plan realises, keyed by operator id (sorted)."""
    totals: defaultdict[str, int] = defaultdict(int)
    for transfer in plan:
        totals[transfer.payer] -= transfer.amount
        totals[transfer.payee] += transfer.amount
    return {operator: totals[operator] for operator in sorted(totals) if totals[operator]}


def realises(plan: Iterable[Transfer], positions: Mapping[str, int]) -> bool:
    """Whether ``plan`` moves every operator exactly to its position (zeros may be omitted)."""
    return plan_positions(plan) == {op: value for op, value in positions.items() if value}


def _checked_positions(positions: Mapping[str, int]) -> list[tuple[str, int]]:
    """The non-zero positions sorted by operator id, after validating all of them."""
    total = 0
    for operator, value in positions.items():
        if operator.__class__ is not str or not operator:
            raise LedgerValueError(f"operator ids must be non-empty strings, got {operator!r}")
        if value.__class__ is not int:
            raise LedgerValueError(
                f"position of {operator!r} must be an int in minor units, "
                f"got {type(value).__name__} {value!r}"
            )
        total += value
    if total != 0:
        raise LedgerValueError(
            f"positions must sum to zero, they sum to {total}; "
            "compute them with net_positions() from the obligations"
        )
    return sorted((op, value) for op, value in positions.items() if value)


def _split_offsetting_pairs(
    nonzero: list[tuple[str, int]],
) -> tuple[list[tuple[tuple[str, int], tuple[str, int]]], list[tuple[str, int]]]:
    """Pair payers with payees of exactly the opposite amount (by operator id order).

    Settling such a pair with one transfer is always part of some plan with the fewest
    transfers, so this never makes a plan worse and often saves transfers.
    """
    waiting: dict[int, list[tuple[str, int]]] = defaultdict(list)
    pairs: list[tuple[tuple[str, int], tuple[str, int]]] = []
    matched: set[str] = set()
    for operator, value in nonzero:
        partners = waiting.get(-value)
        if partners:
            partner = partners.pop(0)
            pairs.append((partner, (operator, value)))
            matched.add(partner[0])
            matched.add(operator)
        else:
            waiting[value].append((operator, value))
    rest = [(op, value) for op, value in nonzero if op not in matched]
    return pairs, rest


def _greedy(group: Sequence[tuple[str, int]]) -> list[Transfer]:
    """Largest payer pays largest payee; at most len(group) - 1 transfers for a zero-sum group."""
    payers = [(value, op) for op, value in group if value < 0]  # most negative first
    payees = [(-value, op) for op, value in group if value > 0]
    heapq.heapify(payers)
    heapq.heapify(payees)
    plan: list[Transfer] = []
    while payers and payees:
        debt, payer = heapq.heappop(payers)
        credit, payee = heapq.heappop(payees)
        amount = min(-debt, -credit)
        plan.append(Transfer(payer, payee, amount))
        if -debt > amount:
            heapq.heappush(payers, (debt + amount, payer))
        if -credit > amount:
            heapq.heappush(payees, (credit + amount, payee))
    return plan


# -- exact mode: the most disjoint zero-sum groups ---------------------------------------
#
# Sets of operators are bit masks over the (sorted) operators, and a family of sets is one
# Python int with bit m set when mask m belongs to it: 2**20 masks are a 128 KiB integer,
# and one union, intersection or shift of such a family is a single C-level big-int
# operation.  A_1 is the family of non-empty zero-sum masks; A_t, the masks that split
# into t disjoint zero-sum groups, is A_1 intersected with the masks that strictly
# contain a member of A_{t-1}.  The answer is the largest t with the full mask in A_t.
# Each step is 2n big-int passes, and there are at most n / 2 steps.


def _max_zero_sum_groups(items: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Split zero-sum ``items`` into the largest number of disjoint zero-sum groups."""
    n = len(items)
    if n == 0:
        return []
    full = (1 << n) - 1
    zero = _zero_sum_family([value for _, value in items])
    without_bit = [_family_without_bit(i, n) for i in range(n)]

    levels = [zero]
    closures: list[int] = []
    while True:
        closure = _upward_closure(levels[-1], without_bit)
        closures.append(closure)
        deeper = zero & _strict_supersets(closure, without_bit)
        if not (deeper >> full) & 1:
            break
        levels.append(deeper)

    width = ((1 << n) + 7) // 8
    masks: list[int] = []
    current = full
    for depth in range(len(levels) - 1, 0, -1):
        members = levels[depth - 1].to_bytes(width, "little")
        above = closures[depth - 1].to_bytes(width, "little")
        sub = _descend(current, members, above, n)
        masks.append(current ^ sub)
        current = sub
    masks.append(current)
    return [[items[i] for i in range(n) if mask >> i & 1] for mask in masks]


def _zero_sum_family(values: list[int]) -> int:
    """The family of non-empty masks whose values sum to zero (meet in the middle)."""
    n = len(values)
    half = n // 2
    left_sums = _subset_sums(values[:half])
    right_sums = _subset_sums(values[half:])
    by_sum: dict[int, list[int]] = defaultdict(list)
    for mask, total in enumerate(left_sums):
        by_sum[total].append(mask)
    bits = bytearray(((1 << n) + 7) // 8)
    for right_mask, total in enumerate(right_sums):
        lefts = by_sum.get(-total)
        if lefts:
            base = right_mask << half
            for left_mask in lefts:
                mask = base | left_mask
                bits[mask >> 3] |= 1 << (mask & 7)
    return int.from_bytes(bits, "little") & ~1  # the empty set is no group


def _subset_sums(values: list[int]) -> list[int]:
    sums = [0]
    for value in values:
        sums += [total + value for total in sums]
    return sums


def _family_without_bit(i: int, n: int) -> int:
    """The family of all masks over n bits that do not contain bit i."""
    width = 1 << i
    family = (1 << width) - 1
    period = width << 1
    while period < 1 << n:
        family |= family << period
        period <<= 1
    return family


def _upward_closure(family: int, without_bit: list[int]) -> int:
    for i, lacking in enumerate(without_bit):
        family |= (family & lacking) << (1 << i)
    return family


def _strict_supersets(closed: int, without_bit: list[int]) -> int:
    """Masks that strictly contain a member of the upward-closed family ``closed``."""
    result = 0
    for i, lacking in enumerate(without_bit):
        result |= (closed & lacking) << (1 << i)
    return result


def _descend(current: int, members: bytes, above: bytes, n: int) -> int:
    """A member of ``members`` strictly inside ``current``, found by dropping lowest bits.

    ``above`` is the upward closure of ``members``; ``current`` strictly contains one of
    them, so some bit can always be dropped while staying above a member.
    """
    sub = current
    dropped = False
    while not dropped or not members[sub >> 3] >> (sub & 7) & 1:
        for i in range(n):
            candidate = sub ^ (1 << i)
            if sub >> i & 1 and above[candidate >> 3] >> (candidate & 7) & 1:
                sub = candidate
                dropped = True
                break
        else:  # pragma: no cover - impossible by construction of the families
            raise AssertionError("zero-sum family is inconsistent")
    return sub


# -- metrics ------------------------------------------------------------------------------


def netting_metrics(
    obligations: Iterable[tuple[str, str, int]],
    plan: Sequence[Transfer] | None = None,
    *,
    exact: bool = False,
) -> NettingMetrics:
    """Gross and net value, liquidity saving and payment counts for ``obligations``.

    Without ``plan`` the plan is computed (``exact`` chooses which); a given plan must
    realise the obligations' positions or :class:`LedgerValueError` is raised.
    """
    positions, gross, count = _aggregate(obligations)
    if plan is None:
        plan = settlement_plan(positions, exact=exact)
    elif not realises(plan, positions):
        raise LedgerValueError(
            "the plan does not realise the obligations' net positions; "
            "compute it with settlement_plan()"
        )
    return _metrics(gross, count, plan)


def _metrics(gross: int, count: int, plan: Sequence[Transfer]) -> NettingMetrics:
    net = sum(transfer.amount for transfer in plan)
    saving = round((1 - net / gross) * 100, 2) if gross else 0.0
    return NettingMetrics(gross, net, saving, count, len(plan))


# -- several currencies, CSV --------------------------------------------------------------


def net_by_currency(
    rows: Iterable[tuple[str, str, int, str]], exact: bool = False
) -> dict[str, CurrencyResult]:
    """Net ``(debtor, creditor, amount, currency)`` rows currency by currency.

    The result, keyed by currency in alphabetical order, is the JSON document that
    ``ledgerline netting plan`` prints.  Positions include operators whose position is
    zero.  Raises :class:`LedgerValueError` for a malformed currency code or obligation.
    """
    by_currency: defaultdict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for debtor, creditor, amount, currency in rows:
        by_currency[currency].append((debtor, creditor, amount))
    for currency in by_currency:
        if currency.__class__ is not str or not _CURRENCY.fullmatch(currency):
            raise LedgerValueError(
                f"currency must be an ISO 4217 code of three uppercase letters, got {currency!r}"
            )
    result: dict[str, CurrencyResult] = {}
    for currency in sorted(by_currency):
        try:
            positions, gross, count = _aggregate(by_currency[currency])
            plan = settlement_plan(positions, exact=exact)
        except LedgerValueError as exc:
            raise LedgerValueError(f"{currency}: {exc}") from exc
        metrics = _metrics(gross, count, plan)
        result[currency] = {
            "positions": positions,
            "transfers": [{"payer": t.payer, "payee": t.payee, "amount": t.amount} for t in plan],
            "gross": metrics.gross,
            "net": metrics.net,
            "saving_pct": metrics.saving_pct,
        }
    return result


def read_obligations_csv(
    source: str | os.PathLike[str] | IO[str],
) -> tuple[list[ObligationRow], list[RejectedRow]]:
    """Read an obligations CSV with the columns ``debtor,creditor,amount,currency``.

    ``source`` is a path (read as UTF-8, a byte-order mark is allowed) or an open text
    file.  The first line is the header: column names are matched case-insensitively,
    extra columns are ignored.  Each row is validated on its own: parties non-empty and
    distinct, amount a positive integer in minor units, currency three uppercase letters
    (ISO 4217).  A bad row is returned in the rejects with its line number and the
    reason and never stops the rest of the file; blank lines are skipped.

    Raises :class:`LedgerValueError` only when the file cannot be used at all: it
    cannot be opened, is empty, or its header lacks a required column.
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            with open(name, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
                return _read_obligations(handle, name)
        except OSError as exc:
            raise LedgerValueError(
                f"cannot read {name}: {exc.strerror or exc}; check the path"
            ) from exc
    return _read_obligations(source, getattr(source, "name", "the CSV"))


def _read_obligations(handle: IO[str], name: str) -> tuple[list[ObligationRow], list[RejectedRow]]:
    reader = csv.reader(handle)
    header: list[str] | None = None
    rows: list[ObligationRow] = []
    rejects: list[RejectedRow] = []
    columns: tuple[int, int, int, int] = (0, 1, 2, 3)
    line_before = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejects.append(RejectedRow(line_before + 1, f"unreadable CSV: {exc}"))
            if reader.line_num == line_before:  # the reader cannot move past it
                break
            line_before = reader.line_num
            continue
        line = line_before + 1
        line_before = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if header is None:
            header = [field.strip().lower().lstrip("\ufeff") for field in fields]
            missing = [column for column in CSV_COLUMNS if column not in header]
            if missing:
                raise LedgerValueError(
                    f"{name}: the header lacks {', '.join(missing)}; "
                    f"the first line must name the columns {','.join(CSV_COLUMNS)}"
                )
            debtor_at, creditor_at, amount_at, currency_at = (
                header.index(column) for column in CSV_COLUMNS
            )
            columns = (debtor_at, creditor_at, amount_at, currency_at)
            continue
        if len(fields) != len(header):
            rejects.append(RejectedRow(line, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        parsed = _parse_row([fields[at] for at in columns])
        if isinstance(parsed, str):
            rejects.append(RejectedRow(line, parsed))
        else:
            rows.append(parsed)
    if header is None:
        raise LedgerValueError(
            f"{name} is empty; the first line must name the columns {','.join(CSV_COLUMNS)}"
        )
    return rows, rejects


def _parse_row(fields: list[str]) -> ObligationRow | str:
    """The row, or the reason it is rejected."""
    if any("\udc80" <= ch <= "\udcff" for field in fields for ch in field):
        return "the row is not valid UTF-8"
    debtor, creditor, amount_text, currency = (field.strip() for field in fields)
    if not debtor:
        return "debtor is empty"
    if not creditor:
        return "creditor is empty"
    if debtor == creditor:
        return f"debtor and creditor are both {debtor!r}"
    if not _AMOUNT.fullmatch(amount_text):
        return (
            f"amount must be a positive integer in minor units (1250 for 12.50), "
            f"got {amount_text!r}"
        )
    amount = int(amount_text)
    if amount == 0:
        return "amount must be positive, got 0"
    if not _CURRENCY.fullmatch(currency):
        return f"currency must be an ISO 4217 code of three uppercase letters, got {currency!r}"
    return ObligationRow(debtor, creditor, amount, currency)


def plan_from_csv(
    path: str | os.PathLike[str] | IO[str], exact: bool = False
) -> tuple[dict[str, CurrencyResult], list[RejectedRow]]:
    """Read an obligations CSV and net it per currency: the ``netting plan`` command.

    Returns the JSON-ready result of :func:`net_by_currency` for the valid rows and the
    rejected rows with their line numbers.
    """
    rows, rejects = read_obligations_csv(path)
    return net_by_currency(rows, exact=exact), rejects


__all__ = [
    "CSV_COLUMNS",
    "EXACT_MAX_OPERATORS",
    "CurrencyResult",
    "NettingMetrics",
    "ObligationRow",
    "RejectedRow",
    "Transfer",
    "TransferRecord",
    "net_by_currency",
    "net_positions",
    "netting_metrics",
    "plan_from_csv",
    "plan_positions",
    "read_obligations_csv",
    "realises",
    "settlement_plan",
]
