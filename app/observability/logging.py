"""Structured logs: one JSON object per line, carrying the ids of what is being done.

Every record gets ``ts``, ``level``, ``logger`` and ``message``, then the ids bound to the
current context: ``request_id`` (a web request), ``user_id`` (its signed-in user),
``task_id``/``task_name`` (a Celery task) and whatever a feature binds with
:func:`bind_log_context` (``campaign_id``, ``cycle_id``, …).  Fields given with
``log.info(..., extra={...})`` are added as they are; an exception adds ``exception``.

The ids live in a :class:`contextvars.ContextVar`, so each thread (gunicorn's gthread
workers), greenlet or task sees its own.  ``LEDGERLINE_LOG_FORMAT=text`` gives the same
fields as ``key=value`` pairs for a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from app.config import ENV_PREFIX, ConfigError

LOG_FORMATS = ("json", "text")

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "ledgerline_log_context", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


# -- the bound ids ---------------------------------------------------------------------------


def bind_log_context(**fields: Any) -> None:
    """Add ids to every later log record of this request or task, e.g.
    ``bind_log_context(campaign_id=7)``.  A value of None removes the field."""
    push_log_context(**fields)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` for the ``with`` block only; the previous ids come back after it."""
    token = push_log_context(**fields)
    try:
        yield
    finally:
        pop_log_context(token)


def push_log_context(**fields: Any) -> Token[Mapping[str, Any]]:
    """Bind ``fields`` over the current ids; :func:`pop_log_context` restores them."""
    merged = {**_context.get(), **fields}
    return _context.set({key: value for key, value in merged.items() if value is not None})


def pop_log_context(token: Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def reset_log_context() -> None:
    """Forget every bound id (the start and end of a web request)."""
    _context.set({})


def current_log_context() -> dict[str, Any]:
    return dict(_context.get())


def _user_id() -> int | str | None:
    """The signed-in user's id, if this request has loaded one.  Never queries the
    database: formatting a log line must not issue SQL."""
    from flask import g, has_app_context

    if not has_app_context():
        return None
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    from sqlalchemy import inspect

    state = inspect(user, raiseerr=False)
    identity = state.identity if state is not None else None
    if identity:
        value: int | str = identity[0]
        return value
    return None


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z"


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a log line says, in order: the standard fields, the ids, the extras."""
    fields: dict[str, Any] = {
        "ts": _timestamp(record),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    fields.update(_context.get())
    if "user_id" not in fields:
        user_id = _user_id()
        if user_id is not None:
            fields["user_id"] = user_id
    for key, value in record.__dict__.items():
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values JSON cannot carry are written with ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return json.dumps(fields, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message key=value …`` for a human at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        head = f"{fields.pop('ts')} {fields.pop('level'):<7} {fields.pop('logger')}: "
        line = head + str(fields.pop("message"))
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LedgerlineHandler(logging.StreamHandler):
    """The root handler this module installs (found again to be replaced, not doubled).

    It writes to the process's real stderr, not ``sys.stderr``: Celery replaces the
    latter with a proxy that logs, which would loop back into this handler.
    """

    def __init__(self) -> None:
        super().__init__(sys.__stderr__ or sys.stderr)


def log_level(value: str | int) -> int:
    """``value`` as a logging level; a typo is a one-line configuration error."""
    if isinstance(value, int):
        return value
    level = logging.getLevelName(value.strip().upper())
    if not isinstance(level, int):
        raise ConfigError(
            f"{ENV_PREFIX}LOG_LEVEL={value!r} is not a log level; "
            "use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return level


def configure_logging(config: Mapping[str, Any]) -> None:
    """Install the Ledgerline handler on the root logger, replacing an earlier one.

    ``LOG_FORMAT`` chooses JSON or text, ``LOG_LEVEL`` the root level.  Handlers that
    others installed (pytest's, gunicorn's own loggers) are left alone.
    """
    fmt = str(config.get("LOG_FORMAT") or "json").strip().lower()
    if fmt not in LOG_FORMATS:
        raise ConfigError(
            f"{ENV_PREFIX}LOG_FORMAT={config.get('LOG_FORMAT')!r} is not a log format; "
            "use json or text"
        )
    level = log_level(config.get("LOG_LEVEL") or "INFO")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, LedgerlineHandler):
            root.removeHandler(handler)
    handler = LedgerlineHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)


__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "bind_log_context",
    "configure_logging",
    "current_log_context",
    "log_context",
    "reset_log_context",
]
