"""A typed client for ``OperatorRegistry``, the permissioned consortium on-chain.

Views return frozen dataclasses (:class:`Member`, :class:`Proposal`); actions take the
sender's :class:`LocalAccount`, sign locally through :mod:`ledger.transactions`, and
return a :class:`ProposalResult` with the proposal as it stands after the transaction.
A revert comes out as :class:`~ledger.errors.ContractRevertError` with the contract's
error name and arguments, and a one-line message that says what to do.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from ledger._utils.addresses import to_address
from ledger._utils.revert import explained, with_sentence
from ledger.artifacts import load_artifact
from ledger.chain import Chain
from ledger.errors import ContractRevertError, LedgerValueError
from ledger.transactions import SentTransaction, call, transact

CONTRACT_NAME = "OperatorRegistry"
T = TypeVar("T")


class Role(enum.Enum):
    """The registry's roles; ``id`` is the on-chain ``bytes32`` (keccak256 of the name)."""

    OPERATOR = "OPERATOR"
    CLEARING_AGENT = "CLEARING_AGENT"
    AUDITOR = "AUDITOR"
    GOVERNOR = "GOVERNOR"
    ANCHORER = "ANCHORER"

    @property
    def id(self) -> bytes:
        return _role_id(self.value)

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        if isinstance(value, Role):
            return value
        name = value.strip().upper().replace("-", "_").removesuffix("_ROLE")
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(r.value for r in cls)
            raise LedgerValueError(f"unknown role {value!r}: use one of {known}") from None

    @classmethod
    def from_id(cls, role_id: bytes) -> Role | None:
        return _ROLES_BY_ID.get(bytes(role_id))


@cache
def _role_id(name: str) -> bytes:
    return keccak(text=name)


_ROLES_BY_ID = {keccak(text=r.value): r for r in Role}


class MemberStatus(enum.IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class ProposalKind(enum.IntEnum):
    ADMIT = 0
    SUSPEND = 1
    REINSTATE = 2
    GRANT_ROLE = 3
    REVOKE_ROLE = 4
    CHANGE_QUORUM = 5


class ProposalStatus(enum.IntEnum):
    NONE = 0
    PENDING = 1
    EXECUTED = 2
    REJECTED = 3
    EXPIRED = 4


def encode_country(country: str) -> bytes:
    """An ISO 3166 alpha-2 code as the contract's ``bytes2``."""
    text = country.strip()
    if len(text) != 2 or not text.isascii():
        raise LedgerValueError(
            f"country {country!r} is not an ISO 3166 alpha-2 code: give two letters, e.g. FR"
        )
    return text.encode("ascii")


def encode_currency(currency: str) -> bytes:
    """An ISO 4217 code as the contract's ``bytes3``."""
    text = currency.strip()
    if len(text) != 3 or not text.isascii():
        raise LedgerValueError(
            f"currency {currency!r} is not an ISO 4217 code: give three letters, e.g. EUR"
        )
    return text.encode("ascii")


def _text(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def _roles(ids: Iterable[bytes]) -> tuple[Role, ...]:
    return tuple(r for r in (Role.from_id(i) for i in ids) if r is not None)


@dataclass(frozen=True)
class MemberProfile:
    """A member's on-chain metadata (checked by the contract: see IOperatorRegistry)."""

    legal_name: str
    country: str
    code: str
    currencies: tuple[str, ...]


@dataclass(frozen=True)
class Member:
    account: ChecksumAddress
    status: MemberStatus
    admitted_at: datetime
    legal_name: str
    country: str
    code: str
    currencies: tuple[str, ...]
    roles: tuple[Role, ...]

    @property
    def is_active(self) -> bool:
        return self.status is MemberStatus.ACTIVE

    def has_role(self, role: Role | str) -> bool:
        """Effective role: held and the member is active."""
        return self.is_active and Role.parse(role) in self.roles

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "status": self.status.name.lower(),
            "admittedAt": self.admitted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "legalName": self.legal_name,
            "country": self.country,
            "code": self.code,
            "currencies": list(self.currencies),
            "roles": [r.value for r in self.roles],
        }


@dataclass(frozen=True)
class Proposal:
    id: int
    kind: ProposalKind
    status: ProposalStatus
    proposer: ChecksumAddress
    account: ChecksumAddress | None
    role: Role | None
    quorum_bps: int | None
    yes_votes: int
    no_votes: int
    deadline: datetime
    profile: MemberProfile | None
    roles: tuple[Role, ...]

    @property
    def is_open(self) -> bool:
        return self.status is ProposalStatus.PENDING

    def describe(self) -> str:
        """One line: what the proposal changes."""
        if self.kind is ProposalKind.ADMIT and self.profile is not None:
            roles = ", ".join(r.value for r in self.roles) or "no roles"
            return f"admit {self.account} ({self.profile.legal_name}, {self.profile.code}; {roles})"
        if self.kind is ProposalKind.SUSPEND:
            return f"suspend {self.account}"
        if self.kind is ProposalKind.REINSTATE:
            return f"reinstate {self.account}"
        if self.kind is ProposalKind.GRANT_ROLE:
            return f"grant {self.role.value if self.role else '?'} to {self.account}"
        if self.kind is ProposalKind.REVOKE_ROLE:
            return f"revoke {self.role.value if self.role else '?'} from {self.account}"
        return f"change the quorum to {self.quorum_bps} bps"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.name.lower(),
            "status": self.status.name.lower(),
            "description": self.describe(),
            "proposer": self.proposer,
            "account": self.account,
            "role": self.role.value if self.role else None,
            "quorumBps": self.quorum_bps,
            "yesVotes": self.yes_votes,
            "noVotes": self.no_votes,
            "deadline": self.deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "legalName": self.profile.legal_name if self.profile else None,
            "country": self.profile.country if self.profile else None,
            "code": self.profile.code if self.profile else None,
            "currencies": list(self.profile.currencies) if self.profile else None,
            "roles": [r.value for r in self.roles],
        }


