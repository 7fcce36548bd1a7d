"""The segment engine on PostgreSQL: the fixed cases select exactly what they select on
SQLite, and SQL agrees with the in-memory evaluator on random trees and data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.audience.models import Contact, Organisation
from app.segments import compiler, evaluator
from app.segments.rules import parse_rules
from app.segments.targets import parse_target
from tests.integration.app_fixtures import AppDatabase
from tests.segments_support import (
    FIXED,
    FIXED_CASES,
    FIXED_TARGETS,
    FIXED_TREES,
    TODAY,
    Dataset,
    check_agreement,
    datasets,
    facts,
    rule_trees,
    rules,
    store,
    targets,
    tree,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("app_database", ["postgresql"], indirect=True),
]


@pytest.fixture
def engine(app_database: AppDatabase) -> Iterator[Engine]:
    yield app_database.engine
    app_database.clean()


@pytest.fixture
def fixed(engine: Engine) -> Engine:
    with engine.begin() as connection:
        store(connection, FIXED)
    return engine


def test_every_fixed_rule_and_tree_selects_the_expected_contacts(fixed: Engine) -> None:
    wrong = []
    with Session(fixed) as session:
        for raw_tree, expected in [(tree(r), ids) for r, ids in FIXED_CASES] + FIXED_TREES:
            where = compiler.compile_tree(parse_rules(raw_tree).root, TODAY)
            found = set(session.scalars(select(Contact.id).join(Organisation).where(where)))
            if found != expected:
                wrong.append((raw_tree, found, expected))
    assert wrong == []


@pytest.mark.parametrize("case", FIXED_TARGETS, ids=lambda case: str(case[0]))
def test_every_fixed_target_selects_the_expected_recipients(
    fixed: Engine, case: tuple[dict[str, Any], list[int], dict[str, list[tuple[int, str]]]]
) -> None:
    raw_target, expected_ids, expected_recipients = case
    root = parse_rules(tree()).root
    target = parse_target(raw_target)
    with Session(fixed) as session:
        assert list(session.scalars(compiler.ids_query(root, target, TODAY))) == expected_ids
        assert session.scalar(compiler.count_query(root, target, TODAY)) == len(expected_ids)
        for channel, recipients in expected_recipients.items():
            rows = session.execute(compiler.recipients_query(root, target, channel, TODAY))
            assert [tuple(row) for row in rows] == recipients


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=datasets(), raw_tree=rule_trees, raw_target=targets)
def test_sql_on_postgresql_agrees_with_the_in_memory_evaluator(
    engine: Engine, data: Dataset, raw_tree: dict[str, Any], raw_target: dict[str, Any]
) -> None:
    check_agreement(engine, data, raw_tree, raw_target)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=datasets(), rule=rules(), negated=st.booleans(), raw_target=targets)
def test_every_single_rule_on_postgresql_agrees_with_the_in_memory_evaluator(
    engine: Engine, data: Dataset, rule: dict[str, Any], negated: bool, raw_target: Any
) -> None:
    check_agreement(
        engine, data, {"combinator": "and", "not": negated, "rules": [rule]}, raw_target
    )


def test_the_evaluator_loads_from_postgresql_what_was_stored(fixed: Engine) -> None:
    expected, suppressions = facts(FIXED)
    with Session(fixed) as session:
        assert evaluator.load_facts(session) == expected
        assert evaluator.load_suppressions(session) == suppressions
