"""The every_hook fixture plugin (implements every hookspec) against two tenants on the same tier:
``shops.a`` has the plugin's feature, ``shops.b`` does not. One ``test_hook_<name>`` per hookspec
(tests/test_hooks_meta.py checks that), each showing the hook working for ``a`` and never reaching
``b``: no menus, widgets, reports, routes (404), jobs or reactions."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from core.db import db
from core.features import tenant_info
from core.tenancy import tenant_context
from core.tenants import get_tenant, set_feature, set_tier
from core.testing import TenantHandle, UserHandle
from tests.fixture_plugins import every_hook
from tests.fixture_plugins.every_hook import CALLS, FEATURE, TICKET, calls_for


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"every_hook": "tests.fixture_plugins.every_hook"}}


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()
    every_hook.BEHAVIOUR.clear()
    yield
    CALLS.clear()
    every_hook.BEHAVIOUR.clear()


@dataclass
class Shops:
    a: TenantHandle
    b: TenantHandle
    owner_a: UserHandle
    owner_b: UserHandle


@pytest.fixture
def shops(app, tenant, user):
    a, b = tenant(tier="specialist"), tenant(tier="specialist")
    with app.app_context():
        set_feature(get_tenant(a.slug), FEATURE, True)
        db.session.commit()
    return Shops(a, b, user(role="owner", tenant=a), user(role="owner", tenant=b))


@contextmanager
def as_tenant(app, shop: TenantHandle):
    with app.app_context():
        with tenant_context(tenant_info(get_tenant(shop.slug))) as info:
            yield info


def owner(handle: UserHandle):
    from core.models import User

    return db.session.scalars(select(User).where(User.id == handle.id)).one()


def host(app):
    return app.extensions["garage"]


def page(client, url):
    response = client.get(url)
    return response.status_code, response.get_data(as_text=True)


# --- assembly ---------------------------------------------------------------------------------------------

def test_hook_register_models(app, shops):
    from tests.fixture_plugins.every_hook.models import Thing

    assert host(app).tables["every_hook_thing"] == "every_hook"
    with as_tenant(app, shops.a):
        db.session.add(Thing(name="A's thing"))
        db.session.commit()
    with as_tenant(app, shops.b):
        assert db.session.scalars(select(Thing)).all() == []


def test_hook_register_permissions(app, shops):
    from core.models import Role

    assert "every_hook.thing.read" in host(app).permissions
    with as_tenant(app, shops.a):
        advisor = db.session.scalars(select(Role).where(Role.key == "service_advisor")).one()
        assert "every_hook.thing.read" in advisor.permissions
        assert "every_hook.thing.delete" not in advisor.permissions


def bearer(app, shop, user_handle) -> dict:
    """API headers with a fresh token of that user (the API's own authentication)."""
    from core.auth.tokens import create_token

    with as_tenant(app, shop):
        _, secret = create_token(owner(user_handle), "test")
        db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_hook_register_entities(app, client, login, shops):
    assert ("every_hook", "things") in host(app).entities
    api_a = bearer(app, shops.a, shops.owner_a)
    created = client.post("/api/v1/every_hook/things", json={"name": "Тормозные колодки"}, headers=api_a)
    assert created.status_code == 201, created.get_data(as_text=True)
    listed = client.get("/api/v1/every_hook/things", headers=api_a).get_json()
    assert [item["name"] for item in listed["items"]] == ["Тормозные колодки"]
    login(client, shops.owner_a)
    assert "Тормозные колодки" in page(client, "/every_hook/things")[1]

    api_b = bearer(app, shops.b, shops.owner_b)
    assert client.get("/api/v1/every_hook/things", headers=api_b).status_code == 404
    assert client.post("/api/v1/every_hook/things", json={"name": "x"}, headers=api_b).status_code == 404
    login(client, shops.owner_b)
    assert client.get("/every_hook/things").status_code == 404


def test_hook_register_document_types(app, shops):
    from core.documents import DocumentTypeUnavailable, create_document

    with as_tenant(app, shops.a):
        ticket = create_document(TICKET, owner(shops.owner_a), subject="Стук в подвеске")
        assert ticket.number.startswith("T-") and ticket.state == "open"
    with as_tenant(app, shops.b):
        with pytest.raises(DocumentTypeUnavailable):
            create_document(TICKET, owner(shops.owner_b), subject="x")


def test_hook_extend_workflow(app, shops):
    from core.documents import create_document, transition

    assert "reopen" in get_document_type_in(app, TICKET).workflow.transitions
    with as_tenant(app, shops.a):
        ticket = create_document(TICKET, owner(shops.owner_a), subject="Замена масла")
        transition(ticket, "finish", owner(shops.owner_a))
        transition(ticket, "reopen", owner(shops.owner_a))
        assert ticket.state == "open"


def get_document_type_in(app, key):
    from core.documents import get_document_type

    with app.app_context():
        return get_document_type(key)


def test_hook_register_reports(app, shops):
    from tests.fixture_plugins.every_hook.models import Thing

    plugin, report = host(app).reports["every_hook.things"]
    assert plugin == "every_hook" and report.feature == FEATURE
    with as_tenant(app, shops.a) as info_a:
        db.session.add(Thing(name="one"))
        db.session.commit()
        assert info_a.has(report.feature) and report.run() == {"things": 1}
    with as_tenant(app, shops.b) as info_b:
        assert not info_b.has(report.feature)


def test_hook_register_blueprints(client, login, shops):
    assert client.get("/every_hook/hello").status_code == 404  # no tenant: nothing to show
    login(client, shops.owner_a)
    assert page(client, "/every_hook/hello") == (200, "every_hook page")
    assert client.get("/api/v1/every_hook/ping").get_json() == {"pong": True}
    login(client, shops.owner_b)
    status, body = page(client, "/every_hook/hello")
    assert status == 404 and "every_hook page" not in body
    assert client.get("/api/v1/every_hook/ping").status_code == 404


def test_hook_register_cli_commands(runner, shops):
    result = runner.invoke(args=["every_hook", "tenants"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [shops.a.slug]


def test_hook_register_jobs(app, shops):
    from core.jobs import run_job

    with app.app_context():
        summary = run_job("every_hook.count")
    assert [r["tenant"] for r in summary["runs"]] == [shops.a.slug]
    assert CALLS["job"] == [shops.a.id]


# --- tenant lifecycle -------------------------------------------------------------------------------------

def test_hook_tenant_plugin_enabled(app, tenant):
    a, b = tenant(tier="specialist"), tenant(tier="specialist")
    with app.app_context():
        set_feature(get_tenant(a.slug), FEATURE, True)
        set_tier(get_tenant(b.slug), "profi")  # plenty of other plugins, still not this one
        db.session.commit()
    assert CALLS["tenant_plugin_enabled"] == [a.id]


def test_hook_tenant_plugin_disabled(app, shops):
    with app.app_context():
        set_feature(get_tenant(shops.a.slug), FEATURE, False)
        set_tier(get_tenant(shops.b.slug), "free")
        db.session.commit()
    assert CALLS["tenant_plugin_disabled"] == [shops.a.id]


# --- per-request UI ---------------------------------------------------------------------------------------

def test_hook_menu_items(client, login, shops):
    login(client, shops.owner_a)
    assert 'href="/every_hook/hello"' in page(client, "/")[1]
    login(client, shops.owner_b)
    status, body = page(client, "/")
    assert status == 200 and 'href="/every_hook/hello"' not in body
    assert shops.b.id not in CALLS["menu_items"] and shops.a.id in CALLS["menu_items"]


def test_a_crashing_menu_contribution_is_dropped_and_the_page_renders(client, login, shops, caplog):
    every_hook.BEHAVIOUR["menu_items"] = "crash"
    login(client, shops.owner_a)
    with caplog.at_level(logging.ERROR):
        status, body = page(client, "/")
    assert status == 200
    assert 'href="/every_hook/hello"' not in body
    assert 'href="/settings"' in body  # the core's own items are still there
    assert any("every_hook" in r.getMessage() and "menu_items" in r.getMessage() for r in caplog.records)


def test_hook_dashboard_widgets(client, login, shops):
    login(client, shops.owner_a)
    assert "every_hook widget" in page(client, "/")[1]
    login(client, shops.owner_b)
    assert "every_hook widget" not in page(client, "/")[1]
    assert shops.b.id not in CALLS["dashboard_widgets"]


def _ticket_for(app, shop, user_handle):
    from core.documents import create_document

    with as_tenant(app, shop):
        return create_document(TICKET, owner(user_handle), subject="Диагностика").id


def test_hook_document_actions(app, client, login, shops):
    ticket_id = _ticket_for(app, shops.a, shops.owner_a)
    login(client, shops.owner_a)
    status, body = page(client, f"/every_hook/tickets/{ticket_id}")
    assert status == 200 and "Poke" in body
    login(client, shops.owner_b)
    assert client.get(f"/every_hook/tickets/{ticket_id}").status_code == 404
    assert CALLS["document_actions"] == [shops.a.id]


def test_hook_document_panels(app, client, login, shops):
    ticket_id = _ticket_for(app, shops.a, shops.owner_a)
    login(client, shops.owner_a)
    assert "every_hook panel" in page(client, f"/every_hook/tickets/{ticket_id}")[1]
    login(client, shops.owner_b)
    assert "every_hook panel" not in page(client, f"/every_hook/tickets/{ticket_id}")[1]
    assert CALLS["document_panels"] == [shops.a.id]


# --- document lifecycle -----------------------------------------------------------------------------------

def _finish_ticket(app, shops):
    from core.documents import create_document, transition

    with as_tenant(app, shops.a):
        ticket = create_document(TICKET, owner(shops.owner_a), subject="Развал-схождение")
        transition(ticket, "finish", owner(shops.owner_a))
        return ticket.state


def _tenant_b_proxy_lacks(app, shops, hook: str) -> bool:
    """Tenant b's hook proxy, the one every transition of b's documents goes through."""
    with app.app_context():
        info = tenant_info(get_tenant(shops.b.slug))
        caller = getattr(host(app).hooks_for(info.plugins), hook)
        return "every_hook" not in {impl.plugin_name for impl in caller.get_hookimpls()}


def test_hook_validate_transition(app, shops):
    from core.documents import TransitionVetoed, create_document, transition

    assert _finish_ticket(app, shops) == "done"
    assert CALLS["validate_transition"] == [shops.a.id]
    every_hook.BEHAVIOUR["veto"] = "Клиент не подписал акт"
    with as_tenant(app, shops.a):
        ticket = create_document(TICKET, owner(shops.owner_a), subject="x")
        with pytest.raises(TransitionVetoed, match="Клиент не подписал акт"):
            transition(ticket, "finish", owner(shops.owner_a))
        db.session.rollback()
        assert db.session.scalars(select(type(ticket).state).where(type(ticket).id == ticket.id)).one() == "open"
    assert _tenant_b_proxy_lacks(app, shops, "validate_transition")


def test_hook_before_transition(app, shops):
    _finish_ticket(app, shops)
    assert CALLS["before_transition"] == [shops.a.id]
    assert _tenant_b_proxy_lacks(app, shops, "before_transition")


def test_hook_after_transition(app, shops):
    _finish_ticket(app, shops)
    assert CALLS["after_transition"] == [shops.a.id]
    assert _tenant_b_proxy_lacks(app, shops, "after_transition")


# --- events and requests ----------------------------------------------------------------------------------

def test_hook_on_event(app, shops):
    from core import events

    for shop in (shops.a, shops.b):
        with as_tenant(app, shop):
            events.emit("every_hook.thing.counted", count=1)
            events.commit()
    assert CALLS["on_event"] == [shops.a.id]


def test_hook_resolve_tenant(client, login, shops):
    login(client, shops.owner_a)
    # every_hook's resolver answers None; the core's (the signed-in user's tenant) still decides.
    assert page(client, "/every_hook/hello") == (200, "every_hook page")
    assert CALLS["resolve_tenant"]


def test_tenant_without_the_feature_reaches_nothing(app, client, runner, login, shops):
    from core import events
    from core.jobs import run_job

    login(client, shops.owner_b)
    for url in ("/", "/every_hook/hello", "/every_hook/things", "/api/v1/every_hook/ping",
                "/api/v1/every_hook/things"):
        client.get(url)
    with app.app_context():
        run_job("every_hook.count")
        set_tier(get_tenant(shops.b.slug), "master")
        db.session.commit()
    with as_tenant(app, shops.b):
        events.emit("every_hook.thing.counted", count=1)
        events.commit()
    assert calls_for(shops.b.id) == set()