@dataclass(frozen=True)
class ProposalResult:
    """The outcome of a propose or vote transaction."""

    proposal: Proposal
    tx_hash: str
    block_number: int

    @property
    def executed(self) -> bool:
        return self.proposal.status is ProposalStatus.EXECUTED


@dataclass(frozen=True)
class RegistryEvent:
    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


# -- revert messages -------------------------------------------------------------------------


def _role_name(value: Any) -> str:
    role = Role.from_id(value) if isinstance(value, bytes) else None
    return role.value if role else ("0x" + value.hex() if isinstance(value, bytes) else str(value))


def _when(seconds: Any) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ascii(value: Any) -> str:
    return _text(value) if isinstance(value, bytes) else str(value)


_SENTENCES: dict[str, Callable[[dict[str, Any]], str]] = {
    "OperatorRegistryNotGovernor": lambda a: (
        f"{a['caller']} is not an active governor; only active governors may propose and vote"
    ),
    "OperatorRegistryZeroAddress": lambda a: "the zero address cannot be a member",
    "OperatorRegistryUnknownMember": lambda a: (
        f"{a['account']} is not a member of the registry; "
        "`ledgerline registry members` lists the members"
    ),
    "OperatorRegistryAlreadyMember": lambda a: f"{a['account']} is already a member",
    "OperatorRegistryMemberAlreadySuspended": lambda a: f"{a['account']} is already suspended",
    "OperatorRegistryMemberNotSuspended": lambda a: (
        f"{a['account']} is active, so there is nothing to reinstate"
    ),
    "OperatorRegistryMemberLimitReached": lambda a: (
        f"the registry already holds its maximum of {a['maxMembers']} members"
    ),
    "OperatorRegistryUnknownRole": lambda a: (
        f"role {_role_name(a['role'])} is unknown: use OPERATOR, CLEARING_AGENT, AUDITOR, "
        "GOVERNOR or ANCHORER"
    ),
    "OperatorRegistryRoleAlreadyGranted": lambda a: (
        f"{a['account']} already holds {_role_name(a['role'])}"
    ),
    "OperatorRegistryRoleNotHeld": lambda a: (
        f"{a['account']} does not hold {_role_name(a['role'])}"
    ),
    "OperatorRegistryDuplicateRole": lambda a: f"role {_role_name(a['role'])} is listed twice",
    "OperatorRegistryLastGovernor": lambda a: (
        f"{a['account']} is the last active governor; make another member a governor first"
    ),
    "OperatorRegistryEmptyLegalName": lambda a: "the legal name is empty; give the member's name",
    "OperatorRegistryLegalNameTooLong": lambda a: (
        f"the legal name is {a['length']} bytes long, over the limit of {a['maxLength']}"
    ),
    "OperatorRegistryInvalidCountry": lambda a: (
        f"country {_ascii(a['country'])!r} is not two upper-case letters (ISO 3166 alpha-2)"
    ),
    "OperatorRegistryInvalidCode": lambda a: (
        f"code {a['code']!r} is neither a TADIG code (e.g. FRAF1) nor an MCC-MNC (e.g. 20801)"
    ),
    "OperatorRegistryCodeTaken": lambda a: (
        f"code {a['code']!r} already identifies member {a['holder']}"
    ),
    "OperatorRegistryInvalidCurrency": lambda a: (
        f"currency {_ascii(a['currency'])!r} is not three upper-case letters (ISO 4217)"
    ),
    "OperatorRegistryDuplicateCurrency": lambda a: (
        f"currency {_ascii(a['currency'])} is listed twice"
    ),
    "OperatorRegistryInvalidCurrencyCount": lambda a: (
        f"a member needs 1 to {a['maxCurrencies']} settlement currencies, not {a['count']}"
    ),
    "OperatorRegistryInvalidGenesisSize": lambda a: (
        f"the genesis set needs 1 to {a['maxSize']} members, not {a['size']}"
    ),
    "OperatorRegistryNoGenesisGovernor": lambda a: (
        "no genesis member holds GOVERNOR, so nobody could ever propose; give one that role"
    ),
    "OperatorRegistryInvalidQuorum": lambda a: (
        f"quorum {a['quorumBps']} bps is outside 5000..9999 (more than half, and reachable)"
    ),
    "OperatorRegistryQuorumUnchanged": lambda a: f"the quorum already is {a['quorumBps']} bps",
    "OperatorRegistryUnknownProposal": lambda a: (
        f"there is no proposal {a['proposalId']}; `ledgerline registry proposals` lists them"
    ),
    "OperatorRegistryProposalClosed": lambda a: (
        f"proposal {a['proposalId']} is already "
        f"{ProposalStatus(int(a['status'])).name.lower()}; it takes no more votes"
    ),
    "OperatorRegistryProposalExpired": lambda a: (
        f"voting on proposal {a['proposalId']} ended at {_when(a['deadline'])}; propose it again"
    ),
    "OperatorRegistryAlreadyVoted": lambda a: (
        f"{a['voter']} has already voted on proposal {a['proposalId']}"
    ),
    "OperatorRegistryIndexOutOfRange": lambda a: (
        f"member index {a['index']} is past the end of the {a['count']} members"
    ),
}


