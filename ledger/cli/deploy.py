"""``ledgerline deploy``: deploy the contracts not yet recorded in the deployment file."""

from __future__ import annotations

from pathlib import Path

import click

from ledger._utils.addresses import to_address
from ledger.cli._app import Options, cli, common_options, emit, open_chain, unlock_sender


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
