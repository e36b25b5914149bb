"""Sign-in, sign-out, password change, login throttling, session cookies and CSRF on every form."""
import re

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import db
from core.features import tenant_info
from core.models import User
from core.security import verify_password
from core.tenancy import tenant_context
from core.tenants import get_tenant

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def client(app):
    """English pages (a shop's default language is Russian), so the tests can read the messages."""
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return c


def csrf_of(client, path="/login"):
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, u, password=None, shop=None, **extra):
    return client.post("/login", data={"csrf_token": csrf_of(client), "shop": shop or u.tenant.slug,
                                       "email": u.email, "password": password or u.password}, **extra)


def audit_actions(app, slug):
    with app.app_context(), tenant_context(tenant_info(get_tenant(slug))):
        return [(r.action, r.actor, r.user_id, r.object_id)
                for r in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]


def session_cookie(client):
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def test_login_success_rotates_the_session_and_is_audited(app, client, user):
    u = user(role="owner")
    before = csrf_of(client)
    cookie_before = session_cookie(client)
    assert cookie_before
    r = sign_in(client, u)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert session_cookie(client) != cookie_before
    with client.session_transaction() as sess:
        assert sess["_user_id"] == str(u.id)
        assert sess.get("csrf_token") != before  # the pre-login CSRF secret is gone with the old session
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    assert ("login", u.email, u.id, u.id) in audit_actions(app, u.tenant.slug)
    # signed in: the login page sends the user on
    assert client.get("/login").status_code == 302


def test_login_failures_show_one_message_and_are_audited(app, client, user):
    u = user(role="owner")
    for shop, email, password in ((u.tenant.slug, u.email, "wrong password!"),
                                  (u.tenant.slug, "nobody@x.example", u.password),
                                  ("no-such-shop", u.email, u.password)):
        r = client.post("/login", data={"csrf_token": csrf_of(client), "shop": shop, "email": email,
                                        "password": password})
        assert r.status_code == 200
        assert "Wrong shop code, e-mail or password." in r.get_data(as_text=True)
        with client.session_transaction() as sess:
            assert "_user_id" not in sess
    rows = audit_actions(app, u.tenant.slug)
    assert ("login_failed", u.email, None, u.id) in rows
    assert ("login_failed", "nobody@x.example", None, None) in rows  # unknown account, known shop


