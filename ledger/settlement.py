"""A typed client for ``SettlementLedger``: obligations, settlement cycles and their plans.

Values
    :class:`Obligation` is the full record of an obligation (the contract's ``Obligation``
    struct plus its salt).  Its :attr:`~Obligation.id` is computed here exactly as the
    contract's pure ``obligationId`` does: ``keccak256(abi.encode(debtor, creditor,
    currency, amount, serviceType, period, externalRef, evidenceHash, salt))``.  The salt
    defaults to 32 zero bytes, so the same record always has the same id and proposing it
    twice is refused as a duplicate; give a salt only to record two obligations whose
    fields are all equal.

    Amounts are integers in minor units (cents for EUR, yen for JPY); currencies are ISO
    4217 alphabetic codes (:data:`CURRENCY_EXPONENTS` lists them with their minor-unit
    exponents; XDR, which ISO lists without one, counts with 2); periods are ``YYYYMM``
    integers; services are :class:`ServiceType` codes.

    ``externalRef`` is :func:`reference_hash` of the invoice or agreement number:
    SHA-256 of its UTF-8 text with surrounding blanks removed (case kept), so both
    parties derive the same 32 bytes from the same invoice number, and
    ``sha256sum`` / ``openssl dgst -sha256`` reproduce it (``printf %s INV-1 | sha256sum``).
    ``evidenceHash`` is :func:`file_hash`, SHA-256 of a supporting file's bytes (a CDR
    summary, a usage report), or :func:`evidence_hash` of any text.

Actions
    take the sender's :class:`LocalAccount`, sign locally through
    :mod:`ledger.transactions`, and return a :class:`BatchResult` (obligations) or a
    :class:`CycleResult` (cycles).  ``propose_batch`` / ``confirm_batch`` /
    ``dispute_batch`` split long lists into transactions of at most the contract's
    ``MAX_BATCH_SIZE`` records and report progress through an optional callback.

Reverts
    come out as :class:`~ledger.errors.ContractRevertError` whose message is one sentence
    naming what is wrong and what to do (:func:`explain`); every ``SettlementLedger``
    custom error has one.

Events
    are read with ``eth_getLogs`` in block ranges of :data:`LOG_BLOCK_RANGE` and decoded
    here; :meth:`SettlementClient.obligations` folds them into the current state of every
    obligation (:class:`LedgerObligation`).
"""

from __future__ import annotations

import enum
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector, keccak
from eth_utils import to_checksum_address as _checksum
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from ledger._utils.addresses import to_address
from ledger._utils.revert import with_sentence
from ledger.artifacts import load_artifact
from ledger.chain import Chain
from ledger.errors import ContractRevertError, LedgerError, LedgerValueError
from ledger.netting import settlement_plan
from ledger.transactions import (
    SentTransaction,
    call,
    revert_from_exception,
    send_transaction,
)

CONTRACT_NAME = "SettlementLedger"
ZERO_BYTES32 = bytes(32)
MAX_AMOUNT = 2**96 - 1
MAX_TRANSFER_AMOUNT = 2**128 - 1
#: Block span of one ``eth_getLogs`` request (nodes such as Besu cap the range).
LOG_BLOCK_RANGE = 5_000
#: Records per batch transaction unless the caller asks otherwise (the contract allows
#: up to its MAX_BATCH_SIZE; 100 keeps a batch near 3 M gas).
DEFAULT_BATCH_SIZE = 100

T = TypeVar("T")
#: ``progress(done, total)`` after each batch transaction.
Progress = Callable[[int, int], None]


# -- currencies, amounts, periods, hashes -------------------------------------------------


def _codes(text: str) -> list[str]:
    return text.split()


#: ISO 4217 alphabetic codes in use, with their minor-unit exponents (digits after the
#: decimal point).  Precious metals, bond units and test codes are left out; XDR (special
#: drawing rights, the GSMA's roaming unit) counts with 2 decimals.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        _codes(
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD "
            "BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD "
            "EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR "
            "IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP "
            "MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN "
            "QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
            "THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG XDR YER "
            "ZAR ZMW ZWG ZWL"
        ),
        2,
    ),
    **dict.fromkeys(
        _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_codes("CLF UYW"), 4),
}

_PERIOD = re.compile(r"[0-9]{6}")
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")


def check_currency(currency: object) -> str:
    """``currency`` as a known ISO 4217 code, or a LedgerValueError saying what to give."""
    if isinstance(currency, bytes):
        currency = decode_currency(currency)
    if isinstance(currency, str):
        if currency in CURRENCY_EXPONENTS:
            return currency
        text = currency.strip()
        if text in CURRENCY_EXPONENTS:
            return text
        if text.upper() in CURRENCY_EXPONENTS:
            raise LedgerValueError(
                f"currency {currency!r} must be written in upper case: {text.upper()}"
            )
    raise LedgerValueError(
        f"currency {currency!r} is not an ISO 4217 currency code; "
        "give three upper-case letters such as EUR, USD or XDR"
    )


def encode_currency(currency: str) -> bytes:
    """An ISO 4217 code as the contract's ``bytes3``."""
    return check_currency(currency).encode("ascii")


def decode_currency(raw: bytes) -> str:
    """The contract's ``bytes3`` as text (unchecked: it is what the chain holds)."""
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency``'s minor unit (EUR 2, JPY 0, KWD 3)."""
    return CURRENCY_EXPONENTS[check_currency(currency)]


def parse_amount(text: str, currency: str) -> int:
    """A decimal amount in major units (``"1234.56"`` EUR) as integer minor units (123456).

    Only digits with an optional ``.`` and at most the currency's number of decimals are
    accepted: no sign, no thousands separator, no decimal comma (``"1,234"`` could mean
    either), so an amount can never be read two ways.  Zero is refused.
    """
    exponent = currency_exponent(currency)
    value = text.strip() if isinstance(text, str) else str(text)
    match = _DECIMAL.fullmatch(value)
    if match is None:
        if value.startswith("-"):
            raise LedgerValueError(f"amount {value!r} is negative; amounts must be positive")
        if "," in value:
            raise LedgerValueError(
                f"amount {value!r} contains a comma, which could be a thousands separator "
                "or a decimal comma; write it with a decimal point and no separators (1234.56)"
            )
        raise LedgerValueError(
            f"amount {value!r} is not a decimal number in major units such as 1234.56"
        )
    whole, decimals = match.group(1), match.group(2) or ""
    if len(decimals) > exponent:
        raise LedgerValueError(
            f"amount {value!r} has {_decimals(len(decimals))} but {currency} has "
            f"{_decimals(exponent)}; round it to the currency's minor unit"
        )
    minor = int(whole) * 10**exponent + (int(decimals.ljust(exponent, "0")) if exponent else 0)
    if minor == 0:
        raise LedgerValueError(f"amount {value!r} is zero; amounts must be positive")
    return check_amount(minor)


def _decimals(count: int) -> str:
    return f"{count} decimal" if count == 1 else f"{count} decimals"


def format_amount(minor: int, currency: str) -> str:
    """Integer minor units as a decimal in major units: 123456 EUR -> ``"1234.56"``."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    if not exponent:
        return sign + digits
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def check_amount(amount: object) -> int:
    """A positive integer amount in minor units that fits the contract (below 2**96)."""
    if amount.__class__ is not int:
        raise LedgerValueError(
            f"amount {amount!r} must be an integer in minor units (1250 for 12.50)"
        )
    assert isinstance(amount, int)
    if amount <= 0:
        raise LedgerValueError(f"amount must be positive, got {amount}")
    if amount > MAX_AMOUNT:
        raise LedgerValueError(f"amount {amount} is too large: the ledger holds below 2**96")
    return amount


def parse_period(value: object) -> int:
    """A billing period ``YYYYMM`` (year 1970..9999, month 01..12) as an int."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not _PERIOD.fullmatch(text) or not (int(text[:4]) >= 1970 and 1 <= int(text[4:]) <= 12):
        raise LedgerValueError(
            f"period {value!r} is not a billing month YYYYMM (e.g. 202501, "
            "year 1970..9999, month 01..12)"
        )
    return int(text)


