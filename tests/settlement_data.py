"""The settlement tests' example data (``tests/data/settlement``), without a chain.

``consortium.json`` holds a governor (``BELGV``), a clearing agent (``BELCA``) and five
operators (``FRAF1``, ``DEUD1``, ``GBRVF``, ``ESPTE``, ``ITAWI``) with their public test
keys; ``ledger_fraf1_202501.json`` the obligations that ``billing_fraf1_202501.csv`` is
reconciled against, as FRAF1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.deploy import GenesisMember
from ledger.settlement import LedgerObligation, Obligation, ObligationStatus

DATA = Path(__file__).resolve().parent / "data" / "settlement"
BILLING_CSV = DATA / "billing_fraf1_202501.csv"
OBLIGATIONS_CSV = DATA / "obligations.csv"


@dataclass(frozen=True)
class Member:
    name: str
    key: str
    account: str
    code: str
    legal_name: str
    country: str
    currencies: tuple[str, ...]
    roles: tuple[str, ...]

    @property
    def signer(self) -> LocalAccount:
        return Account.from_key(self.key)

    def genesis(self) -> GenesisMember:
        return GenesisMember(
            self.account, self.legal_name, self.country, self.code, self.currencies, self.roles
        )


def _consortium() -> dict[str, Any]:
    return json.loads((DATA / "consortium.json").read_text(encoding="utf-8"))


def members() -> dict[str, Member]:
    """Every member by code (``BELGV`` governor, ``BELCA`` agent, operators)."""
    found = {}
    for raw in _consortium()["members"]:
        member = Member(
            raw["name"],
            raw["key"],
            raw["account"],
            raw["code"],
            raw["legalName"],
            raw["country"],
            tuple(raw["currencies"]),
            tuple(raw["roles"]),
        )
        assert member.signer.address == member.account, f"{member.code}: key and account differ"
        found[member.code] = member
    return found


def outsider_key() -> str:
    return str(_consortium()["outsider"]["key"])


def outsider() -> LocalAccount:
    return Account.from_key(outsider_key())


def ledger_records() -> list[dict[str, Any]]:
    data = json.loads((DATA / "ledger_fraf1_202501.json").read_text(encoding="utf-8"))
    return list(data["obligations"])


def record_obligation(record: dict[str, Any]) -> Obligation:
    everyone = members()
    return Obligation.create(
        everyone[record["debtor"]].account,
        everyone[record["creditor"]].account,
        record["currency"],
        record["amount"],
        record["service"],
        record["period"],
        reference=record["reference"],
    )


def ledger_in_memory() -> dict[str, LedgerObligation]:
    """The example ledger as LedgerObligation values, by name (L1..L10), as the chain's
    events would tell it (L10 confirmed into cycle 1)."""
    everyone = members()
    found = {}
    for block, record in enumerate(ledger_records(), start=1):
        status = ObligationStatus[record["status"].upper()]
        found[record["name"]] = LedgerObligation(
            record_obligation(record),
            everyone[record["proposer"]].account,  # type: ignore[arg-type]
            status,
            block,
            "0x" + "00" * 32,
            cycle_id=1 if status is ObligationStatus.CONFIRMED else None,
        )
    return found
