"""Links a client opens from an SMS or an e-mail are absolute: the review page and the unsubscribe page
take the configured public address (GARAGE_PUBLIC_URL) also when the message is built outside a request
(a job, the CLI, an event dispatched after the request), and the request's host inside one."""
import pytest


@pytest.fixture
def garage_config():
    return {"GARAGE_PUBLIC_URL": "https://garage.example/"}


def test_review_and_unsubscribe_links_use_the_public_address_outside_a_request(app, tenant):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.mailings import unsubscribe_base
    from plugins.crm.models import Client
    from plugins.crm.reviews import public_url, request_review

    t = tenant(tier="master")
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        client = Client(name="Anna")
        db.session.add(client)
        db.session.flush()
        row = request_review(client)
        assert public_url(row) == f"https://garage.example/crm/review/{t.slug}/{row.token}"
        assert unsubscribe_base() == f"https://garage.example/crm/unsubscribe/{t.slug}/{{token}}"
        db.session.rollback()


def test_without_a_public_address_the_requests_host_is_used(app, tenant, user, api_client):
    app.config["GARAGE_PUBLIC_URL"] = ""
    t = tenant(tier="master")
    c = api_client(user(role="owner", tenant=t))
    client = c.post("/api/v1/crm/clients", json={"name": "Anna"}).get_json()
    r = c.post(f"/api/v1/crm/clients/{client['id']}/review-requests", json={},
               base_url="https://shop.example")
    assert r.get_json()["url"].startswith(f"https://shop.example/crm/review/{t.slug}/")
