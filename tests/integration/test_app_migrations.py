"""The schema comes only from migrations, and the migrations match the models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import MIGRATIONS_DIR
from app.extensions import db


def test_the_migrated_schema_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], (
        "the models and the migrations differ; write a migration with "
        "`flask --app app db migrate`, or import the feature's models from its blueprint "
        "in app/blueprints.py: " + "; ".join(str(d)[:160] for d in differences[:5])
    )


def test_migrations_build_an_empty_database_and_tear_it_down_again(
    make_app: Callable[..., Flask], empty_database_url: str, tmp_path: Path
) -> None:
    app = make_app(DATABASE_URL=empty_database_url, INSTANCE=str(tmp_path / "fresh"))
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
        upgrade(directory=str(MIGRATIONS_DIR))
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "user_roles", "api_tokens", "alembic_version"} <= tables
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
        assert inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade(directory=str(MIGRATIONS_DIR))
        assert set(inspect(db.engine).get_table_names()) == tables
