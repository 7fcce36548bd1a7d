"""Campaign templates: Jinja2 in an immutable sandbox with strict undefined variables.

Every template is checked when it is saved, so a mistake never reaches a recipient:

1. it must parse (a syntax error names its line);
2. it may use only the documented variables (:data:`VARIABLES`) and their documented
   fields; the syntax tree is walked, so a name in a branch the sample would not take
   is caught too;
3. it may not reach into Python: attributes starting with ``_``, methods that mutate
   data (``append``, ``update``, ...) and ``include``/``import``/``extends`` are refused;
4. it must render against a representative sample recipient (:func:`sample_context`)
   in :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` with
   :class:`~jinja2.StrictUndefined`: anything the walk missed fails here, with the line
   Jinja reports;
5. its output must suit its place: a subject is one line, a webhook payload a JSON
   object.

The same environment renders for the preview and for delivery (:func:`render`).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, _mutable_spec

from app.errors import ValidationError

Kind = Literal["text", "line", "html", "json"]

_TEMPLATE_FILENAME = "<template>"
_MUTATING = frozenset(name for _, names in _mutable_spec for name in names)
_FORBIDDEN_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
)


@dataclass(frozen=True)
class Variable:
    """A template variable: its description and, for objects, its fields."""

    name: str
    description: str
    fields: Mapping[str, str]  # field -> description; empty for a plain value
    example: Any


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable(
            "organisation",
            "The recipient's organisation (the business customer).",
            {
                "legal_name": "Registered company name",
                "external_id": "CRM/billing customer number",
                "tax_id": "Tax id, may be empty",
                "industry_code": "NACE industry code, e.g. 61.10",
                "region": "Region",
                "employee_band": "Employees: 1-9, 10-49, 50-249, 250-999, 1000+",
                "revenue_band": "Revenue: <1M, 1M-10M, 10M-50M, 50M-250M, 250M+",
                "is_key_account": "true for key accounts",
            },
            {
                "legal_name": "Nordwind Logistics GmbH",
                "external_id": "C-100042",
                "tax_id": "DE123456789",
                "industry_code": "49.41",
                "region": "Hamburg",
                "employee_band": "250-999",
                "revenue_band": "50M-250M",
                "is_key_account": True,
            },
        ),
        Variable(
            "contact",
            "The recipient.",
            {
                "first_name": "First name",
                "last_name": "Last name",
                "full_name": "First and last name",
                "job_title": "Job title, may be empty",
                "role": "decision_maker, billing, technical, legal or other",
                "email": "Email address, may be empty",
                "phone": "Phone number (E.164), may be empty",
                "messenger_handle": "Messenger handle or webhook URL, may be empty",
                "language": "Preferred language (BCP 47), e.g. en",
                "timezone": "IANA time zone, e.g. Europe/Berlin",
            },
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "full_name": "Ada Lovelace",
                "job_title": "Head of Procurement",
                "role": "decision_maker",
                "email": "ada.lovelace@nordwind.example",
                "phone": "+4940123456",
                "messenger_handle": "https://hooks.nordwind.example/ledgerline",
                "language": "en",
                "timezone": "Europe/Berlin",
            },
        ),
        Variable(
            "campaign",
            "This campaign.",
            {
                "id": "Campaign number",
                "name": "Campaign name",
                "objective": "Campaign objective",
                "version": "Version number being sent",
            },
            {"id": 1, "name": "Spring offer", "objective": "Upsell fibre", "version": 1},
        ),
        Variable(
            "sender",
            "Who the message comes from.",
            {"name": "Sender name", "email": "Sender address", "company": "Sending company"},
            {
                "name": "Ledgerline",
                "email": "campaigns@ledgerline.example",
                "company": "Ledgerline",
            },
        ),
        Variable(
            "unsubscribe_url",
            "The recipient's personal one-click unsubscribe link.",
            {},
            "https://ledgerline.example/unsubscribe/sample-token",
        ),
    )
}


@dataclass(frozen=True)
class TemplateProblem:
    """What is wrong with one template: its field (e.g. ``email.html``) and line."""

    field: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.field} line {self.line}" if self.line else self.field
        return f"{where}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "line": self.line, "message": self.message}


class TemplateValidationError(ValidationError):
    """One or more templates are refused; ``details`` lists every problem with its line."""

    code = "invalid_template"

    def __init__(self, problems: list[TemplateProblem]) -> None:
        self.problems = problems
        first = str(problems[0])
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, details=[p.as_json() for p in problems])


class TemplateRenderError(ValidationError):
    """A template failed to render for a real recipient (its data, not the template)."""

    code = "template_render_failed"


@cache
def environment(kind: Kind) -> ImmutableSandboxedEnvironment:
    """The sandbox for ``kind``: HTML autoescapes, the others do not."""
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=kind == "html",
        keep_trailing_newline=True,
        auto_reload=False,
    )
    return env


def sample_context() -> dict[str, Any]:
    """A representative recipient for checking templates at save time."""
    return {
        name: dict(var.example) if isinstance(var.example, dict) else var.example
        for name, var in VARIABLES.items()
    }


def normalise_newlines(source: str) -> str:
    """Browsers send CRLF from a textarea; templates are stored with LF only."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _line_of(error: BaseException) -> int | None:
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == _TEMPLATE_FILENAME
    ]
    return lines[-1] if lines else getattr(error, "lineno", None)


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _static_problems(
    field: str, tree: nodes.Template, env: ImmutableSandboxedEnvironment
) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    allowed = ", ".join(sorted(VARIABLES))
    every = list(_walk(tree))
    assigned = {n.name for n in every if isinstance(n, nodes.Name) and n.ctx in ("store", "param")}
    for node in every:
        if isinstance(node, _FORBIDDEN_NODES):
            problems.append(
                TemplateProblem(
                    field,
                    node.lineno,
                    "templates cannot include, import or extend other templates; "
                    "write the text here",
                )
            )
    undeclared = find_undeclared_variables(tree) - set(VARIABLES) - set(env.globals)
    for name in sorted(undeclared):
        line = next((n.lineno for n in every if isinstance(n, nodes.Name) and n.name == name), None)
        problems.append(
            TemplateProblem(field, line, f"undefined variable {name!r}; use one of: {allowed}")
        )
    for node in every:
        attr = _attribute_name(node)
        if attr is None:
            continue
        if attr.startswith("_"):
            problems.append(
                TemplateProblem(
                    field,
                    node.lineno,
                    f"attribute {attr!r} is not allowed: templates run in a sandbox "
                    "and cannot reach Python internals",
                )
            )
            continue
        if attr in _MUTATING and isinstance(node, nodes.Getattr):
            problems.append(
                TemplateProblem(
                    field,
                    node.lineno,
                    f"{attr!r} would modify data; templates are read-only, "
                    "use filters such as join or sort instead",
                )
            )
            continue
        base = node.node  # type: ignore[attr-defined]
        if (
            isinstance(base, nodes.Name)
            and base.name in VARIABLES
            and base.name not in assigned
            and attr not in VARIABLES[base.name].fields
        ):
            fields = VARIABLES[base.name].fields
            hint = f"use one of: {', '.join(fields)}" if fields else "it has no fields"
            problems.append(
                TemplateProblem(field, node.lineno, f"{base.name} has no field {attr!r}; {hint}")
            )
    return problems


