"""``ledgerline keys``: encrypted V3 keystore files."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.cli._app import Options, cli, common_options, emit


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
