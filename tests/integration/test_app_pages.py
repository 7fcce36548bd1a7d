"""The layout, navigation by role, the dashboard, and no asset from outside the app."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.integration.app_fixtures import login

PASSWORD = "correct horse battery"
STATIC = Path(__file__).resolve().parents[2] / "app" / "static"
# Any attribute or CSS reference that would make the browser fetch from elsewhere.
EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset|data|poster)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def _pages_of_every_kind(client: FlaskClient, user_id: int) -> dict[str, str]:
    paths = [
        "/",
        "/account",
        "/admin/users",
        "/admin/users/new",
        f"/admin/users/{user_id}",
        "/no-such-page",
    ]
    pages = {path: client.get(path).get_data(as_text=True) for path in paths}
    for path in ("/admin/users", "/"):
        assert "<html" in pages[path]
    return pages


def test_no_page_loads_anything_from_outside_the_app(
    app: Flask, make_user: Callable[..., int]
) -> None:
    root = make_user("root@example.com", roles=("admin",))
    anonymous = app.test_client()
    pages = {"/login": anonymous.get("/login").get_data(as_text=True)}
    admin = app.test_client()
    login(admin, "root@example.com", PASSWORD)
    pages.update(_pages_of_every_kind(admin, root))
    for path, html in pages.items():
        assert not EXTERNAL.search(html), f"{path} references {EXTERNAL.search(html)}"
        for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
            assert admin.get(asset).status_code == 200, f"{path} links missing {asset}"


def test_no_stylesheet_or_script_in_static_fetches_from_outside(app: Flask) -> None:
    files = [p for p in STATIC.rglob("*") if p.suffix in {".css", ".js", ".html"}]
    assert files, "app/static holds no stylesheet"
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), f"{file} references {EXTERNAL.search(text)}"
        assert not re.search(r"""(?:fetch|import)\s*\(\s*["']https?://""", text), file


def test_the_navigation_shows_each_role_only_its_own_entries(
    make_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    make_user("root@example.com", roles=("admin",))
    make_user("mia@example.com", roles=("marketer",))
    admin = make_app().test_client()
    login(admin, "root@example.com", PASSWORD)
    marketer = make_app().test_client()
    login(marketer, "mia@example.com", PASSWORD)
    admin_page = admin.get("/").get_data(as_text=True)
    marketer_page = marketer.get("/").get_data(as_text=True)
    users_link = '<a href="/admin/users"'
    assert users_link in admin_page
    assert users_link not in marketer_page
    assert "Sign out" in marketer_page


def test_the_dashboard_shows_the_roles_and_the_system_status(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user(roles=("operator", "auditor"), member_address="0x" + "cd" * 20)
    login(client, "ada@example.com", PASSWORD)
    page = client.get("/").get_data(as_text=True)
    assert "Welcome, Ada Lovelace" in page
    assert "Confirm or dispute the settlement obligations of your member." in page
    assert "Verify approvals against the anchored log and download evidence." in page
    assert "0xCdCDCdCdcdcdcdCdcDcDCdcDcDCdCdcdCdcDCDcD" in page
    assert "in-process (eager)" in page
    assert f"cannot reach the chain at {app.config['CHAIN_URL']}" in page


def test_a_user_without_roles_is_told_to_ask_for_one(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    login(client, "ada@example.com", PASSWORD)
    assert "You have no role yet. Ask an administrator" in client.get("/").get_data(as_text=True)
