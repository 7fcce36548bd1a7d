"""Rate limits hold across worker processes: the Redis token bucket, and AIMD on it."""

from __future__ import annotations

import multiprocessing
import secrets
import time
from collections.abc import Iterator

import pytest
import redis

from app.dispatch.ratelimit import LocalBucket, RedisBucket

pytestmark = pytest.mark.redis


@pytest.fixture
def bucket_key(redis_url: str) -> Iterator[str]:
    key = f"test-{secrets.token_hex(4)}"
    yield key
    client = redis.Redis.from_url(redis_url)
    client.delete(f"ledgerline:ratelimit:{key}")
    client.close()


def _take(redis_url: str, key: str, rate: float, tokens: int, start: float) -> None:
    client = redis.Redis.from_url(redis_url)
    bucket = RedisBucket(key, rate, client)
    while time.time() < start:
        time.sleep(0.001)
    for _ in range(tokens):
        bucket.take(1)
    client.close()


def test_two_processes_share_one_redis_bucket(redis_url: str, bucket_key: str) -> None:
    # 20/s with a burst of 20: 60 tokens need at least (60 - 20) / 20 = 2 s in all,
    # however many processes take them.  Separate buckets would need 0.5 s.
    context = multiprocessing.get_context("spawn")
    start = time.time() + 1.5
    workers = [
        context.Process(target=_take, args=(redis_url, bucket_key, 20.0, 30, start))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    elapsed = time.time() - start
    assert 1.9 <= elapsed <= 4.0, elapsed


def test_a_throttling_answer_halves_the_shared_rate_once_per_second_and_successes_restore_it(
    redis_url: str, bucket_key: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    one, other = RedisBucket(bucket_key, 100.0, client), RedisBucket(bucket_key, 100.0, client)
    assert one.throttled() == 50.0
    assert other.throttled() == 50.0  # the same burst of refusals: one decrease
    assert other.current_rate() == 50.0
    assert one.succeeded(10) == 70.0  # + 2% of the maximum per message
    assert one.succeeded(100) == 100.0  # never above the configured rate
    client.close()


def test_the_embedded_bucket_paces_and_backs_off_the_same_way() -> None:
    bucket = LocalBucket("email:capture", 50.0)
    assert bucket.acquire(50) == 0.0  # the burst
    assert bucket.acquire(10) == pytest.approx(0.2, abs=0.02)
    assert bucket.throttled() == 25.0 and bucket.throttled() == 25.0
    assert bucket.succeeded(5) == 30.0
