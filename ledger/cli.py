"""The ``ledgerline`` command line: chain, keys, deployment and the consortium registry.

Every command takes:

* ``--rpc URL``: the chain (default ``LEDGERLINE_CHAIN_URL``, else the embedded chain at
  ``<instance>/chain.db``, where ``<instance>`` is ``LEDGERLINE_INSTANCE`` or ``./instance``);
* ``--keystore PATH`` (default ``LEDGERLINE_KEYSTORE``, else ``<instance>/keystore``);
* ``--deployment PATH`` (default ``LEDGERLINE_DEPLOYMENT_FILE``, else
  ``<instance>/deployment.json`` for the default chain, the web app's file, and
  ``<instance>/deployment-<chain id>.json`` for a chain given with ``--rpc``);
* ``--format text|json`` and ``--password-file FILE`` (else ``LEDGERLINE_KEY_PASSWORD``,
  else a prompt).

Errors are one ``error: …`` line on stderr, exit status 1 (2 for usage errors); set
``LEDGERLINE_DEBUG=1`` to see the traceback of an unexpected failure.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount

from ledger import __version__
from ledger._utils.addresses import to_address
from ledger.chain import Chain, connect, default_chain_url, parse_chain_url
from ledger.errors import LedgerConfigError, LedgerError, LedgerValueError
from ledger.keys import Keystore

INSTANCE_ENV = "LEDGERLINE_INSTANCE"
KEYSTORE_ENV = "LEDGERLINE_KEYSTORE"
DEPLOYMENT_ENV = "LEDGERLINE_DEPLOYMENT_FILE"
PASSWORD_ENV = "LEDGERLINE_KEY_PASSWORD"
KDF_ITERATIONS_ENV = "LEDGERLINE_KEYSTORE_KDF_ITERATIONS"
DEBUG_ENV = "LEDGERLINE_DEBUG"
SENDER_MINIMUM_WEI = 10**17
SENDER_FUNDING_WEI = 10**18

F = TypeVar("F", bound=Callable[..., Any])


def instance_dir() -> Path:
    return Path(os.environ.get(INSTANCE_ENV) or "instance")


def configured_chain_url() -> str:
    """The chain used without ``--rpc``: LEDGERLINE_CHAIN_URL, else the instance's embedded one."""
    return default_chain_url(instance_dir())


