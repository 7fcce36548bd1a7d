"""Settlement demo data: a consortium of operators with a season of obligations.

:func:`seed_demo_settlement` (called by the demo command after ``flask init`` deployed
the contracts) admits eight fictional operators and a clearing agent through the
registry (the genesis governor proposes; the admission executes when its vote reaches
the quorum), gives each a user account whose member key is kept encrypted with the
account's password, and records a few hundred obligations in EUR and USD:

* proposed in batches, mostly by the invoicing party (the creditor), and mostly
  confirmed by the counterparty, with a few disputes, one of them amended;
* one EUR cycle taken all the way: closed, planned (``ledger.netting.settlement_plan``),
  positions confirmed, transfers paid and received, settled;
* one USD cycle left open with obligations awaiting confirmation, and a few EUR
  obligations waiting for the next EUR cycle, so the demo has something to do.

Everything (keys, passwords, amounts, references) derives from ``seed``: the same seed
gives the same demo.  The keys are therefore public knowledge: the demo refuses to run
anywhere but on a development chain.  About 70 transactions are sent (the registry
admissions and funding, one batch per operator and action, the cycle steps).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from flask import Flask
from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Role, User
from app.database import utcnow
from app.extensions import db
from app.settlement import indexer, keys
from app.settlement.models import DisputeNote, ReferenceText
from app.settlement.onchain import contracts
from ledger.errors import LedgerConfigError
from ledger.registry import MemberProfile
from ledger.registry import Role as RegistryRole
from ledger.settlement import (
    DisputeReason,
    Obligation,
    ServiceType,
    hex32,
    payment_ref,
    reference_hash,
)

CURRENCIES = ("EUR", "USD")
PERIODS = (202509, 202510, 202511)
FUNDING_MINIMUM_WEI = 10**17
FUNDING_WEI = 10**18


@dataclass(frozen=True)
class DemoMember:
    legal_name: str
    country: str
    code: str  # TADIG-shaped: three letters and two letters or digits
    domain: str
    currencies: tuple[str, ...]
    usd_share: float = 0.3  # share of its traffic billed in USD


#: Fictional operators: believable names, real countries, TADIG-shaped codes.
OPERATORS: tuple[DemoMember, ...] = (
    DemoMember("Nordic Mobile AB", "SE", "SWENM", "nordicmobile.example", ("EUR", "USD")),
    DemoMember("Alpenfunk Telekom GmbH", "AT", "AUTAF", "alpenfunk.example", ("EUR",)),
    DemoMember("Iberia Móvil S.A.", "ES", "ESPIM", "iberiamovil.example", ("EUR", "USD")),
    DemoMember("Atlantic Cellular Inc.", "US", "USAAC", "atlanticcellular.example", ("USD",), 0.8),
    DemoMember("Baltic Wave UAB", "LT", "LTUBW", "balticwave.example", ("EUR",)),
    DemoMember("Hellas Connect A.E.", "GR", "GRCHC", "hellasconnect.example", ("EUR", "USD")),
    DemoMember("Maple Wireless Ltd.", "CA", "CANMW", "maplewireless.example", ("USD",), 0.8),
    DemoMember("Lusitania Telecom S.A.", "PT", "PRTLT", "lusitaniatelecom.example", ("EUR",)),
    DemoMember("Danube Mobil Zrt.", "HU", "HUNDM", "danubemobil.example", ("EUR",)),
    DemoMember("Celtic Sea Telecom Ltd.", "IE", "IRLCS", "celticsea.example", ("EUR", "USD")),
)
AGENT = DemoMember(
    "Meridian Clearing House S.A.", "LU", "LUXMC", "meridianclearing.example", CURRENCIES
)

#: Service types with their share of wholesale traffic and a typical monthly invoice
#: (major units: the median of a log-normal spread).
SERVICES: tuple[tuple[ServiceType, int, float], ...] = (
    (ServiceType.ROAMING, 34, 42_000.0),
    (ServiceType.INTERCONNECT, 24, 18_000.0),
    (ServiceType.SMS_TERMINATION, 14, 6_500.0),
    (ServiceType.A2P_MESSAGING, 10, 9_000.0),
    (ServiceType.TRANSIT, 9, 12_000.0),
    (ServiceType.DATA_TRANSIT, 6, 15_000.0),
    (ServiceType.SIGNALLING, 3, 2_500.0),
)
DISPUTE_REASONS = (
    DisputeReason.AMOUNT_MISMATCH,
    DisputeReason.WRONG_RATE,
    DisputeReason.NOT_RECOGNISED,
    DisputeReason.WRONG_PERIOD,
)
DISPUTE_COMMENTS = {
    DisputeReason.AMOUNT_MISMATCH: "Our CDRs show fewer minutes for this period.",
    DisputeReason.WRONG_RATE: "Billed at the old IOT rate; the new rate applies since the 1st.",
    DisputeReason.NOT_RECOGNISED: "We have no traffic with this reference in our records.",
    DisputeReason.WRONG_PERIOD: "This traffic belongs to the previous billing period.",
}


@dataclass(frozen=True)
class DemoAccount:
    """A demo user: sign in with ``email`` and ``password``."""

    email: str
    password: str
    role: str
    member: str
    code: str
    name: str


@dataclass(frozen=True)
class SettlementDemo:
    """What :func:`seed_demo_settlement` created (``created`` False: it was there already)."""

    accounts: tuple[DemoAccount, ...]
    created: bool
    obligations: int = 0
    confirmed: int = 0
    disputed: int = 0
    amended: int = 0
    pending: int = 0
    settled_cycle: int | None = None
    open_cycle: int | None = None
    transactions: int = 0

    def lines(self) -> list[str]:
        """A short summary and the accounts, one line each, for the demo command."""
        if self.created:
            head = [
                f"settlement: {len(self.accounts) - 1} operators and a clearing agent, "
                f"{self.obligations} obligations ({self.confirmed} confirmed, {self.disputed} "
                f"disputed, {self.amended} amended, {self.pending} awaiting confirmation), "
                f"cycle {self.settled_cycle} settled, cycle {self.open_cycle} open; "
                f"{self.transactions} transactions",
            ]
        else:
            head = ["settlement: the demo consortium is already on the ledger"]
        return head + [
            f"  {a.role:14} {a.email:36} {a.password}  ({a.code}, {a.name})" for a in self.accounts
        ]


def _key(seed: int, code: str) -> LocalAccount:
    account: LocalAccount = Account.from_key(keccak(text=f"ledgerline-demo/{seed}/{code}"))
    return account


def _password(seed: int, code: str) -> str:
    return f"demo-{code.lower()}-{keccak(text=f'ledgerline-demo-password/{seed}/{code}').hex()[:8]}"


def _email(member: DemoMember, agent: bool) -> str:
    return f"{'clearing' if agent else 'ops'}@{member.domain}"


def demo_accounts(seed: int = 7, operators: int = 8) -> list[DemoAccount]:
    """The demo's accounts (operators first, the clearing agent last), without a chain."""
    chosen = OPERATORS[:operators]
    found = [
        DemoAccount(
            _email(m, False),
            _password(seed, m.code),
            Role.OPERATOR.value,
            _key(seed, m.code).address,
            m.code,
            m.legal_name,
        )
        for m in chosen
    ]
    found.append(
        DemoAccount(
            _email(AGENT, True),
            _password(seed, AGENT.code),
            Role.CLEARING_AGENT.value,
            _key(seed, AGENT.code).address,
            AGENT.code,
            AGENT.legal_name,
        )
    )
    return found


