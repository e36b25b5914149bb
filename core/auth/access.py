"""Who is asking: session and bearer-token loaders, the subdomain tenant check, CSRF policy, cookie
security and the permission decorators other modules use.

CSRF policy (decided): every POST/PUT/PATCH/DELETE is checked, UI and API alike, with two exceptions
under ``/api/``: a request that carries ``Authorization: Bearer`` (it is authenticated by the token
only -- the session cookie is ignored for it -- and a browser cannot add that header cross-site), and
a request with no signed-in session at all (nothing to forge; it gets a 401). A cookie-authenticated
API call (scripts in our own pages) must send the token in the ``X-CSRFToken`` header.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from functools import wraps
from types import SimpleNamespace

from flask import (Flask, abort, current_app, g, has_request_context, jsonify, redirect, render_template,
                   request, session, url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import current_user, login_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import select
from sqlalchemy.orm import defaultload
from werkzeug.middleware.proxy_fix import ProxyFix

from ..db import db
from ..models import Tenant, User

csrf = CSRFProtect()
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header on an API request (tokens are API-only)."""
    if not is_api_request():
        return None
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# --- the tenant of the host (SaaS subdomains) ------------------------------------------------------

def base_domain() -> str:
    cfg = current_app.config
    return (cfg.get("GARAGE_BASE_DOMAIN") or cfg.get("SERVER_NAME") or "").split(":")[0].lower().strip(".")


def host_tenant_slug() -> str | None:
    """``shop-1`` for ``shop-1.<base domain>`` when ``GARAGE_TENANT_SUBDOMAINS`` is on; else None."""
    if not current_app.config.get("GARAGE_TENANT_SUBDOMAINS") or not has_request_context():
        return None
    base = base_domain()
    host = request.host.split(":")[0].lower()
    if not base or not host.endswith("." + base):
        return None
    sub = host[: -len(base) - 1]
    return sub if sub and "." not in sub else None


def _fits_host(user: User) -> bool:
    """A user of tenant A on tenant B's host, or on a page whose URL names tenant B, is nobody there
    (anonymous), whatever cookie or token they bring."""
    tenant = g.get("tenant")
    if tenant is not None and tenant.id != user.tenant_id:
        return False
    slug = host_tenant_slug()
    return slug is None or user.tenant.slug == slug


# --- Flask-Login loaders -----------------------------------------------------------------------------

PASSWORD_STAMP = "_garage_pw"


def password_stamp(user: User) -> str:
    """A keyed fingerprint of the user's password hash, kept in the session at sign-in: when the
    password changes, every other session of the user stops being signed in."""
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    return hmac.new(key, (user.password_hash or "").encode(), hashlib.sha256).hexdigest()[:32]


def start_session(user: User) -> None:
    """Sign ``user`` in on a brand-new session (new cookie value, new CSRF secret)."""
    session.clear()
    login_user(user)
    session[PASSWORD_STAMP] = password_stamp(user)


def load_session_user(user_id: str):
    if bearer_token() is not None:
        return None  # a token request is the token's user only; Flask-Login then asks load_token_user
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    # The tenant is not known yet: the user row tells it. Crossing tenants here is deliberate.
    # The tenant's feature overrides are not loaded with it: the request's tenant context reads them
    # with the tier's features in one statement (core.features.request_tenant_info).
    user = db.session.execute(
        select(User).where(User.id == uid, User.active.is_(True))
        .options(defaultload(User.tenant).lazyload(Tenant.feature_overrides)).execution_options(all_tenants=True)
    ).scalar_one_or_none()
    if user is None or not user.tenant.active or not _fits_host(user):
        return None
    stamp = session.get(PASSWORD_STAMP)
    if stamp is not None and not hmac.compare_digest(stamp, password_stamp(user)):
        return None  # the password changed since this session signed in
    return user


def load_token_user(req):
    text = bearer_token()
    if text is None:
        return None
    from .tokens import user_for_token

    user = user_for_token(text)
    if user is None or not _fits_host(user):
        g.garage_bad_token = True
        return None
    return user


def _challenge() -> str:
    return 'Bearer error="invalid_token"' if g.get("garage_bad_token") else "Bearer"


