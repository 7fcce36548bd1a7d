"""Reconciling an operator's billing export with the settlement ledger.

The billing export
------------------
A CSV file, UTF-8 (a byte-order mark is allowed), whose first line names the columns
(case-insensitive, in any order; other columns are ignored):

===========  ========  =================================================================
column       required  content
===========  ========  =================================================================
partner      yes       the other operator: its registry member code (TADIG such as
                       ``DEUD1`` or MCC-MNC such as ``26201``, case-insensitive) or its
                       ``0x`` account address
direction    yes       ``payable`` (we owe the partner: we are the debtor) or
                       ``receivable`` (the partner owes us: we are the creditor)
service      yes       ``interconnect``, ``roaming``, ``transit``, ``sms_termination``,
                       ``a2p_messaging``, ``data_transit``, ``signalling``, ``other``
                       (aliases ``voice``, ``sms``, ``a2p``, ``data``, ``ip_transit``), or
                       the code 1..8
period       yes       the billing month, ``YYYYMM`` (e.g. ``202501``)
currency     yes       ISO 4217 code in upper case (``EUR``)
amount       yes       a positive decimal in **major units** with at most the currency's
                       number of decimals: ``1234.56`` EUR is 123456 cents, ``1500`` JPY is
                       1500 yen, ``12.345`` KWD is 12345 fils.  No sign, no thousands
                       separator and no decimal comma (``1,234`` could be read two ways,
                       so it is refused)
reference    yes       the invoice or agreement number; the ledger stores its SHA-256
                       (:func:`ledger.settlement.reference_hash`) as ``externalRef``
volume       no        traffic volume (a decimal number), kept as evidence
unit         no        the volume's unit (``minutes``, ``sms``, ``MB``…)
===========  ========  =================================================================

A malformed row never stops the import: it is listed with its line number and the
reason (:class:`RejectedRow`) and every other row goes through.

Matching
--------
Each billing line is keyed by ``(partner, direction, service, period, currency,
reference hash)`` and looked up in a hash map of the ledger's live obligations
(proposed, confirmed or disputed) between this operator and its partners, keyed the same
way from this operator's side; matching is O(lines + obligations).  Labels
(:class:`Label`):

* ``matched``: the ledger holds the obligation with the same amount (detail ``exact``),
  or a difference within the tolerance (detail ``within_tolerance``, MEF's "partially
  matched");
* ``amount_mismatch``: the amounts differ by more than the tolerance;
* ``missing_on_ledger``: no ledger obligation has the line's key;
* ``missing_in_billing``: a live ledger obligation of this operator, in a period the file
  covers, that no billing line matched;
* ``duplicate``: the line repeats the key of an earlier line (detail ``of line N``); it
  is not matched again.

A difference is tolerated when it is at most ``--tolerance-abs`` minor units or at most
``--tolerance-pct`` percent of the billed amount (whichever allows more).

Acting on it
------------
:func:`plan_actions` turns a report into what this operator can do with its own key:
propose the ``missing_on_ledger`` lines, confirm the ``matched`` obligations awaiting its
confirmation (when a cycle is open for their currency), and dispute the
``amount_mismatch`` obligations awaiting it with reason ``amount_mismatch``;
:func:`apply_reconciliation` sends those in batches (or only plans them, ``dry_run``).

:func:`reconcile` is pure (no chain): it takes the parsed lines and a list of ledger
obligations, so it is unit-tested and fast (about 1.5 s of CPU for 100,000 lines, CSV
parsing included); :func:`reconcile_file` reads the file, the registry and the ledger
and calls it.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any, NamedTuple

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

from ledger._utils.addresses import to_address
from ledger.errors import LedgerValueError
from ledger.settlement import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    BatchResult,
    DisputeReason,
    LedgerObligation,
    Obligation,
    ObligationStatus,
    Progress,
    ServiceType,
    SettlementClient,
    evidence_hash,
    format_amount,
    hex32,
    parse_amount,
    parse_period,
)

REQUIRED_COLUMNS = ("partner", "direction", "service", "period", "currency", "amount", "reference")
OPTIONAL_COLUMNS = ("volume", "unit")
DIRECTIONS = ("payable", "receivable")
LIVE_STATUSES = frozenset(
    {ObligationStatus.PROPOSED, ObligationStatus.CONFIRMED, ObligationStatus.DISPUTED}
)

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_VOLUME = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)


class Label(enum.StrEnum):
    MATCHED = "matched"
    AMOUNT_MISMATCH = "amount_mismatch"
    MISSING_ON_LEDGER = "missing_on_ledger"
    MISSING_IN_BILLING = "missing_in_billing"
    DUPLICATE = "duplicate"


class RejectedRow(NamedTuple):
    """A billing row left out: its 1-based line number in the file and why."""

    line: int
    reason: str


Key = tuple[str, str, ServiceType, int, str, bytes]


class BillingLine(NamedTuple):
    """One valid line of a billing export, from this operator's side."""

    line: int
    partner: str
    partner_address: ChecksumAddress
    direction: str
    service: ServiceType
    period: int
    currency: str
    amount: int
    reference: str
    external_ref: bytes
    volume: str | None = None
    unit: str | None = None

    @property
    def key(self) -> Key:
        return (
            self.partner_address,
            self.direction,
            self.service,
            self.period,
            self.currency,
            self.external_ref,
        )

    def obligation(self, operator: str) -> Obligation:
        """The obligation this line describes, with ``operator`` on its ``direction`` side.

        Its evidence hash is SHA-256 of the line as exported (see :func:`line_evidence`).
        """
        me = to_address(operator, "operator")
        debtor, creditor = (
            (me, self.partner_address)
            if self.direction == "payable"
            else (self.partner_address, me)
        )
        return Obligation(
            debtor,
            creditor,
            self.currency,
            self.amount,
            self.service,
            self.period,
            self.external_ref,
            line_evidence(self),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "partner": self.partner,
            "partnerAddress": self.partner_address,
            "direction": self.direction,
            "service": self.service.label,
            "period": self.period,
            "currency": self.currency,
            "amount": self.amount,
            "reference": self.reference,
            "volume": self.volume,
            "unit": self.unit,
        }


