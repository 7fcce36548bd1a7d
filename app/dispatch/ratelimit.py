"""Token buckets that hold across every worker: Redis on the real broker, in-process
on the embedded default (where every task runs in the one process).

A bucket refills at ``rate`` tokens per second up to ``burst``.  ``acquire(n)`` takes
``n`` tokens at once, going into debt if needed, and returns how long the caller must
sleep before using them, so concurrent workers queue fairly and the combined rate is
exact.  The Redis version is one Lua script (atomic) and uses the server's clock, so
workers on different hosts agree.

AIMD: a provider's throttling answer (SMTP 421/454, ``ESME_RTHROTTLED``, HTTP 429)
halves the bucket's current rate (at most once per second, so one burst of refusals
is one decrease); successes add back ``max_rate / 50`` per message up to the
configured maximum.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

MIN_RATE_FRACTION = 0.05
INCREASE_FRACTION = 0.02

_ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1000000
local max_rate = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'rate')
local rate = tonumber(b[3]) or max_rate
local burst = math.max(1, max_rate)
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate) - tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now, 'rate', rate)
redis.call('EXPIRE', KEYS[1], 86400)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""

_ADJUST = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1000000
local max_rate = tonumber(ARGV[2])
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate')) or max_rate
if ARGV[1] == 'decrease' then
  local cut = tonumber(redis.call('HGET', KEYS[1], 'cut_at')) or 0
  if now - cut >= 1 then
    rate = math.max(max_rate * tonumber(ARGV[4]), rate / 2)
    redis.call('HSET', KEYS[1], 'rate', rate, 'cut_at', now)
  end
else
  rate = math.min(max_rate, rate + tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'rate', rate)
end
redis.call('EXPIRE', KEYS[1], 86400)
return tostring(rate)
"""


class Bucket(ABC):
    """One channel/provider's limit."""

    def __init__(self, key: str, max_rate: float) -> None:
        self.key = key
        self.max_rate = max_rate

    @abstractmethod
    def acquire(self, tokens: int = 1) -> float:
        """Take ``tokens``; the seconds to wait before using them."""

    @abstractmethod
    def throttled(self) -> float:
        """The provider asked to slow down: halve the rate; the new rate."""

    @abstractmethod
    def succeeded(self, messages: int) -> float:
        """``messages`` went through: raise the rate additively; the new rate."""

    @abstractmethod
    def current_rate(self) -> float: ...

    def take(self, tokens: int = 1) -> float:
        """Acquire and sleep as long as needed; the seconds slept."""
        wait = self.acquire(tokens)
        if wait > 0:
            time.sleep(wait)
        return wait


class LocalBucket(Bucket):
    """In-process bucket for the embedded default."""

    def __init__(self, key: str, max_rate: float) -> None:
        super().__init__(key, max_rate)
        self.rate = max_rate
        self.tokens = max(1.0, max_rate)
        self.stamp = time.monotonic()
        self.cut_at = 0.0
        self.lock = threading.Lock()

    def acquire(self, tokens: int = 1) -> float:
        with self.lock:
            now = time.monotonic()
            burst = max(1.0, self.max_rate)
            self.tokens = min(burst, self.tokens + (now - self.stamp) * self.rate) - tokens
            self.stamp = now
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def throttled(self) -> float:
        with self.lock:
            now = time.monotonic()
            if now - self.cut_at >= 1:
                self.rate = max(self.max_rate * MIN_RATE_FRACTION, self.rate / 2)
                self.cut_at = now
            return self.rate

    def succeeded(self, messages: int) -> float:
        with self.lock:
            step = self.max_rate * INCREASE_FRACTION * messages
            self.rate = min(self.max_rate, self.rate + step)
            return self.rate

    def current_rate(self) -> float:
        return self.rate


class RedisBucket(Bucket):
    """A bucket shared by every worker through Redis (atomic Lua scripts)."""

    def __init__(self, key: str, max_rate: float, client: Any) -> None:
        super().__init__(key, max_rate)
        self.redis_key = f"ledgerline:ratelimit:{key}"
        self._acquire = client.register_script(_ACQUIRE)
        self._adjust = client.register_script(_ADJUST)
        self.client = client

    def acquire(self, tokens: int = 1) -> float:
        return float(self._acquire(keys=[self.redis_key], args=[tokens, self.max_rate]))

    def _change(self, kind: str, step: float) -> float:
        args = [kind, self.max_rate, step, MIN_RATE_FRACTION]
        return float(self._adjust(keys=[self.redis_key], args=args))

    def throttled(self) -> float:
        return self._change("decrease", 0)

    def succeeded(self, messages: int) -> float:
        return self._change("increase", self.max_rate * INCREASE_FRACTION * messages)

    def current_rate(self) -> float:
        raw = self.client.hget(self.redis_key, "rate")
        return float(raw) if raw is not None else self.max_rate

    def reset(self) -> None:
        self.client.delete(self.redis_key)


class RateLimiter:
    """The buckets of one process, by provider key; unlimited keys get no bucket."""

    def __init__(self, limits: Mapping[str, float], redis_url: str | None) -> None:
        self.limits = dict(limits)
        self.redis_url = redis_url
        self._client: Any = None
        self._buckets: dict[str, Bucket | None] = {}
        self._lock = threading.Lock()

    def limit_for(self, provider: str) -> float | None:
        """The configured rate: the provider key, else its channel prefix, else none."""
        if provider in self.limits:
            return self.limits[provider]
        channel = provider.split(":", 1)[0]
        return self.limits.get(channel)

    def bucket(self, provider: str) -> Bucket | None:
        with self._lock:
            if provider not in self._buckets:
                rate = self.limit_for(provider)
                self._buckets[provider] = None if not rate else self._make(provider, rate)
            return self._buckets[provider]

    def _make(self, provider: str, rate: float) -> Bucket:
        if self.redis_url:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(self.redis_url)
            return RedisBucket(provider, rate, self._client)
        return LocalBucket(provider, rate)
