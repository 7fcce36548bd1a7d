"""Approval policies as data: ordered stages, each with who approves, a quorum and an
optional condition from a small, safe vocabulary.

A policy definition is JSON::

    {"stages": [
      {"name": "marketing review", "role": "approver", "quorum": 1},
      {"name": "compliance", "role": "compliance", "quorum": 1,
       "condition": {"channel": "sms"}},
      {"name": "key accounts", "approvers": "account_managers", "quorum": "all",
       "condition": {"segment_has_key_accounts": true}}
    ]}

* ``role``: any user holding that role may approve the stage; or
* ``approvers: "account_managers"``: the account managers of the key-account
  organisations among the frozen recipients (``organisations.account_manager_id``),
  resolved when the campaign is submitted.  This is the "account manager's approval"
  the customer asked for: the person who owns the customer relationship, not anyone
  holding a generic role.
* ``quorum``: ``k`` approvals from distinct eligible users, or ``"all"`` (every eligible
  user at submission).  The maker never counts as eligible.
* ``condition`` (all keys must hold; no condition: the stage always applies):

  - ``{"channel": "sms"}`` or ``{"channel": ["sms", "webhook"]}``: the campaign uses
    one of these channels;
  - ``{"segment_has_key_accounts": true|false}``: the recipients do (or do not)
    include a key account;
  - ``{"recipients_at_least": 1000}``: the snapshot has at least that many recipients.

:func:`parse_policy` checks a definition and names the path of every problem
(``stages[1].quorum``); :func:`resolve_stages` evaluates the conditions against the
facts of one submission.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.accounts.models import Role
from app.audience.models import CHANNEL_VALUES
from app.errors import ValidationError

ACCOUNT_MANAGERS = "account_managers"
APPROVER_SETS = (ACCOUNT_MANAGERS,)
CONDITION_KEYS = ("channel", "segment_has_key_accounts", "recipients_at_least")
STAGE_KEYS = ("name", "role", "approvers", "quorum", "condition", "description")
POLICY_KEYS = ("stages", "description")
MAX_STAGES = 10
MAX_QUORUM = 20

DEFAULT_POLICY_NAME = "Default"
DEFAULT_POLICY: dict[str, Any] = {
    "description": (
        "Marketing review by an approver; compliance when SMS is used; the account "
        "managers when key accounts are among the recipients."
    ),
    "stages": [
        {"name": "marketing review", "role": Role.APPROVER.value, "quorum": 1},
        {
            "name": "compliance",
            "role": Role.COMPLIANCE.value,
            "quorum": 1,
            "condition": {"channel": "sms"},
        },
        {
            "name": "key accounts",
            "approvers": ACCOUNT_MANAGERS,
            "quorum": "all",
            "condition": {"segment_has_key_accounts": True},
        },
    ],
}


@dataclass(frozen=True)
class PolicyProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PolicyValidationError(ValidationError):
    """The policy definition is invalid; ``details`` maps each path to its problem."""

    code = "invalid_policy"

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{problems[0]}{more}",
            details=[{"path": p.path, "message": p.message} for p in problems],
        )


@dataclass(frozen=True)
class Stage:
    name: str
    role: Role | None
    approvers: str | None
    quorum: int | None  # None: "all"
    condition: Mapping[str, Any]
    description: str = ""

    @property
    def who(self) -> str:
        return self.role.label if self.role else "Account managers of the key accounts"

    @property
    def quorum_label(self) -> str:
        return "all" if self.quorum is None else str(self.quorum)


@dataclass(frozen=True)
class Policy:
    stages: tuple[Stage, ...]
    description: str = ""


@dataclass(frozen=True)
class SubmissionFacts:
    """What a policy's conditions look at, frozen when a campaign is submitted."""

    channels: frozenset[str]
    recipient_count: int
    key_account_manager_ids: frozenset[int]
    key_accounts_without_manager: tuple[str, ...] = ()
    has_key_accounts: bool = False


