"""``ledgerline registry``: the consortium registry, its members, roles and votes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ledger._utils.addresses import to_address
from ledger.cli._app import F, Options, cli, common_options, emit, note, open_chain, unlock_sender


@cli.group()
def registry() -> None:
    """The consortium registry: members, roles and governance votes."""


@contextmanager
def open_registry(options: Options) -> Iterator[Any]:
    from ledger.deploy import load_deployment
    from ledger.registry import RegistryClient

    with open_chain(options) as ch:
        deployment = load_deployment(ch, options.deployment_file(ch))
        for message in deployment.outdated.values():
            note(f"warning: {message}")
        yield RegistryClient(ch, deployment.address("OperatorRegistry"))


def _member_line(member: Any) -> str:
    roles = ",".join(r.value for r in member.roles) or "-"
    currencies = ",".join(member.currencies)
    return (
        f"{member.account}  {member.status.name.lower():9}  {roles:28}  {member.code:6}  "
        f"{member.country}  {currencies:11}  {member.legal_name}"
    )


def _proposal_line(proposal: Any) -> str:
    return (
        f"#{proposal.id:<4} {proposal.status.name.lower():9} yes {proposal.yes_votes} "
        f"no {proposal.no_votes}  {proposal.describe()}"
    )


@registry.command("members")
@common_options
def registry_members(options: Options) -> None:
    """List every member with its status, roles and metadata."""
    with open_registry(options) as client:
        members = client.members()
    emit(options, [m.to_json() for m in members], [_member_line(m) for m in members])


@registry.command("show")
@click.argument("account")
@common_options
def registry_show(options: Options, account: str) -> None:
    """Show one member."""
    address = to_address(account, "member")
    with open_registry(options) as client:
        member = client.member(address)
    emit(options, member.to_json(), _member_line(member))


@registry.command("proposals")
@click.option(
    "--status",
    type=click.Choice(["pending", "executed", "rejected", "expired"]),
    help="Only proposals in this state.",
)
@common_options
def registry_proposals(options: Options, status: str | None) -> None:
    """List the governance proposals."""
    from ledger.registry import ProposalStatus

    wanted = ProposalStatus[status.upper()] if status else None
    with open_registry(options) as client:
        proposals = client.proposals(wanted)
    emit(
        options,
        [p.to_json() for p in proposals],
        [_proposal_line(p) for p in proposals] or ["no proposals"],
    )


def _result(options: Options, result: Any) -> None:
    proposal = result.proposal
    data = {**proposal.to_json(), "txHash": result.tx_hash, "block": result.block_number}
    emit(options, data, f"{_proposal_line(proposal)}  (tx {result.tx_hash})")


@registry.group("propose")
def registry_propose() -> None:
    """Open a proposal (your proposal counts as your yes-vote)."""


def _sender_option(command: F) -> F:
    return click.option(
        "--from", "sender", metavar="ADDRESS", help="Governor key (default: the only key)."
    )(command)


@registry_propose.command("admit")
@click.argument("account")
@click.option("--legal-name", required=True, help="The operator's legal name.")
@click.option("--country", required=True, help="ISO 3166 alpha-2 country, e.g. FR.")
@click.option("--code", required=True, help="TADIG code (e.g. FRAF1) or MCC-MNC (e.g. 20801).")
@click.option("--currency", "currencies", multiple=True, required=True, help="ISO 4217 (repeat).")
@click.option("--role", "roles", multiple=True, help="Initial role (repeat; default OPERATOR).")
@_sender_option
@common_options
def propose_admit(
    options: Options,
    account: str,
    legal_name: str,
    country: str,
    code: str,
    currencies: tuple[str, ...],
    roles: tuple[str, ...],
    sender: str | None,
) -> None:
    """Propose admitting ACCOUNT as a member."""
    from ledger.registry import MemberProfile, Role

    address = to_address(account, "account to admit")
    parsed_roles = [Role.parse(r) for r in roles] or [Role.OPERATOR]
    profile = MemberProfile(legal_name, country, code, tuple(currencies))
    with open_registry(options) as client:
        signer = unlock_sender(options, client.chain, sender)
        result = client.propose_admission(signer, address, profile, parsed_roles)
    _result(options, result)


def _simple_proposal(name: str, method: str, help_text: str) -> None:
    @registry_propose.command(name, help=help_text)
    @click.argument("account")
    @_sender_option
    @common_options
    def command(options: Options, account: str, sender: str | None) -> None:
        address = to_address(account, "member")
        with open_registry(options) as client:
            signer = unlock_sender(options, client.chain, sender)
            result = getattr(client, method)(signer, address)
        _result(options, result)


_simple_proposal("suspend", "propose_suspension", "Propose suspending member ACCOUNT.")
_simple_proposal("reinstate", "propose_reinstatement", "Propose reinstating member ACCOUNT.")


def _role_proposal(name: str, method: str, help_text: str) -> None:
    @registry_propose.command(name, help=help_text)
    @click.argument("role")
    @click.argument("account")
    @_sender_option
    @common_options
    def command(options: Options, role: str, account: str, sender: str | None) -> None:
        from ledger.registry import Role

        parsed = Role.parse(role)
        address = to_address(account, "member")
        with open_registry(options) as client:
            signer = unlock_sender(options, client.chain, sender)
            result = getattr(client, method)(signer, parsed, address)
        _result(options, result)


_role_proposal("grant", "propose_role_grant", "Propose granting ROLE to member ACCOUNT.")
_role_proposal("revoke", "propose_role_revocation", "Propose revoking ROLE from member ACCOUNT.")


@registry_propose.command("quorum")
@click.argument("bps", type=int)
@_sender_option
@common_options
def propose_quorum(options: Options, bps: int, sender: str | None) -> None:
    """Propose changing the quorum to BPS basis points (5000..9999)."""
    with open_registry(options) as client:
        signer = unlock_sender(options, client.chain, sender)
        result = client.propose_quorum_change(signer, bps)
    _result(options, result)


@registry.command("vote")
@click.argument("proposal_id", type=int)
@click.option("--yes/--no", "support", default=True, help="Vote for (default) or against.")
@_sender_option
@common_options
def registry_vote(options: Options, proposal_id: int, support: bool, sender: str | None) -> None:
    """Vote on proposal PROPOSAL_ID; the deciding vote executes it."""
    with open_registry(options) as client:
        signer = unlock_sender(options, client.chain, sender)
        result = client.vote(signer, proposal_id, support)
    _result(options, result)