@dataclass
class _Planned:
    record: Obligation
    reference: str
    debtor: str  # member codes
    creditor: str
    proposer: str
    fate: str  # confirm | dispute | amend | pending

    @property
    def other(self) -> str:
        """The code of the party that did not propose (it confirms or disputes)."""
        return self.creditor if self.proposer == self.debtor else self.debtor


def plan_obligations(
    seed: int, operators: Sequence[DemoMember], count: int, addresses: Mapping[str, str]
) -> list[_Planned]:
    """The demo's obligations and what becomes of each (deterministic for ``seed``)."""
    rng = random.Random(seed)
    services = [s for s, _, _ in SERVICES]
    weights = [w for _, w, _ in SERVICES]
    medians = {s: m for s, _, m in SERVICES}
    # Some pairs trade far more than others: a fixed affinity per ordered pair.
    affinity = {
        (a.code, b.code): rng.choice((1, 1, 2, 3, 5))
        for a in operators
        for b in operators
        if a.code != b.code
    }
    pairs = list(affinity)
    pair_weights = [affinity[p] for p in pairs]
    by_code = {m.code: m for m in operators}
    planned: list[_Planned] = []
    sequence: dict[tuple[str, int], int] = defaultdict(int)
    for _ in range(count):
        debtor, creditor = rng.choices(pairs, pair_weights)[0]
        share = max(by_code[debtor].usd_share, by_code[creditor].usd_share)
        currency = "USD" if rng.random() < share else "EUR"
        service = rng.choices(services, weights)[0]
        period = rng.choice(PERIODS)
        amount = round(rng.lognormvariate(0, 0.8) * medians[service], 2)
        minor = max(round(amount * 100), 1_000)
        sequence[(creditor, period)] += 1
        reference = f"{creditor}-{period}-{sequence[(creditor, period)]:04d}"
        record = Obligation.create(
            addresses[debtor],
            addresses[creditor],
            currency,
            minor,
            service,
            period,
            reference=reference,
        )
        proposer = creditor if rng.random() < 0.7 else debtor
        planned.append(_Planned(record, reference, debtor, creditor, proposer, "confirm"))
    _assign_fates(rng, planned, [m.code for m in operators])
    return planned


