"""Sign in and out, password change and personal API tokens."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy import select

from .. import audit
from ..db import db
from ..features import tenant_info
from ..models import Tenant, User
from ..security import hash_password, verify_password
from ..tenancy import tenant_context
from . import throttle
from .access import host_tenant_slug, login_required, start_session
from .forms import ConfirmForm, LoginForm, PasswordChangeForm, TokenForm
from .models import ApiToken
from .tokens import create_token, revoke_token, user_tokens

bp = Blueprint("core_auth", __name__)

_dummy_hash: list[str] = []


def _spend_hash_time(password: str) -> None:
    """Verify against a throwaway hash so an unknown account costs as long as a wrong password."""
    if not _dummy_hash:
        _dummy_hash.append(hash_password("not a real password"))
    verify_password(_dummy_hash[0], password)


def safe_next(default: str = "/") -> str:
    target = request.args.get("next") or request.form.get("next") or ""
    # Only local paths: never redirect a user to another site after signing in ("//evil", "/\\evil"
    # and control characters, which browsers strip, are refused too).
    parts = urlsplit(target)
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not parts.scheme and not parts.netloc and all(c.isprintable() and not c.isspace() for c in target)):
        return target
    return default


def _minutes(seconds: int) -> int:
    return max(1, (seconds + 59) // 60)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next())
    host_slug = host_tenant_slug()
    form = LoginForm()
    if host_slug:
        del form.shop  # the host names the shop
    status = 200
    if form.validate_on_submit():
        shop = host_slug or form.shop.data.strip().lower()
        email = form.email.data.strip().lower()
        ip = request.remote_addr or "-"
        tenant = db.session.execute(
            select(Tenant).where(Tenant.slug == shop, Tenant.active.is_(True))).scalar_one_or_none()
        info = tenant_info(tenant) if tenant is not None else None
        wait = throttle.locked_for(ip, f"{shop}:{email}")
        if wait is not None:
            form.form_errors.append(_("Too many failed sign-in attempts. Try again in %(minutes)d min.",
                                      minutes=_minutes(wait)))
            if info is not None:
                with tenant_context(info):
                    audit.record("login_locked", actor=email, object_type="core_user")
                    db.session.commit()
            response = make_response(render_template("core/auth/login.html", form=form, host_slug=host_slug), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        user = None
        if info is not None:
            with tenant_context(info):
                user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is not None and user.active and verify_password(user.password_hash, form.password.data):
            start_session(user)
            with tenant_context(info):
                audit.record("login", user, user=user)
                db.session.commit()
            return redirect(safe_next())
        if user is None:
            _spend_hash_time(form.password.data)
        throttle.count_failure(ip, f"{shop}:{email}")
        if info is not None:
            with tenant_context(info):
                audit.record("login_failed", actor=email, object_type="core_user",
                             object_id=user.id if user is not None else None,
                             changes={} if user is not None else {"unknown_email": [None, email]})
                db.session.commit()
        form.form_errors.append(_("Wrong shop code, e-mail or password."))
    elif request.method == "POST":
        status = 400
    return render_template("core/auth/login.html", form=form, host_slug=host_slug), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit.record("logout", current_user._get_current_object())
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("core_auth.login"))


@bp.route("/profile/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    done = False
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        # Guessing the current password from a borrowed session counts like failed sign-ins.
        ip, account = request.remote_addr or "-", f"{user.tenant_slug}:{user.email}"
        wait = throttle.locked_for(ip, account)
        if wait is not None:
            form.form_errors.append(_("Too many failed sign-in attempts. Try again in %(minutes)d min.",
                                      minutes=_minutes(wait)))
            status = 429
        elif not verify_password(user.password_hash, form.current_password.data):
            throttle.count_failure(ip, account)
            form.current_password.errors.append(_("This is not your current password."))
            status = 400
        else:
            user.password_hash = hash_password(form.new_password.data)
            audit.record("password_change", user, changes={"password": ["***", "***"]})
            db.session.commit()
            start_session(user)  # rotate this session; the user's other sessions end
            form = PasswordChangeForm(formdata=None)
            done = True
    elif request.method == "POST":
        status = 400
    return render_template("core/auth/password.html", form=form, done=done), status


# --- API tokens (the profile page includes core/auth/_tokens.html) -------------------------------------

def _tokens_page(form: TokenForm, new_token: str | None = None, status: int = 200):
    response = make_response(render_template("core/auth/tokens.html", form=form, new_token=new_token,
                                             api_tokens=user_tokens(current_user), revoke_form=ConfirmForm()),
                             status)
    if new_token:
        response.headers["Cache-Control"] = "no-store"  # the token is shown once; keep it out of caches
    return response


@bp.route("/profile/tokens", methods=["GET"])
@login_required
def tokens():
    return _tokens_page(TokenForm(formdata=None))


@bp.route("/profile/tokens", methods=["POST"])
@login_required
def create_api_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return _tokens_page(form, status=400)
    _row, text = create_token(current_user._get_current_object(), form.name.data)
    db.session.commit()
    return _tokens_page(TokenForm(formdata=None), new_token=text, status=201)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_api_token(token_id: int):
    token = db.session.execute(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id)).scalar_one_or_none()
    if token is None:
        return render_template("core/auth/error.html", title=_("Not found"),
                               message=_("This token does not exist.")), 404
    revoke_token(token)
    db.session.commit()
    return redirect(safe_next(url_for("core_auth.tokens")))


def current_user_api_tokens() -> list[ApiToken]:
    """Template global for the profile page's token section."""
    if not current_user.is_authenticated or g.get("tenant") is None:
        return []
    return user_tokens(current_user)
