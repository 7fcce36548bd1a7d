"""Fixtures for the web app's tests: every app test runs on SQLite and on PostgreSQL.

``app_database`` is session-scoped and parametrised over both backends: the schema is
built once per backend by running the Alembic migrations (SQLite: a temporary file;
PostgreSQL: a fresh schema of its own, dropped at the end).  After each test every table
is emptied, so each test starts from a clean, fully migrated database.

CSRF stays ON (``TestConfig``): tests post the token the page rendered, as a browser does.
The chain URL points at a closed local port unless a test asks for ``chain_app``, so
pages that show the chain status do not open an embedded chain they do not need.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from app import MIGRATIONS_DIR, create_app
from app.config import TestConfig, settings_from_object
from tests.conftest import free_port

BACKENDS = ["sqlite", "postgresql"]
_CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class AppDatabase:
    backend: str
    url: str
    engine: Engine  # for cleaning up between tests; the app has its own

    def clean(self) -> None:
        tables = [t for t in inspect(self.engine).get_table_names() if t != "alembic_version"]
        if not tables:
            return
        with self.engine.begin() as connection:
            if self.backend == "postgresql":
                joined = ", ".join(f'"{t}"' for t in tables)
                connection.execute(text(f"TRUNCATE TABLE {joined} RESTART IDENTITY CASCADE"))
            else:
                connection.execute(text("PRAGMA foreign_keys=OFF"))
                for table in tables:
                    connection.execute(text(f'DELETE FROM "{table}"'))


def migrated_app(url: str, instance: Path) -> Flask:
    """An app on ``url`` with every migration applied."""
    app = create_app(
        {**settings_from_object(TestConfig), "DATABASE_URL": url, "INSTANCE": str(instance)}
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return app


def dispose(app: Flask) -> None:
    from app.extensions import chain, db

    chain.close(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def postgres_schema_url(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=BACKENDS)
def app_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppDatabase]:
    workdir = tmp_path_factory.mktemp(f"app-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'ledgerline.db'}"
        dispose(migrated_app(url, workdir / "instance"))
        engine = create_engine(url)
        yield AppDatabase("sqlite", url, engine)
        engine.dispose()
        return

    base_url: str = request.getfixturevalue("postgres_url")
    schema = f"ll_app_test_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = postgres_schema_url(base_url, schema)
    try:
        dispose(migrated_app(url, workdir / "instance"))
        engine = create_engine(url)
        yield AppDatabase("postgresql", url, engine)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def empty_database_url(
    app_database: AppDatabase, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A database with no tables yet, on the same backend as ``app_database``."""
    if app_database.backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base_url: str = request.getfixturevalue("postgres_url")
    schema = f"ll_app_empty_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(base_url, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def unreachable_chain_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def make_app(
    app_database: AppDatabase, tmp_path: Path, unreachable_chain_url: str
) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test database; settings given as keyword arguments override."""
    made: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        settings = {
            **settings_from_object(TestConfig),
            "DATABASE_URL": app_database.url,
            "INSTANCE": str(tmp_path / "instance"),
            "CHAIN_URL": unreachable_chain_url,
            **overrides,
        }
        app = create_app(settings)
        made.append(app)
        return app

    yield factory
    for app in made:
        dispose(app)
    app_database.clean()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def chain_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    """An app on its own embedded chain in the test's instance folder."""
    return make_app(CHAIN_URL=f"embedded://{tmp_path / 'instance' / 'chain.db'}")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """Create a user through the service layer; returns the user's id."""
    from app.accounts import services

    def factory(
        email: str = "ada@example.com",
        password: str = "correct horse battery",
        roles: tuple[str, ...] = (),
        display_name: str = "Ada Lovelace",
        member_address: str | None = None,
    ) -> int:
        with app.app_context():
            user = services.create_user(email, display_name, password, roles, member_address)
            return int(user.id)

    return factory


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token a browser would find in the page at ``path``."""
    page = client.get(path).get_data(as_text=True)
    match = _CSRF_FIELD.search(page) or _CSRF_META.search(page)
    assert match, f"no CSRF token in {path}"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str, next_path: str | None = None) -> Any:
    """Sign in through the login form, CSRF token included; returns the response."""
    token = csrf_token(client, "/login")
    url = "/login" if next_path is None else f"/login?next={next_path}"
    return client.post(url, data={"email": email, "password": password, "csrf_token": token})


def post_form(
    client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """POST like a browser: with the CSRF token of a page the user can see."""
    token = csrf_token(client, "/account")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)
