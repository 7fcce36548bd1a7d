"""Send-time rules: quiet hours, back-off, the frequency cap, settings validation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.config import Config, settings_from_object
from app.dispatch.policy import (
    DispatchConfig,
    DispatchConfigError,
    QuietHours,
    backoff_delay,
    frequency_cap_release,
)


def test_quiet_hours_parse_and_refuse_malformed_values() -> None:
    assert QuietHours.parse("21-08") == QuietHours(21, 8)
    assert QuietHours.parse("off") is None and QuietHours.parse("") is None
    with pytest.raises(DispatchConfigError, match=r"QUIET_HOURS='9pm' is not 'HH-HH'"):
        QuietHours.parse("9pm")
    with pytest.raises(DispatchConfigError, match="two different hours"):
        QuietHours.parse("25-08")


def test_quiet_hours_end_at_the_next_local_morning_in_the_contacts_zone() -> None:
    quiet = QuietHours(21, 8)
    # 19:30 UTC is 22:30 in Moscow (UTC+3): quiet until 08:00 Moscow = 05:00 UTC.
    evening = datetime(2026, 3, 10, 19, 30, tzinfo=UTC)
    assert quiet.next_allowed(evening, "Europe/Moscow") == datetime(2026, 3, 11, 5, 0, tzinfo=UTC)
    # The same instant is 15:30 in New York: not quiet.
    assert quiet.next_allowed(evening, "America/New_York") is None
    # After midnight the window ends the same morning.
    night = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    assert quiet.next_allowed(night, "UTC") == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    # Across the DST change in New York (8 March 2026): 08:00 EDT is 12:00 UTC.
    before_dst = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)  # 23:00 EST on 7 March
    assert quiet.next_allowed(before_dst, "America/New_York") == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )
    # An unknown zone is treated as UTC rather than failing the send.
    assert quiet.next_allowed(night, "Mars/Olympus") == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)


def test_a_daytime_window_does_not_wrap_midnight() -> None:
    lunch = QuietHours(12, 14)
    assert lunch.is_quiet(datetime(2026, 1, 1, 13, 0))
    assert not lunch.is_quiet(datetime(2026, 1, 1, 14, 0))


def test_backoff_doubles_keeps_at_least_half_the_step_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt, step in [(1, 30), (2, 60), (3, 120), (10, 600)]:
        for _ in range(50):
            delay = backoff_delay(attempt, 30, 600, rng).total_seconds()
            assert step / 2 <= delay <= step
    delays = {backoff_delay(3, 30, 600, rng) for _ in range(20)}
    assert len(delays) > 10  # jittered


def test_the_frequency_cap_frees_a_slot_when_the_oldest_counted_message_ages_out() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    sent = [now - timedelta(days=d) for d in (1, 2, 3, 9)]
    assert frequency_cap_release(sent, 4, now) is None  # the 9-day-old one is outside
    assert frequency_cap_release(sent, 3, now) == now - timedelta(days=3) + timedelta(days=7)
    assert frequency_cap_release(sent, 0, now) is None  # 0 disables the cap


def test_the_lease_must_stay_below_the_brokers_visibility_timeout() -> None:
    settings = settings_from_object(Config)
    config = DispatchConfig.from_mapping(settings)
    assert config.quiet_hours == QuietHours(21, 8) and config.frequency_cap == 3
    assert config.max_attempts == 5 and config.retry_cap == 1800
    with pytest.raises(DispatchConfigError, match="must be below CELERY_VISIBILITY_TIMEOUT=60"):
        DispatchConfig.from_mapping(
            {**settings, "DISPATCH_LEASE_SECONDS": 300, "CELERY_VISIBILITY_TIMEOUT": 60}
        )
