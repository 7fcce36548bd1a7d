"""Login/logout, the user's own account page, the admin users pages and ``/api/me``.

Views parse the form, call one service, and show the result; a domain error from a form
submission is shown on the form with its status code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from app.accounts import services
from app.accounts.access import current_account, login_required, roles_required
from app.accounts.forms import ChangePasswordForm, LoginForm, TokenForm, UserForm
from app.accounts.models import Role, User
from app.errors import AppError

accounts_bp = Blueprint("accounts", __name__)
admin_bp = Blueprint("admin", __name__)
api_bp = Blueprint("accounts_api", __name__)


def _no_store(page: Any) -> Response:
    """A page showing a secret: no cache may keep it."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """A local path to go to after login; anything pointing off-site becomes home."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for("main.index")


@accounts_bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data or "", form.password.data or "")
        except AppError as exc:
            flash(exc.message, "error")
            status = exc.status_code
        else:
            session.clear()  # a fresh session for the new identity
            login_user(user, remember=bool(form.remember.data))
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("accounts/login.html", form=form), status


@accounts_bp.post("/logout")
def logout() -> Any:
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


def _account_page(status: int = 200, **extra: Any) -> tuple[str, int]:
    user = current_account()
    return (
        render_template(
            "accounts/account.html",
            user=user,
            tokens=services.list_tokens(user),
            password_form=extra.pop("password_form", None) or ChangePasswordForm(),
            token_form=extra.pop("token_form", None) or TokenForm(),
            **extra,
        ),
        status,
    )


@accounts_bp.get("/account")
@login_required
def account() -> Any:
    return _account_page()


@accounts_bp.post("/account/password")
@login_required
def change_password() -> Any:
    form = ChangePasswordForm()
    if not form.validate():
        return _account_page(400, password_form=form)
    try:
        user = services.change_password(
            current_account(), form.current_password.data or "", form.new_password.data or ""
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _account_page(exc.status_code, password_form=form)
    login_user(user)  # the session version changed; keep this session alive
    flash("Your password is changed; your other sessions are signed out.", "success")
    return redirect(url_for("accounts.account"))


@accounts_bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    form = TokenForm()
    if not form.validate():
        return _account_page(400, token_form=form)
    try:
        issued = services.issue_token(current_account(), form.name.data or "")
    except AppError as exc:
        flash(exc.message, "error")
        return _account_page(exc.status_code, token_form=form)
    # Rendered, not redirected: the secret must not travel through the session cookie.
    return _no_store(_account_page(201, new_token=issued))


@accounts_bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    token = services.revoke_token(token_id, current_account())
    flash(f"Token {token.name} ({token.prefix}) is revoked.", "success")
    return redirect(url_for("accounts.account"))


# -- admin ------------------------------------------------------------------------------


@admin_bp.get("/users")
@roles_required(Role.ADMIN)
def users() -> Any:
    return render_template("admin/users.html", users=services.list_users())


def _user_form_page(
    form: UserForm, user: User | None, status: int = 200, **extra: Any
) -> tuple[str, int]:
    return render_template("admin/user_form.html", form=form, user=user, **extra), status


@admin_bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_user() -> Any:
    form = UserForm()
    if request.method == "GET":
        return _user_form_page(form, None)
    if not form.validate():
        return _user_form_page(form, None, 400)
    try:
        user = services.create_user(
            email=form.email.data or "",
            display_name=form.display_name.data or "",
            password=form.password.data or "",
            roles=form.roles.data or [],
            member_address=form.member_address.data,
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _user_form_page(form, None, exc.status_code)
    flash(f"User {user.email} is created.", "success")
    return redirect(url_for("admin.users"))


@admin_bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_user(user_id: int) -> Any:
    user = services.get_user(user_id)
    if request.method == "GET":
        form = UserForm(
            email=user.email,
            display_name=user.display_name,
            roles=[role.value for role in user.roles],
            member_address=user.member_address or "",
        )
        return _user_form_page(form, user)
    form = UserForm()
    form.email.data = user.email  # the email is the login; it is not edited here
    if not form.validate():
        return _user_form_page(form, user, 400)
    try:
        services.update_user(
            user.id,
            display_name=form.display_name.data or "",
            roles=form.roles.data or [],
            member_address=form.member_address.data,
            actor=current_account(),
        )
    except AppError as exc:
        flash(exc.message, "error")
        return _user_form_page(form, user, exc.status_code)
    flash(f"User {user.email} is updated.", "success")
    return redirect(url_for("admin.users"))


@admin_bp.post("/users/<int:user_id>/deactivate")
@roles_required(Role.ADMIN)
def deactivate_user(user_id: int) -> Any:
    user = services.deactivate_user(user_id, current_account())
    flash(f"User {user.email} is deactivated.", "success")
    return redirect(url_for("admin.users"))


@admin_bp.post("/users/<int:user_id>/activate")
@roles_required(Role.ADMIN)
def activate_user(user_id: int) -> Any:
    user = services.activate_user(user_id)
    flash(f"User {user.email} is active again.", "success")
    return redirect(url_for("admin.users"))


@admin_bp.post("/users/<int:user_id>/reset-password")
@roles_required(Role.ADMIN)
def reset_password(user_id: int) -> Any:
    user, password = services.reset_password(user_id)
    # Rendered once, never stored: the admin hands it over and the user changes it.
    return _no_store(render_template("admin/password_reset.html", user=user, password=password))


# -- API --------------------------------------------------------------------------------


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "roles": sorted(role.value for role in user.roles),
        "member_address": user.member_address,
        "active": user.active,
    }


def token_json(token: Any) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked": token.is_revoked,
    }


@api_bp.get("/me")
@login_required
def me() -> Response:
    return jsonify(user_json(current_account()))


@api_bp.get("/tokens")
@login_required
def api_tokens() -> Response:
    return jsonify({"tokens": [token_json(t) for t in services.list_tokens(current_account())]})


@api_bp.delete("/tokens/<int:token_id>")
@login_required
def api_revoke_token(token_id: int) -> Response:
    return jsonify(token_json(services.revoke_token(token_id, current_account())))
