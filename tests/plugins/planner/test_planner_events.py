"""Booking status changes are events other plugins react to after commit (e.g. the CRM's
"booking confirmed" message), without importing the planner."""
import pytest

from tests.fixture_plugins import planner_listener

MONDAY = "2030-03-25"  # a Monday (see conftest)


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"planner_listener": "tests.fixture_plugins.planner_listener"}}


def test_confirming_a_booking_tells_other_plugins(app, shop, api, book):
    from core.db import db
    from core.tenants import get_tenant, set_feature

    s = shop(tier="free")
    with app.app_context():
        set_feature(get_tenant(s.slug), "planner_listener.use", True)
        db.session.commit()
    client = api(s)
    created = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", status="requested")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "requested"
    booking_id = created.get_json()["id"]
    planner_listener.EVENTS.clear()

    refused = client.post(f"/api/v1/planner/bookings/{booking_id}/arrive-twice")
    assert refused.status_code == 404
    assert planner_listener.EVENTS == []

    assert client.post(f"/api/v1/planner/bookings/{booking_id}/confirm").status_code == 200
    [(tenant_id, name, payload)] = planner_listener.EVENTS
    assert (tenant_id, name) == (s.id, "planner.booking.confirmed")
    assert payload["booking_id"] == booking_id
    assert payload["start_at"] == f"{MONDAY} 10:00"  # the shop's local time
    assert payload["client_phone"]


def test_bookings_of_directory_clients_are_future_visits_in_the_crm_report(app, shop, api, book):
    s = shop(tier="master")  # the CRM's reports (crm.basic) beside the planner
    client = api(s)
    c = client.post("/api/v1/crm/clients", json={"name": "Сидоров Олег", "phones": ["+7 916 555-10-20"]})
    assert c.status_code == 201, c.get_json()
    booked = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c.get_json()["id"], status="confirmed")
    assert booked.status_code == 201, booked.get_json()
    cancelled = book(client, s.bays["Lift 2"], f"{MONDAY}T11:00", client_id=c.get_json()["id"])
    assert client.post(f"/api/v1/planner/bookings/{cancelled.get_json()['id']}/cancel").status_code == 200

    report = client.get("/api/v1/crm/reports/client-activity?from=2030-03&to=2030-03&gap=6").get_json()
    [march] = report["rows"]
    # "booked": a booking in the month, not served in it (seed 003's "future" counts served clients only)
    assert (march["booked"], march["served"]) == (1, 0)  # the cancelled booking is no visit