@dataclass(frozen=True)
class ResolvedStage:
    """A stage as it applies to one submission (stored as JSON on the submission)."""

    index: int
    name: str
    role: str | None
    approvers: str | None
    quorum: int | None  # None: all eligible users
    applies: bool
    reason: str
    eligible_user_ids: tuple[int, ...] | None = None  # fixed set (account managers)
    condition: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "role": self.role,
            "approvers": self.approvers,
            "quorum": self.quorum,
            "applies": self.applies,
            "reason": self.reason,
            "eligible_user_ids": (
                list(self.eligible_user_ids) if self.eligible_user_ids is not None else None
            ),
            "condition": self.condition,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResolvedStage:
        eligible = data.get("eligible_user_ids")
        return cls(
            index=int(data["index"]),
            name=str(data["name"]),
            role=data.get("role"),
            approvers=data.get("approvers"),
            quorum=data.get("quorum"),
            applies=bool(data["applies"]),
            reason=str(data.get("reason", "")),
            eligible_user_ids=tuple(int(i) for i in eligible) if eligible is not None else None,
            condition=dict(data.get("condition") or {}),
        )

    @property
    def who(self) -> str:
        if self.role:
            return Role(self.role).label
        return "Account managers of the key accounts"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def parse_policy(raw: Any) -> Policy:
    """The policy in ``raw`` (parsed JSON), or PolicyValidationError naming every path."""
    problems: list[PolicyProblem] = []
    if not isinstance(raw, Mapping):
        raise PolicyValidationError(
            [PolicyProblem("$", 'a policy is a JSON object {"stages": [...]}')]
        )
    for key in raw:
        if key not in POLICY_KEYS:
            problems.append(PolicyProblem(f"$.{key}", f"unknown key; use {', '.join(POLICY_KEYS)}"))
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(PolicyProblem("$.description", "must be a string"))
        description = ""
    stages_raw = raw.get("stages")
    stages: list[Stage] = []
    if not isinstance(stages_raw, list) or not stages_raw:
        problems.append(PolicyProblem("$.stages", "must be a non-empty list of stages"))
    elif len(stages_raw) > MAX_STAGES:
        problems.append(PolicyProblem("$.stages", f"at most {MAX_STAGES} stages"))
    else:
        names: set[str] = set()
        for index, item in enumerate(stages_raw):
            stage = _parse_stage(item, f"$.stages[{index}]", problems)
            if stage is None:
                continue
            if stage.name.lower() in names:
                problems.append(
                    PolicyProblem(f"$.stages[{index}].name", f"{stage.name!r} is used twice")
                )
            names.add(stage.name.lower())
            stages.append(stage)
        if not problems and all(s.condition for s in stages):
            problems.append(
                PolicyProblem(
                    "$.stages",
                    "at least one stage must have no condition, so every campaign "
                    "needs an approval",
                )
            )
    if problems:
        raise PolicyValidationError(problems)
    return Policy(tuple(stages), description)


def _parse_stage(item: Any, path: str, problems: list[PolicyProblem]) -> Stage | None:
    if not isinstance(item, Mapping):
        problems.append(PolicyProblem(path, "a stage is an object with name, role and quorum"))
        return None
    before = len(problems)
    for key in item:
        if key not in STAGE_KEYS:
            problems.append(
                PolicyProblem(f"{path}.{key}", f"unknown key; use {', '.join(STAGE_KEYS)}")
            )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 80:
        problems.append(PolicyProblem(f"{path}.name", "must be a text of 1 to 80 characters"))
        name = ""
    role: Role | None = None
    approvers: str | None = None
    if ("role" in item) == ("approvers" in item):
        problems.append(
            PolicyProblem(path, f'give either "role" or "approvers": "{ACCOUNT_MANAGERS}"')
        )
    elif "role" in item:
        try:
            role = Role(item["role"])
        except ValueError:
            problems.append(
                PolicyProblem(
                    f"{path}.role",
                    f"{item['role']!r} is not a role; use one of "
                    f"{', '.join(r.value for r in Role)}",
                )
            )
    elif item["approvers"] not in APPROVER_SETS:
        problems.append(
            PolicyProblem(f"{path}.approvers", f'{item["approvers"]!r}; use "{ACCOUNT_MANAGERS}"')
        )
    else:
        approvers = item["approvers"]
    quorum_raw = item.get("quorum")
    quorum: int | None = None
    if quorum_raw == "all":
        quorum = None
    elif (
        isinstance(quorum_raw, bool)
        or not isinstance(quorum_raw, int)
        or not 1 <= quorum_raw <= MAX_QUORUM
    ):
        problems.append(
            PolicyProblem(
                f"{path}.quorum",
                f"{quorum_raw!r} ({_type_name(quorum_raw)}); use a whole number from 1 to "
                f'{MAX_QUORUM}, or "all"',
            )
        )
    else:
        quorum = quorum_raw
    condition = _parse_condition(item.get("condition"), f"{path}.condition", problems)
    description = item.get("description", "")
    if not isinstance(description, str):
        problems.append(PolicyProblem(f"{path}.description", "must be a string"))
    if len(problems) > before:
        return None
    return Stage(name.strip(), role, approvers, quorum, condition, description)