def unauthorized():
    if is_api_request():
        response = jsonify(error="unauthorized", message=_("Sign in or send an API token."))
        response.status_code = 401
        response.headers["WWW-Authenticate"] = _challenge()
        return response
    return redirect(url_for("core_auth.login", next=request.full_path.rstrip("?")))


# --- decorators for every module ----------------------------------------------------------------

def forbidden():
    if is_api_request():
        return jsonify(error="forbidden", message=_("You do not have permission to do this.")), 403
    abort(403)


def core_feature_unavailable(feature: str):
    """A core feature the tenant's tier lacks: API 404, UI the upgrade page with status 404."""
    from ..features import CORE_FEATURES

    if is_api_request():
        return jsonify(error="not_found", message=_("Not found")), 404
    description = CORE_FEATURES.get(feature, "")
    # Shaped like a plugin manifest for the shared upgrade page (title, description, features).
    manifest = SimpleNamespace(slug="core", title=description, description=description,
                               features={feature: description})
    return render_template("core/upgrade.html", manifest=manifest, feature=feature), 404


def login_required(fn):
    """Signed in (session or API token), else 401 JSON with ``WWW-Authenticate: Bearer`` on the API
    and a redirect to the login page in the UI."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return unauthorized()
        return fn(*args, **kwargs)

    return wrapper


def permission_required(code: str, feature: str | None = None):
    """Signed in, the tenant has ``feature`` (404/upgrade page otherwise) and the user has ``code``
    (403 JSON on the API, the friendly 403 page in the UI)."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return unauthorized()
            tenant = g.get("tenant")
            if feature is not None and (tenant is None or not tenant.has(feature)):
                return core_feature_unavailable(feature)
            if not current_user.can(code):
                return forbidden()
            return fn(*args, **kwargs)

        return wrapper

    return decorate


# --- CSRF, cookies and error pages -------------------------------------------------------------------

def _check_csrf():
    if request.method not in STATE_CHANGING or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    if is_api_request() and (bearer_token() is not None or session.get("_user_id") is None):
        return None
    csrf.protect()
    return None


def _csrf_failed(exc: CSRFError):
    message = _("The form has expired or was not sent by this site. Reload the page and try again.")
    if is_api_request():
        return jsonify(error="csrf", message=message), 400
    return render_template("core/auth/error.html", title=_("Form expired"), message=message), 400


def _forbidden_page(exc):
    if is_api_request():
        return jsonify(error="forbidden", message=_("You do not have permission to do this.")), 403
    return render_template("core/auth/error.html", title=_("Access denied"),
                           message=_("You do not have permission to open this page.")), 403


def _add_bearer_challenge(response):
    """Every 401 of the API tells the client how to authenticate (RFC 6750), whoever raised it."""
    if response.status_code == 401 and is_api_request() and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = _challenge()
    return response


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie session whose cookie is ``Secure`` whenever the request came over HTTPS
    (behind a proxy, with ProxyFix), or always when ``SESSION_COOKIE_SECURE`` is set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (has_request_context() and request.is_secure)


def init_security(app: Flask) -> None:
    # Behind N trusted reverse proxies (GARAGE_PROXY_FIX=N), take the client address, scheme and host
    # from their X-Forwarded-* headers: per-IP throttling, Secure cookies and subdomain tenants need them.
    proxies = int(app.config.get("GARAGE_PROXY_FIX") or os.environ.get("GARAGE_PROXY_FIX") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # An https deployment (behind a TLS proxy the app may see plain http) always marks cookies Secure.
    if app.config.get("PREFERRED_URL_SCHEME") == "https":
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = app.config.get("REMEMBER_COOKIE_SECURE") or app.config["SESSION_COOKIE_SECURE"]
    app.session_interface = SessionCookies()
    # We run the check ourselves (first of all before-request functions, so it happens before any
    # gating or loading) to apply the API policy above.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    csrf.init_app(app)
    app.before_request_funcs.setdefault(None, []).insert(0, _check_csrf)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.after_request(_add_bearer_challenge)
    # A plain default; the UI shell may register a richer 403 page after us (it replaces this one).
    app.register_error_handler(403, _forbidden_page)