@dataclass
class Options:
    rpc: str | None
    keystore_path: str | None
    deployment_path: str | None
    fmt: str
    password_file: str | None

    @property
    def chain_url(self) -> str:
        return self.rpc or configured_chain_url()

    def keystore(self) -> Keystore:
        path = self.keystore_path or os.environ.get(KEYSTORE_ENV) or instance_dir() / "keystore"
        iterations = os.environ.get(KDF_ITERATIONS_ENV)
        try:
            work = int(iterations) if iterations else None
        except ValueError:
            raise LedgerConfigError(
                f"{KDF_ITERATIONS_ENV}={iterations!r} is not a number"
            ) from None
        return Keystore(path, iterations=work)

    def deployment_file(self, chain: Chain) -> Path:
        if self.deployment_path:
            return Path(self.deployment_path)
        from_env = os.environ.get(DEPLOYMENT_ENV)
        if from_env:
            return Path(from_env)
        if parse_chain_url(self.chain_url).url == parse_chain_url(configured_chain_url()).url:
            return instance_dir() / "deployment.json"
        return instance_dir() / f"deployment-{chain.chain_id}.json"

    def password(self, what: str, *, confirm: bool = False) -> str:
        if self.password_file:
            try:
                text = Path(self.password_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise LedgerConfigError(
                    f"cannot read password file {self.password_file}: {exc.strerror}"
                ) from exc
            return text.splitlines()[0] if text.splitlines() else ""
        from_env = os.environ.get(PASSWORD_ENV)
        if from_env is not None:
            return from_env
        if not sys.stdin.isatty():
            raise LedgerConfigError(
                f"no password for {what}: give --password-file FILE or set {PASSWORD_ENV}"
            )
        value: str = click.prompt(
            f"Password for {what}", hide_input=True, confirmation_prompt=confirm
        )
        return value


def common_options(command: F) -> F:
    """Add the options every command shares and pass them as one :class:`Options`."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = Options(
            rpc=kwargs.pop("rpc"),
            keystore_path=kwargs.pop("keystore"),
            deployment_path=kwargs.pop("deployment"),
            fmt=kwargs.pop("fmt"),
            password_file=kwargs.pop("password_file"),
        )
        return command(options, **kwargs)

    decorators = [
        click.option(
            "--rpc",
            metavar="URL",
            help="Chain URL: embedded:///path/chain.db, http(s)://… or ws(s)://… "
            "(default: LEDGERLINE_CHAIN_URL, else the embedded chain in the instance folder).",
        ),
        click.option(
            "--keystore",
            metavar="PATH",
            help="Keystore directory (default: LEDGERLINE_KEYSTORE, else instance/keystore).",
        ),
        click.option(
            "--deployment",
            metavar="PATH",
            help="Deployment file "
            "(default: LEDGERLINE_DEPLOYMENT_FILE, else in the instance folder).",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Output format.",
        ),
        click.option(
            "--password-file",
            metavar="FILE",
            help=f"File whose first line is the key password (else {PASSWORD_ENV}, else a prompt).",
        ),
    ]
    for decorator in reversed(decorators):
        wrapper = decorator(wrapper)
    return wrapper  # type: ignore[return-value]


def emit(options: Options, data: Any, text: str | Sequence[str]) -> None:
    if options.fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text if isinstance(text, str) else "\n".join(text))


def note(message: str) -> None:
    """Progress for people, on stderr so that --format json stays parseable."""
    click.echo(message, err=True)


@contextmanager
def open_chain(options: Options) -> Iterator[Chain]:
    chain = connect(options.chain_url)
    try:
        yield chain
    finally:
        chain.close()


def unlock_sender(
    options: Options, chain: Chain | None, address: str | None, *, create: bool = False
) -> LocalAccount:
    """The key to sign with: ``--from``, else the keystore's only key.

    With ``create`` and an empty keystore, a new key is made (labelled ``deployer``).  On a
    development chain an unfunded sender is funded automatically.
    """
    keystore = options.keystore()
    if address:
        info = keystore.find(to_address(address, "--from address"))
    else:
        keys = keystore.list()
        if not keys and create:
            password = options.password("the new deployer key", confirm=True)
            new = keystore.new(password, label="deployer")
            note(f"created deployer key {new} in {keystore.path}")
            info = keystore.find(new)
            account = keystore.unlock(info.address, password)
            if chain is not None:
                _fund(chain, account)
            return account
        if not keys:
            raise LedgerConfigError(
                f"keystore {keystore.path} holds no key; create one with `ledgerline keys new`"
            )
        if len(keys) > 1:
            raise LedgerValueError(
                f"keystore {keystore.path} holds {len(keys)} keys; choose one with --from ADDRESS"
            )
        info = keys[0]
    account = keystore.unlock(info.address, options.password(f"key {info.address}"))
    if chain is not None:
        _fund(chain, account)
    return account


def _fund(chain: Chain, account: LocalAccount) -> None:
    if chain.is_dev and chain.ensure_funded(
        account.address, SENDER_MINIMUM_WEI, SENDER_FUNDING_WEI
    ):
        note(f"funded {account.address} on development chain {chain.chain_id}")


# -- the command tree ---------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledgerline")
def cli() -> None:
    """Ledgerline: inter-operator settlement on a permissioned EVM chain."""


@cli.group()
def chain() -> None:
    """The chain connection."""


@chain.command("info")
@common_options
def chain_info(options: Options) -> None:
    """Show the chain: URL, chain id, head block, client and gas price."""
    with open_chain(options) as ch:
        info = ch.info()
    lines = [f"{key:15} {value}" for key, value in info.items() if value is not None]
    emit(options, info, lines)


@cli.group()
def keys() -> None:
    """Encrypted V3 keystore files (geth/MetaMask compatible)."""


@keys.command("new")
@click.option("--label", help="A name to remember the key by.")
@common_options
def keys_new(options: Options, label: str | None) -> None:
    """Create a new key, encrypted with the password."""
    keystore = options.keystore()
    password = options.password("the new key", confirm=True)
    address = keystore.new(password, label=label)
    info = keystore.find(address)
    emit(
        options,
        {"address": address, "label": label, "path": str(info.path)},
        f"created {address} in {info.path}",
    )


@keys.command("list")
@common_options
def keys_list(options: Options) -> None:
    """List the keys of the keystore."""
    keystore = options.keystore()
    found = keystore.list()
    data = [{"address": k.address, "label": k.label, "path": str(k.path)} for k in found]
    lines = [f"{k.address}  {k.label or '-':12}  {k.path.name}" for k in found]
    emit(options, data, lines or [f"no keys in {keystore.path}"])


@keys.command("import")
@click.argument("source")
@click.option("--label", help="A name to remember the key by.")
@common_options
def keys_import(options: Options, source: str, label: str | None) -> None:
    """Import SOURCE: a hex private key or a V3 keystore file."""
    keystore = options.keystore()
    is_file = Path(source).expanduser().is_file()
    password = options.password(
        f"keystore file {source}" if is_file else "the imported key", confirm=not is_file
    )
    address = keystore.import_key(Path(source) if is_file else source, password, label=label)
    info = keystore.find(address)
    emit(
        options,
        {"address": address, "label": label, "path": str(info.path)},
        f"imported {address} into {info.path}",
    )


@cli.command("deploy")
@click.option("--from", "sender", metavar="ADDRESS", help="Deployer key (default: the only key).")
@click.option(
    "--genesis",
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSON file of genesis members: {"members": [{"account", "legalName", "country", '
    '"code", "currencies", "roles"}]}.',
)
@click.option(
    "--governor",
    "governors",
    multiple=True,
    metavar="ADDRESS",
    help="A genesis governor (repeatable; placeholder metadata). Default: the deployer.",
)
@common_options
def deploy_command(
    options: Options, sender: str | None, genesis: Path | None, governors: tuple[str, ...]
) -> None:
    """Deploy the contracts not yet recorded in the deployment file."""
    from ledger.deploy import (
        GenesisMember,
        default_genesis,
        default_plan,
        deploy,
        load_genesis,
        plan_artifacts,
    )

    if genesis and governors:
        raise click.UsageError("give either --genesis or --governor, not both")
    plan_artifacts(default_plan([]))  # a missing or stale artifact stops us before any key
    with open_chain(options) as ch:
        deployer = unlock_sender(options, ch, sender, create=True)
        members: list[GenesisMember]
        if genesis:
            members = load_genesis(genesis)
        elif governors:
            members = [
                GenesisMember(
                    to_address(g, "--governor"),
                    f"Genesis governor {i + 1}",
                    "XX",
                    f"GOV{i + 1:02d}",
                    ("XDR",),
                    ("GOVERNOR",),
                )
                for i, g in enumerate(governors)
            ]
        else:
            members = default_genesis(deployer.address)
        file = options.deployment_file(ch)
        deployment = deploy(ch, deployer, file, default_plan(members))
    data = {
        "chainId": deployment.chain_id,
        "file": str(deployment.file),
        "created": list(deployment.created),
        "contracts": {n: c.to_json() for n, c in deployment.contracts.items()},
        "outdated": deployment.outdated,
    }
    lines = [
        f"{name:18} {c.address}  block {c.block_number}"
        + ("  (new)" if name in deployment.created else "")
        for name, c in deployment.contracts.items()
    ]
    lines.append(f"recorded in {deployment.file} (chain id {deployment.chain_id})")
    lines.extend(f"warning: {message}" for message in deployment.outdated.values())
    emit(options, data, lines)


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


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; every failure becomes one ``error:`` line and an exit status."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="ledgerline",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.UsageError as exc:
        hint = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message().rstrip('.')}{hint}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except LedgerError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        click.echo(
            f"error: unexpected {type(exc).__name__}: {_one_line(str(exc))}; "
            f"set {DEBUG_ENV}=1 to see the traceback",
            err=True,
        )
        return 1
    return result if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


if __name__ == "__main__":
    sys.exit(main())
