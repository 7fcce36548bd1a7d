"""Fixtures of the integration tests (real PostgreSQL, Redis, JSON-RPC node, ...)."""

from tests.integration.app_fixtures import *  # noqa: F403  (web app fixtures)
from tests.integration.chain_fixtures import *  # noqa: F403  (Hardhat node, chains)