def _assign_fates(rng: random.Random, planned: list[_Planned], codes: Sequence[str]) -> None:
    """A few EUR disputes awaiting two counterparties (two batches), the first amended;
    about a tenth left pending, USD first."""
    if not planned:
        return
    disputers = rng.sample(list(codes), min(2, len(codes)))
    candidates = [p for p in planned if p.record.currency == "EUR" and p.other in disputers]
    disputes = max(2, len(planned) // 60)
    for p in rng.sample(candidates, min(disputes, len(candidates))):
        p.fate = "dispute"
    disputed = [p for p in planned if p.fate == "dispute"]
    if disputed:
        disputed[0].fate = "amend"
    pending = max(2, len(planned) // 10)
    usd = [p for p in planned if p.fate == "confirm" and p.record.currency == "USD"]
    eur = [p for p in planned if p.fate == "confirm" and p.record.currency == "EUR"]
    chosen = rng.sample(usd, min(len(usd), pending * 3 // 4))
    chosen += rng.sample(eur, min(len(eur), pending - len(chosen)))
    for p in chosen:
        p.fate = "pending"


def seed_demo_settlement(
    app: Flask,
    *,
    seed: int = 7,
    operators: int = 8,
    obligations: int = 360,
    log: Callable[[str], None] | None = None,
) -> SettlementDemo:
    """Seed the settlement demo on the app's (development) chain and database.

    Returns the accounts to print (operators, then the clearing agent) and what was
    recorded.  Run again, it finds the consortium on the ledger and only returns the
    accounts (``created`` False).
    """
    if not 2 <= operators <= len(OPERATORS):
        raise ValueError(f"operators must be 2..{len(OPERATORS)}, not {operators}")
    say = log or (lambda _message: None)
    with app.app_context():
        handle = contracts(app)
        chain = handle.chain
        if not chain.is_dev:
            raise LedgerConfigError(
                f"chain {chain.chain_id} at {chain.url} is not a development chain; the "
                "settlement demo derives its keys from a public seed and runs only on "
                "embedded or Hardhat chains"
            )
        members = list(OPERATORS[:operators])
        everyone = [*members, AGENT]
        accounts_ = demo_accounts(seed, operators)
        signers = {m.code: _key(seed, m.code) for m in everyone}
        registry = handle.registry
        if registry.is_active_member(signers[members[0].code].address):
            indexer.sync_ledger()
            return SettlementDemo(tuple(accounts_), created=False)
        sent = 0

        # 1. Keys funded, members admitted by the genesis governor.
        governor = genesis_governor(app, chain)
        for m in everyone:
            if chain.ensure_funded(signers[m.code].address, FUNDING_MINIMUM_WEI, FUNDING_WEI):
                sent += 1
        for m in everyone:
            role = RegistryRole.CLEARING_AGENT if m is AGENT else RegistryRole.OPERATOR
            admission = registry.propose_admission(
                governor,
                signers[m.code].address,
                MemberProfile(m.legal_name, m.country, m.code, m.currencies),
                roles=[role],
            )
            sent += 1
            if not admission.executed:
                raise LedgerConfigError(
                    f"admitting {m.code} is proposal {admission.proposal.id}, which awaits the "
                    "votes of the other governors; seed the demo on a registry whose genesis "
                    "governor decides alone (the default of `flask init`)"
                )
        say(f"settlement: admitted {len(everyone)} members")

        # 2. User accounts holding their member keys.
        for account, m in zip(accounts_, everyone, strict=True):
            user = accounts.create_user(
                account.email,
                f"{m.legal_name} {'clearing' if m is AGENT else 'operations'}",
                account.password,
                roles=[account.role],
                member_address=account.member,
            )
            keys.store_key(user, signers[m.code], account.password)
        db.session.commit()

        # 3. Cycles open, obligations proposed in batches by their proposers.
        client = handle.settlement
        agent = signers[AGENT.code]
        cutoff = client.chain_time() + 30 * 86400
        cycles = {}
        for currency in CURRENCIES:
            cycles[currency] = client.open_cycle(agent, currency, cutoff).cycle.id
            sent += 1
        addresses = {m.code: signers[m.code].address for m in members}
        plan = plan_obligations(seed, members, obligations, addresses)
        _remember(p.reference for p in plan)
        by_proposer: dict[str, list[_Planned]] = defaultdict(list)
        for p in plan:
            by_proposer[p.proposer].append(p)
        for code, items in by_proposer.items():
            result = client.propose_batch(signers[code], [p.record for p in items])
            sent += len(result.receipts)
        say(f"settlement: proposed {len(plan)} obligations")

        # 4. Counterparties confirm or dispute; one dispute is amended.
        by_other: dict[tuple[str, str], list[_Planned]] = defaultdict(list)
        for p in plan:
            if p.fate in ("confirm", "dispute", "amend"):
                by_other[(p.other, "confirm" if p.fate == "confirm" else "dispute")].append(p)
        rng = random.Random(seed + 1)
        for (code, action), items in sorted(by_other.items()):
            records = [p.record for p in items]
            if action == "confirm":
                result = client.confirm_batch(signers[code], records)
            else:
                reasons = [rng.choice(DISPUTE_REASONS) for _ in items]
                result = client.dispute_batch(signers[code], records, reasons)
                for p, reason in zip(items, reasons, strict=True):
                    db.session.add(
                        DisputeNote(
                            obligation_id=p.record.id,
                            member=signers[code].address,
                            user_id=_user_id(_email_of(code, everyone)),
                            reason=int(reason),
                            comment=DISPUTE_COMMENTS[reason],
                            created_at=utcnow(),
                        )
                    )
            sent += len(result.receipts)
        db.session.commit()
        amended = 0
        for p in plan:
            if p.fate != "amend":
                continue
            corrected = Obligation.create(
                p.record.debtor,
                p.record.creditor,
                p.record.currency,
                max(p.record.amount * 9 // 10, 1),
                p.record.service,
                p.record.period,
                reference=p.reference + "-R1",
            )
            _remember([p.reference + "-R1"])
            client.amend(signers[p.proposer], p.record, corrected)
            sent += 1
            amended += 1

        # 5. The EUR cycle taken to settled.
        eur = cycles["EUR"]
        client.close_cycle(agent, eur)
        result_plan = client.submit_plan(agent, eur)
        sent += 2
        for participant, position in client.positions(eur).items():
            if position:
                code = _code_of(participant, signers)
                client.confirm_position(signers[code], eur)
                sent += 1
        for transfer in result_plan.transfers:
            reference = f"SEPA-{eur}-{transfer.index:02d}-{rng.randrange(16**6):06X}"
            _remember([reference], kind="payment")
            client.mark_paid(
                signers[_code_of(transfer.payer, signers)], eur, transfer.index, reference
            )
            client.confirm_received(signers[_code_of(transfer.payee, signers)], eur, transfer.index)
            sent += 2
        db.session.commit()
        say(f"settlement: cycle {eur} (EUR) settled with {len(result_plan.transfers)} transfers")
        indexer.sync_ledger()
        counts: dict[str, int] = defaultdict(int)
        for p in plan:
            counts[p.fate] += 1
        return SettlementDemo(
            tuple(accounts_),
            created=True,
            obligations=len(plan) + amended,
            confirmed=counts["confirm"],
            disputed=counts["dispute"] + counts["amend"],
            amended=amended,
            pending=counts["pending"] + amended,
            settled_cycle=eur,
            open_cycle=cycles["USD"],
            transactions=sent,
        )


def genesis_governor(app: Flask, chain: Any) -> LocalAccount:
    """The deployer key, the registry's genesis governor in a default deployment."""
    from app.chain_setup import DEPLOYER_LABEL, deployer_password
    from ledger.keys import Keystore

    keystore = Keystore(
        app.config["KEYSTORE"],
        kdf=app.config["KEYSTORE_KDF"],
        iterations=app.config["KEYSTORE_ITERATIONS"],
    )
    labelled = [k for k in keystore.list() if k.label == DEPLOYER_LABEL]
    if not labelled:
        raise LedgerConfigError(
            f"keystore {keystore.path} has no key labelled {DEPLOYER_LABEL!r}; run "
            "`flask --app app init` first"
        )
    secret, _ = deployer_password(app, chain, None)
    return keystore.unlock(labelled[0].address, secret)


def _remember(references: Any, kind: str = "invoice") -> None:
    for text in references:
        digest = hex32(reference_hash(text) if kind == "invoice" else payment_ref(text))
        if db.session.get(ReferenceText, digest) is None:
            db.session.add(ReferenceText(hash=digest, kind=kind, text=text, created_at=utcnow()))
    db.session.commit()


def _code_of(address: str, signers: dict[str, LocalAccount]) -> str:
    return next(code for code, signer in signers.items() if signer.address == address)


def _email_of(code: str, everyone: Sequence[DemoMember]) -> str:
    member = next(m for m in everyone if m.code == code)
    return _email(member, member is AGENT)


def _user_id(email: str) -> int | None:
    return db.session.scalar(select(User.id).where(User.email == email))


__all__ = [
    "AGENT",
    "OPERATORS",
    "DemoAccount",
    "SettlementDemo",
    "demo_accounts",
    "genesis_governor",
    "plan_obligations",
    "seed_demo_settlement",
]