def line_evidence(line: BillingLine) -> bytes:
    """SHA-256 of ``partner|direction|service|period|currency|amount|reference|volume|unit``
    (amount in minor units, service as its name, empty volume/unit as empty text)."""
    text = "|".join(
        (
            line.partner,
            line.direction,
            line.service.label,
            str(line.period),
            line.currency,
            str(line.amount),
            line.reference,
            line.volume or "",
            line.unit or "",
        )
    )
    return evidence_hash(text)


# -- partners -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerDirectory:
    """Who a billing file's ``partner`` column may name: registry members by code and by
    address.  ``inactive`` members (suspended, or without the OPERATOR role) are still
    recognised, but nothing is proposed to them."""

    by_code: Mapping[str, ChecksumAddress]
    codes: Mapping[ChecksumAddress, str]
    inactive: frozenset[ChecksumAddress] = frozenset()

    @classmethod
    def from_members(cls, members: Iterable[Any]) -> PartnerDirectory:
        """From :class:`ledger.registry.Member` values (anything with ``account``,
        ``code`` and ``has_role``)."""
        by_code: dict[str, ChecksumAddress] = {}
        codes: dict[ChecksumAddress, str] = {}
        inactive: set[ChecksumAddress] = set()
        for member in members:
            account = to_address(member.account)
            by_code[str(member.code).upper()] = account
            codes[account] = str(member.code)
            if not member.has_role("OPERATOR"):
                inactive.add(account)
        return cls(by_code, codes, frozenset(inactive))

    @classmethod
    def of(cls, codes: Mapping[str, str]) -> PartnerDirectory:
        """From a ``{code: address}`` mapping (tests, offline use)."""
        by_code = {c.upper(): to_address(a) for c, a in codes.items()}
        return cls(by_code, {a: c for c, a in zip(codes, by_code.values(), strict=True)})

    def resolve(self, text: str) -> ChecksumAddress:
        value = text.strip()
        if _ADDRESS.fullmatch(value):
            address = to_address(value, "partner")
            if address not in self.codes:
                raise LedgerValueError(f"partner {address} is not a member of the registry")
            return address
        found = self.by_code.get(value.upper())
        if found is None:
            raise LedgerValueError(
                f"partner {value!r} is neither a registry member code (TADIG or MCC-MNC) "
                "nor a 0x address"
            )
        return found

    def name(self, address: str) -> str:
        return self.codes.get(to_address(address), address)


# -- reading the billing export ---------------------------------------------------------------


