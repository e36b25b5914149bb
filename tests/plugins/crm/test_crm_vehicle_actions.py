"""Other plugins put links on a car wherever the CRM shows it (``crm_vehicle_actions``): the due-soon
list (page and API) and the vehicle card; only for tenants that have the plugin's feature."""
from datetime import date, timedelta

import pytest
from tests.plugins.crm.shop_clock import shop_today

TODAY = shop_today()


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_actions_test": "tests.plugins.crm.crm_actions_plugin"}}


def test_hook_crm_vehicle_actions(app, tenant, user, api_client, login):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import get_tenant, set_feature
    from plugins.crm.models import Client, Vehicle
    from plugins.crm.reminders import add_months, record_done

    t = tenant(tier="master")
    u = user(role="service_advisor", tenant=t)
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        c = Client(name="Ivan Petrov", consent_sms=True)
        c.phones = ["+7 925 111-22-33"]
        db.session.add(c)
        db.session.flush()
        car = Vehicle(client_id=c.id, plate="А123ВС77", make="Kia", model="Rio")
        db.session.add(car)
        db.session.flush()
        record_done(car, "oil", add_months(TODAY, -12) + timedelta(days=10), None)  # due in ~10 days by time
        db.session.commit()
        car_id, client_id = car.id, c.id
    http, pages = api_client(u), login(app.test_client(), u)

    def due():
        return http.get("/api/v1/crm/reminders/due?within_days=30&code=oil").get_json()["results"]

    def mine(actions):  # the shop's planner may offer its own "Book" link too
        return [a for a in actions if a["label"] == "Book (test)"]

    # Without the other plugin's feature: none of its links anywhere.
    assert [mine(r["actions"]) for r in due()] == [[]]
    assert mine(http.get(f"/api/v1/crm/vehicles/{car_id}/history").get_json()["actions"]) == []
    assert "Book (test)" not in pages.get("/crm/reminders?code=oil").get_data(as_text=True)
    with app.app_context():
        set_feature(get_tenant(t.slug), "crm_actions_test.use", True)
        db.session.commit()
    [row] = due()
    [action] = mine(row["actions"])
    assert action["label"] == "Book (test)"
    assert action["url"].startswith(f"/book-test?vehicle={car_id}&client={client_id}&reason=")  # reason: the service
    html = pages.get("/crm/reminders?code=oil").get_data(as_text=True)
    assert "Book (test)" in html and f"/book-test?vehicle={car_id}" in html
    history = http.get(f"/api/v1/crm/vehicles/{car_id}/history").get_json()
    assert mine(history["actions"]) == [{"label": "Book (test)", "url": f"/book-test?vehicle={car_id}&client={client_id}"}]
    assert f"/book-test?vehicle={car_id}" in pages.get(f"/crm/vehicles/{car_id}/history").get_data(as_text=True)
    card = pages.get(f"/crm/vehicles/{car_id}")
    assert card.status_code == 200
    assert f"/book-test?vehicle={car_id}" in card.get_data(as_text=True)


def test_only_site_or_web_links_are_shown():
    from plugins.crm.services import safe_url

    assert safe_url("/planner/bookings/new?vehicle=1") and safe_url("https://example.com/x")
    for bad in ("javascript:alert(1)", "//evil.example/x", "data:text/html,x", None, "planner/x"):
        assert not safe_url(bad)
