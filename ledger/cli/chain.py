"""``ledgerline chain``: the chain connection."""

from __future__ import annotations

from ledger.cli._app import Options, cli, common_options, emit, open_chain


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