def test_login_form_errors_are_per_field_and_translated(client):
    r = client.post("/login", data={"csrf_token": csrf_of(client), "shop": "", "email": "", "password": ""},
                    headers={"Accept-Language": "ru"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert 'id="shop-error"' in html and 'id="email-error"' in html and 'id="password-error"' in html


def test_same_email_in_two_shops_signs_into_the_right_one(app, client, user):
    a = user(role="owner", email="same@x.example")
    b = user(role="owner", email="same@x.example", password="another password 1")
    assert sign_in(client, b).status_code == 302
    with client.session_transaction() as sess:
        assert sess["_user_id"] == str(b.id)
    assert sign_in(app.test_client(), a, password=b.password).status_code == 200  # a's password differs


def test_deactivated_user_cannot_sign_in_and_loses_the_session(app, client, user, login):
    u = user(role="owner")
    login(client, u)
    assert client.get("/profile/password").status_code == 200
    with app.app_context(), tenant_context(tenant_info(get_tenant(u.tenant.slug))):
        db.session.execute(select(User).where(User.id == u.id)).scalar_one().active = False
        db.session.commit()
    assert client.get("/profile/password").status_code == 302
    assert "Wrong shop code" in sign_in(app.test_client(), u).get_data(as_text=True)


def test_logout_needs_post_and_ends_the_session(app, client, user):
    u = user(role="owner")
    sign_in(client, u)
    assert client.get("/logout").status_code == 405
    r = client.post("/logout", data={"csrf_token": csrf_of(client, "/profile/password")})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert client.get("/profile/password").status_code == 302
    assert ("logout", u.email, u.id, u.id) in audit_actions(app, u.tenant.slug)


def test_password_change_requires_the_old_password(app, client, user):
    u = user(role="technician")
    sign_in(client, u)
    token = csrf_of(client, "/profile/password")
    r = client.post("/profile/password", data={"csrf_token": token, "current_password": "not it at all",
                                               "new_password": "a brand new secret", "confirm": "a brand new secret"})
    assert r.status_code == 400 and "This is not your current password." in r.get_data(as_text=True)
    r = client.post("/profile/password", data={"csrf_token": token, "current_password": u.password,
                                               "new_password": "short", "confirm": "short"})
    assert r.status_code == 400 and "at least 10 characters" in r.get_data(as_text=True)
    cookie = session_cookie(client)
    r = client.post("/profile/password", data={"csrf_token": token, "current_password": u.password,
                                               "new_password": "a brand new secret", "confirm": "a brand new secret"})
    assert r.status_code == 200 and "Your password has been changed." in r.get_data(as_text=True)
    assert session_cookie(client) != cookie
    with app.app_context(), tenant_context(tenant_info(get_tenant(u.tenant.slug))):
        row = db.session.execute(select(User).where(User.id == u.id)).scalar_one()
        assert verify_password(row.password_hash, "a brand new secret")
    assert ("password_change", u.email, u.id, u.id) in audit_actions(app, u.tenant.slug)
    fresh = app.test_client()
    assert sign_in(fresh, u).status_code == 200
    assert sign_in(fresh, u, password="a brand new secret").status_code == 302


def test_password_change_ends_the_users_other_sessions(app, client, user):
    u = user(role="owner")
    other_device = app.test_client()
    sign_in(client, u)
    sign_in(other_device, u)
    assert other_device.get("/profile/password").status_code == 200
    r = client.post("/profile/password", data={"csrf_token": csrf_of(client, "/profile/password"),
                                               "current_password": u.password, "new_password": "a brand new secret",
                                               "confirm": "a brand new secret"})
    assert r.status_code == 200
    assert client.get("/profile/password").status_code == 200  # this session goes on
    assert other_device.get("/profile/password").status_code == 302  # the other one is signed out


def test_safe_next_redirect(client, user):
    u = user(role="owner")
    r = client.get("/profile/password")
    assert r.status_code == 302 and "/login?next=/profile/password" in r.headers["Location"]
    assert sign_in(client, u, query_string={"next": "/profile/password"}).headers["Location"] == "/profile/password"
    other = user(role="owner")
    c2 = client.application.test_client()
    for evil in ("//evil.example/x", "/\\evil.example", "https://evil.example/", "/\t/evil.example"):
        c2 = client.application.test_client()
        assert sign_in(c2, other, query_string={"next": evil}).headers["Location"] == "/", evil


@pytest.fixture
def garage_config(request):
    """Extra app settings for one test: ``@with_config({...})``."""
    return dict(getattr(request, "param", {}))


def with_config(settings):
    return pytest.mark.parametrize("garage_config", [settings], indirect=True, ids=["config"])


@with_config({"RATELIMIT_ENABLED": True, "GARAGE_LOGIN_LIMIT_ACCOUNT": "3 per 15 minutes"})
def test_login_is_throttled_per_account(app, client, user):
    u = user(role="owner")
    for _ in range(3):
        assert "Wrong shop code" in sign_in(client, u, password="wrong wrong wrong").get_data(as_text=True)
    r = sign_in(client, u)  # the right password is refused while locked
    assert r.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 min." in r.get_data(as_text=True)
    assert int(r.headers["Retry-After"]) > 800
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    r = sign_in(client, u, headers={"Accept-Language": "ru"})
    assert r.status_code == 429 and "Too many failed" not in r.get_data(as_text=True)  # said in Russian
    assert "login_locked" in [a for a, *_ in audit_actions(app, u.tenant.slug)]
    # another account from the same address is not locked by this one
    assert sign_in(client, user(role="owner")).status_code == 302


@with_config({"RATELIMIT_ENABLED": True, "GARAGE_LOGIN_LIMIT_ACCOUNT": "2 per 15 minutes"})
def test_guessing_the_current_password_is_throttled_too(client, user, login):
    u = user(role="owner")
    login(client, u)
    token = csrf_of(client, "/profile/password")
    data = {"csrf_token": token, "new_password": "a brand new secret", "confirm": "a brand new secret"}
    for guess in ("guess one", "guess two"):
        assert client.post("/profile/password", data={**data, "current_password": guess}).status_code == 400
    r = client.post("/profile/password", data={**data, "current_password": u.password})
    assert r.status_code == 429 and "Too many failed sign-in attempts." in r.get_data(as_text=True)
    # and signing in to that account is locked as well
    assert sign_in(client.application.test_client(), u).status_code == 429


@with_config({"RATELIMIT_ENABLED": True, "GARAGE_LOGIN_LIMIT_IP": "4 per 15 minutes"})
def test_login_is_throttled_per_ip(app, user):
    u = user(role="owner")
    attacker = app.test_client()
    for n in range(4):
        r = attacker.post("/login", data={"csrf_token": csrf_of(attacker), "shop": u.tenant.slug,
                                          "email": f"guess{n}@x.example", "password": "guess"})
        assert r.status_code == 200
    assert sign_in(attacker, u).status_code == 429
    other_ip = app.test_client()
    assert sign_in(other_ip, u, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302


@with_config({"PREFERRED_URL_SCHEME": "https"})
def test_cookie_is_secure_on_https(client):
    # behind a TLS-terminating proxy the app itself may see plain http
    client.get("/login", base_url="http://localhost")
    assert client.get_cookie("session").secure


def test_cookie_is_secure_when_the_request_is_https(client, user):
    client.get("/login", base_url="https://localhost")
    assert client.get_cookie("session", domain="localhost").secure


@with_config({"GARAGE_PROXY_FIX": 1, "RATELIMIT_ENABLED": True, "GARAGE_LOGIN_LIMIT_IP": "2 per 15 minutes"})
def test_behind_a_proxy_the_forwarded_client_address_and_scheme_count(client, user):
    u = user(role="owner")
    for _ in range(2):
        r = client.post("/login", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
                                           "Referer": "https://localhost/login"},
                        data={"csrf_token": csrf_of(client), "shop": u.tenant.slug, "email": u.email, "password": "no"})
        assert r.status_code == 200
    assert client.get_cookie("session").secure
    blocked = sign_in(client, u, headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
                                          "Referer": "https://localhost/login"})
    assert blocked.status_code == 429
    assert sign_in(client, u, headers={"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https",
                                       "Referer": "https://localhost/login"}).status_code == 302


def _fill(rule):
    """A URL for the rule: 1 for every argument, or the first choice of an ``any(...)`` converter."""
    from werkzeug.routing import AnyConverter

    values = {}
    for arg in rule.arguments:
        converter = rule._converters.get(arg)
        values[arg] = sorted(converter.items)[0] if isinstance(converter, AnyConverter) else 1
    return rule.build(values, append_unknown=False)[1]


def test_every_state_changing_form_requires_csrf(app, client, user, login):
    """Meta-test over the URL map: every non-API POST/PUT/PATCH/DELETE without a token is a 400,
    signed in or not."""
    owner = user(role="owner", tenant=user.tenant_factory(tier="profi"))
    checked = []
    anonymous = app.test_client()
    login(client, owner)
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            path = _fill(rule)
            for c in (client, anonymous):
                r = c.open(path, method=method, data={"x": "1"})
                assert r.status_code == 400, f"{method} {rule.rule} answered {r.status_code} without a CSRF token"
            checked.append((method, rule.rule))
    assert ("POST", "/login") in checked and ("POST", "/logout") in checked
    page = anonymous.post("/login", data={"shop": "x", "email": "y@z.example", "password": "p"})
    assert "The form has expired or was not sent by this site." in page.get_data(as_text=True)
    assert ("POST", "/users/<int:user_id>/deactivate") in checked


def test_every_state_changing_api_call_with_a_session_cookie_requires_csrf(app, client, user, login):
    """Meta-test over the URL map: cookie-authenticated API mutations are refused without the
    X-CSRFToken header (a bearer token is the way for scripts)."""
    login(client, user(role="owner", tenant=user.tenant_factory(tier="profi")))
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            r = client.open(_fill(rule), method=method, json={})
            assert r.status_code == 400 and r.get_json()["error"] == "csrf", f"{method} {rule.rule}"
            checked += 1
    assert checked > 0


def test_cookie_authenticated_api_post_needs_the_csrf_header(app, client, user, login):
    owner = user(role="owner")
    login(client, owner)
    r = client.post("/api/v1/audit", json={})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    token = csrf_of(client, "/profile/password")
    r = client.post("/api/v1/audit", json={}, headers={"X-CSRFToken": token})
    assert r.status_code == 405  # past the CSRF check (the audit log cannot be written through the API)


@with_config({"GARAGE_TENANT_SUBDOMAINS": True, "GARAGE_BASE_DOMAIN": "garage.example"})
def test_subdomain_names_the_shop_and_other_tenants_are_anonymous(app, user, login):
    a = user(role="owner")
    b = user(role="owner")
    host_a = f"https://{a.tenant.slug}.garage.example"
    c = app.test_client()
    page = c.get("/login", base_url=host_a).get_data(as_text=True)
    assert 'name="shop"' not in page
    token = CSRF_RE.search(page).group(1)
    # over HTTPS, Flask-WTF also wants a same-site Referer
    r = c.post("/login", base_url=host_a, headers={"Referer": host_a + "/login"},
               data={"csrf_token": token, "email": a.email, "password": a.password})
    assert r.status_code == 302
    assert c.get("/profile/password", base_url=host_a).status_code == 200
    # B's session (e.g. with SESSION_COOKIE_DOMAIN on the parent domain) is nobody on A's host
    host_b = f"https://{b.tenant.slug}.garage.example"
    cb = app.test_client()
    token = CSRF_RE.search(cb.get("/login", base_url=host_b).get_data(as_text=True)).group(1)
    assert cb.post("/login", base_url=host_b, headers={"Referer": host_b + "/login"},
                   data={"csrf_token": token, "email": b.email, "password": b.password}).status_code == 302
    assert cb.get("/profile/password", base_url=host_b).status_code == 200
    cb.set_cookie("session", cb.get_cookie("session", domain=f"{b.tenant.slug}.garage.example").value,
                  domain=f"{a.tenant.slug}.garage.example")
    assert cb.get("/profile/password", base_url=host_a).status_code == 302
    # and B cannot sign in on A's host, even with the right password
    page = cb.get("/login", base_url=host_a)
    assert page.status_code == 200
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    r = cb.post("/login", base_url=host_a, headers={"Referer": host_a + "/login"},
                data={"csrf_token": token, "email": b.email, "password": b.password})
    assert r.status_code == 200
