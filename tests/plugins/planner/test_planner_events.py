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
