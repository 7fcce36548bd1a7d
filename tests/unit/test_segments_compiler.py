"""The compiler and the evaluator on a small fixed audience: every operator of every field
type selects exactly the expected contacts, in SQLite and in memory alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import app.accounts.models
import app.audience.models
from app.audience.models import Contact, Organisation
from app.database import Base
from app.segments import compiler, evaluator
from app.segments.fields import FIELDS, OPERATORS
from app.segments.rules import RuleTreeError, parse_rules
from app.segments.targets import parse_target
from tests.segments_support import (
    FIXED,
    FIXED_CASES,
    FIXED_TARGETS,
    FIXED_TREES,
    TODAY,
    facts,
    rule,
    store,
    tree,
)

assert app.accounts.models and app.audience.models


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        store(connection, FIXED)
    yield engine
    engine.dispose()


def sql_matches(engine: Engine, raw_tree: dict[str, Any]) -> set[int]:
    parsed = parse_rules(raw_tree)
    with Session(engine) as session:
        query = (
            select(Contact.id).join(Organisation).where(compiler.compile_tree(parsed.root, TODAY))
        )
        return set(session.scalars(query))


def memory_matches(raw_tree: dict[str, Any]) -> set[int]:
    parsed = parse_rules(raw_tree)
    contacts, _ = facts(FIXED)
    return {c.id for c in contacts if evaluator.matches(parsed.root, c, TODAY)}


def case_id(case: tuple[dict[str, Any], set[int]]) -> str:
    found = case[0]
    return f"{found['field']} {found['operator']} {found.get('value')!r}"


@pytest.mark.parametrize("case", FIXED_CASES, ids=case_id)
def test_each_rule_selects_exactly_the_expected_contacts(
    engine: Engine, case: tuple[dict[str, Any], set[int]]
) -> None:
    raw_rule, expected = case
    assert sql_matches(engine, tree(raw_rule)) == expected
    assert memory_matches(tree(raw_rule)) == expected


def test_the_fixed_cases_cover_every_operator_of_every_kind_of_field() -> None:
    # A kind is what the compiler switches on: type, source and nullability.
    def kind(name: str, operator: str) -> tuple[str, str, bool, str]:
        spec = FIELDS[name]
        return (spec.type.value, spec.source.value, spec.nullable, operator)

    covered = {kind(case["field"], case["operator"]) for case, _ in FIXED_CASES}
    wanted = {kind(name, op) for name, spec in FIELDS.items() for op in spec.operators}
    assert wanted - covered == set()
    assert {case["operator"] for case, _ in FIXED_CASES} == set(OPERATORS)


@pytest.mark.parametrize("case", FIXED_TREES, ids=lambda case: str(sorted(case[1])))
def test_groups_combine_and_negate_as_two_valued_logic(
    engine: Engine, case: tuple[dict[str, Any], set[int]]
) -> None:
    raw_tree, expected = case
    assert sql_matches(engine, raw_tree) == expected
    assert memory_matches(raw_tree) == expected


@pytest.mark.parametrize("case", FIXED_TARGETS, ids=lambda case: str(case[0]))
def test_targets_keep_only_reachable_contacts_of_the_chosen_roles(
    engine: Engine, case: tuple[dict[str, Any], list[int], dict[str, list[tuple[int, str]]]]
) -> None:
    raw_target, expected_ids, expected_recipients = case
    root = parse_rules(tree()).root
    target = parse_target(raw_target)
    contacts, suppressions = facts(FIXED)
    with Session(engine) as session:
        assert list(session.scalars(compiler.ids_query(root, target, TODAY))) == expected_ids
        assert session.scalar(compiler.count_query(root, target, TODAY)) == len(expected_ids)
        for channel, recipients in expected_recipients.items():
            rows = session.execute(compiler.recipients_query(root, target, channel, TODAY))
            assert [tuple(row) for row in rows] == recipients
    assert sorted(evaluator.select_target_ids(root, target, contacts, suppressions, TODAY)) == (
        expected_ids
    )
    for channel, recipients in expected_recipients.items():
        assert (
            evaluator.select_recipients(root, target, channel, contacts, suppressions, TODAY)
            == recipients
        )


def test_the_sample_lists_the_first_rows_of_the_target_by_id(engine: Engine) -> None:
    root = parse_rules(tree(rule("region", "in", ["North", "Süd"]))).root
    with Session(engine) as session:
        contacts = parse_target({"level": "contacts", "channel": "email"})
        rows = session.execute(compiler.sample_query(root, contacts, TODAY, size=2)).all()
        assert [(r.contact_id, r.email, r.legal_name) for r in rows] == [
            (1, "ceo@acme.test", "Acme 100% Telecom_Ltd"),
            (2, "billing@acme.test", "Acme 100% Telecom_Ltd"),
        ]
        organisations = parse_target({"level": "organisations", "channel": "email"})
        rows = session.execute(compiler.sample_query(root, organisations, TODAY)).all()
        assert [(r.organisation_id, r.external_id) for r in rows] == [
            (1, "ACME-001"),
            (3, "GAMMA_003"),
        ]


# -- injection ---------------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE contacts; --",
    "North' OR '1'='1",
    '" OR 1=1 --',
    "%' OR 1=1 --",
    "x\\'; DELETE FROM organisations; --",
    "North); DROP TABLE organisations; --",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("operator", ["=", "!=", "in", "notIn", "contains", "beginsWith"])
def test_hostile_values_are_bound_parameters_that_match_nothing_and_harm_nothing(
    engine: Engine, value: str, operator: str
) -> None:
    raw_value: Any = [value] if operator in ("in", "notIn") else value
    expected = set(range(1, 8)) if operator in ("!=", "notIn") else set()
    assert sql_matches(engine, tree(rule("region", operator, raw_value))) == expected
    parsed = parse_rules(tree(rule("region", operator, raw_value)))
    target = parse_target({"level": "contacts", "channel": "email"})
    query = compiler.count_query(parsed.root, target, TODAY)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        text = str(query.compile(dialect=dialect))
        assert "DROP" not in text and "DELETE" not in text and "1=1" not in text
    with Session(engine) as session:
        assert set(inspect(engine).get_table_names()) >= {"contacts", "organisations"}
        assert session.scalar(select(func.count()).select_from(Contact)) == 7


@pytest.mark.parametrize(
    "name",
    [
        "region; DROP TABLE contacts",
        "organisations.region",
        "contacts.email",
        "region OR 1=1",
        "__class__",
        "subscription.mrr",
    ],
)
def test_field_names_outside_the_registry_are_refused(name: str) -> None:
    with pytest.raises(RuleTreeError) as caught:
        parse_rules(tree(rule(name, "=", "x")))
    assert caught.value.details["path"] == "rules[0].field"
    assert caught.value.message.startswith("rules[0].field: unknown field ")


def test_a_count_is_one_sql_statement_with_the_values_bound() -> None:
    parsed = parse_rules(
        tree(
            rule("region", "=", "North"),
            rule("subscription.active_product", "=", "cloud"),
            rule("contact.role", "=", "billing"),
            rule("monthly_spend", ">=", "1000"),
        )
    )
    target = parse_target({"level": "contacts", "channel": "email"})
    compiled = compiler.count_query(parsed.root, target, TODAY).compile(
        dialect=postgresql.dialect()
    )
    text = str(compiled)
    assert text.count(";") == 0 and text.startswith("SELECT count(*)")
    assert "North" not in text and "billing" not in text
    bound = [
        v
        for value in compiled.params.values()
        for v in (value if isinstance(value, list) else [value])
    ]
    assert {"North", "cloud", "billing"} <= set(bound)
