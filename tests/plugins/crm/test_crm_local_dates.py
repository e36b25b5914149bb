"""The shop's own date everywhere the CRM dates something: a report page opened without a period shows
the current month in the shop's time zone (and says so in its form), and the dates on the car's card
(plates, recommendations) are the shop's days, not UTC's. The shop's zone is chosen so that its date
differs from UTC's right now, whatever the hour the test runs."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.plugins.crm import crm_advisor_visits_plugin as source


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_advisor_test": "tests.plugins.crm.crm_advisor_visits_plugin"}}


@pytest.fixture(autouse=True)
def _clean_visits():
    source.VISITS.clear()
    yield
    source.VISITS.clear()


def _zone_off_utc_date() -> str:
    """A zone whose date is not UTC's now: UTC+14 in UTC's afternoon, UTC-12 in its morning."""
    return "Etc/GMT-14" if datetime.now(timezone.utc).hour >= 12 else "Etc/GMT+12"


@pytest.fixture
def shop(app, tenant, user, api_client):
    from core.db import db
    from core.models import Tenant
    from core.tenants import set_feature

    t = tenant(tier="master")
    owner = user(role="owner", tenant=t)
    zone = _zone_off_utc_date()
    local_today = datetime.now(ZoneInfo(zone)).date()
    with app.app_context():
        row = db.session.get(Tenant, t.id)
        row.timezone = zone
        set_feature(row, "crm_advisor_test.use", True)
        db.session.commit()
    c = api_client(owner)
    client_id = c.post("/api/v1/crm/clients", json={"name": "Local", "source": "yandex"}).get_json()["id"]
    car_id = c.post("/api/v1/crm/vehicles", json={"client_id": client_id, "make": "Kia", "plate": "A123BC77"}
                    ).get_json()["id"]
    r = c.post("/api/v1/crm/recommendations", json={"vehicle_id": car_id, "text": "Replace the wiper blades"})
    assert r.status_code == 201, r.get_json()
    ids = client_id, car_id
    # A closed order today, as the shop sees today (the workshop reports the shop's date).
    source.VISITS.append({"client_id": ids[0], "date": local_today, "amount": Decimal("17806"),
                          "booked": False, "advisor_id": owner.id})
    return c, local_today, ids


def test_report_pages_default_to_the_shops_current_month(shop):
    c, local_today, _ids = shop
    first = local_today.replace(day=1).isoformat()
    page = c.get("/crm/reports/channels").get_data(as_text=True)
    assert f'name="from" value="{first}"' in page and f'name="to" value="{local_today.isoformat()}"' in page
    assert "17806.00" in page and "<td>1</td>" in page  # today's visit and its revenue
    page = c.get("/crm/reports/advisors").get_data(as_text=True)
    assert f'name="from" value="{first}"' in page
    assert "17806.00" in page  # the advisor's row is there
    page = c.get("/crm/reports/client-activity").get_data(as_text=True)
    assert f'name="to" value="{local_today.strftime("%Y-%m")}"' in page


def test_a_bad_date_names_the_field_by_its_label(shop):
    c, _today, _ids = shop
    r = c.get("/crm/reports/channels?from=nope", headers={"Accept-Language": "ru"})
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'role="alert">С:' in body and 'role="alert">from:' not in body


def test_card_dates_are_the_shops_days(shop):
    c, local_today, (_client_id, car_id) = shop
    utc_today = datetime.now(timezone.utc).date()
    assert local_today != utc_today
    page = c.get(f"/crm/vehicles/{car_id}/history").get_data(as_text=True)
    assert f"<strong>A123BC77</strong>: {local_today.isoformat()}" in page  # the plate's "since"
    assert f'<td>{local_today.isoformat()}</td>' in page  # the recommendation's date
    assert utc_today.isoformat() not in page
