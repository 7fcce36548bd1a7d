"""``flask --app app init`` and ``create-user``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import inspect

from app.accounts import services
from app.extensions import db
from tests.integration.app_fixtures import login


def test_init_builds_the_schema_deploys_the_contracts_and_prints_the_admin_password_once(
    make_app: Callable[..., Flask], empty_database_url: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    app = make_app(DATABASE_URL=empty_database_url, CHAIN_URL=f"embedded://{instance / 'chain.db'}")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init"], env={"LEDGERLINE_ADMIN_EMAIL": "boss@example.com"})
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert re.fullmatch(r"database: schema at revision [0-9a-f]{12}", lines[0])
    assert re.match(r"chain \d+: deployed OperatorRegistry", lines[1])
    assert lines[2] == f"chain: the deployer key's password is in {instance / 'deployer-password'}"
    password = re.search(r"admin: created boss@example.com with password (\S+)", first.output)
    assert password, first.output
    with app.app_context():
        assert "users" in inspect(db.engine).get_table_names()
    recorded = json.loads((instance / "deployment.json").read_text())
    assert "OperatorRegistry" in recorded["contracts"]
    assert login(app.test_client(), "boss@example.com", password.group(1)).status_code == 302

    again = runner.invoke(args=["init"])
    assert again.exit_code == 0, again.output
    assert re.search(r"chain \d+: contracts already deployed", again.output)
    assert "admin: an active admin exists; unchanged" in again.output
    assert "password" not in again.output
    assert (
        json.loads((instance / "deployment.json").read_text())["contracts"] == recorded["contracts"]
    )


def test_init_takes_the_admin_password_from_the_environment(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["init", "--skip-chain"],
        env={
            "LEDGERLINE_ADMIN_EMAIL": "boss@example.com",
            "LEDGERLINE_ADMIN_PASSWORD": "pw from env",
        },
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "chain: skipped (--skip-chain)",
        "admin: created boss@example.com",
    ]
    assert login(app.test_client(), "boss@example.com", "pw from env").status_code == 302


def test_init_with_a_bad_admin_password_fails_in_one_line(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["init", "--skip-chain", "--admin-password", "short"]
    )
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: the password has 5 characters; use at least 8"
    )
    assert "Traceback" not in result.output


def test_init_refuses_a_deployment_file_of_another_chain(chain_app: Flask) -> None:
    path = Path(chain_app.config["DEPLOYMENT_FILE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "chainId": 31337, "contracts": {}}))
    result = chain_app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        f"Error: deployment file {path} is for chain id 31337 but "
    )


def test_create_user_makes_a_user_with_roles_and_prints_a_generated_password(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "create-user",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--role",
            "operator",
            "--member-address",
            "0x" + "12" * 20,
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created ops@example.com (operator) with password ")
    with app.app_context():
        user = services.find_user_by_email("ops@example.com")
        assert user is not None
        assert user.member_address == "0x1212121212121212121212121212121212121212"
    refused = app.test_cli_runner().invoke(
        args=["create-user", "--email", "x@example.com", "--name", "X", "--role", "wizard"]
    )
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "Error: unknown role 'wizard'; use one of: admin, marketer, approver, compliance, "
        "auditor, operator, clearing_agent"
    )