def reference_hash(reference: str) -> bytes:
    """``externalRef`` of an invoice or agreement number: SHA-256 of its stripped UTF-8 text."""
    text = reference.strip()
    if not text:
        raise LedgerValueError("the reference is empty; give the invoice or agreement number")
    return hashlib.sha256(text.encode("utf-8")).digest()


def evidence_hash(text: str | bytes) -> bytes:
    """``evidenceHash`` of any evidence given inline: SHA-256 of its bytes (text as UTF-8)."""
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).digest()


def file_hash(path: str | Path) -> bytes:
    """``evidenceHash`` of a supporting file: SHA-256 of its bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise LedgerValueError(f"cannot read evidence file {path}: {exc.strerror}") from exc
    return digest.digest()


def to_bytes32(value: str | bytes, what: str = "value") -> bytes:
    """32 bytes given as bytes or as 0x followed by 64 hex digits."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise LedgerValueError(f"{what} must be 32 bytes, got {len(value)}")
        return value
    text = value.strip()
    if not _HEX32.fullmatch(text):
        raise LedgerValueError(f"{what} {value!r} is not 0x followed by 64 hex digits")
    return bytes.fromhex(text[2:])


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def obligation_id_hex(value: str | bytes) -> str:
    """An obligation id given as bytes or hex, as ``0x`` + 64 lower-case hex digits."""
    return hex32(to_bytes32(value, "obligation id"))


def payment_ref(value: str | bytes) -> bytes:
    """A payment reference as ``bytes32``: 0x + 64 hex digits as is, other text hashed."""
    if isinstance(value, bytes):
        return to_bytes32(value, "payment reference")
    text = value.strip()
    if _HEX32.fullmatch(text):
        return bytes.fromhex(text[2:])
    return reference_hash(text)


def _when(seconds: Any) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- enums --------------------------------------------------------------------------------


class _Labelled(enum.IntEnum):
    """A contract enum whose ``label`` is its lower-case name, as the UI shows it."""

    @property
    def label(self) -> str:
        return self.name.lower()


class ServiceType(_Labelled):
    """The contract's service type codes (ISettlementLedger)."""

    INTERCONNECT = 1  # voice interconnect
    ROAMING = 2
    TRANSIT = 3
    SMS_TERMINATION = 4
    A2P_MESSAGING = 5
    DATA_TRANSIT = 6  # data / IP transit
    SIGNALLING = 7
    OTHER = 8

    @classmethod
    def parse(cls, value: object) -> ServiceType:
        """A service from its name (``roaming``, ``sms_termination``, aliases such as
        ``voice``, ``sms``, ``a2p``, ``ip_transit``) or its code (``2``)."""
        if isinstance(value, ServiceType):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str):
            key = value.strip().lower().replace("-", "_").replace(" ", "_")
            if key.isdigit():
                return cls.parse(int(key))
            found = _SERVICE_ALIASES.get(key)
            if found is not None:
                return found
        known = ", ".join(s.label for s in cls)
        raise LedgerValueError(f"service {value!r} is unknown: use one of {known} (or 1..8)")


_SERVICE_ALIASES: dict[str, ServiceType] = {
    **{s.label: s for s in ServiceType},
    "voice": ServiceType.INTERCONNECT,
    "voice_interconnect": ServiceType.INTERCONNECT,
    "sms": ServiceType.SMS_TERMINATION,
    "a2p": ServiceType.A2P_MESSAGING,
    "a2p_sms": ServiceType.A2P_MESSAGING,
    "data": ServiceType.DATA_TRANSIT,
    "ip_transit": ServiceType.DATA_TRANSIT,
    "signaling": ServiceType.SIGNALLING,
}


class DisputeReason(_Labelled):
    """Ledgerline's dispute reason codes (the contract accepts any non-zero ``uint16``)."""

    AMOUNT_MISMATCH = 1
    NOT_RECOGNISED = 2  # no such traffic or invoice in our records
    DUPLICATE = 3
    WRONG_PERIOD = 4
    WRONG_RATE = 5
    WRONG_SERVICE = 6
    MISSING_EVIDENCE = 7
    OTHER = 99

    @classmethod
    def parse(cls, value: object) -> int:
        """A reason code from its name (``amount_mismatch``) or any code 1..65535."""
        if isinstance(value, DisputeReason):
            return value
        text = value.strip().lower().replace("-", "_") if isinstance(value, str) else value
        if isinstance(text, str) and text.isdigit():
            text = int(text)
        if isinstance(text, int) and not isinstance(text, bool):
            if 1 <= text <= 0xFFFF:
                return cls(text) if text in cls._value2member_map_ else text
        elif isinstance(text, str) and text.upper() in cls.__members__:
            return cls[text.upper()]
        known = ", ".join(r.label for r in cls)
        raise LedgerValueError(
            f"dispute reason {value!r} is unknown: use one of {known} or 1..65535"
        )


def reason_label(code: int) -> str:
    return DisputeReason(code).label if code in DisputeReason._value2member_map_ else str(code)


class ObligationStatus(_Labelled):
    NONE = 0
    PROPOSED = 1
    CONFIRMED = 2
    DISPUTED = 3
    WITHDRAWN = 4
    AMENDED = 5


class CycleStatus(_Labelled):
    NONE = 0
    OPEN = 1
    CLOSED = 2
    PLANNED = 3
    CONFIRMED = 4
    SETTLED = 5


class TransferStatus(_Labelled):
    NONE = 0
    PLANNED = 1
    PAID = 2
    RECEIVED = 3


# -- records ------------------------------------------------------------------------------


def _word_address(value: str) -> bytes:
    return bytes(12) + bytes.fromhex(value[2:])


@dataclass(frozen=True)
class Obligation:
    """The full record of an obligation: ``debtor`` owes ``amount`` minor units of
    ``currency`` to ``creditor`` for ``service`` in billing ``period``.

    The constructor checks every field as the contract will (use :meth:`create` to build
    one from text: codes, decimal amounts, invoice numbers).
    """

    debtor: ChecksumAddress
    creditor: ChecksumAddress
    currency: str
    amount: int
    service: ServiceType
    period: int
    external_ref: bytes = ZERO_BYTES32
    evidence_hash: bytes = ZERO_BYTES32
    salt: bytes = ZERO_BYTES32

    def __post_init__(self) -> None:
        if self.debtor == self.creditor:
            raise LedgerValueError(
                f"the debtor and the creditor are both {self.debtor}; "
                "an obligation needs two different operators"
            )
        check_currency(self.currency)
        check_amount(self.amount)
        if self.service.__class__ is not ServiceType:
            object.__setattr__(self, "service", ServiceType.parse(self.service))
        if (
            self.period.__class__ is not int
            or not 197001 <= self.period <= 999912
            or not 1 <= self.period % 100 <= 12
        ):
            parse_period(self.period)
        for name in ("external_ref", "evidence_hash", "salt"):
            value = getattr(self, name)
            if value.__class__ is not bytes or len(value) != 32:
                object.__setattr__(self, name, to_bytes32(value, name.replace("_", " ")))

    @classmethod
    def create(
        cls,
        debtor: str,
        creditor: str,
        currency: str,
        amount: int,
        service: ServiceType | str | int,
        period: int | str,
        *,
        reference: str | None = None,
        external_ref: bytes | str | None = None,
        evidence: bytes | str | None = None,
        evidence_file: str | Path | None = None,
        salt: bytes | str | None = None,
    ) -> Obligation:
        """Build a checked obligation from loose inputs.

        ``amount`` is in minor units; ``reference`` (an invoice number) is hashed with
        :func:`reference_hash` unless ``external_ref`` gives the 32 bytes;
        ``evidence_file`` is hashed with :func:`file_hash`, ``evidence`` is 32 bytes (or
        0x-hex).
        """
        if reference is not None and external_ref is not None:
            raise LedgerValueError("give either a reference or an external_ref, not both")
        ref = (
            reference_hash(reference)
            if reference is not None
            else to_bytes32(external_ref, "external reference")
            if external_ref is not None
            else ZERO_BYTES32
        )
        if evidence is not None and evidence_file is not None:
            raise LedgerValueError("give either evidence or an evidence_file, not both")
        proof = (
            file_hash(evidence_file)
            if evidence_file is not None
            else to_bytes32(evidence, "evidence hash")
            if evidence is not None
            else ZERO_BYTES32
        )
        return cls(
            debtor=to_address(debtor, "debtor"),
            creditor=to_address(creditor, "creditor"),
            currency=check_currency(currency),
            amount=check_amount(amount),
            service=ServiceType.parse(service),
            period=parse_period(period),
            external_ref=ref,
            evidence_hash=proof,
            salt=to_bytes32(salt, "salt") if salt is not None else ZERO_BYTES32,
        )

    @cached_property
    def id_bytes(self) -> bytes:
        """``obligationId(record, salt)``: keccak256 of the ABI encoding, computed locally."""
        return keccak(
            b"".join(
                (
                    _word_address(self.debtor),
                    _word_address(self.creditor),
                    self.currency.encode("ascii").ljust(32, b"\0"),
                    self.amount.to_bytes(32, "big"),
                    int(self.service).to_bytes(32, "big"),
                    self.period.to_bytes(32, "big"),
                    self.external_ref,
                    self.evidence_hash,
                    self.salt,
                )
            )
        )

    @property
    def id(self) -> str:
        """The obligation id as 0x-hex."""
        return hex32(self.id_bytes)

    def as_abi(self) -> tuple[Any, ...]:
        """The contract's ``Obligation`` struct (without the salt)."""
        return (
            self.debtor,
            self.creditor,
            self.currency.encode("ascii"),
            self.amount,
            int(self.service),
            self.period,
            self.external_ref,
            self.evidence_hash,
        )

    def party_role(self, account: str) -> Literal["debtor", "creditor"] | None:
        if account == self.debtor:
            return "debtor"
        if account == self.creditor:
            return "creditor"
        return None

    def other_party(self, account: str) -> ChecksumAddress:
        """The party that is not ``account``."""
        return self.creditor if account == self.debtor else self.debtor

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "debtor": self.debtor,
            "creditor": self.creditor,
            "currency": self.currency,
            "amount": self.amount,
            "amountText": format_amount(self.amount, self.currency),
            "service": self.service.label,
            "serviceType": int(self.service),
            "period": self.period,
            "externalRef": hex32(self.external_ref),
            "evidenceHash": hex32(self.evidence_hash),
            "salt": hex32(self.salt),
        }