def explain(error: ContractRevertError) -> ContractRevertError:
    """The same error with a one-line sentence as its message, when the registry knows it."""
    return with_sentence(error, _SENTENCES)


def _explained(fn: Callable[[], T]) -> T:
    return explained(fn, explain)


# -- the client --------------------------------------------------------------------------------


class RegistryClient:
    """Reads and changes the OperatorRegistry deployed at ``address`` on ``chain``."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_address(address, "registry address")
        artifact = load_artifact(CONTRACT_NAME)
        self.contract: Contract = chain.w3.eth.contract(
            address=self.address, abi=artifact.abi, decode_tuples=True
        )

    def __repr__(self) -> str:
        return f"<RegistryClient {self.address} on {self.chain.url}>"

    def _call(self, function: ContractFunction) -> Any:
        return _explained(lambda: call(function))

    def _send(self, sender: LocalAccount, function: ContractFunction) -> SentTransaction:
        return _explained(lambda: transact(self.chain, sender, function))

    # -- views ----------------------------------------------------------------------------------

    def is_active_member(self, account: str) -> bool:
        return bool(self._call(self.contract.functions.isActiveMember(to_address(account))))

    def has_role(self, role: Role | str, account: str) -> bool:
        fn = self.contract.functions.hasRole(Role.parse(role).id, to_address(account))
        return bool(self._call(fn))

    def has_role_raw(self, role: Role | str, account: str) -> bool:
        fn = self.contract.functions.hasRoleRaw(Role.parse(role).id, to_address(account))
        return bool(self._call(fn))

    def settles_in(self, account: str, currency: str) -> bool:
        fn = self.contract.functions.settlesIn(to_address(account), encode_currency(currency))
        return bool(self._call(fn))

    def role_id(self, role: Role | str) -> bytes:
        """The role's bytes32 as the contract defines it (e.g. ``GOVERNOR_ROLE()``)."""
        parsed = Role.parse(role)
        return bytes(self._call(getattr(self.contract.functions, f"{parsed.value}_ROLE")()))

    def member(self, account: str) -> Member:
        """The member ``account``; a non-member raises OperatorRegistryUnknownMember."""
        raw = self._call(self.contract.functions.memberOf(to_address(account, "member")))
        return _member(raw)

    def member_count(self) -> int:
        return int(self._call(self.contract.functions.memberCount()))

    def members(self) -> list[Member]:
        """Every member ever admitted (suspended ones included), in admission order."""
        return [
            _member(self._call(self.contract.functions.memberAt(i)))
            for i in range(self.member_count())
        ]

    def role_holders(self, role: Role | str) -> list[ChecksumAddress]:
        holders = self._call(self.contract.functions.roleHolders(Role.parse(role).id))
        return [to_address(h) for h in holders]

    def proposal(self, proposal_id: int) -> Proposal:
        if proposal_id < 1:
            raise LedgerValueError(f"proposal id {proposal_id} is invalid: ids start at 1")
        return _proposal(self._call(self.contract.functions.proposal(proposal_id)))

    def proposal_count(self) -> int:
        return int(self._call(self.contract.functions.proposalCount()))

    def proposals(self, status: ProposalStatus | None = None) -> list[Proposal]:
        """Every proposal, oldest first; only those in ``status`` if given."""
        found = [self.proposal(i) for i in range(1, self.proposal_count() + 1)]
        return [p for p in found if status is None or p.status is status]

    def has_voted(self, proposal_id: int, voter: str) -> bool:
        fn = self.contract.functions.hasVoted(proposal_id, to_address(voter, "voter"))
        return bool(self._call(fn))

    def quorum_bps(self) -> int:
        return int(self._call(self.contract.functions.quorumBps()))

    def active_governor_count(self) -> int:
        return int(self._call(self.contract.functions.activeGovernorCount()))

    def events(
        self, name: str | None = None, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[RegistryEvent]:
        """The registry's events (all kinds, or only ``name``), in chain order."""
        names = [name] if name else [e["name"] for e in self.contract.abi if e["type"] == "event"]
        found: list[RegistryEvent] = []
        for event_name in names:
            try:
                event = getattr(self.contract.events, event_name)
            except AttributeError:
                raise LedgerValueError(f"OperatorRegistry has no event {event_name!r}") from None
            for log in event().get_logs(from_block=from_block, to_block=to_block):
                found.append(
                    RegistryEvent(
                        event_name,
                        dict(log["args"]),
                        int(log["blockNumber"]),
                        "0x" + bytes(log["transactionHash"]).hex(),
                        int(log["logIndex"]),
                    )
                )
        return sorted(found, key=lambda e: (e.block_number, e.log_index))

    # -- actions --------------------------------------------------------------------------------

    def _proposed(self, sent: SentTransaction) -> ProposalResult:
        event = self.contract.events.ProposalCreated()
        created = event.process_receipt(sent.receipt, errors=DISCARD)
        if not created:
            raise LedgerValueError(f"transaction {sent.tx_hash} created no proposal")
        proposal_id = int(created[0]["args"]["proposalId"])
        return ProposalResult(self.proposal(proposal_id), sent.tx_hash, sent.block_number)

    def propose_admission(
        self,
        sender: LocalAccount,
        account: str,
        profile: MemberProfile,
        roles: Sequence[Role | str] = (Role.OPERATOR,),
    ) -> ProposalResult:
        fn = self.contract.functions.proposeAdmission(
            to_address(account, "account to admit"),
            profile.legal_name,
            encode_country(profile.country),
            profile.code,
            [encode_currency(c) for c in profile.currencies],
            [Role.parse(r).id for r in roles],
        )
        return self._proposed(self._send(sender, fn))

    def propose_suspension(self, sender: LocalAccount, account: str) -> ProposalResult:
        fn = self.contract.functions.proposeSuspension(to_address(account, "member"))
        return self._proposed(self._send(sender, fn))

    def propose_reinstatement(self, sender: LocalAccount, account: str) -> ProposalResult:
        fn = self.contract.functions.proposeReinstatement(to_address(account, "member"))
        return self._proposed(self._send(sender, fn))

    def propose_role_grant(
        self, sender: LocalAccount, role: Role | str, account: str
    ) -> ProposalResult:
        fn = self.contract.functions.proposeRoleGrant(
            Role.parse(role).id, to_address(account, "member")
        )
        return self._proposed(self._send(sender, fn))

    def propose_role_revocation(
        self, sender: LocalAccount, role: Role | str, account: str
    ) -> ProposalResult:
        fn = self.contract.functions.proposeRoleRevocation(
            Role.parse(role).id, to_address(account, "member")
        )
        return self._proposed(self._send(sender, fn))

    def propose_quorum_change(self, sender: LocalAccount, quorum_bps: int) -> ProposalResult:
        if not 0 <= quorum_bps < 2**16:
            raise LedgerValueError(f"quorum {quorum_bps} bps is out of range: use 5000..9999")
        fn = self.contract.functions.proposeQuorumChange(quorum_bps)
        return self._proposed(self._send(sender, fn))

    def vote(self, sender: LocalAccount, proposal_id: int, support: bool = True) -> ProposalResult:
        sent = self._send(sender, self.contract.functions.vote(proposal_id, support))
        return ProposalResult(self.proposal(proposal_id), sent.tx_hash, sent.block_number)


def _member(raw: Any) -> Member:
    return Member(
        account=to_address(raw.account),
        status=MemberStatus(int(raw.status)),
        admitted_at=datetime.fromtimestamp(int(raw.admittedAt), UTC),
        legal_name=str(raw.legalName),
        country=_text(raw.country),
        code=str(raw.code),
        currencies=tuple(_text(c) for c in raw.currencies),
        roles=_roles(raw.roles),
    )


_ROLE_KINDS = (ProposalKind.GRANT_ROLE, ProposalKind.REVOKE_ROLE)


def _proposal(raw: Any) -> Proposal:
    kind = ProposalKind(int(raw.kind))
    account = to_address(raw.account) if int(raw.account, 16) else None
    profile = (
        MemberProfile(
            str(raw.legalName),
            _text(raw.country),
            str(raw.code),
            tuple(_text(c) for c in raw.currencies),
        )
        if kind is ProposalKind.ADMIT
        else None
    )
    return Proposal(
        id=int(raw.id),
        kind=kind,
        status=ProposalStatus(int(raw.status)),
        proposer=to_address(raw.proposer),
        account=account,
        role=Role.from_id(raw.role) if kind in _ROLE_KINDS else None,
        quorum_bps=int(raw.quorumBps) if kind is ProposalKind.CHANGE_QUORUM else None,
        yes_votes=int(raw.yesVotes),
        no_votes=int(raw.noVotes),
        deadline=datetime.fromtimestamp(int(raw.deadline), UTC),
        profile=profile,
        roles=_roles(raw.roles),
    )
