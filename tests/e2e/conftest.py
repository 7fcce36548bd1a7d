"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (sync API), and
the demo app (``app.demo.seed_demo`` with a small audience) served by a real server
thread on a free port over a temporary instance: SQLite, the embedded chain, Celery
eager, the capture channel, CSRF and the content security policy on.  Two more apps,
each served the same way: ``live_settlement``, a small settlement consortium of its
own; ``live_campaigns``, the campaign side on PostgreSQL, a Celery worker and beat on
Redis, a Hardhat JSON-RPC node and an SMTP sink.

Missing Chromium, Playwright, Hardhat, PostgreSQL or Redis skips the tests that need
them, and fails them under ``CI=true`` (``scripts/install_browser.sh`` installs the
browser).  Screenshots go to
``tests/e2e/artifacts/`` (not committed).
"""

from __future__ import annotations

import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
#: The campaign story's approval policy: two different approvers must approve.
TWO_APPROVERS = {
    "description": "Marketing review by two approvers.",
    "stages": [{"name": "marketing review", "role": "approver", "quorum": 2}],
}


@dataclass
class LiveDemo:
    """The demo app served at ``url``; ``accounts`` maps an email to its password."""

    app: Flask
    url: str
    report: Any
    chain_url: str | None = None  # a JSON-RPC node's URL, when the app runs on one
    mailbox: Any = None  # the SMTP sink (tests.dispatch_servers.SmtpSink) of the email channel

    def password(self, email: str) -> str:
        return next(a.password for a in self.report.accounts if a.email == email)

    def first(self, role: str) -> Any:
        return next(a for a in self.report.accounts if a.role == role)


@contextmanager
def serve(app: Flask, report: Any, port: int | None = None, **extra: Any) -> Iterator[LiveDemo]:
    """Serve ``app`` from a server thread on a free port; dispose of it afterwards."""
    port = port or free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveDemo(app, f"http://127.0.0.1:{port}", report, **extra)
    finally:
        server.shutdown()
        thread.join(5)
        dispose(app)


@pytest.fixture(scope="session")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    from app.demo import seed_demo

    instance = tmp_path_factory.mktemp("e2e") / "instance"
    app = create_app({**settings_from_object(TestConfig), "INSTANCE": str(instance)})
    report = seed_demo(app, n_orgs=60, settlement_obligations=40)
    with serve(app, report) as live:
        yield live


@pytest.fixture(scope="session")
def live_settlement(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    """A small settlement consortium (three operators and the clearing agent, a dozen
    obligations: ``seed_demo_settlement(seed=3, operators=3, obligations=12)``) on its
    own instance, so that taking its open cycle to settled is a handful of steps.
    ``report`` is the :class:`app.settlement.demo.SettlementDemo`."""
    from app.chain_setup import ensure_contracts
    from app.cli import migrate_database
    from app.settlement.demo import seed_demo_settlement

    instance = tmp_path_factory.mktemp("e2e-settlement") / "instance"
    app = create_app({**settings_from_object(TestConfig), "INSTANCE": str(instance)})
    with app.app_context():
        migrate_database()
    ensure_contracts(app, password=None, genesis_file=None)
    report = seed_demo_settlement(app, seed=3, operators=3, obligations=12)
    with serve(app, report) as live:
        yield live


LIVE_APPS = ("live_demo", "live_settlement", "live_campaigns")


@pytest.fixture(autouse=True)
def _celery_of_the_app_under_test(request: pytest.FixtureRequest) -> None:
    """Several apps live in this process, and Celery's default app is process-wide (the
    last one created): make the Celery app of the test's own app the default and the
    current one, so that what it enqueues goes to its broker (or runs eagerly) in its
    app context."""
    for name in LIVE_APPS:
        if name in request.fixturenames:
            live: LiveDemo = request.getfixturevalue(name)
            celery_app = live.app.extensions["celery"]
            celery_app.set_default()
            celery_app.set_current()


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


@pytest.fixture(scope="session")
def live_campaigns(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str
) -> Iterator[LiveDemo]:
    """The campaign side as in production: PostgreSQL (a schema of its own), a Celery
    worker and beat on Redis (queues of their own, :class:`tests.dispatch_cluster.Cluster`)
    and a Hardhat JSON-RPC node of its own with the contracts deployed by
    ``ensure_contracts``; a default policy of two approvers (:data:`TWO_APPROVERS`) and
    the demo's campaign users (:data:`app.demo.CAMPAIGN_USERS`), no audience (the story
    imports one).  The email channel sends over SMTP to an aiosmtpd sink (``mailbox``);
    anchoring waits for the auditor's "Anchor now"."""
    from sqlalchemy import create_engine, text

    from app.accounts import services as accounts
    from app.approvals.services import create_policy
    from app.chain_setup import ensure_contracts
    from app.cli import migrate_database
    from app.demo import CAMPAIGN_USERS, DemoReport
    from app.extensions import db
    from tests.dispatch_cluster import Cluster
    from tests.dispatch_servers import SmtpSink
    from tests.integration.app_fixtures import postgres_schema_url
    from tests.integration.chain_fixtures import start_hardhat_node
    from tests.integration.dispatch_fixtures import smtp_channel

    base = tmp_path_factory.mktemp("e2e-campaigns")
    schema = f"ll_e2e_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    node = start_hardhat_node(base)
    sink = SmtpSink(free_port()).start()
    port = free_port()
    cluster = Cluster(
        base,
        postgres_schema_url(postgres_url, schema),
        redis_url,
        settings={
            "CHAIN_URL": node.url,
            "DISPATCH_CHANNELS": {"email": smtp_channel(sink)},
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "QUIET_HOURS": "off",
            "ANCHOR_EVERY_ENTRIES": 0,
            "ANCHOR_INTERVAL_SECONDS": 0,
            "KEYSTORE_KDF": TestConfig.KEYSTORE_KDF,
            "KEYSTORE_ITERATIONS": TestConfig.KEYSTORE_ITERATIONS,
        },
    )
    # The web process sends imports to the default queue: make it this run's own, too.
    default_queue = f"{cluster.queue}.default"
    try:
        app = create_app(
            {
                **settings_from_object(TestConfig),
                **cluster.app_settings(),
                "CELERY": {"task_default_queue": default_queue},
            }
        )
        with app.app_context():
            migrate_database()
        ensure_contracts(app, password=None, genesis_file=None)
        with app.app_context():
            create_policy("Two approvers", TWO_APPROVERS, None, is_default=True)
            for person in CAMPAIGN_USERS:
                accounts.create_user(person.email, person.name, person.password, [person.role])
            db.session.commit()
        _start_worker(cluster, "e2e-worker", default_queue)
        cluster.start_beat()
        report = DemoReport(accounts=list(CAMPAIGN_USERS), created=True)
        with serve(app, report, port, chain_url=node.url, mailbox=sink) as live:
            yield live
    finally:
        cluster.stop()
        sink.stop()
        node.stop()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _start_worker(cluster: Any, name: str, *extra_queues: str) -> None:
    """A Celery worker of ``cluster`` that also consumes ``extra_queues``."""
    queues = ",".join([f"{cluster.queue}.control", cluster.queue, *extra_queues])
    cluster._spawn(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.worker",
            "worker",
            "--pool=solo",
            "-Q",
            queues,
            "-n",
            f"{name}@%h",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--prefetch-multiplier=1",
        ],
    )
