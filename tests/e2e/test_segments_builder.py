"""The segment builder in a real browser: build a nested segment, watch the live count
follow the API, save it.

Headless Chromium is driven over the DevTools protocol (``websockets``); the app runs in
a thread on a migrated SQLite file with the fixed audience of the segment tests, CSRF
and the content security policy on, exactly as in production.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask_migrate import upgrade
from websockets.sync.client import ClientConnection, connect
from werkzeug.serving import make_server

from app import MIGRATIONS_DIR, create_app
from app.accounts import services as accounts
from app.config import TestConfig, settings_from_object
from app.extensions import db
from tests.conftest import free_port, service_missing
from tests.integration.app_fixtures import dispose
from tests.segments_support import FIXED, store

PASSWORD = "correct horse battery"
TIMEOUT = 15.0


class Browser:
    """One page of a headless Chromium, driven with DevTools protocol commands."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=TIMEOUT))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'",
            f"{url} to load",
        )


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The app served on a free port over a migrated SQLite file with the fixed audience."""
    app = create_app(
        {
            **settings_from_object(TestConfig),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
            "INSTANCE": str(tmp_path / "instance"),
            "CHAIN_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: no chain
        }
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    with app.app_context():
        store(db.session.connection(), FIXED)
        db.session.commit()
        user = accounts.create_user("maker@example.com", "Mary Maker", PASSWORD, ("marketer",))
        token = accounts.issue_token(user, "e2e").secret
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.shutdown()
        thread.join(5)
        dispose(app)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        service_missing("Chromium", "no chromium binary on PATH (apt-get install chromium)")
    assert binary is not None
    process = subprocess.Popen(
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = _devtools_endpoint(process)
        pages = requests.get(f"{endpoint}/json/list", timeout=TIMEOUT).json()
        page = next(p for p in pages if p["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            driver = Browser(socket)
            driver.send("Page.enable")
            driver.send("Runtime.enable")
            yield driver
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _devtools_endpoint(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"DevTools listening on ws://([^/]+)/", line)
        if found:
            return f"http://{found.group(1)}"
        if process.poll() is not None:
            break
    raise AssertionError("Chromium did not open its DevTools port")


# Helpers defined in the page: set a control as a user would and fire its event.
PAGE_HELPERS = """
window.t = {
  group(path) { return document.querySelector(`#rule-tree [data-path="${path}"]`); },
  click(path, cls) { this.group(path).querySelector(`:scope > .group-head > .${cls}`).click(); },
  choose(element, value) {
    element.value = String(value);
    element.dispatchEvent(new Event('change', {bubbles: true}));
  },
  type(element, value) {
    element.value = String(value);
    element.dispatchEvent(new Event('input', {bubbles: true}));
  },
  rule(path) { return document.querySelector(`#rule-tree [data-path="${path}"]`); },
};
true
"""


def live_count(browser: Browser) -> int:
    browser.wait_for(
        "document.getElementById('preview-count').getAttribute('data-state') === 'ready'",
        "the live count",
    )
    return int(browser.js("document.getElementById('preview-count').textContent"))


def api_preview(base: str, token: str, rules: dict[str, Any], target: dict[str, Any]) -> int:
    response = requests.post(
        f"{base}/api/segments/preview",
        json={"rules": rules, "target": target},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


def test_a_nested_segment_built_in_the_browser_counts_what_the_api_counts(
    live_app: tuple[str, str], browser: Browser
) -> None:
    base, token = live_app
    browser.open(f"{base}/login")
    browser.js(
        "document.querySelector('input[name=email]').value = 'maker@example.com';"
        f"document.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};"
        "document.querySelector('form').submit(); true"
    )
    browser.wait_for(f"location.href === '{base}/'", "the dashboard after login")

    browser.open(f"{base}/segments/new")
    browser.wait_for(
        "document.getElementById('segment-builder').getAttribute('data-ready') === 'true'",
        "the builder",
    )
    browser.js(PAGE_HELPERS)
    email = {"level": "contacts", "channels": ["email"], "roles": []}
    everyone: dict[str, Any] = {"combinator": "and", "not": False, "rules": []}
    assert live_count(browser) == api_preview(base, token, everyone, email) == 4

    # region = North
    browser.js("t.click('', 'add-rule'); true")
    browser.js("t.type(t.rule('rules[0]').querySelector('.value-editor input'), 'North'); true")
    north = {"field": "region", "operator": "=", "value": "North"}
    rules: dict[str, Any] = {"combinator": "and", "not": False, "rules": [north]}
    assert live_count(browser) == api_preview(base, token, rules, email) == 2

    # AND (role = decision maker OR language = de), built as a nested group
    browser.js("t.click('', 'add-group'); true")
    browser.js("t.choose(t.group('rules[1]').querySelector('.group-combinator'), 'or'); true")
    browser.js(
        "t.choose(t.rule('rules[1].rules[0]').querySelector('.rule-field'), 'contact.role'); true"
    )
    browser.js("t.click('rules[1]', 'add-rule'); true")
    browser.js(
        "t.choose(t.rule('rules[1].rules[1]').querySelector('.rule-field'), 'contact.language');"
        "t.type(t.rule('rules[1].rules[1]').querySelector('.value-editor input'), 'de'); true"
    )
    nested = {
        "combinator": "or",
        "not": False,
        "rules": [
            {"field": "contact.role", "operator": "=", "value": "decision_maker"},
            {"field": "contact.language", "operator": "=", "value": "de"},
        ],
    }
    rules = {"combinator": "and", "not": False, "rules": [north, nested]}
    assert live_count(browser) == api_preview(base, token, rules, email) == 2

    # NOT on the nested group leaves the technical contact, who has no email ...
    browser.js("t.group('rules[1]').querySelector('.group-not').click(); true")
    rules["rules"][1] = {**nested, "not": True}
    assert live_count(browser) == api_preview(base, token, rules, email) == 0
    # ... but a webhook.
    browser.js("document.querySelector('#target-channels input[value=webhook]').click(); true")
    both = {"level": "contacts", "channels": ["email", "webhook"], "roles": []}
    assert live_count(browser) == api_preview(base, token, rules, both) == 1
    assert browser.js("document.querySelectorAll('#preview-sample tbody tr').length") == 1

    # An invalid value is pointed at, in place.
    browser.js(
        "t.choose(t.rule('rules[0]').querySelector('.rule-operator'), 'in');"
        "t.type(t.rule('rules[0]').querySelector('.value-editor input'), ''); true"
    )
    message = browser.wait_for(
        "(document.querySelector('#rule-tree .invalid .node-error') || {}).textContent",
        "the error on the first rule",
    )
    assert message == "'in' needs a non-empty list of values, got a list"
    assert browser.js("t.rule('rules[0]').classList.contains('invalid')") is True
    browser.js(
        "t.type(t.rule('rules[0]').querySelector('.value-editor input'), 'North, north'); true"
    )
    rules["rules"][0] = {"field": "region", "operator": "in", "value": ["North", "north"]}
    assert live_count(browser) == api_preview(base, token, rules, both) == 1

    # Saving creates the segment with exactly this definition.
    browser.js("t.type(document.getElementById('segment-name'), 'Built in a browser'); true")
    browser.js("document.getElementById('save-segment').click(); true")
    browser.wait_for("/\\/segments\\/\\d+$/.test(location.pathname)", "the saved segment page")
    segment_id = int(browser.js("location.pathname.split('/').pop()"))
    saved = requests.get(
        f"{base}/api/segments/{segment_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    ).json()
    assert saved["name"] == "Built in a browser"
    assert saved["latest_version"]["rules"] == rules
    assert saved["latest_version"]["target"] == both
