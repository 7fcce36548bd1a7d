"""The log formatters and the bound log context, without an app."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from app.config import ConfigError
from app.observability.logging import (
    JsonFormatter,
    TextFormatter,
    bind_log_context,
    configure_logging,
    current_log_context,
    log_context,
    log_level,
    reset_log_context,
)
from app.observability.requests import request_id_from


def record(message: str = "sent %d messages", *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("ledgerline.unit")
    made = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, args or (3,), None)
    made.__dict__.update(extra)
    made.created = 1_790_000_000.25
    made.msecs = 250.0
    return made


def test_a_json_line_has_the_standard_fields_then_the_bound_ids_then_the_extras() -> None:
    with log_context(request_id="r-1", campaign_id=7, cycle_id=None):
        line = JsonFormatter().format(record(channel="email"))
    assert json.loads(line) == {
        "ts": "2026-09-21T14:13:20.250Z",
        "level": "INFO",
        "logger": "ledgerline.unit",
        "message": "sent 3 messages",
        "request_id": "r-1",
        "campaign_id": 7,
        "channel": "email",
    }
    assert list(json.loads(line))[:4] == ["ts", "level", "logger", "message"]


def test_an_exception_is_written_with_its_traceback_and_odd_values_as_text() -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        failed = record(amount=object.__new__(object), **{"exc_info": sys.exc_info()})
    fields = json.loads(JsonFormatter().format(failed))
    assert fields["exception"].startswith("Traceback (most recent call last)")
    assert fields["exception"].endswith("ZeroDivisionError: division by zero")
    assert fields["amount"].startswith("<object object at ")


def test_the_text_format_carries_the_same_fields_as_key_value_pairs() -> None:
    with log_context(request_id="r-2", task_id="t-9"):
        line = TextFormatter().format(record(channel="sms"))
    assert line == (
        "2026-09-21T14:13:20.250Z INFO    ledgerline.unit: sent 3 messages "
        "request_id=r-2 task_id=t-9 channel=sms"
    )


def test_bound_ids_stay_until_removed_and_a_with_block_restores_the_previous_ones() -> None:
    reset_log_context()
    bind_log_context(request_id="r-3")
    with log_context(campaign_id=12):
        bind_log_context(cycle_id=4)
        assert current_log_context() == {"request_id": "r-3", "campaign_id": 12, "cycle_id": 4}
    assert current_log_context() == {"request_id": "r-3"}
    bind_log_context(request_id=None)
    assert current_log_context() == {}


def test_a_client_request_id_is_kept_only_when_it_is_a_sane_token() -> None:
    assert request_id_from("Root=1-5759e988-bd862e3fe1be46a994272793") == (
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    )
    for bad in (None, "", "two words", "x" * 129, "new\nline"):
        generated = request_id_from(bad)
        assert len(generated) == 32 and int(generated, 16) >= 0


def test_log_levels_and_formats_are_checked_with_a_one_line_error() -> None:
    assert log_level("warning") == logging.WARNING
    with pytest.raises(ConfigError) as caught:
        log_level("LOUD")
    assert str(caught.value) == (
        "LEDGERLINE_LOG_LEVEL='LOUD' is not a log level; "
        "use DEBUG, INFO, WARNING, ERROR or CRITICAL"
    )
    with pytest.raises(ConfigError) as caught:
        configure_logging({"LOG_FORMAT": "yaml"})
    assert str(caught.value) == "LEDGERLINE_LOG_FORMAT='yaml' is not a log format; use json or text"
