"""Who a segment addresses: its target level, the contact roles and the channels.

* ``contacts``: every contact (with one of ``roles``, when given) whose row matches the
  rules and who is reachable on a channel;
* ``organisations``: every organisation with at least one such contact, addressed
  through one of them per channel: the first by the order of ``roles`` (without roles,
  the order decision maker, billing, technical, legal, other), then the lowest id.

A contact is *reachable* on a channel when it has that channel's address (email, phone,
messenger/webhook handle), its consent on that channel is ``granted``, and the address
is not on the suppression list for that channel or for all channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.audience.models import CHANNEL_VALUES, CONTACT_ROLE_VALUES
from app.segments.rules import Problem, RuleTreeError

Level = Literal["organisations", "contacts"]
LEVELS: tuple[Level, ...] = ("organisations", "contacts")
_KEYS = ("level", "roles", "channel", "channels")


class TargetError(RuleTreeError):
    """The target is invalid; paths start with ``target``."""

    code = "invalid_target"


@dataclass(frozen=True)
class Target:
    level: Level
    roles: tuple[str, ...]  # empty: every role; order matters for organisations
    channels: tuple[str, ...]  # sorted, at least one

    def role_priority(self) -> tuple[str, ...]:
        """The order in which an organisation's contacts are picked as its recipient."""
        return self.roles or CONTACT_ROLE_VALUES

    def as_json(self) -> dict[str, Any]:
        return {"level": self.level, "roles": list(self.roles), "channels": list(self.channels)}


def parse_target(raw: Any) -> Target:
    """Check a target object ``{"level", "roles", "channel" | "channels"}``."""
    if not isinstance(raw, Mapping):
        raise TargetError(
            [
                Problem(
                    "target",
                    'the target must be an object {"level": "organisations"|"contacts", '
                    '"roles": [...], "channel": "email"}',
                )
            ]
        )
    problems: list[Problem] = []
    for key in raw:
        if key not in _KEYS:
            problems.append(Problem(f"target.{key}", "unknown key in the target", _KEYS))
    level = raw.get("level")
    if level not in LEVELS:
        problems.append(
            Problem("target.level", f"the level must be one of {', '.join(LEVELS)}", LEVELS)
        )
    roles = _names(raw.get("roles", []), "target.roles", CONTACT_ROLE_VALUES, problems, True)
    if "channel" in raw and "channels" in raw:
        problems.append(Problem("target.channels", "send 'channel' or 'channels', not both"))
        channels: tuple[str, ...] = ()
    elif "channel" in raw:
        channels = _names([raw["channel"]], "target.channel", CHANNEL_VALUES, problems, False)
    else:
        channels = _names(raw.get("channels"), "target.channels", CHANNEL_VALUES, problems, False)
    if problems:
        raise TargetError(problems)
    return Target(level, roles, tuple(sorted(channels)))  # type: ignore[arg-type]


def _names(
    raw: Any,
    path: str,
    allowed: tuple[str, ...],
    problems: list[Problem],
    may_be_empty: bool,
) -> tuple[str, ...]:
    if not isinstance(raw, list) or (not raw and not may_be_empty):
        what = "a list" if may_be_empty else "a non-empty list"
        problems.append(Problem(path, f"expected {what} of {', '.join(allowed)}", allowed))
        return ()
    names: list[str] = []
    for index, item in enumerate(raw):
        if item not in allowed:
            where = path if path.endswith("channel") else f"{path}[{index}]"
            problems.append(Problem(where, f"{item!r} is not one of {', '.join(allowed)}", allowed))
        elif item not in names:
            names.append(item)
    return tuple(names)
