"""``flask --app app ...`` commands: ``init`` and ``create-user``.

Errors print one line (``Error: ...``) and exit non-zero; no tracebacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade

from app.errors import AppError
from ledger.errors import LedgerError

DEFAULT_ADMIN_EMAIL = "admin@ledgerline.example"


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except (AppError, LedgerError) as exc:
        raise click.ClickException(str(exc)) from None


def migrate_database() -> str:
    """Bring the schema to the newest migration; returns the revision now applied."""
    from alembic.migration import MigrationContext

    from app import MIGRATIONS_DIR
    from app.extensions import db

    upgrade(directory=str(MIGRATIONS_DIR))
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() or "base"


def ensure_first_admin(email: str, password: str | None) -> tuple[Any, str | None]:
    """The first admin: created (with a generated password if none) unless an active
    admin exists.  Returns (user or None, the password to show once or None)."""
    from app.accounts import passwords, services

    if services.count_active_admins() > 0:
        return None, None
    shown = None
    if not password:
        password = shown = passwords.generate_password()
    user = services.create_user(email, "Administrator", password, roles=["admin"])
    return user, shown


@click.command("init")
@click.option(
    "--admin-email",
    envvar="LEDGERLINE_ADMIN_EMAIL",
    default=DEFAULT_ADMIN_EMAIL,
    show_default=True,
    help="Email of the first admin (env LEDGERLINE_ADMIN_EMAIL).",
)
@click.option(
    "--admin-password",
    envvar="LEDGERLINE_ADMIN_PASSWORD",
    default=None,
    help="Password of the first admin (env LEDGERLINE_ADMIN_PASSWORD); generated if unset.",
)
@click.option(
    "--deployer-password",
    envvar="LEDGERLINE_KEY_PASSWORD",
    default=None,
    help="Password of the deployer key (env LEDGERLINE_KEY_PASSWORD, as for `ledgerline`); "
    "on a development chain, generated and kept in <instance>/deployer-password.",
)
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON file of the registry's genesis members (default: the deployer alone).",
)
@click.option("--skip-chain", is_flag=True, help="Only the database and the first admin.")
@with_appcontext
def init_command(
    admin_email: str,
    admin_password: str | None,
    deployer_password: str | None,
    genesis_file: Path | None,
    skip_chain: bool,
) -> None:
    """Create or upgrade the schema, deploy the contracts if needed, create the first admin.

    Safe to run again: it changes only what is missing.
    """
    from app.chain_setup import ensure_contracts

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with _one_line_errors():
        revision = migrate_database()
        click.echo(f"database: schema at revision {revision}")
        if skip_chain:
            click.echo("chain: skipped (--skip-chain)")
        else:
            report = ensure_contracts(app, password=deployer_password, genesis_file=genesis_file)
            if report.created:
                click.echo(
                    f"chain {report.chain_id}: deployed {', '.join(report.created)} "
                    f"from {report.deployer}"
                )
                if report.password_file:
                    click.echo(f"chain: the deployer key's password is in {report.password_file}")
            else:
                click.echo(f"chain {report.chain_id}: contracts already deployed")
            for name, address in report.addresses.items():
                click.echo(f"  {name}: {address}")
            if report.anchorer is not None:
                click.echo(f"chain: {report.anchorer.describe()}")
        from app.approvals.services import ensure_default_policy

        ensure_default_policy()  # the approval policy campaigns follow unless given another
        user, shown = ensure_first_admin(admin_email, admin_password)
        if user is None:
            click.echo("admin: an active admin exists; unchanged")
        elif shown:
            click.echo(f"admin: created {user.email} with password {shown}")
            click.echo("       (shown once: sign in and change it on your account page)")
        else:
            click.echo(f"admin: created {user.email}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--role", "roles", multiple=True, help="Repeat for several roles.")
@click.option("--member-address", default=None, help="For the operator/clearing_agent roles.")
@click.option("--password", default=None, help="Generated and printed if unset.")
@with_appcontext
def create_user_command(
    email: str,
    display_name: str,
    roles: tuple[str, ...],
    member_address: str | None,
    password: str | None,
) -> None:
    """Create a user (for scripts and demos; admins use the Users page)."""
    from app.accounts import passwords, services

    with _one_line_errors():
        shown = None
        if not password:
            password = shown = passwords.generate_password()
        user = services.create_user(email, display_name, password, roles, member_address)
    suffix = f" with password {shown}" if shown else ""
    click.echo(f"created {user.email} ({', '.join(sorted(r.value for r in user.roles))}){suffix}")


COMMANDS: tuple[Callable[..., Any], ...] = (init_command, create_user_command)


def register_cli(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)  # type: ignore[arg-type]