def _parse_condition(raw: Any, path: str, problems: list[PolicyProblem]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            PolicyProblem(path, f"a condition is a non-empty object of {', '.join(CONDITION_KEYS)}")
        )
        return {}
    result: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key == "channel":
            channels = [value] if isinstance(value, str) else value
            if (
                not isinstance(channels, list)
                or not channels
                or any(c not in CHANNEL_VALUES for c in channels)
            ):
                problems.append(
                    PolicyProblem(
                        where, f"{value!r}; use a channel or a list of: {', '.join(CHANNEL_VALUES)}"
                    )
                )
                continue
            result[key] = sorted(set(channels))
        elif key == "segment_has_key_accounts":
            if not isinstance(value, bool):
                problems.append(PolicyProblem(where, f"{value!r}; use true or false"))
                continue
            result[key] = value
        elif key == "recipients_at_least":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(PolicyProblem(where, f"{value!r}; use a whole number >= 1"))
                continue
            result[key] = value
        else:
            problems.append(
                PolicyProblem(where, f"unknown condition; use one of {', '.join(CONDITION_KEYS)}")
            )
    return result


def condition_holds(condition: Mapping[str, Any], facts: SubmissionFacts) -> tuple[bool, str]:
    """Whether ``condition`` holds for ``facts``, and why, in words."""
    reasons: list[str] = []
    for key, value in condition.items():
        if key == "channel":
            used = sorted(facts.channels & set(value))
            if not used:
                return False, f"the campaign does not use {' or '.join(value)}"
            reasons.append(f"the campaign uses {' and '.join(used)}")
        elif key == "segment_has_key_accounts":
            if facts.has_key_accounts != value:
                return False, (
                    "no key accounts among the recipients"
                    if value
                    else "key accounts are among the recipients"
                )
            reasons.append("key accounts are among the recipients" if value else "no key accounts")
        elif key == "recipients_at_least":
            if facts.recipient_count < value:
                return False, f"{facts.recipient_count} recipients, fewer than {value}"
            reasons.append(f"{facts.recipient_count} recipients (at least {value})")
    return True, "; ".join(reasons) or "always"


def resolve_stages(policy: Policy, facts: SubmissionFacts) -> list[ResolvedStage]:
    """Every stage of ``policy`` with whether it applies to this submission."""
    resolved: list[ResolvedStage] = []
    for index, stage in enumerate(policy.stages):
        applies, reason = condition_holds(stage.condition, facts)
        eligible: tuple[int, ...] | None = None
        if stage.approvers == ACCOUNT_MANAGERS:
            eligible = tuple(sorted(facts.key_account_manager_ids))
        resolved.append(
            ResolvedStage(
                index=index,
                name=stage.name,
                role=stage.role.value if stage.role else None,
                approvers=stage.approvers,
                quorum=stage.quorum,
                applies=applies,
                reason=reason,
                eligible_user_ids=eligible,
                condition=dict(stage.condition),
            )
        )
    return resolved


def stages_json(stages: Sequence[ResolvedStage]) -> list[dict[str, Any]]:
    return [stage.as_json() for stage in stages]


__all__ = [
    "ACCOUNT_MANAGERS",
    "DEFAULT_POLICY",
    "DEFAULT_POLICY_NAME",
    "Policy",
    "PolicyProblem",
    "PolicyValidationError",
    "ResolvedStage",
    "Stage",
    "SubmissionFacts",
    "condition_holds",
    "parse_policy",
    "resolve_stages",
    "stages_json",
]
