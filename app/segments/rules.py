"""Parse and check a segment's rule tree (react-querybuilder's JSON format).

A group is ``{"combinator": "and"|"or", "not": false, "rules": [...]}`` and a rule is
``{"field": "...", "operator": "...", "value": ...}`` (react-querybuilder's ``id`` keys
are accepted and dropped).  :func:`parse_rules` checks a tree against the field
registry and returns it twice: as typed nodes for the compiler and the evaluator, and as
the normalised JSON document that is stored and hashed.  Every problem is reported with
the path of the node at fault (``rules[2].rules[0].operator``) and what is allowed there.

Values are normalised: decimals become strings (exact, never floats), dates
``YYYY-MM-DD`` strings, day counts integers; duplicate list entries are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from app.errors import ValidationError
from app.segments.fields import (
    DECIMAL_LIMIT,
    DECIMAL_PLACES,
    FIELDS,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_RULES,
    OPERATORS,
    Arity,
    Field,
    FieldType,
)

Combinator = Literal["and", "or"]
Scalar = str | bool | Decimal | date | int

_GROUP_KEYS = ("combinator", "not", "rules", "id")
_RULE_KEYS = ("field", "operator", "value", "id", "valueSource")
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAYS_TEXT = re.compile(r"[0-9]{1,6}")
_DEFAULT_MAX_LENGTH = 255
_MAX_REPORTED = 50
_CENT = Decimal(1).scaleb(-DECIMAL_PLACES)


@dataclass(frozen=True)
class Rule:
    """One checked rule: ``value`` is typed (a tuple for list and ``between`` operators,
    ``None`` for ``null``/``notNull``)."""

    field: Field
    operator: str
    value: Any
    path: str


@dataclass(frozen=True)
class Group:
    combinator: Combinator
    negated: bool
    children: tuple[Rule | Group, ...]
    path: str


@dataclass(frozen=True)
class RuleTree:
    """A checked tree: ``root`` for the engine, ``document`` the normalised JSON."""

    root: Group
    document: dict[str, Any]


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    allowed: tuple[Any, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "message": self.message,
            "allowed": list(self.allowed) if self.allowed is not None else None,
        }


class RuleTreeError(ValidationError):
    """The rule tree is invalid.  ``details`` holds the first problem's ``path`` and
    ``allowed`` values and every problem found (up to 50) under ``errors``."""

    code = "invalid_rules"

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        where = first.path or "the rule tree"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(
            f"{where}: {first.message}{more}",
            details={
                "path": first.path,
                "allowed": list(first.allowed) if first.allowed is not None else None,
                "errors": [problem.as_json() for problem in problems],
            },
        )
        self.problems = problems


class _Bad(Exception):
    def __init__(self, message: str, allowed: tuple[Any, ...] | None = None, at: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.allowed = allowed
        self.at = at  # a suffix of the value's path, e.g. "[1]"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_rules(raw: Any) -> RuleTree:
    """Check ``raw`` against the registry; raise :class:`RuleTreeError` naming each bad node."""
    checker = _Checker()
    if not isinstance(raw, dict) or ("field" in raw and "rules" not in raw):
        raise RuleTreeError(
            [
                Problem(
                    "",
                    'the rule tree must be a group object {"combinator": "and"|"or", '
                    '"not": false, "rules": [...]}',
                )
            ]
        )
    result = checker.group(raw, "", 1)
    if checker.count > MAX_RULES:
        checker.problems.append(
            Problem("", f"the tree has {checker.count} rules and groups; at most {MAX_RULES}")
        )
    if checker.problems or result is None:
        raise RuleTreeError(checker.problems[:_MAX_REPORTED])
    root, document = result
    return RuleTree(root, document)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.count = 0

    def fail(self, path: str, message: str, allowed: tuple[Any, ...] | None = None) -> None:
        self.problems.append(Problem(path, message, allowed))

    def node(self, raw: Any, path: str, depth: int) -> tuple[Rule | Group, dict[str, Any]] | None:
        if isinstance(raw, dict) and "rules" in raw:
            return self.group(raw, path, depth)
        if isinstance(raw, dict) and "field" in raw:
            return self.rule(raw, path)
        self.fail(
            path,
            "expected a rule {field, operator, value} or a group {combinator, not, rules}, "
            f"got {_describe(raw)}",
        )
        return None

    def group(
        self, raw: dict[str, Any], path: str, depth: int
    ) -> tuple[Group, dict[str, Any]] | None:
        self.count += 1
        ok = True
        for key in raw:
            if key not in _GROUP_KEYS:
                self.fail(_join(path, str(key)), "unknown key in a group", _GROUP_KEYS[:3])
                ok = False
        if depth > MAX_DEPTH:
            self.fail(
                path,
                f"groups nest at most {MAX_DEPTH} levels deep; this group is level {depth}, "
                "flatten the tree",
            )
            return None
        combinator = raw.get("combinator")
        if combinator not in ("and", "or"):
            self.fail(
                _join(path, "combinator"),
                f"the combinator must be 'and' or 'or', got {_describe(combinator)}",
                ("and", "or"),
            )
            ok = False
        negated = raw.get("not", False)
        if not isinstance(negated, bool):
            self.fail(
                _join(path, "not"),
                f"'not' must be true or false, got {_describe(negated)}",
                (True, False),
            )
            ok = False
        rules = raw.get("rules")
        if not isinstance(rules, list):
            self.fail(_join(path, "rules"), f"'rules' must be a list, got {_describe(rules)}")
            return None
        children: list[Rule | Group] = []
        documents: list[dict[str, Any]] = []
        for index, item in enumerate(rules):
            result = self.node(item, f"{_join(path, 'rules')}[{index}]", depth + 1)
            if result is None:
                ok = False
                continue
            children.append(result[0])
            documents.append(result[1])
        if not ok:
            return None
        combinator_ok: Combinator = "and" if combinator == "and" else "or"
        group = Group(combinator_ok, bool(negated), tuple(children), path)
        return group, {"combinator": combinator_ok, "not": bool(negated), "rules": documents}

    def rule(self, raw: dict[str, Any], path: str) -> tuple[Rule, dict[str, Any]] | None:
        self.count += 1
        ok = True
        for key in raw:
            if key not in _RULE_KEYS:
                self.fail(_join(path, str(key)), "unknown key in a rule", _RULE_KEYS[:3])
                ok = False
        source = raw.get("valueSource", "value")
        if source != "value":
            self.fail(
                _join(path, "valueSource"),
                "only literal values are supported (valueSource 'value')",
                ("value",),
            )
            ok = False
        name = raw.get("field")
        field = FIELDS.get(name) if isinstance(name, str) else None
        if field is None:
            self.fail(_join(path, "field"), f"unknown field {_describe(name)}", tuple(FIELDS))
            return None
        operator = raw.get("operator")
        if not isinstance(operator, str) or operator not in field.operators:
            self.fail(
                _join(path, "operator"),
                f"{_describe(operator)} is not an operator of the {field.type.value} field "
                f"'{field.name}'; use one of {', '.join(field.operators)}",
                field.operators,
            )
            return None
        try:
            value, document = _value(field, operator, raw.get("value"))
        except _Bad as bad:
            self.fail(_join(path, "value") + bad.at, bad.message, bad.allowed)
            return None
        if not ok:
            return None
        return (
            Rule(field, operator, value, path),
            {"field": field.name, "operator": operator, "value": document},
        )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return repr(shown)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _value(field: Field, operator: str, raw: Any) -> tuple[Any, Any]:
    """The typed value and its normalised JSON for ``field`` and ``operator``."""
    arity = OPERATORS[operator].arity
    if arity is Arity.NONE:
        if raw not in (None, ""):
            raise _Bad(f"'{operator}' takes no value; omit it or send null")
        return None, None
    if arity is Arity.DAYS:
        days = _days(raw)
        return days, days
    if arity is Arity.LIST:
        if not isinstance(raw, list) or not raw:
            raise _Bad(
                f"'{operator}' needs a non-empty list of values, got {_describe(raw)}",
                field.values or None,
            )
        if len(raw) > MAX_LIST:
            raise _Bad(f"'{operator}' takes at most {MAX_LIST} values, got {len(raw)}")
        typed: list[Any] = []
        documents: list[Any] = []
        for index, item in enumerate(raw):
            try:
                one, document = _scalar(field, operator, item)
            except _Bad as bad:
                raise _Bad(bad.message, bad.allowed, f"[{index}]") from None
            if one not in typed:
                typed.append(one)
                documents.append(document)
        return tuple(typed), documents
    if arity is Arity.TWO:
        if not isinstance(raw, list) or len(raw) != 2:
            raise _Bad(f"'between' needs two values [low, high], got {_describe(raw)}")
        low, low_doc = _at(field, operator, raw, 0)
        high, high_doc = _at(field, operator, raw, 1)
        if low > high:
            raise _Bad(f"'between' needs low <= high, got [{low_doc}, {high_doc}]; swap them")
        return (low, high), [low_doc, high_doc]
    return _scalar(field, operator, raw)


def _at(field: Field, operator: str, raw: list[Any], index: int) -> tuple[Any, Any]:
    try:
        return _scalar(field, operator, raw[index])
    except _Bad as bad:
        raise _Bad(bad.message, bad.allowed, f"[{index}]") from None


def _scalar(field: Field, operator: str, raw: Any) -> tuple[Scalar, Any]:
    kind = field.type
    if kind is FieldType.ENUM:
        if not isinstance(raw, str) or raw not in field.values:
            raise _Bad(
                f"{_describe(raw)} is not a value of '{field.name}'; use one of "
                f"{', '.join(field.values)}",
                field.values,
            )
        return raw, raw
    if kind is FieldType.STRING:
        return _text(field, raw)
    if kind is FieldType.BOOLEAN:
        if not isinstance(raw, bool):
            raise _Bad(f"'{field.name}' is true or false, got {_describe(raw)}", (True, False))
        return raw, raw
    if kind is FieldType.DECIMAL:
        number = _decimal(field, raw)
        return number, _decimal_text(number)
    day = _date(field, raw)
    return day, day.isoformat()


def _text(field: Field, raw: Any) -> tuple[str, str]:
    limit = field.max_length or _DEFAULT_MAX_LENGTH
    if not isinstance(raw, str) or raw == "":
        raise _Bad(
            f"'{field.name}' needs a non-empty text value, got {_describe(raw)}; "
            "use 'null' for a missing value"
        )
    if len(raw) > limit:
        raise _Bad(f"'{field.name}' values are at most {limit} characters, got {len(raw)}")
    if "\x00" in raw:
        raise _Bad("text values cannot contain NUL characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad("text values must be valid Unicode (no lone surrogates)") from None
    return raw, raw


def _decimal(field: Field, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _Bad(f"'{field.name}' needs a number, got {_describe(raw)}")
    if isinstance(raw, str) and not _DECIMAL_TEXT.fullmatch(raw):
        raise _Bad(f"'{field.name}' needs a number like 1500 or 1500.50, got {_describe(raw)}")
    try:
        # repr() of a float is its shortest round-tripping decimal: 0.1 stays 0.1.
        number = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except (InvalidOperation, ValueError):
        raise _Bad(f"'{field.name}' needs a finite number, got {_describe(raw)}") from None
    if not number.is_finite():
        raise _Bad(f"'{field.name}' needs a finite number, got {_describe(raw)}")
    if abs(number) >= DECIMAL_LIMIT:
        raise _Bad(f"'{field.name}' must be below {DECIMAL_LIMIT:,} in absolute value")
    quantized = number.quantize(_CENT)
    if quantized != number:
        raise _Bad(
            f"'{field.name}' has at most {DECIMAL_PLACES} decimal places, got {_describe(raw)}"
        )
    return quantized


def _decimal_text(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _date(field: Field, raw: Any) -> date:
    if not isinstance(raw, str) or not _DATE_TEXT.fullmatch(raw):
        raise _Bad(f"'{field.name}' needs a date as YYYY-MM-DD, got {_describe(raw)}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _Bad(f"{_describe(raw)} is not a calendar date") from None


def _days(raw: Any) -> int:
    if isinstance(raw, str) and _DAYS_TEXT.fullmatch(raw):
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_DAYS:
        raise _Bad(f"needs a whole number of days from 0 to {MAX_DAYS}, got {_describe(raw)}")
    return raw


def iter_rules(group: Group) -> list[Rule]:
    """Every rule of the tree, depth first."""
    found: list[Rule] = []
    for child in group.children:
        if isinstance(child, Group):
            found.extend(iter_rules(child))
        else:
            found.append(child)
    return found
