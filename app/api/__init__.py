"""The JSON API's shared input rules and its OpenAPI document.

* Every ``<int:...>`` route parameter matches only numbers a database ``INTEGER`` id
  column holds (1 .. 2**31 - 1, PostgreSQL's ``integer``): a larger one matches no route,
  so it is a 404 like any unknown id instead of an overflow in the database driver.
* A NUL character in a query argument or in a JSON body's strings is a 400 naming where it
  is: no database text column can store it.
* ``GET /api/openapi.json`` serves the document (:mod:`app.api.openapi`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


def at_most(limit: int) -> str:
    """A regex matching the decimal numbers from 0 to ``limit`` (no leading zeros needed)."""
    digits = str(limit)
    branches = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - i - 1
            branches.append(
                digits[:i] + f"[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else "")
            )
    branches.append(digits)
    return "(?:" + "|".join(branches) + ")"


class IdConverter(IntegerConverter):
    """``<int:...>`` bounded by :data:`MAX_ID` in its regex.

    A regex rather than ``max=``: a converter that rejects a value after matching makes
    Werkzeug answer 405 for the path's other methods instead of 404.
    """

    regex = at_most(MAX_ID)


def _nul_at(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)  # type: ignore[assignment]
    else:
        return None
    for key, item in items:
        found = _nul_at(str(key), where) or _nul_at(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def reject_nul_characters() -> None:
    """400 for a NUL character in a query argument or a JSON body, naming where it is."""
    from app.errors import ValidationError

    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise ValidationError(
                f"the query argument {name.replace(chr(0), '')!r} contains a NUL character; "
                "remove it",
                details={name.replace("\x00", ""): "contains a NUL character"},
            )
    if request.is_json:
        where = _nul_at(request.get_json(silent=True), "")
        if where is not None:
            field = where or "body"
            raise ValidationError(
                f"the JSON field {field!r} contains a NUL character (\\u0000); remove it",
                details={field.replace("\x00", ""): "contains a NUL character"},
            )


def init_api(app: Flask) -> None:
    """Install the input rules above and ``GET /api/openapi.json``.

    Call before any blueprint is registered: a rule takes its converter when added.
    """
    from app.api.openapi import openapi_bp

    app.url_map.converters["int"] = IdConverter
    app.before_request(reject_nul_characters)
    app.register_blueprint(openapi_bp, url_prefix="/api")
