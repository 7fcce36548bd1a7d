"""Approval policies as data: parsing names every problem's path; conditions decide which
stages apply to a submission."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.accounts.models import Role
from app.approvals.policy import (
    DEFAULT_POLICY,
    PolicyProblem,
    PolicyValidationError,
    SubmissionFacts,
    parse_policy,
    resolve_stages,
)


def facts(channels: set[str], count: int = 10, managers: set[int] | None = None) -> SubmissionFacts:
    return SubmissionFacts(
        channels=frozenset(channels),
        recipient_count=count,
        key_account_manager_ids=frozenset(managers or ()),
        has_key_accounts=bool(managers),
    )


def refused(definition: Any) -> list[PolicyProblem]:
    with pytest.raises(PolicyValidationError) as caught:
        parse_policy(definition)
    return caught.value.problems


def test_the_default_policy_has_three_ordered_stages() -> None:
    policy = parse_policy(DEFAULT_POLICY)
    assert [(s.name, s.role, s.approvers, s.quorum) for s in policy.stages] == [
        ("marketing review", Role.APPROVER, None, 1),
        ("compliance", Role.COMPLIANCE, None, 1),
        ("key accounts", None, "account_managers", None),
    ]


def test_an_email_campaign_without_key_accounts_needs_only_marketing_review() -> None:
    stages = resolve_stages(parse_policy(DEFAULT_POLICY), facts({"email"}))
    assert [(s.name, s.applies, s.reason) for s in stages] == [
        ("marketing review", True, "always"),
        ("compliance", False, "the campaign does not use sms"),
        ("key accounts", False, "no key accounts among the recipients"),
    ]


def test_sms_brings_in_compliance_and_key_accounts_their_managers() -> None:
    stages = resolve_stages(parse_policy(DEFAULT_POLICY), facts({"email", "sms"}, managers={7, 3}))
    assert [(s.name, s.applies) for s in stages] == [
        ("marketing review", True),
        ("compliance", True),
        ("key accounts", True),
    ]
    assert stages[1].reason == "the campaign uses sms"
    assert stages[2].eligible_user_ids == (3, 7)


def test_conditions_with_several_keys_must_all_hold() -> None:
    definition = {
        "stages": [
            {"name": "review", "role": "approver", "quorum": 1},
            {
                "name": "big sms",
                "role": "compliance",
                "quorum": 2,
                "condition": {"channel": ["sms", "webhook"], "recipients_at_least": 1000},
            },
        ]
    }
    policy = parse_policy(definition)
    assert not resolve_stages(policy, facts({"sms"}, count=999))[1].applies
    assert resolve_stages(policy, facts({"webhook"}, count=1000))[1].applies
    assert not resolve_stages(policy, facts({"email"}, count=5000))[1].applies


def test_every_problem_is_named_by_its_path() -> None:
    definition = {
        "stages": [
            {"name": "", "role": "boss", "quorum": 0},
            {
                "name": "x",
                "approvers": "everyone",
                "quorum": 1.5,
                "condition": {"weather": "sunny"},
            },
            {"name": "y", "role": "approver", "approvers": "account_managers", "quorum": 1},
        ],
        "colour": "red",
    }
    assert [p.path for p in refused(definition)] == [
        "$.colour",
        "$.stages[0].name",
        "$.stages[0].role",
        "$.stages[0].quorum",
        "$.stages[1].approvers",
        "$.stages[1].quorum",
        "$.stages[1].condition.weather",
        "$.stages[2]",
    ]


def test_messages_say_what_to_use_instead() -> None:
    problems = refused({"stages": [{"name": "a", "role": "approver", "quorum": "two"}]})
    assert str(problems[0]) == (
        "$.stages[0].quorum: 'two' (str); use a whole number from 1 to 20, or \"all\""
    )
    channel = refused(
        {
            "stages": [
                {"name": "a", "role": "approver", "quorum": 1, "condition": {"channel": "fax"}}
            ]
        }
    )
    assert (
        str(channel[0])
        == "$.stages[0].condition.channel: 'fax'; use a channel or a list of: email, sms, webhook"
    )


def test_stage_names_must_be_unique() -> None:
    stage = {"name": "Review", "role": "approver", "quorum": 1}
    problems = refused({"stages": [stage, {**stage, "name": "review"}]})
    assert [str(p) for p in problems] == ["$.stages[1].name: 'review' is used twice"]


def test_a_policy_where_every_stage_is_conditional_is_refused() -> None:
    definition = copy.deepcopy(DEFAULT_POLICY)
    definition["stages"] = definition["stages"][1:]
    assert [str(p) for p in refused(definition)] == [
        "$.stages: at least one stage must have no condition, so every campaign needs an approval"
    ]


def test_not_an_object_and_empty_stages_are_refused() -> None:
    assert [p.path for p in refused([])] == ["$"]
    assert [str(p) for p in refused({"stages": []})] == [
        "$.stages: must be a non-empty list of stages"
    ]