@dataclass(frozen=True)
class ObligationState:
    """What the contract stores of an obligation (one slot)."""

    status: ObligationStatus
    proposed_by_debtor: bool
    amount: int
    cycle_id: int

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.label,
            "proposedByDebtor": self.proposed_by_debtor,
            "amount": self.amount,
            "cycleId": self.cycle_id or None,
        }


@dataclass
class LedgerObligation:
    """An obligation as the ledger's events tell it: the record, who proposed it, and
    where it stands now."""

    obligation: Obligation
    proposer: ChecksumAddress
    status: ObligationStatus
    block_number: int
    tx_hash: str
    cycle_id: int | None = None
    dispute_reason: int | None = None
    amended_by: str | None = None
    amends: str | None = None

    @property
    def id(self) -> str:
        return self.obligation.id

    @property
    def counterparty(self) -> ChecksumAddress:
        """The party that confirms or disputes: the one that did not propose."""
        return self.obligation.other_party(self.proposer)

    def awaits(self, account: str) -> bool:
        """Whether ``account`` must still confirm or dispute it."""
        return self.status is ObligationStatus.PROPOSED and self.counterparty == account

    def to_json(self) -> dict[str, Any]:
        return {
            **self.obligation.to_json(),
            "proposer": self.proposer,
            "counterparty": self.counterparty,
            "status": self.status.label,
            "cycleId": self.cycle_id,
            "disputeReason": reason_label(self.dispute_reason) if self.dispute_reason else None,
            "disputeReasonCode": self.dispute_reason,
            "amendedBy": self.amended_by,
            "amends": self.amends,
            "block": self.block_number,
            "txHash": self.tx_hash,
        }


@dataclass(frozen=True)
class Cycle:
    """A settlement cycle as the contract reports it."""

    id: int
    currency: str
    status: CycleStatus
    cutoff: datetime
    obligation_count: int
    gross_value: int
    participant_count: int
    transfer_count: int
    pending_positions: int
    outstanding_transfers: int
    net_value: int

    @property
    def saving_pct(self) -> float:
        """Liquidity saved by netting, once the plan exists (0.0 before)."""
        if not self.gross_value or self.status < CycleStatus.PLANNED:
            return 0.0
        return round((1 - self.net_value / self.gross_value) * 100, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "currency": self.currency,
            "status": self.status.label,
            "cutoff": self.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "obligationCount": self.obligation_count,
            "grossValue": self.gross_value,
            "participantCount": self.participant_count,
            "transferCount": self.transfer_count,
            "pendingPositions": self.pending_positions,
            "outstandingTransfers": self.outstanding_transfers,
            "netValue": self.net_value,
            "savingPct": self.saving_pct,
        }


@dataclass(frozen=True)
class PlanTransfer:
    """Transfer ``index`` of a cycle's plan: ``payer`` pays ``amount`` to ``payee``."""

    cycle_id: int
    index: int
    payer: ChecksumAddress
    payee: ChecksumAddress
    amount: int
    status: TransferStatus = TransferStatus.PLANNED

    def to_json(self) -> dict[str, Any]:
        return {
            "cycleId": self.cycle_id,
            "index": self.index,
            "payer": self.payer,
            "payee": self.payee,
            "amount": self.amount,
            "status": self.status.label,
        }


