"""The audit log: rows for every security event, browsing with filters (page and API), owner/admin
only, tenant-scoped, and append-only."""
import re
from zoneinfo import ZoneInfo
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, update

from core.audit import AuditImmutable, AuditLog, record
from core.db import db
from core.features import tenant_info
from core.tenancy import tenant_context
from core.tenants import get_tenant

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def client(app):
    """English pages (a shop's default language is Russian), so the tests can read the messages."""
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return c


def bearer(text):
    return {"Authorization": f"Bearer {text}"}


def sign_in(client, u, password=None):
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    return client.post("/login", data={"csrf_token": token, "shop": u.tenant.slug, "email": u.email,
                                       "password": password or u.password})


@pytest.fixture
def shop(app, user, token):
    """An owner with a token, a technician, and some history: logins, a failed login, a logout."""
    owner = user(role="owner", tenant=user.tenant_factory(tier="master"))
    tech = user(role="technician", tenant=owner.tenant)
    c = app.test_client()
    sign_in(c, tech, password="wrong password")
    sign_in(c, tech)
    csrf = CSRF_RE.search(c.get("/profile/password").get_data(as_text=True)).group(1)
    c.post("/logout", data={"csrf_token": csrf})
    return owner, tech, token(owner)


def actions(payload):
    return [row["action"] for row in payload["items"]]


def test_security_events_are_recorded_newest_first(client, shop):
    owner, tech, text = shop
    r = client.get("/api/v1/audit", headers=bearer(text))
    assert r.status_code == 200
    body = r.get_json()
    assert actions(body)[:4] == ["token_create", "logout", "login", "login_failed"]
    failed = body["items"][3]
    assert failed["actor"] == tech.email and failed["object_id"] == tech.id and failed["ip"] == "127.0.0.1"
    login = body["items"][2]
    assert login["user_id"] == tech.id and login["object_type"] == "core_user"


def test_api_filters_and_paging(client, shop):
    owner, tech, text = shop
    get = lambda **q: client.get("/api/v1/audit", query_string=q, headers=bearer(text)).get_json()  # noqa: E731
    assert actions(get(action="login")) == ["login"]
    assert set(actions(get(user=str(tech.id)))) == {"login", "logout"}
    assert set(actions(get(user=tech.email.upper()))) >= {"login", "logout", "login_failed"}
    by_object = get(object_type="core_user", object_id=str(tech.id))
    assert set(actions(by_object)) >= {"create", "login", "login_failed", "logout"}
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()  # the shop's day: filters are in its time zone
    assert get(date_from=str(today), date_to=str(today))["total"] == get()["total"]
    assert get(date_to=str(today - timedelta(days=1)))["total"] == 0
    assert get(date_from=str(today + timedelta(days=1)))["total"] == 0
    page1, page2 = get(per_page="2", page="1"), get(per_page="2", page="2")
    assert len(page1["items"]) == 2 and page1["total"] == get()["total"]
    assert not {r["id"] for r in page1["items"]} & {r["id"] for r in page2["items"]}
    assert get(per_page="5000")["per_page"] == 200


def test_api_rejects_bad_filters_per_field(client, shop):
    owner, tech, text = shop
    r = client.get("/api/v1/audit?date_from=yesterday&object_id=x&page=0", headers=bearer(text))
    assert r.status_code == 400
    assert set(r.get_json()["fields"]) == {"date_from", "object_id", "page"}


def test_page_lists_and_filters(client, login, shop):
    owner, tech, _text = shop
    login(client, owner)
    page = client.get("/audit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Failed sign-in" in html and tech.email in html
    filtered = client.get("/audit", query_string={"action": "logout"}).get_data(as_text=True)
    assert "Signed out" in filtered and "Failed sign-in" not in filtered
    bad = client.get("/audit", query_string={"date_to": "31.01.2026"})
    assert bad.status_code == 400 and "Use a date like 2026-01-31." in bad.get_data(as_text=True)


@pytest.mark.parametrize("role,expected", [("owner", 200), ("admin", 200), ("technician", 403),
                                           ("cashier", 403), ("service_advisor", 403), ("accountant", 403)])
def test_only_owner_and_admin_read_the_log(client, user, token, login, role, expected):
    u = user(role=role)
    assert client.get("/api/v1/audit", headers=bearer(token(u))).status_code == expected
    login(client, u)
    assert client.get("/audit").status_code == expected


def test_forbidden_and_unauthenticated_answers(client, user, token):
    r = client.get("/api/v1/audit", headers=bearer(token(user(role="technician"))))
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    r = client.get("/api/v1/audit")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/audit").status_code == 302


def test_a_tenant_sees_only_its_own_rows(client, user, token):
    a = user(role="owner")
    b = user(role="owner")
    token(b)
    body = client.get("/api/v1/audit", headers=bearer(token(a))).get_json()
    assert body["total"] == len(body["items"]) > 0
    assert b.email not in {row["actor"] for row in body["items"]}


def test_rows_cannot_be_changed_or_deleted(app, user):
    u = user(role="owner")
    with app.app_context(), tenant_context(tenant_info(get_tenant(u.tenant.slug))):
        row = record("test", object_type="x", object_id=1)
        db.session.commit()
        row.action = "tampered"
        with pytest.raises(AuditImmutable):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(AuditLog, row.id))
        with pytest.raises(AuditImmutable):
            db.session.flush()
        db.session.rollback()
        assert db.session.get(AuditLog, row.id).action == "test"
        # bulk statements never flush; they are refused as well
        with pytest.raises(AuditImmutable):
            db.session.execute(update(AuditLog).values(action="tampered"))
        db.session.rollback()
        with pytest.raises(AuditImmutable):
            db.session.execute(delete(AuditLog).where(AuditLog.id == row.id))
        db.session.rollback()
        assert db.session.get(AuditLog, row.id).action == "test"


def test_no_route_writes_the_audit_log(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule


def test_the_page_shows_times_in_the_shops_time_zone(client, login, shop):
    from core.models import Tenant

    owner, _tech, _text = shop
    login(client, owner)
    with client.application.app_context():
        tenant = db.session.get(Tenant, owner.tenant.id)
        tenant.timezone = "Asia/Vladivostok"  # UTC+10
        db.session.commit()
        with tenant_context(tenant_info(tenant)):
            latest = db.session.query(AuditLog).order_by(AuditLog.id.desc()).first()
        shown = latest.at.replace(tzinfo=latest.at.tzinfo or timezone.utc).astimezone(ZoneInfo("Asia/Vladivostok"))
    html = client.get("/audit").get_data(as_text=True)
    assert shown.strftime("%Y-%m-%d %H:%M") in html
