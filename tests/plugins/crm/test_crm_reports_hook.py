"""The reports read visits from other plugins (the workshop's closed orders, the planner's bookings)
through the ``crm_visits`` hook; the manual service book (work done elsewhere) never counts."""
from datetime import date
from decimal import Decimal

import pytest


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_visits_test": "tests.plugins.crm.crm_visits_plugin"}}


def test_visits_and_bookings_come_from_the_other_plugin(app, tenant, user, api_client):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import set_feature
    from plugins.crm.models import Client, ServiceEntry, Vehicle

    t = tenant(tier="master")
    c = api_client(user(role="owner", tenant=t))
    with app.app_context():
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            a, b = Client(name="Plain", source="radio"), Client(name="Booked", source="radio")
            db.session.add_all([a, b])
            db.session.flush()
            car = Vehicle(client_id=a.id)
            db.session.add(car)
            db.session.flush()
            db.session.add(ServiceEntry(vehicle_id=car.id, performed_on=date(2025, 3, 1), description="TO",
                                        amount=Decimal("99")))
            db.session.commit()
    url = "/api/v1/crm/reports/client-activity?from=2025-01&to=2025-03&gap=1"
    # Without the plugin there is no visit: a manual entry records work done elsewhere.
    body = c.get(url).get_json()
    assert [r["served"] for r in body["rows"]] == [0, 0, 0]
    with app.app_context():
        set_feature(db.session.get(Tenant, t.id), "crm_visits_test.use", True)
        db.session.commit()
    body = c.get(url).get_json()
    assert body["source"] == "plugins"
    # Both served in January; "Booked" has a booking in February: a future visit. Their cards are not
    # from 2025, so nobody is new.
    assert [(r["served"], r["new"], r["future"], r["lost"], r["booked"]) for r in body["rows"]] == [
        (2, 0, 1, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0)]
    channels = c.get("/api/v1/crm/reports/channels?from=2025-01-01&to=2025-12-31").get_json()["rows"]
    assert [(r["source"], r["served_clients"], r["visits"], r["revenue"]) for r in channels] == [
        ("radio", 2, 2, "3000.00")]