@dataclass(frozen=True)
class BillingFile:
    """The valid lines of a billing export and the rows left out."""

    lines: tuple[BillingLine, ...]
    rejected: tuple[RejectedRow, ...]

    @property
    def periods(self) -> frozenset[int]:
        return frozenset(line.period for line in self.lines)


def read_billing_csv(
    source: str | os.PathLike[str] | IO[str], operator: str, partners: PartnerDirectory
) -> BillingFile:
    """Read a billing export (columns in the module docstring) for ``operator``.

    Raises :class:`LedgerValueError` only when the file cannot be used at all (cannot be
    opened, empty, a required column missing); bad rows are returned as rejects.
    """
    me = to_address(operator, "operator")
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        try:
            with open(name, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
                return _read_billing(handle, name, me, partners)
        except OSError as exc:
            raise LedgerValueError(
                f"cannot read {name}: {exc.strerror or exc}; check the path"
            ) from exc
    return _read_billing(source, getattr(source, "name", "the billing CSV"), me, partners)


class _Problem(str):
    """Why a row is rejected (a distinct type, so it never passes for a value)."""


class _RowParser:
    """Validates rows with per-value caches: a 100,000-line export repeats a few partners,
    services, periods and currencies."""

    def __init__(self, operator: ChecksumAddress, partners: PartnerDirectory) -> None:
        self.operator = operator
        self.partners = partners
        self._partner: dict[str, ChecksumAddress | _Problem] = {}
        self._service: dict[str, ServiceType | _Problem] = {}
        self._period: dict[str, int | _Problem] = {}

    def partner(self, text: str) -> ChecksumAddress | _Problem:
        found = self._partner.get(text)
        if found is None:
            if not text.strip():
                found = _Problem("partner is empty")
            else:
                try:
                    found = self.partners.resolve(text)
                except LedgerValueError as exc:
                    found = _Problem(exc)
                else:
                    if found == self.operator:
                        found = _Problem(f"partner {text.strip()!r} is this operator itself")
            self._partner[text] = found
        return found

    def service(self, text: str) -> ServiceType | _Problem:
        found = self._service.get(text)
        if found is None:
            try:
                found = ServiceType.parse(text)
            except LedgerValueError as exc:
                found = _Problem(exc)
            self._service[text] = found
        return found

    def period(self, text: str) -> int | _Problem:
        found = self._period.get(text)
        if found is None:
            try:
                found = parse_period(text)
            except LedgerValueError as exc:
                found = _Problem(exc)
            self._period[text] = found
        return found

    def parse(self, line: int, values: list[str], volume: str, unit: str) -> BillingLine | _Problem:
        if _SURROGATE.search("".join(values) + volume + unit):
            return _Problem("the row is not valid UTF-8")
        partner_text, direction, service_text, period_text, currency, amount_text, reference = (
            values
        )
        partner = self.partner(partner_text)
        if isinstance(partner, _Problem):
            return partner
        direction = direction.strip().lower()
        if direction not in DIRECTIONS:
            return _Problem(f"direction {direction!r} is neither payable nor receivable")
        service = self.service(service_text)
        if isinstance(service, _Problem):
            return service
        period = self.period(period_text)
        if isinstance(period, _Problem):
            return period
        currency = currency.strip()
        if currency not in CURRENCY_EXPONENTS:
            if currency.upper() in CURRENCY_EXPONENTS:
                return _Problem(
                    f"currency {currency!r} must be written in upper case: {currency.upper()}"
                )
            return _Problem(f"currency {currency!r} is not an ISO 4217 currency code such as EUR")
        exponent = CURRENCY_EXPONENTS[currency]
        plain = _DECIMAL.fullmatch(amount_text)
        decimals = plain.group(2) or "" if plain else ""
        if plain is not None and len(decimals) <= exponent:
            amount = int(plain.group(1) + decimals.ljust(exponent, "0"))
        else:
            amount = 0
        if not 0 < amount <= MAX_AMOUNT:  # the slow path names the problem
            try:
                amount = parse_amount(amount_text, currency)
            except LedgerValueError as exc:
                return _Problem(exc)
        reference = reference.strip()
        if not reference:
            return _Problem("reference is empty; give the invoice or agreement number")
        volume = volume.strip()
        if volume and not _VOLUME.fullmatch(volume):
            return _Problem(f"volume {volume!r} is not a decimal number")
        return BillingLine(
            line,
            partner_text.strip(),
            partner,
            direction,
            service,
            period,
            currency,
            amount,
            reference,
            hashlib.sha256(reference.encode("utf-8")).digest(),
            volume or None,
            unit.strip() or None,
        )


def _read_billing(
    handle: IO[str], name: str, operator: ChecksumAddress, partners: PartnerDirectory
) -> BillingFile:
    reader = csv.reader(handle)
    parser = _RowParser(operator, partners)
    header: list[str] | None = None
    columns: list[int] = []
    volume_at: int | None = None
    unit_at: int | None = None
    lines: list[BillingLine] = []
    rejected: list[RejectedRow] = []
    width = 0
    line_before = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejected.append(RejectedRow(line_before + 1, f"unreadable CSV: {exc}"))
            if reader.line_num == line_before:
                break
            line_before = reader.line_num
            continue
        line = line_before + 1
        line_before = reader.line_num
        if not "".join(fields).strip():
            continue
        if header is None:
            header = [f.strip().lower().lstrip("\ufeff") for f in fields]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise LedgerValueError(
                    f"{name}: the header lacks {', '.join(missing)}; the first line must name "
                    f"the columns {','.join(REQUIRED_COLUMNS)} (and optionally volume,unit)"
                )
            columns = [header.index(c) for c in REQUIRED_COLUMNS]
            volume_at = header.index("volume") if "volume" in header else None
            unit_at = header.index("unit") if "unit" in header else None
            width = len(header)
            continue
        if len(fields) != width:
            rejected.append(RejectedRow(line, f"expected {width} fields, found {len(fields)}"))
            continue
        parsed = parser.parse(
            line,
            [fields[i] for i in columns],
            fields[volume_at] if volume_at is not None else "",
            fields[unit_at] if unit_at is not None else "",
        )
        if isinstance(parsed, _Problem):
            rejected.append(RejectedRow(line, str(parsed)))
        else:
            lines.append(parsed)
    if header is None:
        raise LedgerValueError(
            f"{name} is empty; the first line must name the columns {','.join(REQUIRED_COLUMNS)}"
        )
    return BillingFile(tuple(lines), tuple(rejected))


# -- matching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How far a ledger amount may differ from the billed one and still count as matched:
    up to ``absolute`` minor units, or up to ``percent`` % of the billed amount."""

    absolute: int = 0
    percent: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.absolute.__class__ is not int or self.absolute < 0:
            raise LedgerValueError(
                f"absolute tolerance {self.absolute!r} must be a non-negative integer "
                "in minor units"
            )
        try:
            percent = Decimal(str(self.percent))
        except InvalidOperation:
            raise LedgerValueError(f"tolerance {self.percent!r} % is not a number") from None
        if not percent.is_finite() or percent < 0 or percent > 100:
            raise LedgerValueError(f"tolerance {self.percent} % must be between 0 and 100")
        object.__setattr__(self, "percent", percent)

    def allows(self, difference: int, billed: int) -> bool:
        gap = abs(difference)
        return gap <= self.absolute or gap * 100 <= self.percent * billed

    def to_json(self) -> dict[str, Any]:
        return {"absolute": self.absolute, "percent": str(self.percent)}


class ReconciliationItem(NamedTuple):
    """One outcome: a billing line and/or a ledger obligation, with its label."""

    label: Label
    detail: str
    partner: str
    partner_address: ChecksumAddress
    direction: str
    billing: BillingLine | None = None
    ledger: LedgerObligation | None = None

    @property
    def line(self) -> int | None:
        return self.billing.line if self.billing is not None else None

    @property
    def currency(self) -> str:
        if self.billing is not None:
            return self.billing.currency
        assert self.ledger is not None
        return self.ledger.obligation.currency

    @property
    def billing_amount(self) -> int | None:
        return self.billing.amount if self.billing is not None else None

    @property
    def ledger_amount(self) -> int | None:
        return self.ledger.obligation.amount if self.ledger is not None else None

    @property
    def difference(self) -> int | None:
        """Ledger minus billing, when both exist."""
        if self.billing is None or self.ledger is None:
            return None
        return self.ledger.obligation.amount - self.billing.amount

    def to_json(self) -> dict[str, Any]:
        billing, ledger = self.billing, self.ledger
        data: dict[str, Any] = {
            "label": self.label.value,
            "detail": self.detail,
            "line": self.line,
            "partner": self.partner,
            "partnerAddress": self.partner_address,
            "direction": self.direction,
        }
        if billing is not None:
            data.update(
                service=billing.service.label,
                period=billing.period,
                externalRef=hex32(billing.external_ref),
            )
        else:
            assert ledger is not None
            ob = ledger.obligation
            data.update(
                service=ob.service.label, period=ob.period, externalRef=hex32(ob.external_ref)
            )
        data.update(
            currency=self.currency,
            billingAmount=self.billing_amount,
            ledgerAmount=self.ledger_amount,
            difference=self.difference,
            reference=billing.reference if billing else None,
            obligationId=ledger.id if ledger else None,
            ledgerStatus=ledger.status.label if ledger else None,
            proposer=ledger.proposer if ledger else None,
        )
        return data


@dataclass
class Amounts:
    """Count and sums (minor units) of one currency."""

    count: int = 0
    billing: int = 0
    ledger: int = 0

    def add(self, item: ReconciliationItem) -> None:
        self.count += 1
        self.billing += item.billing_amount or 0
        self.ledger += item.ledger_amount or 0

    def to_json(self) -> dict[str, int]:
        return {"count": self.count, "billing": self.billing, "ledger": self.ledger}


@dataclass
class ReconciliationReport:
    """Every billing line and every in-scope ledger obligation, labelled."""

    operator: ChecksumAddress
    tolerance: Tolerance
    periods: tuple[int, ...]
    items: list[ReconciliationItem]
    rejected: list[RejectedRow] = field(default_factory=list)

    def by_label(self, label: Label | str) -> list[ReconciliationItem]:
        wanted = Label(label)
        return [item for item in self.items if item.label is wanted]

    def counts(self) -> dict[str, int]:
        """Items per label (every label present), and ``rejected`` rows."""
        counts = dict.fromkeys((label.value for label in Label), 0)
        for item in self.items:
            counts[item.label.value] += 1
        counts["rejected"] = len(self.rejected)
        return counts

    def totals_by_label(self) -> dict[str, dict[str, Amounts]]:
        """Per label (every label present), per currency: count, billed and ledger sums."""
        totals: dict[str, dict[str, Amounts]] = {label.value: {} for label in Label}
        for item in self.items:
            totals[item.label.value].setdefault(item.currency, Amounts()).add(item)
        return totals

    def totals_by_partner(self) -> dict[str, dict[str, Any]]:
        """Per partner: item count per label, and per currency count and sums."""
        totals: dict[str, dict[str, Any]] = {}
        for item in sorted(self.items, key=lambda i: i.partner):
            entry = totals.setdefault(
                item.partner,
                {"labels": dict.fromkeys((label.value for label in Label), 0), "amounts": {}},
            )
            entry["labels"][item.label.value] += 1
            entry["amounts"].setdefault(item.currency, Amounts()).add(item)
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "tolerance": self.tolerance.to_json(),
            "periods": list(self.periods),
            "counts": self.counts(),
            "totals": self.totals_json(),
            "items": [item.to_json() for item in self.items],
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
        }

    def totals_json(self) -> dict[str, Any]:
        """``{"byLabel": {label: {currency: {count, billing, ledger}}}, "byPartner":
        {partner: {"labels": {label: count}, "amounts": {currency: {...}}}}}``."""
        return {
            "byLabel": {
                label: {cur: a.to_json() for cur, a in sorted(by_cur.items())}
                for label, by_cur in self.totals_by_label().items()
            },
            "byPartner": {
                partner: {
                    "labels": entry["labels"],
                    "amounts": {cur: a.to_json() for cur, a in sorted(entry["amounts"].items())},
                }
                for partner, entry in self.totals_by_partner().items()
            },
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    CSV_COLUMNS = (
        "kind",
        "line",
        "label",
        "detail",
        "partner",
        "direction",
        "service",
        "period",
        "currency",
        "billing_amount",
        "ledger_amount",
        "difference",
        "count",
        "reference",
        "obligation_id",
        "ledger_status",
    )

    def to_csv(self) -> str:
        """One row per item (``kind`` item), per rejected row (``rejected``), per label and
        currency (``total_label``) and per partner and currency (``total_partner``).
        Amounts are decimals in major units, like the billing export."""
        out = io.StringIO()
        writer = csv.DictWriter(out, self.CSV_COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        for item in self.items:
            data = item.to_json()
            cur = item.currency
            writer.writerow(
                {
                    "kind": "item",
                    "line": data["line"] or "",
                    "label": data["label"],
                    "detail": data["detail"],
                    "partner": data["partner"],
                    "direction": data["direction"],
                    "service": data["service"],
                    "period": data["period"],
                    "currency": cur,
                    "billing_amount": _money(item.billing_amount, cur),
                    "ledger_amount": _money(item.ledger_amount, cur),
                    "difference": _money(item.difference, cur),
                    "reference": data["reference"] or "",
                    "obligation_id": data["obligationId"] or "",
                    "ledger_status": data["ledgerStatus"] or "",
                }
            )
        for row in self.rejected:
            writer.writerow({"kind": "rejected", "line": row.line, "detail": row.reason})
        totals: list[tuple[str, str, str, str, Amounts]] = [
            ("total_label", label, "", cur, amounts)
            for label, by_cur in self.totals_by_label().items()
            for cur, amounts in sorted(by_cur.items())
        ]
        totals += [
            ("total_partner", "", partner, cur, amounts)
            for partner, entry in self.totals_by_partner().items()
            for cur, amounts in sorted(entry["amounts"].items())
        ]
        for kind, label, partner, cur, amounts in totals:
            writer.writerow(
                {
                    "kind": kind,
                    "label": label,
                    "partner": partner,
                    "currency": cur,
                    "billing_amount": format_amount(amounts.billing, cur),
                    "ledger_amount": format_amount(amounts.ledger, cur),
                    "count": amounts.count,
                }
            )
        return out.getvalue()


def _money(value: int | None, currency: str) -> str:
    return "" if value is None else format_amount(value, currency)


def reconcile(
    lines: Sequence[BillingLine],
    ledger: Iterable[LedgerObligation],
    operator: str,
    *,
    tolerance: Tolerance | None = None,
    periods: Collection[int] | None = None,
    rejected: Sequence[RejectedRow] = (),
    partner_names: Callable[[str], str] | None = None,
) -> ReconciliationReport:
    """Label every billing line against the ledger, and every unmatched ledger obligation.

    ``ledger`` holds the ledger's obligations (any status; only proposed, confirmed and
    disputed ones count) — typically all those of ``operator``.  ``periods`` bounds the
    ``missing_in_billing`` scope (default: the periods of ``lines``).  ``partner_names``
    turns an address into the name shown for it (default: the address, or the code the
    billing file used).
    """
    me = to_address(operator, "operator")
    tol = tolerance or Tolerance()
    scope = frozenset(periods) if periods is not None else frozenset(ln.period for ln in lines)
    names: dict[str, str] = {}
    for ln in lines:
        names.setdefault(ln.partner_address, ln.partner)

    names_seen: dict[str, str] = {}

    def name(address: str) -> str:
        found = partner_names(address) if partner_names is not None else names.get(address)
        names_seen[address] = found or address
        return found or address

    index: dict[Key, list[LedgerObligation]] = defaultdict(list)
    in_scope: list[LedgerObligation] = []
    for entry in ledger:
        if entry.status not in LIVE_STATUSES:
            continue
        ob = entry.obligation
        if ob.debtor == me:
            partner, direction = ob.creditor, "payable"
        elif ob.creditor == me:
            partner, direction = ob.debtor, "receivable"
        else:
            continue
        key: Key = (partner, direction, ob.service, ob.period, ob.currency, ob.external_ref)
        index[key].append(entry)
        if ob.period in scope:
            in_scope.append(entry)

    items: list[ReconciliationItem] = []
    append = items.append
    first_line: dict[Key, int] = {}
    claimed: set[int] = set()  # id() of the ledger entries already matched
    # The hot loop of a 100,000-line export: tuple unpacking, local names, no calls
    # for the common case of exactly one candidate.
    for ln in lines:
        number, _, partner, direction, service, period, currency, amount, _, ref, _, _ = ln
        key = (partner, direction, service, period, currency, ref)
        shown = names_seen.get(partner) or name(partner)
        earlier = first_line.get(key)
        if earlier is not None:
            append(
                ReconciliationItem(
                    Label.DUPLICATE, f"of line {earlier}", shown, partner, direction, ln, None
                )
            )
            continue
        first_line[key] = number
        candidates = index.get(key)
        if candidates is None:
            match = None
        elif len(candidates) == 1:
            match = candidates[0] if id(candidates[0]) not in claimed else None
        else:
            match = _pick(candidates, amount, claimed)
        if match is None:
            append(
                ReconciliationItem(Label.MISSING_ON_LEDGER, "", shown, partner, direction, ln, None)
            )
            continue
        claimed.add(id(match))
        difference = match.obligation.amount - amount
        if difference == 0:
            label, detail = Label.MATCHED, "exact"
        elif tol.allows(difference, amount):
            label, detail = Label.MATCHED, "within_tolerance"
        else:
            label, detail = Label.AMOUNT_MISMATCH, ""
        append(ReconciliationItem(label, detail, shown, partner, direction, ln, match))

    for entry in in_scope:
        if id(entry) not in claimed:
            ob = entry.obligation
            partner = ob.other_party(me)
            direction = "payable" if ob.debtor == me else "receivable"
            items.append(
                ReconciliationItem(
                    Label.MISSING_IN_BILLING, "", name(partner), partner, direction, None, entry
                )
            )
    return ReconciliationReport(me, tol, tuple(sorted(scope)), items, list(rejected))


def _pick(
    candidates: list[LedgerObligation], amount: int, claimed: set[int]
) -> LedgerObligation | None:
    """The unclaimed candidate with the same amount, else the first unclaimed one."""
    first: LedgerObligation | None = None
    for entry in candidates:
        if id(entry) in claimed:
            continue
        if entry.obligation.amount == amount:
            return entry
        if first is None:
            first = entry
    return first


# -- acting on a report -----------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """An item the operator cannot act on now, and why."""

    item: ReconciliationItem
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.item.line,
            "label": self.item.label.value,
            "obligationId": self.item.ledger.id if self.item.ledger else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ReconciliationActions:
    """What this operator will do: propose, confirm, dispute; and what it cannot."""

    operator: ChecksumAddress
    propose: tuple[Obligation, ...]
    confirm: tuple[Obligation, ...]
    dispute: tuple[Obligation, ...]
    skipped: tuple[Skipped, ...]

    @property
    def count(self) -> int:
        """Obligations to send: proposals, confirmations and disputes."""
        return len(self.propose) + len(self.confirm) + len(self.dispute)

    def to_json(self) -> dict[str, Any]:
        return {
            "propose": [o.id for o in self.propose],
            "confirm": [o.id for o in self.confirm],
            "dispute": [o.id for o in self.dispute],
            "skipped": [s.to_json() for s in self.skipped],
        }


def plan_actions(
    report: ReconciliationReport,
    *,
    open_currencies: Collection[str] | None = None,
    inactive: Collection[str] = (),
) -> ReconciliationActions:
    """The actions a report calls for.

    * ``missing_on_ledger`` lines are proposed (not to ``inactive`` partners);
    * ``matched`` obligations proposed by the partner and still awaiting this operator are
      confirmed, if their currency is in ``open_currencies`` (None: assume all are open);
    * ``amount_mismatch`` obligations awaiting this operator are disputed
      (``amount_mismatch``); one this operator proposed itself, or already confirmed, is
      skipped with what to do instead.
    """
    me = report.operator
    propose: list[Obligation] = []
    confirm: list[Obligation] = []
    dispute: list[Obligation] = []
    skipped: list[Skipped] = []
    blocked = {to_address(a) for a in inactive}
    for item in report.items:
        ledger = item.ledger
        if item.label is Label.MISSING_ON_LEDGER and item.billing is not None:
            if item.billing.partner_address in blocked:
                skipped.append(
                    Skipped(
                        item,
                        f"partner {item.partner} is not an active operator; "
                        "nothing can be proposed to it",
                    )
                )
            else:
                propose.append(item.billing.obligation(me))
        elif item.label is Label.MATCHED and ledger is not None:
            if ledger.awaits(me):
                currency = ledger.obligation.currency
                if open_currencies is not None and currency not in open_currencies:
                    skipped.append(
                        Skipped(
                            item,
                            f"no {currency} settlement cycle is open; confirm it "
                            "once the clearing agent has opened one",
                        )
                    )
                else:
                    confirm.append(ledger.obligation)
        elif item.label is Label.AMOUNT_MISMATCH and ledger is not None:
            if ledger.awaits(me):
                dispute.append(ledger.obligation)
            elif ledger.status is ObligationStatus.PROPOSED:
                skipped.append(
                    Skipped(
                        item,
                        f"this operator proposed {ledger.id} with another amount; "
                        "withdraw it and propose the billed amount",
                    )
                )
            elif ledger.status is ObligationStatus.CONFIRMED:
                skipped.append(
                    Skipped(
                        item,
                        f"{ledger.id} is already confirmed; offset the difference "
                        "with a new, opposite obligation",
                    )
                )
    return ReconciliationActions(me, tuple(propose), tuple(confirm), tuple(dispute), tuple(skipped))


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_reconciliation` did (or, with ``dry_run``, would do)."""

    actions: ReconciliationActions
    dry_run: bool
    proposed: BatchResult | None = None
    confirmed: BatchResult | None = None
    disputed: BatchResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "planned": self.actions.to_json(),
            "proposed": self.proposed.to_json() if self.proposed else None,
            "confirmed": self.confirmed.to_json() if self.confirmed else None,
            "disputed": self.disputed.to_json() if self.disputed else None,
        }


