"""Fixtures for chain tests: a real Hardhat JSON-RPC node and fresh embedded chains.

``hardhat_url`` starts ``node_modules/.bin/hardhat node`` on 127.0.0.1 and a free port
once per session (``start_hardhat`` starts extra ones, e.g. to play a node that was
reset).  Without ``node_modules/.bin/hardhat`` the tests that need it are skipped, or
fail under CI=true (``tests.conftest.service_missing``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, service_missing

__all__ = ["HardhatNode", "hardhat_node", "hardhat_url", "start_hardhat", "start_hardhat_node"]

ROOT = Path(__file__).resolve().parents[2]
HARDHAT = ROOT / "node_modules" / ".bin" / "hardhat"
HARDHAT_START_TIMEOUT = 90.0


@dataclass
class HardhatNode:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, body.encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(json.loads(response.read()).get("result"))
    except (OSError, urllib.error.URLError, ValueError):
        return False


def start_hardhat_node(log_dir: Path) -> HardhatNode:
    if not HARDHAT.exists():
        service_missing("Hardhat", f"{HARDHAT} is missing; run `npm ci`")
    port = free_port()
    log = log_dir / f"hardhat-{port}.log"
    env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    node = HardhatNode(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + HARDHAT_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-500:]
            service_missing("Hardhat", f"the node exited with {process.returncode}: {tail}")
        if _answers(node.url):
            return node
        time.sleep(0.3)
    node.stop()
    service_missing(
        "Hardhat", f"the node did not answer on {node.url} within {HARDHAT_START_TIMEOUT}s"
    )
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def hardhat_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HardhatNode]:
    node = start_hardhat_node(tmp_path_factory.mktemp("hardhat"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def hardhat_url(hardhat_node: HardhatNode) -> str:
    return hardhat_node.url


@pytest.fixture
def start_hardhat(tmp_path: Path) -> Iterator[Callable[[], HardhatNode]]:
    """Start extra Hardhat nodes for one test; all are stopped after it."""
    started: list[HardhatNode] = []

    def start() -> HardhatNode:
        node = start_hardhat_node(tmp_path)
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()