@dataclass(frozen=True)
class Receipt:
    """One mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int

    @classmethod
    def of(cls, sent: SentTransaction) -> Receipt:
        return cls(sent.tx_hash, sent.block_number, sent.gas_used)

    def to_json(self) -> dict[str, Any]:
        return {"txHash": self.tx_hash, "block": self.block_number, "gasUsed": self.gas_used}


@dataclass(frozen=True)
class BatchResult:
    """The obligations an action touched (ids in order) and its transactions."""

    ids: tuple[str, ...]
    receipts: tuple[Receipt, ...]

    @property
    def gas_used(self) -> int:
        return sum(r.gas_used for r in self.receipts)

    def to_json(self) -> dict[str, Any]:
        return {
            "ids": list(self.ids),
            "count": len(self.ids),
            "transactions": [r.to_json() for r in self.receipts],
            "gasUsed": self.gas_used,
        }


@dataclass(frozen=True)
class CycleResult:
    """A cycle after a cycle action, the action's transaction, and the plan if any."""

    cycle: Cycle
    receipt: Receipt
    transfers: tuple[PlanTransfer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {**self.cycle.to_json(), **self.receipt.to_json()}
        if self.transfers:
            data["transfers"] = [t.to_json() for t in self.transfers]
        return data


@dataclass(frozen=True)
class SettlementEvent:
    """One decoded SettlementLedger event."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.name,
            "args": {k: hex32(v) if isinstance(v, bytes) else v for k, v in self.args.items()},
            "block": self.block_number,
            "txHash": self.tx_hash,
            "logIndex": self.log_index,
        }


# -- revert sentences ---------------------------------------------------------------------


def _b32(value: Any) -> str:
    return hex32(value) if isinstance(value, bytes) else str(value)


def _status_name(enum_type: type[enum.IntEnum], value: Any) -> str:
    try:
        return enum_type(int(value)).name.lower()
    except ValueError:
        return str(value)


def _role(value: Any) -> str:
    for name in ("OPERATOR", "CLEARING_AGENT", "AUDITOR", "GOVERNOR", "ANCHORER"):
        if isinstance(value, bytes) and keccak(text=name) == bytes(value):
            return name
    return _b32(value)


_CYCLE_HINTS = {
    "open": "close it first (`ledgerline cycles close {id}`)",
    "closed": "submit its settlement plan first (`ledgerline cycles plan {id}`)",
    "planned": "every operator with a non-zero position must first confirm it "
    "(`ledgerline cycles confirm {id}`)",
    "confirmed": "its positions are confirmed and its payments are under way",
    "settled": "it is already settled",
}


def _cycle_status(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    status = _status_name(CycleStatus, a["status"])
    action = ctx.get("action", "this step")
    hint = _CYCLE_HINTS.get(status, "").format(id=a["cycleId"])
    return f"cycle {a['cycleId']} is {status}, so {action} is not possible now" + (
        f"; {hint}" if hint else ""
    )


def _obligation_status(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    status = _status_name(ObligationStatus, a["status"])
    ident = _b32(a["obligationId"])
    action = ctx.get("action", "change")
    if status == "confirmed":
        return (
            f"obligation {ident} is already confirmed, so it cannot be {action}d: a confirmed "
            "obligation is final and can only be offset by a new, opposite obligation"
        )
    allowed = {
        "confirm": "only a proposed obligation can be confirmed",
        "dispute": "only a proposed obligation can be disputed",
        "withdraw": "only a proposed or disputed obligation can be withdrawn",
        "amend": "only a disputed obligation can be amended",
    }.get(action, "this step does not apply to it")
    return f"obligation {ident} is {status}, so it cannot be {action}d; {allowed}"


def _counterparty(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    ident = _b32(a["obligationId"])
    who = ctx.get("counterparty")
    action = ctx.get("action", "confirm or dispute")
    if who:
        return f"only the counterparty {who} can {action} obligation {ident}, not {a['caller']}"
    return (
        f"only the counterparty of the proposer can {action} obligation {ident}; "
        f"{a['caller']} is not"
    )


def _proposer(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    ident = _b32(a["obligationId"])
    who = ctx.get("proposer")
    action = ctx.get("action", "withdraw or amend")
    if who:
        return f"only the proposer {who} can {action} obligation {ident}, not {a['caller']}"
    return f"only the proposer can {action} obligation {ident}; {a['caller']} is not"


def _not_member(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    account = a["account"]
    if ctx.get("member_status") == "suspended":
        return (
            f"{account} is suspended in the operator registry; a suspended member cannot act "
            "on the settlement ledger until the governors reinstate it"
        )
    if ctx.get("member_status") == "none":
        return (
            f"{account} is not a member of the operator registry; only active members act on "
            "the settlement ledger: ask the governors to admit it"
        )
    return (
        f"{account} is not an active member of the operator registry (never admitted, or "
        "suspended); only active members act on the settlement ledger"
    )


def _not_payer(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    who = f" {ctx['payer']}" if ctx.get("payer") else ""
    return (
        f"only the payer{who} of transfer {a['index']} of cycle {a['cycleId']} can mark it "
        f"paid, not {a['caller']}"
    )


def _not_payee(a: dict[str, Any], ctx: dict[str, Any]) -> str:
    who = f" {ctx['payee']}" if ctx.get("payee") else ""
    return (
        f"only the payee{who} of transfer {a['index']} of cycle {a['cycleId']} can confirm "
        f"its receipt, not {a['caller']}"
    )


_Sentence = Callable[[dict[str, Any], dict[str, Any]], str]

_SENTENCES: dict[str, _Sentence] = {
    "SettlementLedgerNotActiveMember": _not_member,
    "SettlementLedgerMissingRole": lambda a, c: (
        f"{a['account']} is an active member but lacks the {_role(a['role'])} role this step "
        "needs; ask the governors to grant it"
    ),
    "SettlementLedgerCounterpartyNotOperator": lambda a, c: (
        f"counterparty {a['counterparty']} is not an active operator in the registry (not a "
        "member, suspended, or without the OPERATOR role), so it cannot owe or be owed"
    ),
    "SettlementLedgerNotAParty": lambda a, c: (
        f"{a['caller']} is neither the debtor {a['debtor']} nor the creditor {a['creditor']}; "
        "an operator proposes only obligations it is party to"
    ),
    "SettlementLedgerSameParty": lambda a, c: (
        f"the debtor and the creditor are both {a['party']}; "
        "an obligation needs two different operators"
    ),
    "SettlementLedgerInvalidCurrency": lambda a, c: (
        f"currency {decode_currency(a['currency'])!r} is not three upper-case letters "
        "(ISO 4217); give a code such as EUR"
    ),
    "SettlementLedgerInvalidAmount": lambda a, c: (
        f"amount {a['amount']} is invalid: give a positive amount in minor units below 2**96"
    ),
    "SettlementLedgerInvalidServiceType": lambda a, c: (
        f"service type {a['serviceType']} is unknown: use 1..{a['maxServiceType']} "
        f"({', '.join(s.label for s in ServiceType)})"
    ),
    "SettlementLedgerInvalidPeriod": lambda a, c: (
        f"period {a['period']} is not a billing month YYYYMM (year 1970..9999, month 01..12)"
    ),
    "SettlementLedgerDuplicateObligation": lambda a, c: (
        f"obligation {_b32(a['obligationId'])} is already on the ledger: the same record with "
        "the same salt was proposed before; give another salt only if it really is a second "
        "obligation"
    ),
    "SettlementLedgerUnknownObligation": lambda a, c: (
        f"no obligation {_b32(a['obligationId'])} is on the ledger: it was never proposed, or "
        "the record or salt differ from the proposal"
    ),
    "SettlementLedgerNotCounterparty": _counterparty,
    "SettlementLedgerNotProposer": _proposer,
    "SettlementLedgerInvalidObligationStatus": _obligation_status,
    "SettlementLedgerMissingDisputeReason": lambda a, c: (
        f"disputing obligation {_b32(a['obligationId'])} needs a non-zero reason code "
        "(1 amount mismatch, 2 not recognised, ...)"
    ),
    "SettlementLedgerAmendmentChangesParties": lambda a, c: (
        f"an amendment of obligation {_b32(a['obligationId'])} must keep its debtor and "
        "creditor; withdraw it and propose a new obligation instead"
    ),
    "SettlementLedgerInvalidBatchSize": lambda a, c: (
        f"a batch must hold 1 to {a['maxSize']} records, not {a['size']}"
    ),
    "SettlementLedgerBatchLengthMismatch": lambda a, c: (
        f"a batch holds {a['obligations']} obligations but {a['values']} salts or reasons; "
        "give one per obligation"
    ),
    "SettlementLedgerNoOpenCycle": lambda a, c: (
        f"no {decode_currency(a['currency'])} settlement cycle is open, so nothing in "
        f"{decode_currency(a['currency'])} can be confirmed now; ask the clearing agent to open "
        "one, then confirm again"
    ),
    "SettlementLedgerCycleAlreadyOpen": lambda a, c: (
        f"cycle {a['cycleId']} for {decode_currency(a['currency'])} is still open; close it "
        f"(`ledgerline cycles close {a['cycleId']}`) before opening another"
    ),
    "SettlementLedgerInvalidCutoff": lambda a, c: (
        f"cut-off {_when(a['cutoff'])} is not later than the current block time "
        f"{_when(a['timestamp'])}; choose a later cut-off"
    ),
    "SettlementLedgerCycleCutoffPassed": lambda a, c: (
        f"cycle {a['cycleId']} stopped taking confirmations at its cut-off {_when(a['cutoff'])} "
        f"(block time is now {_when(a['timestamp'])}); confirm again once the clearing agent "
        "has opened the next cycle"
    ),
    "SettlementLedgerUnknownCycle": lambda a, c: (
        f"there is no cycle {a['cycleId']}; `ledgerline cycles show` lists the cycles"
    ),
    "SettlementLedgerInvalidCycleStatus": _cycle_status,
    "SettlementLedgerTooManyParticipants": lambda a, c: (
        f"cycle {a['cycleId']} already has its maximum of {a['maxParticipants']} operators; "
        "confirm this obligation in the next cycle"
    ),
    "SettlementLedgerTooManyTransfers": lambda a, c: (
        f"the plan has {a['count']} transfers, over the limit of {a['maxTransfers']}"
    ),
    "SettlementLedgerInvalidTransferAmount": lambda a, c: (
        f"transfer {a['index']} of the plan has amount {a['amount']}; each transfer needs a "
        "positive amount below 2**128"
    ),
    "SettlementLedgerSelfTransfer": lambda a, c: (
        f"transfer {a['index']} of the plan pays {a['payer']} to itself"
    ),
    "SettlementLedgerNotParticipant": lambda a, c: (
        f"{a['account']} has no position in cycle {a['cycleId']}, so no transfer of its plan "
        "may involve it"
    ),
    "SettlementLedgerPlanUnbalanced": lambda a, c: (
        f"the plan does not balance: it leaves {a['operator']} at {a['got']} instead of its "
        f"net position {a['expected']} in cycle {a['cycleId']}; let Ledgerline compute the "
        f"plan (`ledgerline cycles plan {a['cycleId']}`)"
    ),
    "SettlementLedgerNoPositionToConfirm": lambda a, c: (
        f"{a['operator']} has no non-zero position in cycle {a['cycleId']}: there is nothing "
        "to confirm"
    ),
    "SettlementLedgerPositionAlreadyConfirmed": lambda a, c: (
        f"{a['operator']} already confirmed its position in cycle {a['cycleId']}"
    ),
    "SettlementLedgerUnknownTransfer": lambda a, c: (
        f"cycle {a['cycleId']} has no transfer {a['index']}; "
        f"`ledgerline cycles show {a['cycleId']}` lists its transfers"
    ),
    "SettlementLedgerNotPayer": _not_payer,
    "SettlementLedgerNotPayee": _not_payee,
    "SettlementLedgerMissingPaymentRef": lambda a, c: (
        f"marking transfer {a['index']} of cycle {a['cycleId']} paid needs a payment reference"
    ),
    "SettlementLedgerTransferAlreadyPaid": lambda a, c: (
        f"transfer {a['index']} of cycle {a['cycleId']} is already marked paid; "
        "a transfer is paid only once"
    ),
    "SettlementLedgerTransferNotPaid": lambda a, c: (
        f"transfer {a['index']} of cycle {a['cycleId']} is not marked paid yet, so its receipt "
        "cannot be confirmed; the payer marks it paid first"
    ),
    "SettlementLedgerTransferAlreadyReceived": lambda a, c: (
        f"the receipt of transfer {a['index']} of cycle {a['cycleId']} is already confirmed"
    ),
}


def explain(error: ContractRevertError, **context: Any) -> ContractRevertError:
    """The same error with a one-sentence message, when it is a SettlementLedger error.

    ``context`` may name the ``action`` (``"confirm"``, ``"marking a transfer paid"``…),
    the ``counterparty``/``proposer`` of the obligation, the ``payer``/``payee`` of the
    transfer, and the ``member_status`` (``"suspended"``/``"none"``) of the caller, to
    make the sentence precise.
    """
    return with_sentence(error, _SENTENCES, context)


def known_errors() -> frozenset[str]:
    """Names of the custom errors :func:`explain` has a sentence for."""
    return frozenset(_SENTENCES)


# -- ABI plumbing -------------------------------------------------------------------------

_OBLIGATION_TUPLE = "(address,address,bytes3,uint256,uint8,uint32,bytes32,bytes32)"


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True)
class _EventSpec:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def _decode_value(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return _checksum(value)
    if abi_type == "bytes3":
        return decode_currency(value)
    return value


class SettlementClient:
    """Reads and changes the SettlementLedger deployed at ``address`` on ``chain``."""

    def __init__(self, chain: Chain, address: str, *, start_block: int = 0) -> None:
        """``start_block`` is where event queries begin by default: the contract's
        deployment block (``Deployment.contracts["SettlementLedger"].block_number``)
        spares scanning the blocks before it."""
        self.chain = chain
        self.start_block = start_block
        self.address = to_address(address, "settlement ledger address")
        artifact = load_artifact(CONTRACT_NAME)
        self.contract: Contract = chain.w3.eth.contract(
            address=self.address, abi=artifact.abi, decode_tuples=True
        )
        self._selectors: dict[str, tuple[bytes, list[str]]] = {}
        self._events: dict[str, _EventSpec] = {}
        self._by_topic: dict[bytes, _EventSpec] = {}
        for entry in artifact.abi:
            if entry["type"] == "function":
                types = [_abi_type(i) for i in entry["inputs"]]
                self._selectors[entry["name"]] = (
                    function_abi_to_4byte_selector(cast(Any, entry)),
                    types,
                )
            elif entry["type"] == "event":
                spec = _EventSpec(
                    entry["name"],
                    event_abi_to_log_topic(cast(Any, entry)),
                    tuple((i["name"], _abi_type(i)) for i in entry["inputs"] if i["indexed"]),
                    tuple((i["name"], _abi_type(i)) for i in entry["inputs"] if not i["indexed"]),
                )
                self._events[spec.name] = spec
                self._by_topic[spec.topic] = spec
        self._constants: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<SettlementClient {self.address} on {self.chain.url}>"

    # -- plumbing -------------------------------------------------------------------------

    def _data(self, function: str, *args: Any) -> bytes:
        selector, types = self._selectors[function]
        return selector + abi_encode(types, args)

    def _send(
        self,
        sender: LocalAccount,
        function: str,
        *args: Any,
        gas_bound: int | None = None,
        **context: Any,
    ) -> SentTransaction:
        """Sign and send ``function(*args)``.  With ``gas_bound`` (a safe upper bound of the
        gas it needs) the call is pre-flighted once with ``eth_call`` on the pending block,
        which surfaces any revert before sending, and sent with that limit: gas estimation
        would execute a batch two or three more times (unused gas is not charged)."""
        tx: dict[str, Any] = {"to": self.address, "data": self._data(function, *args)}
        try:
            gas = self._preflight(sender, tx, gas_bound) if gas_bound is not None else None
            return send_transaction(self.chain, sender, tx, gas=gas)
        except ContractRevertError as exc:
            raise self._explain(exc, sender.address, context) from None

    def _preflight(self, sender: LocalAccount, tx: dict[str, Any], bound: int) -> int | None:
        """The gas limit to send ``tx`` with after a successful dry run within ``bound``, or
        None (estimate it) when the bound exceeds the block gas limit or the dry run failed
        without a custom error (it may have run out of gas)."""
        limit = int(self.chain.w3.eth.get_block("latest")["gasLimit"])
        if bound > limit:
            return None
        dry_run: Any = {**tx, "from": sender.address, "gas": bound}
        try:
            self.chain.w3.eth.call(dry_run, "pending")
        except (ContractLogicError, Web3RPCError) as exc:
            revert = revert_from_exception(exc)
            if revert is not None and revert.error_name != "UnknownRevert":
                raise revert from None
            return None
        return bound

    def _call(self, function: Any) -> Any:
        try:
            return call(function)
        except ContractRevertError as exc:
            raise explain(exc) from None

    def _explain(
        self, error: ContractRevertError, caller: str, context: dict[str, Any]
    ) -> ContractRevertError:
        """Add what the chain knows (membership, parties) to the sentence."""
        context = dict(context)
        records: Sequence[Obligation] = context.pop("records", ())
        args = error.error_args
        try:
            if error.error_name == "SettlementLedgerNotActiveMember":
                context["member_status"] = self._member_status(args["account"])
            elif error.error_name in (
                "SettlementLedgerNotCounterparty",
                "SettlementLedgerNotProposer",
            ):
                wanted = hex32(args["obligationId"])
                record = next((r for r in records if r.id == wanted), None)
                parties = self._parties(record) if record is not None else None
                if parties is not None:
                    context["proposer"], context["counterparty"] = parties
            elif error.error_name == "SettlementLedgerNotPayer":
                context["payer"] = self.transfer(args["cycleId"], args["index"]).payer
            elif error.error_name == "SettlementLedgerNotPayee":
                context["payee"] = self.transfer(args["cycleId"], args["index"]).payee
        except (LedgerError, KeyError, ValueError):
            pass
        return explain(error, **context)

    def _member_status(self, account: str) -> str:
        registry = self.chain.w3.eth.contract(
            address=self.registry_address(), abi=load_artifact("OperatorRegistry").abi
        )
        if call(registry.functions.isActiveMember(to_address(account))):
            return "active"
        try:
            member = call(registry.functions.memberOf(to_address(account)))
        except ContractRevertError:
            return "none"
        return "suspended" if int(member[1]) == 2 else "none"

    def _constant(self, name: str) -> int:
        if name not in self._constants:
            self._constants[name] = int(self._call(getattr(self.contract.functions, name)()))
        return self._constants[name]

    # -- constants and simple views ---------------------------------------------------------

    @property
    def max_batch_size(self) -> int:
        return self._constant("MAX_BATCH_SIZE")

    @property
    def max_participants(self) -> int:
        return self._constant("MAX_PARTICIPANTS")

    @property
    def max_transfers(self) -> int:
        return self._constant("MAX_TRANSFERS")

    def registry_address(self) -> ChecksumAddress:
        return to_address(self._call(self.contract.functions.registry()))

    def obligation_id(self, obligation: Obligation) -> str:
        """The id as the contract computes it (``obligationId``), for cross-checks."""
        fn = self.contract.functions.obligationId(obligation.as_abi(), obligation.salt)
        return hex32(self._call(fn))

    def obligation_state(self, obligation_id: str | bytes) -> ObligationState:
        raw = self._call(
            self.contract.functions.obligationState(to_bytes32(obligation_id, "obligation id"))
        )
        return ObligationState(
            ObligationStatus(int(raw.status)),
            bool(raw.proposedByDebtor),
            int(raw.amount),
            int(raw.cycleId),
        )

    def cycle_count(self) -> int:
        return int(self._call(self.contract.functions.cycleCount()))

    def cycle(self, cycle_id: int) -> Cycle:
        """Cycle ``cycle_id``; an unknown one raises LedgerValueError."""
        raw = self._call(self.contract.functions.cycle(int(cycle_id)))
        if int(raw.status) == 0:
            raise LedgerValueError(
                f"there is no cycle {cycle_id}; `ledgerline cycles show` lists the cycles"
            )
        return Cycle(
            id=int(cycle_id),
            currency=decode_currency(raw.currency),
            status=CycleStatus(int(raw.status)),
            cutoff=datetime.fromtimestamp(int(raw.cutoff), UTC),
            obligation_count=int(raw.obligationCount),
            gross_value=int(raw.grossValue),
            participant_count=int(raw.participantCount),
            transfer_count=int(raw.transferCount),
            pending_positions=int(raw.pendingPositions),
            outstanding_transfers=int(raw.outstandingTransfers),
            net_value=int(raw.netValue),
        )

    def cycles(self, currency: str | None = None) -> list[Cycle]:
        """Every cycle, oldest first (only those of ``currency`` if given)."""
        found = [self.cycle(i) for i in range(1, self.cycle_count() + 1)]
        return [c for c in found if currency is None or c.currency == currency]

    def open_cycle_of(self, currency: str) -> int | None:
        """The id of ``currency``'s open cycle, or None."""
        found = int(self._call(self.contract.functions.openCycleOf(encode_currency(currency))))
        return found or None

    def participants(self, cycle_id: int) -> list[ChecksumAddress]:
        return [to_address(a) for a in self._call(self.contract.functions.participants(cycle_id))]

    def position_of(self, cycle_id: int, operator: str) -> int:
        fn = self.contract.functions.positionOf(int(cycle_id), to_address(operator))
        return int(self._call(fn))

    def positions(self, cycle_id: int) -> dict[ChecksumAddress, int]:
        """Every participant's net position in the cycle (positive receives), in the order
        they joined it; zeros included."""
        return {p: self.position_of(cycle_id, p) for p in self.participants(cycle_id)}

    def is_position_confirmed(self, cycle_id: int, operator: str) -> bool:
        fn = self.contract.functions.isPositionConfirmed(int(cycle_id), to_address(operator))
        return bool(self._call(fn))

    def transfer(self, cycle_id: int, index: int) -> PlanTransfer:
        raw = self._call(self.contract.functions.transfer(int(cycle_id), int(index)))
        return PlanTransfer(
            int(cycle_id),
            int(index),
            to_address(raw.payer),
            to_address(raw.payee),
            int(raw.amount),
            TransferStatus(int(raw.status)),
        )

    def transfers(self, cycle_id: int) -> list[PlanTransfer]:
        """The cycle's plan as it stands (empty before the plan is submitted)."""
        count = int(self._call(self.contract.functions.transferCount(int(cycle_id))))
        return [self.transfer(cycle_id, i) for i in range(count)]

    def chain_time(self) -> int:
        """Now, as the next block will see it: the later of the wall clock and the head
        block's timestamp (an embedded chain can run ahead of the clock)."""
        latest = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        return max(latest, int(time.time()))

    # -- obligations: actions ---------------------------------------------------------------

    def propose(self, sender: LocalAccount, obligation: Obligation) -> BatchResult:
        """Record one obligation between ``sender`` and its counterparty."""
        sent = self._send(sender, "propose", obligation.as_abi(), obligation.salt)
        return BatchResult((obligation.id,), (Receipt.of(sent),))

    def confirm(self, sender: LocalAccount, obligation: Obligation) -> BatchResult:
        """Confirm an obligation the counterparty proposed; it joins the open cycle."""
        sent = self._send(
            sender,
            "confirm",
            obligation.as_abi(),
            obligation.salt,
            action="confirm",
            records=(obligation,),
        )
        return BatchResult((obligation.id,), (Receipt.of(sent),))

    def dispute(
        self,
        sender: LocalAccount,
        obligation: Obligation,
        reason: DisputeReason | int | str = DisputeReason.AMOUNT_MISMATCH,
    ) -> BatchResult:
        """Dispute an obligation the counterparty proposed, with a reason code."""
        code = int(DisputeReason.parse(reason))
        sent = self._send(
            sender,
            "dispute",
            obligation.as_abi(),
            obligation.salt,
            code,
            action="dispute",
            records=(obligation,),
        )
        return BatchResult((obligation.id,), (Receipt.of(sent),))

    def withdraw(self, sender: LocalAccount, obligation: Obligation) -> BatchResult:
        """Withdraw an obligation ``sender`` proposed (proposed or disputed, not confirmed)."""
        sent = self._send(
            sender,
            "withdraw",
            obligation.as_abi(),
            obligation.salt,
            action="withdraw",
            records=(obligation,),
        )
        return BatchResult((obligation.id,), (Receipt.of(sent),))

    def amend(self, sender: LocalAccount, disputed: Obligation, amended: Obligation) -> BatchResult:
        """Replace a disputed obligation ``sender`` proposed by ``amended`` (same parties).

        The result's ids are ``(old id, new id)``.
        """
        if (amended.debtor, amended.creditor) != (disputed.debtor, disputed.creditor):
            raise LedgerValueError(
                f"an amendment of obligation {disputed.id} must keep its debtor and creditor; "
                "withdraw it and propose a new obligation instead"
            )
        sent = self._send(
            sender,
            "amend",
            disputed.as_abi(),
            disputed.salt,
            amended.as_abi(),
            amended.salt,
            action="amend",
            records=(disputed,),
        )
        return BatchResult((disputed.id, amended.id), (Receipt.of(sent),))

    def propose_batch(
        self,
        sender: LocalAccount,
        obligations: Sequence[Obligation],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Record many obligations, ``batch_size`` per transaction (all or nothing each)."""
        _refuse_repeats(obligations)
        return self._batched(
            sender,
            "proposeBatch",
            obligations,
            lambda chunk: ([o.as_abi() for o in chunk], [o.salt for o in chunk]),
            batch_size,
            progress,
            {},
        )

    def confirm_batch(
        self,
        sender: LocalAccount,
        obligations: Sequence[Obligation],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Confirm many obligations the counterparties proposed, in batches."""
        _refuse_repeats(obligations)
        return self._batched(
            sender,
            "confirmBatch",
            obligations,
            lambda chunk: ([o.as_abi() for o in chunk], [o.salt for o in chunk]),
            batch_size,
            progress,
            {"action": "confirm"},
        )

    def dispute_batch(
        self,
        sender: LocalAccount,
        obligations: Sequence[Obligation],
        reason: DisputeReason | int | str | Sequence[DisputeReason | int | str] = (
            DisputeReason.AMOUNT_MISMATCH
        ),
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Dispute many obligations, with one reason for all or one per obligation."""
        _refuse_repeats(obligations)
        if isinstance(reason, Sequence) and not isinstance(reason, str):
            if len(reason) != len(obligations):
                raise LedgerValueError(
                    f"{len(obligations)} obligations but {len(reason)} dispute reasons; "
                    "give one reason, or one per obligation"
                )
            codes = [int(DisputeReason.parse(r)) for r in reason]
        else:
            codes = [int(DisputeReason.parse(reason))] * len(obligations)
        reasons = dict(zip((o.id for o in obligations), codes, strict=True))
        return self._batched(
            sender,
            "disputeBatch",
            obligations,
            lambda chunk: (
                [o.as_abi() for o in chunk],
                [o.salt for o in chunk],
                [reasons[o.id] for o in chunk],
            ),
            batch_size,
            progress,
            {"action": "dispute"},
        )

    def _batched(
        self,
        sender: LocalAccount,
        function: str,
        obligations: Sequence[Obligation],
        arguments: Callable[[Sequence[Obligation]], tuple[Any, ...]],
        batch_size: int | None,
        progress: Progress | None,
        context: dict[str, Any],
    ) -> BatchResult:
        size = self._batch_size(batch_size)
        total = len(obligations)
        receipts: list[Receipt] = []
        done = 0
        for start in range(0, total, size):
            chunk = obligations[start : start + size]
            try:
                sent = self._send(
                    sender,
                    function,
                    *arguments(chunk),
                    gas_bound=_BATCH_BASE_GAS + _RECORD_GAS[function] * len(chunk),
                    records=chunk,
                    **context,
                )
            except ContractRevertError as exc:
                if done:
                    raise ContractRevertError(
                        exc.error_name,
                        exc.error_args,
                        f"{done} of {total} obligations went through before a batch failed: {exc}",
                        exc.contract,
                    ) from None
                raise
            receipts.append(Receipt.of(sent))
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        return BatchResult(tuple(o.id for o in obligations), tuple(receipts))

    def _batch_size(self, batch_size: int | None) -> int:
        limit = self.max_batch_size
        size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        if not 1 <= size <= limit:
            raise LedgerValueError(f"batch size {size} is out of range: use 1..{limit}")
        return min(size, limit)

    def _parties(self, obligation: Obligation) -> tuple[str, str] | None:
        """(proposer, counterparty) of a recorded obligation, None if it is unknown."""
        state = self.obligation_state(obligation.id)
        if state.status is ObligationStatus.NONE:
            return None
        if state.proposed_by_debtor:
            return obligation.debtor, obligation.creditor
        return obligation.creditor, obligation.debtor

    # -- cycles: actions --------------------------------------------------------------------

    def open_cycle(
        self, sender: LocalAccount, currency: str, cutoff: datetime | int
    ) -> CycleResult:
        """Open ``currency``'s cycle, taking confirmations until ``cutoff`` (clearing agent)."""
        stamp = int(cutoff.timestamp()) if isinstance(cutoff, datetime) else int(cutoff)
        if not 0 < stamp < 2**64:
            raise LedgerValueError(f"cut-off {cutoff!r} is not a valid time")
        sent = self._send(sender, "openCycle", encode_currency(currency), stamp)
        opened = self._decoded(sent, "CycleOpened")
        return CycleResult(self.cycle(int(opened[0]["cycleId"])), Receipt.of(sent))

    def close_cycle(self, sender: LocalAccount, cycle_id: int) -> CycleResult:
        """Close an open cycle; its net positions are final (clearing agent)."""
        sent = self._send(sender, "closeCycle", int(cycle_id), action="closing it")
        return CycleResult(self.cycle(cycle_id), Receipt.of(sent))

    def compute_plan(self, cycle_id: int, *, exact: bool = False) -> list[PlanTransfer]:
        """The settlement plan of the cycle's on-chain positions (:func:`settlement_plan`)."""
        positions = self.positions(cycle_id)
        plan = settlement_plan({str(k): v for k, v in positions.items()}, exact=exact)
        return [
            PlanTransfer(int(cycle_id), i, to_address(t.payer), to_address(t.payee), t.amount)
            for i, t in enumerate(plan)
        ]

    def submit_plan(
        self,
        sender: LocalAccount,
        cycle_id: int,
        transfers: Sequence[PlanTransfer] | None = None,
        *,
        exact: bool = False,
    ) -> CycleResult:
        """Submit the plan of a closed cycle: the given transfers, else the one computed
        from its positions (clearing agent).  The contract accepts it only if it realises
        every net position exactly."""
        plan = (
            list(transfers) if transfers is not None else self.compute_plan(cycle_id, exact=exact)
        )
        for t in plan:
            if not 0 < t.amount <= MAX_TRANSFER_AMOUNT:
                raise LedgerValueError(
                    f"transfer {t.index} of the plan has amount {t.amount}; each transfer "
                    "needs a positive amount below 2**128"
                )
        payload = [(t.payer, t.payee, t.amount) for t in plan]
        sent = self._send(sender, "submitPlan", int(cycle_id), payload, action="submitting a plan")
        return CycleResult(self.cycle(cycle_id), Receipt.of(sent), tuple(self.transfers(cycle_id)))

    def confirm_position(self, sender: LocalAccount, cycle_id: int) -> CycleResult:
        """Confirm ``sender``'s non-zero net position in a planned cycle."""
        sent = self._send(sender, "confirmPosition", int(cycle_id), action="confirming a position")
        return CycleResult(self.cycle(cycle_id), Receipt.of(sent))

    def mark_paid(
        self, sender: LocalAccount, cycle_id: int, index: int, reference: str | bytes
    ) -> CycleResult:
        """Mark transfer ``index`` paid (its payer), with the payment's reference: 0x + 64
        hex digits as is, any other text (a bank reference) hashed with SHA-256."""
        sent = self._send(
            sender,
            "markPaid",
            int(cycle_id),
            int(index),
            payment_ref(reference),
            action="marking a transfer paid",
        )
        return CycleResult(self.cycle(cycle_id), Receipt.of(sent))

    def confirm_received(self, sender: LocalAccount, cycle_id: int, index: int) -> CycleResult:
        """Confirm receipt of transfer ``index`` (its payee); the last one settles the cycle."""
        sent = self._send(
            sender,
            "confirmReceived",
            int(cycle_id),
            int(index),
            action="confirming a receipt",
        )
        return CycleResult(self.cycle(cycle_id), Receipt.of(sent))

    # -- events -----------------------------------------------------------------------------

    def _decoded(self, sent: SentTransaction, name: str) -> list[dict[str, Any]]:
        spec = self._events[name]
        found = []
        for log in sent.receipt["logs"]:
            if (
                log["address"] == self.address
                and log["topics"]
                and bytes(log["topics"][0]) == spec.topic
            ):
                found.append(self._decode(spec, log))
        return found

    def _decode(self, spec: _EventSpec, log: Mapping[str, Any]) -> dict[str, Any]:
        topics = log["topics"]
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True):
            args[name] = _decode_value(kind, abi_decode([kind], bytes(topic))[0])
        values = abi_decode([kind for _, kind in spec.data], bytes(log["data"]))
        for (name, kind), value in zip(spec.data, values, strict=True):
            args[name] = _decode_value(kind, value)
        return args

    def _logs(
        self,
        names: Sequence[str],
        *,
        topics: Sequence[bytes | None] = (),
        from_block: int | None = None,
        to_block: int | None = None,
        block_range: int = LOG_BLOCK_RANGE,
    ) -> Iterator[tuple[_EventSpec, Mapping[str, Any]]]:
        """Logs of the named events in chain order, fetched ``block_range`` blocks at a time.

        ``topics`` filters the indexed arguments after the event signature.
        """
        last = self.chain.block_number() if to_block is None else to_block
        wanted = [self._events[n].topic for n in names]
        topic_filter: list[Any] = [wanted if len(wanted) > 1 else wanted[0]]
        topic_filter.extend(hex32(t) if t is not None else None for t in topics)
        while topic_filter and topic_filter[-1] is None:
            topic_filter.pop()
        start = max(self.start_block if from_block is None else from_block, 0)
        while start <= last:
            end = min(start + block_range - 1, last)
            params: Any = {
                "address": self.address,
                "fromBlock": start,
                "toBlock": end,
                "topics": [
                    [hex32(t) for t in item]
                    if isinstance(item, list)
                    else (hex32(item) if isinstance(item, bytes) else item)
                    for item in topic_filter
                ],
            }
            for log in self.chain.w3.eth.get_logs(params):
                spec = self._by_topic.get(bytes(log["topics"][0]))
                if spec is not None:
                    yield spec, log
            start = end + 1

    def events(
        self,
        name: str | None = None,
        *,
        cycle_id: int | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> list[SettlementEvent]:
        """The contract's events (all kinds, or only ``name``), in chain order.

        ``cycle_id`` keeps only the cycle events of that cycle (events whose first indexed
        argument is ``cycleId``).
        """
        if name is not None and name not in self._events:
            raise LedgerValueError(f"SettlementLedger has no event {name!r}")
        names = [name] if name else list(self._events)
        if cycle_id is not None:
            names = [n for n in names if self._events[n].indexed[:1] == (("cycleId", "uint256"),)]
        topics = [int(cycle_id).to_bytes(32, "big")] if cycle_id is not None else []
        found = [
            SettlementEvent(
                spec.name,
                self._decode(spec, log),
                int(log["blockNumber"]),
                hex32(bytes(log["transactionHash"])),
                int(log["logIndex"]),
            )
            for spec, log in self._logs(
                names, topics=topics, from_block=from_block, to_block=to_block
            )
        ]
        return sorted(found, key=lambda e: (e.block_number, e.log_index))

    def obligations(
        self,
        *,
        party: str | None = None,
        counterparty: str | None = None,
        currency: str | None = None,
        period: int | str | None = None,
        service: ServiceType | str | int | None = None,
        status: ObligationStatus | Iterable[ObligationStatus] | None = None,
        cycle_id: int | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> list[LedgerObligation]:
        """Every obligation with its current state, rebuilt from the events, oldest first.

        Filters: ``party`` (debtor or creditor), ``counterparty`` (the other party, with
        ``party``), ``currency``, ``period``, ``service``, ``status``, and ``cycle_id``
        (obligations confirmed into that cycle).
        """
        last = self.chain.block_number() if to_block is None else to_block
        who = to_address(party, "party") if party is not None else None
        other = to_address(counterparty, "counterparty") if counterparty is not None else None
        wanted_currency = check_currency(currency) if currency is not None else None
        wanted_period = parse_period(period) if period is not None else None
        wanted_service = ServiceType.parse(service) if service is not None else None
        wanted_status: set[ObligationStatus] | None
        if status is None:
            wanted_status = None
        elif isinstance(status, ObligationStatus):
            wanted_status = {status}
        else:
            wanted_status = set(status)

        found: dict[bytes, LedgerObligation] = {}
        names = [
            "ObligationProposed",
            "ObligationConfirmed",
            "ObligationDisputed",
            "ObligationWithdrawn",
            "ObligationAmended",
        ]
        for spec, log in self._logs(names, from_block=from_block, to_block=last):
            key = bytes(log["topics"][1])
            if spec.name == "ObligationProposed":
                entry = self._proposed_entry(key, log)
                if entry is None:
                    continue
                ob = entry.obligation
                if who is not None and who not in (ob.debtor, ob.creditor):
                    continue
                if other is not None and other not in (ob.debtor, ob.creditor):
                    continue
                if wanted_currency is not None and ob.currency != wanted_currency:
                    continue
                if wanted_period is not None and ob.period != wanted_period:
                    continue
                if wanted_service is not None and ob.service is not wanted_service:
                    continue
                found[key] = entry
                continue
            current = found.get(key)
            if current is None:
                continue
            if spec.name == "ObligationConfirmed":
                current.status = ObligationStatus.CONFIRMED
                current.cycle_id = int.from_bytes(bytes(log["topics"][2]), "big")
            elif spec.name == "ObligationDisputed":
                current.status = ObligationStatus.DISPUTED
                current.dispute_reason = int.from_bytes(bytes(log["data"])[-32:], "big")
            elif spec.name == "ObligationWithdrawn":
                current.status = ObligationStatus.WITHDRAWN
            else:
                current.status = ObligationStatus.AMENDED
                new_id = bytes(log["topics"][2])
                current.amended_by = hex32(new_id)
                if new_id in found:
                    found[new_id].amends = current.id
        result = list(found.values())
        if cycle_id is not None:
            result = [o for o in result if o.cycle_id == int(cycle_id)]
        if wanted_status is not None:
            result = [o for o in result if o.status in wanted_status]
        return result

    def _proposed_entry(self, key: bytes, log: Mapping[str, Any]) -> LedgerObligation | None:
        data = bytes(log["data"])
        words = [data[i : i + 32] for i in range(0, 320, 32)]
        try:
            obligation = Obligation(
                debtor=_checksum(words[0][12:]),
                creditor=_checksum(words[1][12:]),
                currency=decode_currency(words[2][:3]),
                amount=int.from_bytes(words[3], "big"),
                service=ServiceType(int.from_bytes(words[4], "big")),
                period=int.from_bytes(words[5], "big"),
                external_ref=words[6],
                evidence_hash=words[7],
                salt=words[8],
            )
        except (LedgerValueError, ValueError):
            return None  # a record the contract accepted but this client cannot type
        proposer = _checksum(words[9][12:])
        if obligation.id_bytes != key:
            return None
        return LedgerObligation(
            obligation,
            proposer,
            ObligationStatus.PROPOSED,
            int(log["blockNumber"]),
            hex32(bytes(log["transactionHash"])),
        )

    def find_obligation(self, obligation_id: str | bytes) -> LedgerObligation:
        """One obligation by id, with its current state; unknown ids raise LedgerValueError."""
        key = to_bytes32(obligation_id, "obligation id")
        entry: LedgerObligation | None = None
        for _spec, log in self._logs(["ObligationProposed"], topics=[key]):
            entry = self._proposed_entry(key, log)
        if entry is None:
            raise LedgerValueError(
                f"no obligation {hex32(key)} is on the ledger; "
                "`ledgerline obligations list` lists the obligations"
            )
        state = self.obligation_state(key)
        entry.status = state.status
        entry.cycle_id = state.cycle_id or None
        if state.status is ObligationStatus.DISPUTED or state.status is ObligationStatus.AMENDED:
            for _spec, log in self._logs(["ObligationDisputed"], topics=[key]):
                entry.dispute_reason = int.from_bytes(bytes(log["data"])[-32:], "big")
        if state.status is ObligationStatus.AMENDED:
            for _spec, log in self._logs(["ObligationAmended"], topics=[key]):
                entry.amended_by = hex32(bytes(log["topics"][2]))
        return entry

    def find_obligations(self, ids: Iterable[str | bytes]) -> list[LedgerObligation]:
        """Several obligations by id, in the order given."""
        return [self.find_obligation(i) for i in ids]

    def awaiting_confirmation(self, account: str, **filters: Any) -> list[LedgerObligation]:
        """Obligations proposed by a counterparty that ``account`` must confirm or dispute."""
        me = to_address(account)
        found = self.obligations(party=me, status=ObligationStatus.PROPOSED, **filters)
        return [o for o in found if o.counterparty == me]

    def disputes(self, account: str | None = None, **filters: Any) -> list[LedgerObligation]:
        """Disputed obligations (of ``account`` if given)."""
        return self.obligations(party=account, status=ObligationStatus.DISPUTED, **filters)


#: Safe upper bounds of a batch's gas, per record, calldata included: a proposal writes
#: one new slot and logs the record (~30k); a confirmation may list both parties as new
#: participants of the cycle (up to ~100k); a dispute rewrites one slot (~10k).
_BATCH_BASE_GAS = 100_000
_RECORD_GAS = {"proposeBatch": 60_000, "confirmBatch": 130_000, "disputeBatch": 40_000}


def _refuse_repeats(obligations: Sequence[Obligation]) -> None:
    seen: dict[bytes, int] = {}
    for index, obligation in enumerate(obligations):
        first = seen.setdefault(obligation.id_bytes, index)
        if first != index:
            raise LedgerValueError(
                f"obligations {first} and {index} of the batch are the same record "
                f"({obligation.id}); give the second one another salt if it is a second obligation"
            )


__all__ = [
    "CURRENCY_EXPONENTS",
    "DEFAULT_BATCH_SIZE",
    "BatchResult",
    "Cycle",
    "CycleResult",
    "CycleStatus",
    "DisputeReason",
    "LedgerObligation",
    "Obligation",
    "ObligationState",
    "ObligationStatus",
    "PlanTransfer",
    "Receipt",
    "ServiceType",
    "SettlementClient",
    "SettlementEvent",
    "TransferStatus",
    "check_amount",
    "check_currency",
    "currency_exponent",
    "decode_currency",
    "encode_currency",
    "evidence_hash",
    "explain",
    "file_hash",
    "format_amount",
    "parse_amount",
    "parse_period",
    "payment_ref",
    "reference_hash",
    "to_bytes32",
]