def planned_actions(
    client: SettlementClient, report: ReconciliationReport, *, inactive: Collection[str] = ()
) -> ReconciliationActions:
    """:func:`plan_actions` knowing which currencies have an open cycle on the ledger."""
    currencies = {item.currency for item in report.items}
    open_currencies = {c for c in currencies if client.open_cycle_of(c)}
    return plan_actions(report, open_currencies=open_currencies, inactive=inactive)


def apply_reconciliation(
    client: SettlementClient,
    account: LocalAccount,
    report: ReconciliationReport,
    *,
    dry_run: bool = False,
    actions: ReconciliationActions | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
    inactive: Collection[str] = (),
) -> ApplyResult:
    """Propose the missing, confirm the matched and dispute the mismatched obligations.

    ``account`` must be the report's operator.  ``actions`` defaults to
    :func:`planned_actions` (confirmations wait for an open cycle of their currency).
    ``progress(done, total)`` counts obligations over the three phases.  With ``dry_run``
    nothing is sent.
    """
    if account.address != report.operator:
        raise LedgerValueError(
            f"the report reconciles {report.operator} but the key is {account.address}; "
            "sign with the operator's own key"
        )
    if actions is None:
        actions = planned_actions(client, report, inactive=inactive)
    if dry_run:
        return ApplyResult(actions, True)
    total = actions.count
    offset = 0

    def phase(start: int) -> Progress | None:
        if progress is None:
            return None
        return lambda done, _total: progress(start + done, total)

    proposed = confirmed = disputed = None
    if actions.propose:
        proposed = client.propose_batch(
            account, actions.propose, batch_size=batch_size, progress=phase(offset)
        )
        offset += len(actions.propose)
    if actions.confirm:
        confirmed = client.confirm_batch(
            account, actions.confirm, batch_size=batch_size, progress=phase(offset)
        )
        offset += len(actions.confirm)
    if actions.dispute:
        disputed = client.dispute_batch(
            account,
            actions.dispute,
            DisputeReason.AMOUNT_MISMATCH,
            batch_size=batch_size,
            progress=phase(offset),
        )
    return ApplyResult(actions, False, proposed, confirmed, disputed)


def reconcile_file(
    client: SettlementClient,
    operator: str,
    source: str | os.PathLike[str] | IO[str],
    partners: PartnerDirectory,
    *,
    tolerance: Tolerance | None = None,
) -> ReconciliationReport:
    """Read a billing export, the ledger obligations of ``operator`` in the periods it
    covers, and reconcile them."""
    me = to_address(operator, "operator")
    billing = read_billing_csv(source, me, partners)
    ledger = [
        entry
        for entry in client.obligations(party=me)
        if entry.obligation.period in billing.periods
    ]
    return reconcile(
        billing.lines,
        ledger,
        me,
        tolerance=tolerance,
        periods=billing.periods,
        rejected=billing.rejected,
        partner_names=partners.name,
    )


__all__ = [
    "DIRECTIONS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ApplyResult",
    "BillingFile",
    "BillingLine",
    "Label",
    "PartnerDirectory",
    "ReconciliationActions",
    "ReconciliationItem",
    "ReconciliationReport",
    "RejectedRow",
    "Skipped",
    "Tolerance",
    "apply_reconciliation",
    "line_evidence",
    "plan_actions",
    "planned_actions",
    "read_billing_csv",
    "reconcile",
    "reconcile_file",
]
