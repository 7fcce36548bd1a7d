"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (sync API), and
the demo app (``app.demo.seed_demo`` with a small audience) served by a real server
thread on a free port over a temporary instance: SQLite, the embedded chain, Celery
eager, the capture channel, CSRF and the content security policy on.

Missing Chromium or Playwright skips the tests, and fails them under ``CI=true``
(``scripts/install_browser.sh`` installs both).  Screenshots go to
``tests/e2e/artifacts/`` (not committed).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.config import TestConfig, settings_from_object
from tests.conftest import free_port, service_missing
from tests.integration.app_fixtures import dispose

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 20_000


@dataclass
class LiveDemo:
    """The demo app served at ``url``; ``accounts`` maps an email to its password."""

    app: Flask
    url: str
    report: Any

    def password(self, email: str) -> str:
        return next(a.password for a in self.report.accounts if a.email == email)

    def first(self, role: str) -> Any:
        return next(a for a in self.report.accounts if a.role == role)


@pytest.fixture(scope="session")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    from app.demo import seed_demo

    instance = tmp_path_factory.mktemp("e2e") / "instance"
    app = create_app({**settings_from_object(TestConfig), "INSTANCE": str(instance)})
    report = seed_demo(app, n_orgs=60, settlement_obligations=40)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveDemo(app, f"http://127.0.0.1:{port}", report)
    finally:
        server.shutdown()
        thread.join(5)
        dispose(app)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing(
            "Playwright", "the playwright package is missing (scripts/install_browser.sh)"
        )
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        service_missing("Chromium", "no chromium binary on PATH (scripts/install_browser.sh)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page."""
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Any, live: LiveDemo, email: str) -> None:
    """Sign in through the login form and land on the dashboard."""
    page.goto(f"{live.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", live.password(email))
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(f"{live.url}/")


def sign_out(page: Any) -> None:
    page.context.clear_cookies()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``tests/e2e/artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
