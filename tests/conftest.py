"""Fixtures shared by every test layer.

Services (PostgreSQL, Redis, a Hardhat node) are real.  Outside CI a missing service
skips the tests that need it, with the reason; under ``CI=true`` it fails them, so a
green CI run always means every layer really ran.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

POSTGRES_URL = os.environ.get(
    "LEDGERLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("LEDGERLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def service_missing(what: str, reason: str) -> None:
    """Fail under CI, skip elsewhere: a missing service is never silently ignored in CI."""
    message = f"{what} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
    pytest.skip(message)


def port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not port_open(POSTGRES_URL, 5432):
        service_missing("PostgreSQL", f"nothing listens at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not port_open(REDIS_URL, 6379):
        service_missing("Redis", f"nothing listens at {REDIS_URL}")
    return REDIS_URL
