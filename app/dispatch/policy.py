"""Send-time rules as pure functions: quiet hours, retry back-off, the frequency cap.

They read no database and no clock of their own, so they are tested with plain values;
:mod:`app.dispatch.sending` feeds them the rows and the time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import ValidationError

FREQUENCY_WINDOW = timedelta(days=7)


class DispatchConfigError(ValidationError):
    """A dispatch setting is malformed; the message names the setting and the fix."""


@dataclass(frozen=True)
class QuietHours:
    """Local hours ``[start, end)`` during which nothing is sent; may wrap midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, raw: str | None) -> QuietHours | None:
        """``"21-08"`` → QuietHours(21, 8); ``"off"``, ``""`` or None → no quiet hours."""
        if raw is None or raw.strip().lower() in {"", "off", "none"}:
            return None
        try:
            start_text, end_text = raw.split("-")
            start, end = int(start_text), int(end_text)
        except ValueError:
            raise DispatchConfigError(
                f"QUIET_HOURS={raw!r} is not 'HH-HH'; use e.g. '21-08', or 'off'"
            ) from None
        if not (0 <= start <= 23 and 0 <= end <= 23) or start == end:
            raise DispatchConfigError(
                f"QUIET_HOURS={raw!r} needs two different hours from 0 to 23, e.g. '21-08'"
            )
        return cls(start, end)

    def is_quiet(self, local: datetime) -> bool:
        hour = local.hour
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    def next_allowed(self, now: datetime, timezone: str) -> datetime | None:
        """When the quiet window around ``now`` ends, in UTC; None when not quiet now."""
        local = now.astimezone(zone(timezone))
        if not self.is_quiet(local):
            return None
        end_today = datetime.combine(local.date(), time(self.end), tzinfo=local.tzinfo)
        # Aware arithmetic in one zone is wall-clock arithmetic: 08:00 stays 08:00 local
        # across a DST change, and astimezone() then applies that day's offset.
        end = end_today if local < end_today else end_today + timedelta(days=1)
        return end.astimezone(UTC)


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``; an unknown or empty one is UTC (never an exception)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def backoff_delay(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> timedelta:
    """The wait before retry number ``attempt`` (1-based): exponential, capped, jittered.

    "Equal jitter": half the exponential step is kept, the other half is random, so
    retries spread out but never come back sooner than half the nominal step.
    """
    step = min(cap, base * 2 ** max(0, attempt - 1))
    chooser = rng or random
    return timedelta(seconds=step / 2 + chooser.uniform(0, step / 2))


def frequency_cap_release(sent_times: list[datetime], cap: int, now: datetime) -> datetime | None:
    """None when one more message is allowed; otherwise when the cap frees a slot.

    ``sent_times`` are the contact's messages in the last 7 days.  With ``cap`` of
    them, the next may go once the oldest of the newest ``cap`` leaves the window.
    """
    recent = sorted(t for t in sent_times if t > now - FREQUENCY_WINDOW)
    if cap <= 0 or len(recent) < cap:
        return None
    return recent[-cap] + FREQUENCY_WINDOW


@dataclass(frozen=True)
class DispatchConfig:
    """The dispatch settings of one app, parsed once and checked."""

    channels: Mapping[str, Mapping[str, Any]]
    rate_limits: Mapping[str, float]
    unsubscribe_mailto: str | None
    batch_size: int
    handoff_group: int
    lease: timedelta
    retry_base: float
    retry_cap: float
    max_attempts: int
    frequency_cap: int
    quiet_hours: QuietHours | None
    renderer: str
    visibility_timeout: float = 3600.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> DispatchConfig:
        def positive(name: str) -> int:
            value = int(config[name])
            if value < 1:
                raise DispatchConfigError(f"{name}={value} must be at least 1")
            return value

        visibility = float(config.get("CELERY_VISIBILITY_TIMEOUT", 3600))
        lease = positive("DISPATCH_LEASE_SECONDS")
        if lease >= visibility:
            raise DispatchConfigError(
                f"DISPATCH_LEASE_SECONDS={lease} must be below CELERY_VISIBILITY_TIMEOUT"
                f"={visibility:g}; lower the lease"
            )
        channels = config.get("DISPATCH_CHANNELS") or {}
        limits = config.get("DISPATCH_RATE_LIMITS") or {}
        if not isinstance(channels, Mapping) or not isinstance(limits, Mapping):
            raise DispatchConfigError(
                "DISPATCH_CHANNELS and DISPATCH_RATE_LIMITS must be JSON objects"
            )
        return cls(
            channels=channels,
            rate_limits={str(k): float(v) for k, v in limits.items()},
            unsubscribe_mailto=config.get("DISPATCH_UNSUBSCRIBE_MAILTO") or None,
            batch_size=positive("DISPATCH_BATCH_SIZE"),
            handoff_group=positive("DISPATCH_HANDOFF_GROUP"),
            lease=timedelta(seconds=lease),
            retry_base=float(config["DISPATCH_RETRY_BASE_SECONDS"]),
            # A retry waits in the outbox, not in the broker, but keep it well inside
            # the visibility timeout all the same.
            retry_cap=visibility / 2,
            max_attempts=positive("MAX_ATTEMPTS"),
            frequency_cap=int(config["FREQUENCY_CAP"]),
            quiet_hours=QuietHours.parse(config.get("QUIET_HOURS")),
            renderer=str(config["DISPATCH_RENDERER"]),
            visibility_timeout=visibility,
        )
