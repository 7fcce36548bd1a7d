"""Template checks at save time: undefined names and sandbox escapes are refused with
their line, and output must suit its place."""

from __future__ import annotations

import pytest

from app.campaigns.templating import (
    TemplateProblem,
    TemplateRenderError,
    TemplateValidationError,
    check_template,
    render,
    sample_context,
    validate_templates,
)


def problems(source: str, kind: str = "text") -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in check_template(source, field="f", kind=kind)]  # type: ignore[arg-type]


def test_a_template_using_documented_variables_is_accepted() -> None:
    source = (
        "Dear {{ contact.first_name }},\n"
        "{% if organisation.is_key_account %}as a key account of {{ sender.company }}{% endif %}\n"
        "{{ campaign.name }} · {{ unsubscribe_url }}"
    )
    assert problems(source) == []


def test_an_undefined_variable_is_refused_with_its_line() -> None:
    assert problems("Hello\n\n{{ customer.name }}") == [
        (
            3,
            "undefined variable 'customer'; use one of: campaign, contact, organisation, "
            "sender, unsubscribe_url",
        )
    ]


def test_an_undocumented_field_is_refused_even_in_a_branch_the_sample_skips() -> None:
    assert problems("{% if false %}\n{{ contact.salary }}\n{% endif %}") == [
        (
            2,
            "contact has no field 'salary'; use one of: first_name, last_name, full_name, "
            "job_title, role, email, phone, messenger_handle, language, timezone",
        )
    ]


def test_loop_and_set_variables_are_not_undefined() -> None:
    assert (
        problems(
            "{% set greeting = 'Hi' %}{% for w in ['a', 'b'] %}{{ greeting }} {{ w }}{% endfor %}"
        )
        == []
    )


def test_reaching_python_internals_is_refused_at_save_time() -> None:
    assert problems("x\n{{ ''.__class__.__mro__ }}") == [
        (
            2,
            "attribute '__mro__' is not allowed: templates run in a sandbox and cannot "
            "reach Python internals",
        ),
        (
            2,
            "attribute '__class__' is not allowed: templates run in a sandbox and cannot "
            "reach Python internals",
        ),
    ]


def test_subscript_access_to_internals_is_refused_too() -> None:
    assert problems("{{ contact['__class__'] }}")[0][1].startswith("attribute '__class__'")


def test_the_attr_filter_cannot_escape_the_sandbox() -> None:
    assert problems("ok\n{{ campaign.name|attr('__class__') }}") == [
        (
            2,
            "not allowed in the sandbox: access to attribute '__class__' of 'str' object "
            "is unsafe.",
        )
    ]


def test_mutating_data_is_refused() -> None:
    assert problems("{% set items = [] %}\n{{ items.append(1) }}") == [
        (
            2,
            "'append' would modify data; templates are read-only, use filters such as join "
            "or sort instead",
        )
    ]
    assert problems("{{ sender|attr('update') }}") == [
        (1, "not allowed in the sandbox: access to attribute 'update' of 'dict' object is unsafe.")
    ]


def test_includes_and_imports_are_refused() -> None:
    assert problems("{% include 'secrets.txt' %}") == [
        (1, "templates cannot include, import or extend other templates; write the text here")
    ]


def test_a_syntax_error_names_its_line() -> None:
    assert problems("line one\n{{ contact.first_name }\n") == [(2, "syntax error: unexpected '}'")]


def test_a_runtime_error_in_the_sample_render_names_its_line() -> None:
    assert problems("a\nb\n{{ 1 // 0 }}") == [
        (3, "ZeroDivisionError: integer division or modulo by zero")
    ]


def test_a_subject_must_render_to_one_line() -> None:
    assert problems("Offer\n{{ campaign.name }}", "line") == [
        (None, "renders with a line break; a subject is one line")
    ]


def test_a_payload_must_render_to_a_json_object() -> None:
    assert problems('{"name": {{ contact.first_name|tojson }}}', "json") == []
    assert problems('{"name": {{ contact.first_name }}}', "json")[0][1].startswith(
        "does not render to valid JSON"
    )
    assert problems('["a list"]', "json") == [(None, "must render to a JSON object {...}")]


def test_html_templates_escape_inserted_values() -> None:
    context = sample_context()
    context["contact"]["first_name"] = "<script>x</script>"
    assert render("<p>{{ contact.first_name }}</p>", context, kind="html") == (
        "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    )
    assert render("{{ contact.first_name }}", context, kind="text") == "<script>x</script>"


def test_rendering_with_a_missing_value_names_the_field_and_line() -> None:
    context = sample_context()
    del context["contact"]["first_name"]
    with pytest.raises(TemplateRenderError) as caught:
        render("Hi\n{{ contact.first_name }}", context, kind="text", field="sms.text")
    assert (
        caught.value.message
        == "sms.text line 2: undefined: 'dict object' has no attribute 'first_name'"
    )


def test_validate_templates_lists_every_problem_of_every_field() -> None:
    with pytest.raises(TemplateValidationError) as caught:
        validate_templates(
            {"email.subject": ("{{ nope }}", "line"), "sms.text": ("ok\n{{ x.__class__ }}", "text")}
        )
    assert caught.value.problems == [
        TemplateProblem(
            "email.subject",
            1,
            "undefined variable 'nope'; use one of: campaign, contact, organisation, sender, "
            "unsubscribe_url",
        ),
        TemplateProblem(
            "sms.text",
            2,
            "undefined variable 'x'; use one of: campaign, contact, organisation, sender, "
            "unsubscribe_url",
        ),
        TemplateProblem(
            "sms.text",
            2,
            "attribute '__class__' is not allowed: templates run in a sandbox and cannot "
            "reach Python internals",
        ),
    ]
    assert caught.value.message.startswith("email.subject line 1: undefined variable 'nope'")
    assert caught.value.message.endswith("(and 2 more)")
