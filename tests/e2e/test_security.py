"""Security in a real browser: a marketer meets the 403 page on approval and admin pages,
a form post without its CSRF token is refused, a signed-out visitor is sent to login."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveDemo, screenshot, sign_in


def test_a_marketer_meets_the_forbidden_page_on_approval_and_admin_pages(
    live_demo: LiveDemo, page: Any
) -> None:
    sign_in(page, live_demo, live_demo.first("marketer").email)
    screenshot(page, "dashboard")
    for path in ("/admin/users", "/admin/users/new", "/approvals/policies/new", "/settlement/"):
        response = page.goto(f"{live_demo.url}{path}")
        assert response is not None and response.status == 403, path
        assert "403" in page.title() or "not allowed" in page.content().lower(), path
    screenshot(page, "forbidden")


def test_a_form_post_without_its_csrf_token_is_refused(live_demo: LiveDemo, page: Any) -> None:
    sign_in(page, live_demo, live_demo.first("marketer").email)
    status, body = page.evaluate(
        """async () => {
            const r = await fetch('/account/tokens', {method: 'POST',
                headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                body: 'name=stolen'});
            return [r.status, await r.text()];
        }"""
    )
    assert status == 400
    assert "Reload the page and submit the form again." in body


def test_a_signed_out_visitor_is_redirected_to_the_login_page(
    live_demo: LiveDemo, page: Any
) -> None:
    page.goto(f"{live_demo.url}/campaigns/")
    assert page.url.startswith(f"{live_demo.url}/login")
    assert "next=" in page.url
    screenshot(page, "login")
