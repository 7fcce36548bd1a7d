"""What every ``ledgerline`` command shares: options, output, the chain, the signing key,
the root group and the entry point that turns every failure into one ``error:`` line."""

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
