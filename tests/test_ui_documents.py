"""Generic UI pages for a document type: numbered creation, state, transition buttons with the
engine's vetoes, immutable states, voiding with a reason, print links."""
import re

import pytest

from core.db import db
from core.tenants import get_tenant, set_feature

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def garage_config():
    return {"GARAGE_PLUGINS": [], "GARAGE_EXTRA_PLUGINS": {"docs_orders": "tests.fixture_plugins.docs_orders"}}


@pytest.fixture
def owner(app, client, user, tenant, login):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    t = tenant(tier="profi")
    with app.app_context():
        set_feature(get_tenant(t.slug), "docs_orders.use", True)
        db.session.commit()
    u = user(role="owner", tenant=t)
    login(client, u)
    return u


def html(r):
    return r.get_data(as_text=True)


def csrf(client, path):
    return CSRF_RE.search(html(client.get(path))).group(1)


def test_document_lifecycle_in_the_ui(app, client, owner):
    token = csrf(client, "/docs_orders/orders/new")
    r = client.post("/docs_orders/orders/new", data={"csrf_token": token, "customer": "", "total": "10"})
    assert r.status_code == 422 and "Missing data for required field." in html(r)
    r = client.post("/docs_orders/orders/new", data={"csrf_token": token, "customer": "blocked", "total": "10"})
    assert r.status_code == 302
    detail = r.headers["Location"]
    page = html(client.get(detail))
    assert "ORD-" in page and "Draft" in page  # numbered by the engine, initial state
    assert f'action="{detail}/transition/confirm"' in page
    assert "/api/v1/docs_orders/orders/" in page and "/print" in page  # print link
    # a veto comes back as a message; nothing changes
    r = client.post(f"{detail}/transition/confirm", data={"csrf_token": token, "version": "1"},
                    follow_redirects=True)
    assert "The customer is blocked" in html(r) and "Draft" in html(r)
    # edit, then confirm and post
    r = client.post(f"{detail}/edit", data={"csrf_token": token, "customer": "Ivanov", "total": "12.50",
                                            "version": "1"})
    assert r.status_code == 302
    r = client.post(f"{detail}/transition/confirm", data={"csrf_token": token, "version": "2"}, follow_redirects=True)
    assert "Confirmed" in html(r) and "is now Confirmed" in html(r)
    # a stale button (version 2 after the transition made it 3) is refused, not applied twice
    r = client.post(f"{detail}/transition/post", data={"csrf_token": token, "version": "2"}, follow_redirects=True)
    assert "changed by someone else" in html(r)
    r = client.post(f"{detail}/transition/post", data={"csrf_token": token, "version": "3"}, follow_redirects=True)
    assert "Posted" in html(r)
    # posted documents are immutable: no edit button, and the edit page refuses
    assert f'href="{detail}/edit"' not in html(r)
    r = client.get(f"{detail}/edit", follow_redirects=True)
    assert "cannot be changed" in html(r)
    # voiding needs a reason
    r = client.post(f"{detail}/transition/void", data={"csrf_token": token, "version": "4", "reason": ""},
                    follow_redirects=True)
    assert "Give a reason" in html(r)
    r = client.post(f"{detail}/transition/void", data={"csrf_token": token, "version": "4", "reason": "duplicate"},
                    follow_redirects=True)
    assert "Void" in html(r) and "duplicate" in html(r)  # the history shows the reason
    # the list shows the state's title
    assert "Void" in html(client.get("/docs_orders/orders"))


def test_transition_permission_and_tenant_isolation(app, client, owner, user, login, tenant):
    token = csrf(client, "/docs_orders/orders/new")
    detail = client.post("/docs_orders/orders/new", data={"csrf_token": token, "customer": "A"}).headers["Location"]
    other_shop = tenant(tier="profi")
    with app.app_context():
        set_feature(get_tenant(other_shop.slug), "docs_orders.use", True)
        db.session.commit()
    login(client, user(role="owner", tenant=other_shop))
    assert client.get("/docs_orders/orders").status_code == 200  # the other shop has orders too...
    assert client.post(f"{detail}/transition/confirm", data={"csrf_token": csrf(client, "/profile")}).status_code == 404
    assert client.get(detail).status_code == 404  # ...but not this one
