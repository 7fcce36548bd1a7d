"""The SQL compiler and the in-memory evaluator agree on random trees and random data.

Each example writes a random audience into SQLite, draws a random valid tree from the
field registry (every field, every operator) and a random target, then compares the ids
SQL selects with the evaluator's verdict on every contact.  The same property runs on
PostgreSQL in ``tests/integration/test_segments_engine_pg.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import app.accounts.models
import app.audience.models
from app.database import Base
from app.segments import evaluator
from tests.segments_support import (
    Dataset,
    check_agreement,
    datasets,
    facts,
    rule_trees,
    rules,
    store,
    targets,
)

assert app.accounts.models and app.audience.models  # the tables the engine reads


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=datasets(), raw_tree=rule_trees, raw_target=targets)
def test_sql_and_in_memory_evaluation_select_the_same_ids(
    engine: Engine, data: Dataset, raw_tree: dict[str, Any], raw_target: dict[str, Any]
) -> None:
    check_agreement(engine, data, raw_tree, raw_target)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=datasets(), rule=rules(), negated=st.booleans(), raw_target=targets)
def test_every_single_rule_selects_the_same_ids_in_sql_and_in_memory(
    engine: Engine, data: Dataset, rule: dict[str, Any], negated: bool, raw_target: Any
) -> None:
    # One rule per tree, so each operator's own verdict is compared, not washed out.
    tree = {"combinator": "and", "not": negated, "rules": [rule]}
    check_agreement(engine, data, tree, raw_target)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets())
def test_load_facts_reads_back_what_was_stored(engine: Engine, data: Dataset) -> None:
    with engine.begin() as connection:
        store(connection, data)
    expected, expected_suppressions = facts(data)
    with Session(engine) as session:
        assert evaluator.load_facts(session) == expected
        assert evaluator.load_suppressions(session) == expected_suppressions
        if data.organisations:
            assert evaluator.load_facts(session, (1, 1)) == [
                c for c in expected if c.organisation.id == 1
            ]