def _attribute_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return str(node.arg.value)
    return None


def _output_problem(field: str, kind: Kind, output: str) -> TemplateProblem | None:
    if kind == "line" and ("\n" in output or "\r" in output):
        return TemplateProblem(field, None, "renders with a line break; a subject is one line")
    if kind == "json":
        try:
            value = json.loads(output)
        except ValueError as exc:
            return TemplateProblem(
                field,
                getattr(exc, "lineno", None),
                f"does not render to valid JSON ({exc.args[0].split(':')[0]}); "
                "insert values with |tojson, e.g. {{ contact.first_name|tojson }}",
            )
        if not isinstance(value, dict):
            return TemplateProblem(field, None, "must render to a JSON object {...}")
    return None


def check_template(source: str, *, field: str, kind: Kind) -> list[TemplateProblem]:
    """Every problem with ``source`` (empty when it may be saved)."""
    env = environment(kind)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(field, exc.lineno, f"syntax error: {exc.message}")]
    problems = _static_problems(field, tree, env)
    if problems:
        return problems
    try:
        output = render(source, sample_context(), kind=kind, field=field)
    except TemplateRenderError as exc:
        return [TemplateProblem(field, exc.details.get("line"), exc.details["reason"])]
    problem = _output_problem(field, kind, output)
    return [problem] if problem else []


def validate_templates(templates: Mapping[str, tuple[str, Kind]]) -> None:
    """Raise :class:`TemplateValidationError` listing every problem of ``templates``.

    ``templates`` maps a field name (``email.subject``) to its source and kind.
    """
    problems: list[TemplateProblem] = []
    for field, (source, kind) in templates.items():
        problems.extend(check_template(source, field=field, kind=kind))
    if problems:
        raise TemplateValidationError(problems)


@lru_cache(maxsize=512)
def _compiled(kind: Kind, source: str) -> Template:
    # Delivery renders the same few templates for every recipient: compile each once.
    return environment(kind).from_string(source)


def render(source: str, context: Mapping[str, Any], *, kind: Kind, field: str = "template") -> str:
    """``source`` rendered with ``context`` in the sandbox for ``kind``."""
    try:
        return _compiled(kind, source).render(dict(context))
    except TemplateSyntaxError as exc:
        reason = f"syntax error: {exc.message}"
        line: int | None = exc.lineno
    except SecurityError as exc:
        reason = f"not allowed in the sandbox: {exc}"
        line = _line_of(exc)
    except JinjaTemplateError as exc:
        reason = str(exc.message or exc)
        if "has no attribute" in reason or "is undefined" in reason:
            reason = f"undefined: {reason}"
        line = _line_of(exc)
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        line = _line_of(exc)
    where = f"{field} line {line}" if line else field
    raise TemplateRenderError(
        f"{where}: {reason}", details={"field": field, "line": line, "reason": reason}
    )


__all__ = [
    "VARIABLES",
    "TemplateProblem",
    "TemplateRenderError",
    "TemplateValidationError",
    "Variable",
    "check_template",
    "environment",
    "normalise_newlines",
    "render",
    "sample_context",
    "validate_templates",
]
