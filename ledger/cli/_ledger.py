"""What the settlement commands share: the deployed contracts, partner names, the signer's
address, progress bars and the options that go with them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click
from eth_typing import ChecksumAddress

from ledger._utils.addresses import to_address
from ledger.chain import Chain
from ledger.cli._app import F, Options, note, open_chain
from ledger.errors import LedgerConfigError, LedgerValueError
from ledger.reconcile import PartnerDirectory
from ledger.registry import RegistryClient
from ledger.settlement import Progress, SettlementClient, format_amount


@dataclass
class Ledger:
    """The chain, the settlement ledger and the registry of one command run."""

    chain: Chain
    settlement: SettlementClient
    registry: RegistryClient
    _directory: PartnerDirectory | None = field(default=None, repr=False)

    def directory(self) -> PartnerDirectory:
        """Registry members by code and address (read once per run)."""
        if self._directory is None:
            self._directory = PartnerDirectory.from_members(self.registry.members())
        return self._directory

    def party(self, text: str, what: str = "party") -> ChecksumAddress:
        """An operator given by 0x address or by registry member code."""
        value = text.strip()
        if value.lower().startswith("0x"):
            return to_address(value, what)
        try:
            return self.directory().resolve(value)
        except LedgerValueError:
            raise LedgerValueError(
                f"{what} {value!r} is neither a registry member code nor a 0x address; "
                "`ledgerline registry members` lists the members"
            ) from None

    def name(self, address: str) -> str:
        """The member code of ``address`` if it has one, else the address."""
        return self.directory().name(address)


@contextmanager
def open_ledger(options: Options) -> Iterator[Ledger]:
    from ledger.deploy import load_deployment

    with open_chain(options) as ch:
        deployment = load_deployment(ch, options.deployment_file(ch))
        for message in deployment.outdated.values():
            note(f"warning: {message}")
        address = deployment.address("SettlementLedger")
        yield Ledger(
            ch,
            SettlementClient(
                ch, address, start_block=deployment.contracts["SettlementLedger"].block_number
            ),
            RegistryClient(ch, deployment.address("OperatorRegistry")),
        )


def key_address(options: Options, sender: str | None) -> ChecksumAddress:
    """The signer's address without unlocking it: ``--from``, else the only key."""
    keystore = options.keystore()
    if sender:
        return keystore.find(to_address(sender, "--from address")).address
    keys = keystore.list()
    if not keys:
        raise LedgerConfigError(
            f"keystore {keystore.path} holds no key; import the operator's key with "
            "`ledgerline keys import`"
        )
    if len(keys) > 1:
        raise LedgerValueError(
            f"keystore {keystore.path} holds {len(keys)} keys; choose one with --from ADDRESS"
        )
    return keys[0].address


def sender_option(command: F) -> F:
    return click.option(
        "--from",
        "sender",
        metavar="ADDRESS",
        help="The key to sign with (default: the keystore's only key).",
    )(command)


def batch_options(command: F) -> F:
    command = click.option(
        "--progress/--no-progress",
        "progress",
        default=None,
        help="Show a progress bar on stderr (default: when stderr is a terminal).",
    )(command)
    return click.option(
        "--batch-size",
        type=click.IntRange(1),
        default=None,
        metavar="N",
        help="Records per transaction (default 100, at most the contract's MAX_BATCH_SIZE).",
    )(command)


@contextmanager
def progress_bar(enabled: bool | None, label: str, total: int) -> Iterator[Progress | None]:
    """A ``progress(done, total)`` callback drawing a click progress bar on stderr, or None
    when progress is off (default: on when stderr is a terminal)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show or total == 0:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        shown = 0

        def update(done: int, _total: int) -> None:
            nonlocal shown
            bar.update(done - shown)
            shown = done

        yield update


def money(amount: int, currency: str) -> str:
    return f"{currency} {format_amount(amount, currency)}"


def plain(value: Any) -> Any:
    """JSON-ready: bytes as 0x-hex."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
