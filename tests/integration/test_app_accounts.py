"""Login, logout, roles, the admin users pages, passwords and API tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts import services
from app.accounts.models import ApiToken, Role, User
from app.database import utcnow
from app.extensions import db
from tests.integration.app_fixtures import csrf_token, login, post_form

PASSWORD = "correct horse battery"
MEMBER = "0x" + "ab" * 20


def _user(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        db.session.expunge(user)
        return user


# -- login and logout ------------------------------------------------------------------


def test_a_user_with_the_right_password_is_signed_in_and_sent_to_the_dashboard(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user(roles=("marketer",))
    response = login(client, "Ada@Example.com", PASSWORD)
    assert response.status_code == 302
    assert response.location == "/"
    assert client.get("/account").status_code == 200
    assert _user(app, "ada@example.com").last_login_at is not None


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    wrong = login(client, "ada@example.com", "not the password")
    unknown = login(client, "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid email or password." in wrong.get_data(as_text=True)
    assert "Invalid email or password." in unknown.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_a_deactivated_user_cannot_sign_in(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user("root@example.com", roles=("admin",))
    ada = make_user()
    with app.app_context():
        services.deactivate_user(ada, services.find_user_by_email("root@example.com"))
    response = login(client, "ada@example.com", PASSWORD)
    assert response.status_code == 401
    assert "this account is deactivated; ask an administrator" in response.get_data(as_text=True)


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, "ada@example.com", "wrong password").status_code == 401
    locked = login(client, "ada@example.com", PASSWORD)
    assert locked.status_code == 429
    assert "too many failed logins; try again in 5 minutes" in locked.get_data(as_text=True)
    with app.app_context():
        user = services.find_user_by_email("ada@example.com")
        assert user is not None
        user.locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert login(client, "ada@example.com", PASSWORD).status_code == 302


def test_sign_out_ends_the_session_and_needs_a_post(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    login(client, "ada@example.com", PASSWORD)
    assert client.get("/logout").status_code == 405
    response = post_form(client, "/logout")
    assert response.status_code == 302
    assert response.location == "/login"
    assert client.get("/account").status_code == 302


def test_a_logged_out_user_is_sent_to_login_and_back_to_the_page_asked_for(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    response = client.get("/account")
    assert response.status_code == 302
    assert response.location == "/login?next=/account"
    assert login(client, "ada@example.com", PASSWORD, next_path="/account").location == "/account"


def test_login_never_redirects_off_site(client: FlaskClient, make_user: Callable[..., int]) -> None:
    make_user()
    response = login(client, "ada@example.com", PASSWORD, next_path="https://evil.example/x")
    assert response.location == "/"


def test_a_password_is_stored_as_an_argon2id_hash_and_rehashed_when_parameters_change(
    make_app: Callable[..., Flask], make_user: Callable[..., int], app: Flask
) -> None:
    make_user()
    stored = _user(app, "ada@example.com").password_hash
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert PASSWORD not in stored
    stronger = make_app(ARGON2_TIME_COST=2)
    assert login(stronger.test_client(), "ada@example.com", PASSWORD).status_code == 302
    assert _user(app, "ada@example.com").password_hash.startswith("$argon2id$v=19$m=1024,t=2,p=1$")


def test_session_cookies_are_httponly_and_samesite_lax_and_secure_under_https(
    make_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    make_user()
    plain = make_app().test_client()
    login(plain, "ada@example.com", PASSWORD)
    cookie = plain.get_cookie("ledgerline_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert not cookie.secure
    secure = make_app(HTTPS=True).test_client()
    base = "https://localhost"
    token = csrf_token(secure, base + "/login")
    secure.post(
        base + "/login",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"Referer": base + "/login"},
    )
    cookie = secure.get_cookie("ledgerline_session")
    assert cookie is not None and cookie.secure and cookie.http_only


# -- roles -----------------------------------------------------------------------------


def test_a_marketer_gets_403_on_the_admin_page_and_an_admin_gets_it(
    make_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    make_user("mia@example.com", roles=("marketer",))
    make_user("root@example.com", roles=("admin",))
    marketer = make_app().test_client()
    login(marketer, "mia@example.com", PASSWORD)
    denied = marketer.get("/admin/users")
    assert denied.status_code == 403
    assert "this page needs the admin role" in denied.get_data(as_text=True)
    admin = make_app().test_client()
    login(admin, "root@example.com", PASSWORD)
    page = admin.get("/admin/users")
    assert page.status_code == 200
    assert "mia@example.com" in page.get_data(as_text=True)


def test_a_logged_out_user_is_redirected_from_the_admin_page(client: FlaskClient) -> None:
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.location == "/login?next=/admin/users"


def test_an_admin_creates_an_operator_linked_to_a_registry_member(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user("root@example.com", roles=("admin",))
    login(client, "root@example.com", PASSWORD)
    response = post_form(
        client,
        "/admin/users/new",
        {
            "email": "olga@example.com",
            "display_name": "Olga",
            "password": "a long enough password",
            "roles": ["operator", "auditor"],
            "member_address": MEMBER,
        },
    )
    assert response.status_code == 302
    olga = _user(app, "olga@example.com")
    with app.app_context():
        assert services.get_user(olga.id).roles == {Role.OPERATOR, Role.AUDITOR}
    assert olga.member_address == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"


def test_an_operator_without_a_member_address_is_refused_with_what_to_do(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user("root@example.com", roles=("admin",))
    login(client, "root@example.com", PASSWORD)
    response = post_form(
        client,
        "/admin/users/new",
        {
            "email": "olga@example.com",
            "display_name": "Olga",
            "password": "long password!",
            "roles": ["operator"],
        },
    )
    assert response.status_code == 400
    assert "the operator role needs a registry member address" in response.get_data(as_text=True)


def test_a_malformed_member_address_is_refused(app: Flask) -> None:
    with app.app_context():
        try:
            services.create_user("o@example.com", "O", "long password!", ["clearing_agent"], "0x12")
        except services.ValidationError as exc:
            assert exc.message == (
                "member address '0x12' is not a 20-byte hex address; paste the member's 0x… "
                "address from `ledgerline registry members`"
            )
        else:
            raise AssertionError("a malformed member address was accepted")


def test_a_duplicate_email_is_a_conflict(app: Flask, make_user: Callable[..., int]) -> None:
    make_user()
    with app.app_context():
        try:
            services.create_user("ADA@example.com", "Ada 2", "long password!", [])
        except services.ConflictError as exc:
            assert exc.message == (
                "a user with email ada@example.com already exists; edit that user instead"
            )
        else:
            raise AssertionError("a duplicate email was accepted")


def test_an_admin_changes_roles_but_cannot_remove_the_last_admin(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    root = make_user("root@example.com", roles=("admin",))
    mia = make_user("mia@example.com", roles=("marketer",))
    login(client, "root@example.com", PASSWORD)
    changed = post_form(
        client, f"/admin/users/{mia}", {"display_name": "Mia", "roles": ["approver", "compliance"]}
    )
    assert changed.status_code == 302
    with app.app_context():
        assert services.get_user(mia).roles == {Role.APPROVER, Role.COMPLIANCE}
    refused = post_form(client, f"/admin/users/{root}", {"display_name": "Root", "roles": []})
    assert refused.status_code == 409
    assert (
        "cannot remove the admin role from root@example.com: it is the last active admin; "
        "make another user admin first" in refused.get_data(as_text=True)
    )


def test_deactivating_a_user_ends_their_open_session(
    make_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    make_user("root@example.com", roles=("admin",))
    mia = make_user("mia@example.com", roles=("marketer",))
    mia_browser = make_app().test_client()
    login(mia_browser, "mia@example.com", PASSWORD)
    assert mia_browser.get("/account").status_code == 200
    admin = make_app().test_client()
    login(admin, "root@example.com", PASSWORD)
    assert post_form(admin, f"/admin/users/{mia}/deactivate").status_code == 302
    assert mia_browser.get("/account").status_code == 302


def test_an_admin_cannot_deactivate_their_own_account(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    root = make_user("root@example.com", roles=("admin",))
    login(client, "root@example.com", PASSWORD)
    response = post_form(client, f"/admin/users/{root}/deactivate")
    assert response.status_code == 403
    assert "you cannot deactivate your own account" in response.get_data(as_text=True)


def test_a_password_reset_shows_the_new_password_once_and_the_old_one_stops_working(
    make_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    make_user("root@example.com", roles=("admin",))
    mia = make_user("mia@example.com", roles=("marketer",))
    admin = make_app().test_client()
    login(admin, "root@example.com", PASSWORD)
    page = post_form(admin, f"/admin/users/{mia}/reset-password").get_data(as_text=True)
    new_password = page.split('<code class="secret-value">')[1].split("</code>")[0]
    browser = make_app().test_client()
    assert login(browser, "mia@example.com", PASSWORD).status_code == 401
    assert login(browser, "mia@example.com", new_password).status_code == 302


def test_a_user_changes_their_own_password(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    login(client, "ada@example.com", PASSWORD)
    wrong = post_form(
        client, "/account/password", {"current_password": "nope", "new_password": "brand new pw"}
    )
    assert wrong.status_code == 400
    assert "the current password is wrong" in wrong.get_data(as_text=True)
    short = post_form(
        client, "/account/password", {"current_password": PASSWORD, "new_password": "short"}
    )
    assert "the password has 5 characters; use at least 8" in short.get_data(as_text=True)
    done = post_form(
        client, "/account/password", {"current_password": PASSWORD, "new_password": "brand new pw"}
    )
    assert done.status_code == 302
    assert client.get("/account").status_code == 200  # this session stays signed in


# -- API tokens --------------------------------------------------------------------------


def _issue(app: Flask, email: str = "ada@example.com", name: str = "export job") -> str:
    with app.app_context():
        user = services.find_user_by_email(email)
        assert user is not None
        return services.issue_token(user, name).secret


def test_a_valid_api_token_authenticates_api_requests(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user(roles=("auditor",))
    secret = _issue(app)
    response = client.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json == {
        "id": response.json["id"],
        "email": "ada@example.com",
        "display_name": "Ada Lovelace",
        "roles": ["auditor"],
        "member_address": None,
        "active": True,
    }
    assert "Set-Cookie" not in response.headers  # a token request opens no session


def test_an_api_token_is_stored_only_as_its_sha256(
    app: Flask, make_user: Callable[..., int]
) -> None:
    import hashlib

    make_user()
    secret = _issue(app)
    with app.app_context():
        token = db.session.scalars(select(ApiToken)).one()
        assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret.startswith(f"ll_{token.prefix}_")
        assert all(secret not in str(v) for v in vars(token).values())


def test_a_revoked_token_is_refused(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    secret = _issue(app)
    headers = {"Authorization": f"Bearer {secret}"}
    token_id = client.get("/api/tokens", headers=headers).json["tokens"][0]["id"]
    assert client.delete(f"/api/tokens/{token_id}", headers=headers).json["revoked"] is True
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    prefix = secret.split("_")[1]
    assert response.json == {
        "error": {
            "code": "authentication_failed",
            "message": f"API token {prefix} was revoked; create a new one on your account page",
            "details": None,
        }
    }


def test_a_wrong_or_malformed_token_is_refused(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    secret = _issue(app)
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    wrong = client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
    assert wrong.status_code == 401
    assert wrong.json["error"]["message"] == (
        "unknown API token; create a new one on your account page"
    )
    malformed = client.get("/api/me", headers={"Authorization": "Bearer hello"})
    assert malformed.status_code == 401
    assert malformed.json["error"]["message"].startswith("malformed API token;")
    basic = client.get("/api/me", headers={"Authorization": "Basic YWRhOnB3"})
    assert basic.status_code == 401
    assert basic.json["error"]["message"].startswith("the Authorization header must be 'Bearer")


def test_the_token_of_a_deactivated_user_is_refused(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    root = make_user("root@example.com", roles=("admin",))
    ada = make_user()
    secret = _issue(app)
    with app.app_context():
        services.deactivate_user(ada, services.get_user(root))
    response = client.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert response.json["error"]["message"] == (
        "the token's user is deactivated; ask an administrator"
    )


def test_an_api_request_without_credentials_gets_401_json(client: FlaskClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "authentication_required"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ledgerline"'


def test_a_token_is_shown_once_on_the_account_page(
    client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    login(client, "ada@example.com", PASSWORD)
    created = post_form(client, "/account/tokens", {"name": "nightly export"})
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    secret = page.split('<code class="secret-value">')[1].split("</code>")[0]
    assert secret.startswith("ll_")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert secret not in client.get("/account").get_data(as_text=True)


def test_a_user_cannot_revoke_someone_elses_token(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    bob = make_user("bob@example.com")
    _issue(app, "bob@example.com")
    ada_secret = _issue(app)
    with app.app_context():
        bob_token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == bob))
    response = client.delete(
        f"/api/tokens/{bob_token_id}", headers={"Authorization": f"Bearer {ada_secret}"}
    )
    assert response.status_code == 404
    assert response.json["error"] == {
        "code": "not_found",
        "message": f"no API token with id {bob_token_id} among yours",
        "details": None,
    }
    with app.app_context():
        assert db.session.get(ApiToken, bob_token_id).revoked_at is None


# -- CSRF --------------------------------------------------------------------------------


def test_a_form_post_without_a_csrf_token_is_refused(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    assert app.config["WTF_CSRF_ENABLED"] is True
    make_user()
    response = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_a_session_api_call_needs_the_csrf_header_but_a_token_call_does_not(
    app: Flask, client: FlaskClient, make_user: Callable[..., int]
) -> None:
    make_user()
    _issue(app)
    login(client, "ada@example.com", PASSWORD)
    token_id = client.get("/api/tokens").json["tokens"][0]["id"]
    refused = client.delete(f"/api/tokens/{token_id}")
    assert refused.status_code == 400
    assert refused.json["error"]["code"] == "csrf_failed"
    allowed = client.delete(
        f"/api/tokens/{token_id}", headers={"X-CSRFToken": csrf_token(client, "/account")}
    )
    assert allowed.status_code == 200
    other = _issue(app, name="second")
    fresh: Any = app.test_client()
    second_id = fresh.get("/api/tokens", headers={"Authorization": f"Bearer {other}"}).json[
        "tokens"
    ][0]["id"]
    by_token = fresh.delete(
        f"/api/tokens/{second_id}", headers={"Authorization": f"Bearer {other}"}
    )
    assert by_token.status_code == 200


def test_a_session_survives_a_restart_with_the_generated_secret_key(
    make_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    make_user()
    before = make_app(SECRET_KEY=None)
    browser = before.test_client()
    login(browser, "ada@example.com", PASSWORD)
    cookie = browser.get_cookie("ledgerline_session")
    assert cookie is not None
    after = make_app(SECRET_KEY=None)  # same instance folder, a new process
    assert after.config["SECRET_KEY"] == before.config["SECRET_KEY"]
    restarted = after.test_client()
    restarted.set_cookie("ledgerline_session", cookie.value)
    assert restarted.get("/account").status_code == 200
