"""Checking rule trees and targets: every refusal names the node's path and what is allowed."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
import rfc8785

from app.segments.fields import FIELDS, MAX_LIST, MAX_RULES
from app.segments.rules import Problem, RuleTreeError, parse_rules
from app.segments.services import parse_definition
from app.segments.targets import TargetError, parse_target
from tests.segments_support import rule, tree


def problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(RuleTreeError) as caught:
        parse_rules(raw)
    return [(p.path, p.message) for p in caught.value.problems]


def nested(depth: int) -> dict[str, Any]:
    node = tree(rule("region", "=", "North"))
    for _ in range(depth - 1):
        node = tree(node)
    return node


# -- structure -------------------------------------------------------------------------------


def test_the_root_must_be_a_group() -> None:
    message = (
        'the rule tree must be a group object {"combinator": "and"|"or", "not": false, '
        '"rules": [...]}'
    )
    assert problems([rule("region", "=", "North")]) == [("", message)]
    assert problems(rule("region", "=", "North")) == [("", message)]
    with pytest.raises(RuleTreeError) as caught:
        parse_rules(None)
    assert caught.value.message == f"the rule tree: {message}"


def test_group_keys_combinator_not_and_rules_are_checked() -> None:
    raw = {"combinator": "xor", "not": "yes", "rules": [], "sort": "name"}
    assert problems(raw) == [
        ("sort", "unknown key in a group"),
        ("combinator", "the combinator must be 'and' or 'or', got 'xor'"),
        ("not", "'not' must be true or false, got 'yes'"),
    ]
    assert problems({"combinator": "and", "rules": "region = North"}) == [
        ("rules", "'rules' must be a list, got 'region = North'")
    ]


def test_a_child_must_be_a_rule_or_a_group() -> None:
    assert problems(tree("and", 42)) == [  # type: ignore[arg-type]
        (
            "rules[0]",
            "expected a rule {field, operator, value} or a group {combinator, not, rules}, "
            "got 'and'",
        ),
        (
            "rules[1]",
            "expected a rule {field, operator, value} or a group {combinator, not, rules}, got 42",
        ),
    ]


def test_nesting_is_limited_to_ten_levels() -> None:
    assert parse_rules(nested(10)).root is not None
    path = ".".join(["rules[0]"] * 10)
    assert problems(nested(11)) == [
        (path, "groups nest at most 10 levels deep; this group is level 11, flatten the tree")
    ]


def test_a_tree_has_a_bounded_number_of_rules() -> None:
    raw = tree(*[rule("region", "=", "North")] * MAX_RULES)
    assert problems(raw) == [("", f"the tree has {MAX_RULES + 1} rules and groups; at most 500")]


def test_every_problem_is_reported_with_its_own_path() -> None:
    raw = tree(
        rule("region", "=", "North"),
        tree(rule("region", "=", 7), tree(rule("nope", "=", "x"))),
        rule("monthly_spend", "contains", "1"),
    )
    with pytest.raises(RuleTreeError) as caught:
        parse_rules(raw)
    error = caught.value
    assert error.message == (
        "rules[1].rules[0].value: 'region' needs a non-empty text value, got 7; use 'null' "
        "for a missing value (and 2 more problems)"
    )
    assert [e["path"] for e in error.details["errors"]] == [
        "rules[1].rules[0].value",
        "rules[1].rules[1].rules[0].field",
        "rules[2].operator",
    ]
    assert error.details["path"] == "rules[1].rules[0].value"
    assert error.status_code == 400 and error.code == "invalid_rules"


# -- rules ------------------------------------------------------------------------------------


def test_an_unknown_field_is_refused_listing_the_fields() -> None:
    with pytest.raises(RuleTreeError) as caught:
        parse_rules(tree(rule("organisation.region", "=", "North")))
    assert caught.value.problems == [
        Problem("rules[0].field", "unknown field 'organisation.region'", tuple(FIELDS))
    ]


def test_unknown_rule_keys_and_field_to_field_comparisons_are_refused() -> None:
    raw = tree({"field": "region", "operator": "=", "value": "x", "valueSource": "field"})
    raw["rules"].append({"field": "region", "operator": "=", "value": "x", "values": []})
    assert problems(raw) == [
        ("rules[0].valueSource", "only literal values are supported (valueSource 'value')"),
        ("rules[1].values", "unknown key in a rule"),
    ]


def test_react_querybuilder_ids_are_accepted_and_dropped() -> None:
    raw = {
        "id": "g-1",
        "combinator": "and",
        "rules": [{"id": "r-1", "field": "region", "operator": "=", "value": "North",
                   "valueSource": "value"}],
    }  # fmt: skip
    assert parse_rules(raw).document == {
        "combinator": "and",
        "not": False,
        "rules": [{"field": "region", "operator": "=", "value": "North"}],
    }


@pytest.mark.parametrize(
    ("field", "operator", "allowed"),
    [
        ("employee_band", ">", "=, !=, in, notIn"),
        ("region", "null", "=, !=, in, notIn, contains, beginsWith"),
        ("monthly_spend", "contains", "=, !=, <, <=, >, >=, between"),
        ("is_key_account", "in", "=, !="),
        ("subscription.active_product", "!=", "=, in, notIn"),
        ("legal_name", "endsWith", "=, !=, in, notIn, contains, beginsWith"),
        (
            "contract_start",
            "beginsWith",
            "=, !=, <, <=, >, >=, between, withinNextDays, withinLastDays, null, notNull",
        ),
    ],
)
def test_an_operator_the_field_type_does_not_have_is_refused(
    field: str, operator: str, allowed: str
) -> None:
    with pytest.raises(RuleTreeError) as caught:
        parse_rules(tree(rule(field, operator, "x")))
    kind = FIELDS[field].type.value
    assert caught.value.problems == [
        Problem(
            "rules[0].operator",
            f"'{operator}' is not an operator of the {kind} field '{field}'; use one of {allowed}",
            FIELDS[field].operators,
        )
    ]


@pytest.mark.parametrize(
    ("raw_rule", "path", "message"),
    [
        (rule("region", "=", ""), "rules[0].value",
         "'region' needs a non-empty text value, got ''; use 'null' for a missing value"),
        (rule("region", "=", ["North"]), "rules[0].value",
         "'region' needs a non-empty text value, got a list; use 'null' for a missing value"),
        (rule("region", "=", "x" * 101), "rules[0].value",
         "'region' values are at most 100 characters, got 101"),
        (rule("region", "=", "a\x00b"), "rules[0].value",
         "text values cannot contain NUL characters"),
        (rule("region", "=", "\ud800"), "rules[0].value",
         "text values must be valid Unicode (no lone surrogates)"),
        (rule("employee_band", "=", "huge"), "rules[0].value",
         "'huge' is not a value of 'employee_band'; use one of 1-9, 10-49, 50-249, 250-999, "
         "1000+"),
        (rule("contact.role", "in", ["billing", "ceo"]), "rules[0].value[1]",
         "'ceo' is not a value of 'contact.role'; use one of decision_maker, billing, "
         "technical, legal, other"),
        (rule("contact.role", "in", []), "rules[0].value",
         "'in' needs a non-empty list of values, got a list"),
        (rule("region", "notIn", "North"), "rules[0].value",
         "'notIn' needs a non-empty list of values, got 'North'"),
        (rule("region", "in", ["x"] * (MAX_LIST + 1)), "rules[0].value",
         "'in' takes at most 1000 values, got 1001"),
        (rule("is_key_account", "=", "true"), "rules[0].value",
         "'is_key_account' is true or false, got 'true'"),
        (rule("monthly_spend", ">", True), "rules[0].value",
         "'monthly_spend' needs a number, got true"),
        (rule("monthly_spend", ">", "1e3"), "rules[0].value",
         "'monthly_spend' needs a number like 1500 or 1500.50, got '1e3'"),
        (rule("monthly_spend", ">", "10.005"), "rules[0].value",
         "'monthly_spend' has at most 2 decimal places, got '10.005'"),
        (rule("monthly_spend", ">", float("nan")), "rules[0].value",
         "'monthly_spend' needs a finite number, got nan"),
        (rule("monthly_spend", ">", 10**12), "rules[0].value",
         "'monthly_spend' must be below 1,000,000,000,000 in absolute value"),
        (rule("monthly_spend", "between", [1]), "rules[0].value",
         "'between' needs two values [low, high], got a list"),
        (rule("monthly_spend", "between", "1,2"), "rules[0].value",
         "'between' needs two values [low, high], got '1,2'"),
        (rule("monthly_spend", "between", ["20", "10"]), "rules[0].value",
         "'between' needs low <= high, got [20, 10]; swap them"),
        (rule("monthly_spend", "between", ["1", "x"]), "rules[0].value[1]",
         "'monthly_spend' needs a number like 1500 or 1500.50, got 'x'"),
        (rule("contract_end", "=", "15/06/2025"), "rules[0].value",
         "'contract_end' needs a date as YYYY-MM-DD, got '15/06/2025'"),
        (rule("contract_end", "=", "2025-02-30"), "rules[0].value",
         "'2025-02-30' is not a calendar date"),
        (rule("contract_end", "withinNextDays", -1), "rules[0].value",
         "needs a whole number of days from 0 to 36600, got -1"),
        (rule("contract_end", "withinNextDays", 1.5), "rules[0].value",
         "needs a whole number of days from 0 to 36600, got 1.5"),
        (rule("contract_end", "null", "2025-01-01"), "rules[0].value",
         "'null' takes no value; omit it or send null"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_or_shape_is_refused(
    raw_rule: dict[str, Any], path: str, message: str
) -> None:
    assert problems(tree(raw_rule)) == [(path, message)]


def test_values_are_normalised_exactly() -> None:
    parsed = parse_rules(
        tree(
            rule("monthly_spend", ">=", 1500.5),
            rule("subscription.total_mrr", "between", ["0.10", 20]),
            rule("contract_end", "withinNextDays", "090"),
            rule("region", "in", ["North", "South", "North"]),
            rule("tax_id", "null", ""),
        )
    )
    assert parsed.document["rules"] == [
        {"field": "monthly_spend", "operator": ">=", "value": "1500.5"},
        {"field": "subscription.total_mrr", "operator": "between", "value": ["0.1", "20"]},
        {"field": "contract_end", "operator": "withinNextDays", "value": 90},
        {"field": "region", "operator": "in", "value": ["North", "South"]},
        {"field": "tax_id", "operator": "null", "value": None},
    ]
    first, second = parsed.root.children[:2]
    assert first.value == Decimal("1500.50")  # type: ignore[union-attr]
    assert second.value == (Decimal("0.10"), Decimal("20.00"))  # type: ignore[union-attr]


# -- targets and the definition hash ----------------------------------------------------------


def test_targets_are_checked_and_normalised() -> None:
    target = parse_target(
        {
            "level": "organisations",
            "roles": ["billing", "legal", "billing"],
            "channels": ["sms", "email"],
        }
    )
    assert target.as_json() == {
        "level": "organisations",
        "roles": ["billing", "legal"],
        "channels": ["email", "sms"],
    }
    assert parse_target({"level": "contacts", "channel": "webhook"}).channels == ("webhook",)


NO_CHANNELS = "expected a non-empty list of email, sms, webhook"
NOT_A_ROLE = "'ceo' is not one of decision_maker, billing, technical, legal, other"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("contacts", [("target", 'the target must be an object {"level": "organisations"|'
                                 '"contacts", "roles": [...], "channel": "email"}')]),
        ({"level": "contacts"}, [("target.channels", NO_CHANNELS)]),
        ({"level": "contacts", "channels": []}, [("target.channels", NO_CHANNELS)]),
        ({"level": "contacts", "channel": "email", "channels": ["sms"]},
         [("target.channels", "send 'channel' or 'channels', not both")]),
        ({"level": "contacts", "channel": "email", "roles": ["ceo"], "audience": 1},
         [("target.audience", "unknown key in the target"), ("target.roles[0]", NOT_A_ROLE)]),
    ],
)  # fmt: skip
def test_a_bad_target_is_refused_with_its_path(raw: Any, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(raw)
    assert [(p.path, p.message) for p in caught.value.problems] == expected
    assert caught.value.code == "invalid_target"


def test_the_definition_hash_is_sha256_of_the_canonical_json() -> None:
    raw_rules = tree(rule("monthly_spend", ">=", 1500.50), rule("region", "=", "Süd"))
    definition = parse_definition(raw_rules, {"channels": ["sms", "email"], "level": "contacts"})
    canonical = (
        '{"rules":{"combinator":"and","not":false,"rules":[{"field":"monthly_spend",'
        '"operator":">=","value":"1500.5"},{"field":"region","operator":"=","value":"Süd"}]},'
        '"target":{"channels":["email","sms"],"level":"contacts","roles":[]}}'
    )
    assert rfc8785.dumps(definition.document) == canonical.encode()
    assert definition.hash == hashlib.sha256(canonical.encode()).hexdigest()
    # The same definition written differently hashes the same.
    again = parse_definition(
        {"rules": [{"id": "x", "field": "monthly_spend", "operator": ">=", "value": "1500.50"},
                   rule("region", "=", "Süd")], "combinator": "and"},
        {"level": "contacts", "channels": ["email", "sms"], "roles": []},
    )  # fmt: skip
    assert again.hash == definition.hash
