"""Maintenance reminders (crm.basic): the forecast (km vs time, whichever first), the due-soon list and
page, inviting a client, tier gating."""
import re
from datetime import date, timedelta

import pytest

from plugins.crm.reminders import add_months, forecast
from plugins.crm.services import Mileage
from tests.plugins.crm.shop_clock import shop_today


TODAY = shop_today()


# --- forecast math (pure) --------------------------------------------------------------------------


def test_km_limit_comes_first_for_a_car_that_drives_a_lot():
    # Oil: 10,000 km / 12 months. Done 100 days ago at 50,000 km; 60 km a day; last read today at 56,000.
    usage = Mileage(daily_km=60.0, last_value=56_000, last_read_on=TODAY, readings_used=5)
    f = forecast(10_000, 12, TODAY - timedelta(days=100), 50_000, usage)
    assert f.due_km == 60_000
    assert f.date_by_km == TODAY + timedelta(days=67)  # 4,000 km left / 60 km a day, rounded up
    assert f.date_by_time == add_months(TODAY - timedelta(days=100), 12)
    assert (f.due_on, f.due_by) == (f.date_by_km, "km")


def test_time_limit_comes_first_for_a_car_that_stands_still():
    usage = Mileage(daily_km=5.0, last_value=51_000, last_read_on=TODAY, readings_used=4)
    done_on = TODAY - timedelta(days=300)
    f = forecast(10_000, 12, done_on, 50_000, usage)
    assert (f.due_on, f.due_by) == (add_months(done_on, 12), "time")
    assert f.due_km == 60_000
    assert f.status(TODAY, 30) == "upcoming"
    assert f.status(TODAY, 70) == "due_soon"


def test_without_mileage_history_only_the_time_limit_has_a_date():
    usage = Mileage(daily_km=None, last_value=None, last_read_on=None, readings_used=0)
    done_on = date(2025, 1, 31)
    f = forecast(10_000, 12, done_on, 50_000, usage)
    assert (f.due_on, f.due_by, f.due_km, f.date_by_km) == (date(2026, 1, 31), "time", 60_000, None)
    # A km-only interval with no rate cannot be dated at all, but its km figure is still known.
    f = forecast(60_000, None, done_on, 50_000, usage)
    assert (f.due_on, f.due_km, f.due_by) == (None, 110_000, "km")


def test_a_reading_past_the_km_limit_is_overdue_since_the_day_it_was_crossed():
    usage = Mileage(daily_km=100.0, last_value=61_000, last_read_on=TODAY - timedelta(days=2), readings_used=3)
    f = forecast(10_000, 12, TODAY - timedelta(days=60), 50_000, usage)
    assert f.due_on == TODAY - timedelta(days=12)  # 1,000 km over at 100 km a day: 10 days before the reading
    assert f.status(TODAY, 30, projected_km=61_200) == "overdue"


def test_add_months_clamps_to_the_end_of_the_month():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 15), 14) == date(2026, 1, 15)


# --- the due list through the API and the page -----------------------------------------------------


@pytest.fixture
def shop(app, tenant, user, api_client):
    """A master-tier shop with a car that does ~50 km a day, last oil change 11 months ago."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client, Vehicle
    from plugins.crm.reminders import record_done
    from plugins.crm.services import add_reading

    t = tenant(tier="master")
    u = user(role="service_advisor", tenant=t)
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        c = Client(name="Ivan Petrov", consent_sms=True)
        c.phones = ["+7 925 111-22-33"]
        db.session.add(c)
        db.session.flush()
        car = Vehicle(client_id=c.id, plate="А123ВС77", make="Kia", model="Rio")
        idle = Vehicle(client_id=c.id, plate="В777ОР77", make="Lada", model="Vesta")
        db.session.add_all([car, idle])
        db.session.flush()
        for days_ago, km in ((200, 40_000), (100, 45_000), (0, 50_000)):
            add_reading(car, km, TODAY - timedelta(days=days_ago), source="intake")
        record_done(car, "oil", add_months(TODAY, -11), 41_000)  # due by km: 51,000 in ~20 days
        record_done(idle, "oil", TODAY - timedelta(days=10), 30_000)
        db.session.commit()
        ids = (c.id, car.id, idle.id)
    return {"tenant": t, "user": u, "http": api_client(u), "client_id": ids[0], "car_id": ids[1], "idle_id": ids[2]}


def test_due_soon_list_shows_the_oil_change_forecast_by_mileage(shop):
    r = shop["http"].get("/api/v1/crm/reminders/due?within_days=30&code=oil")
    assert r.status_code == 200, r.get_json()
    rows = r.get_json()["results"]
    assert [(x["vehicle_id"], x["code"]) for x in rows] == [(shop["car_id"], "oil")]
    oil = rows[0]
    assert oil["due_km"] == 51_000 and oil["due_by"] == "km" and oil["status"] == "due_soon"
    assert oil["client_name"] == "Ivan Petrov" and oil["last_done_source"] == "manual"
    assert oil["daily_km"] == 50.0
    assert oil["due_on"] == (TODAY + timedelta(days=20)).isoformat()
    # Within 10 days nothing is due yet; the filter by status and make narrow the list.
    assert shop["http"].get("/api/v1/crm/reminders/due?within_days=10&code=oil").get_json()["results"] == []
    assert shop["http"].get("/api/v1/crm/reminders/due?within_days=30&make=Lada&code=oil").get_json()["results"] == []
    bad = shop["http"].get("/api/v1/crm/reminders/due?within_days=soon")
    assert bad.status_code == 422 and "within_days" in bad.get_json()["fields"]


def test_service_book_entry_counts_as_last_done(shop, app):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import ServiceEntry

    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, shop["tenant"].id))):
        db.session.add(ServiceEntry(vehicle_id=shop["car_id"], performed_on=TODAY - timedelta(days=5), mileage=49_750,
                                    description="Замена масла и фильтра"))
        db.session.commit()
    rows = shop["http"].get(f"/api/v1/crm/vehicles/{shop['car_id']}/reminders").get_json()["results"]
    oil = next(x for x in rows if x["code"] == "oil")
    assert (oil["last_done_source"], oil["last_done_km"], oil["due_km"]) == ("service_book", 49_750, 59_750)
    assert oil["status"] == "upcoming"


def test_default_keywords_tell_brake_pads_from_brake_fluid(shop, app):
    """Default keywords pair a stem with its noun: brake pads are not brake fluid, valve-stem seals are
    not an oil change, a timing chain is not a timing belt; the real jobs still match in any word form."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import ServiceEntry

    def last_done(description):
        with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, shop["tenant"].id))):
            db.session.query(ServiceEntry).delete()
            db.session.add(ServiceEntry(vehicle_id=shop["car_id"], performed_on=TODAY - timedelta(days=5),
                                        mileage=49_750, description=description))
            db.session.commit()
        rows = shop["http"].get(f"/api/v1/crm/vehicles/{shop['car_id']}/reminders").get_json()["results"]
        return {x["code"] for x in rows if x["last_done_source"] == "service_book"}

    assert last_done("Замена колодок тормозных передних") == set()
    assert last_done("Замена маслосъёмных колпачков") == set()
    assert last_done("Замена цепи ГРМ") == set()
    assert last_done("Замена тормозной жидкости") == {"brake_fluid"}
    assert last_done("Замена моторного масла; ремня ГРМ") == {"oil", "timing_belt"}
    assert last_done("Brake fluid flush, engine oil change") == {"brake_fluid", "oil"}


def test_manual_service_done_validates_and_moves_the_forecast(shop):
    http = shop["http"]
    bad = http.post(f"/api/v1/crm/vehicles/{shop['car_id']}/service-done", json={"code": "nope", "done_km": -1})
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"code", "done_km"}
    ok = http.post(f"/api/v1/crm/vehicles/{shop['car_id']}/service-done",
                   json={"code": "oil", "done_on": TODAY.isoformat(), "done_km": 50_000})
    assert ok.status_code == 201
    assert http.get("/api/v1/crm/reminders/due?within_days=30&code=oil").get_json()["results"] == []


def test_invite_queues_one_message_per_due_date(shop):
    http = shop["http"]
    first = http.post("/api/v1/crm/reminders/invite", json={"vehicle_id": shop["car_id"], "code": "oil"})
    assert first.status_code == 201, first.get_json()
    [msg] = first.get_json()["messages"]
    assert msg["event"] == "reminder_due" and msg["channel"] == "sms" and msg["status"] == "queued"
    assert msg["recipient"] == "+79251112233" and "A123BC77" in msg["body"]  # plates are stored folded to Latin
    again = http.post("/api/v1/crm/reminders/invite", json={"vehicle_id": shop["car_id"], "code": "oil"})
    assert again.status_code == 200 and again.get_json()["messages"] == []
    history = http.get(f"/api/v1/crm/clients/{shop['client_id']}/messages").get_json()["results"]
    assert [m["id"] for m in history] == [msg["id"]]


def test_reminders_page_lists_and_invites(shop, app, login):
    page = login(app.test_client(), shop["user"])
    html = page.get("/crm/reminders?within_days=30&code=oil").get_data(as_text=True)
    assert "A123BC77" in html and "51000" in html and "B777OP77" not in html
    assert 'name="code" value="oil"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = page.post("/crm/reminders/invite", data={"csrf_token": token, "vehicle_id": shop["car_id"], "code": "oil",
                                                 "within_days": 30})
    assert r.status_code == 302
    history = shop["http"].get(f"/api/v1/crm/clients/{shop['client_id']}/messages").get_json()["results"]
    assert [(m["event"], m["status"]) for m in history] == [("reminder_due", "queued")]


def test_tier_without_crm_basic_gets_404(app, tenant, user, api_client, login):
    t = tenant(tier="basic")
    u = user(role="owner", tenant=t)
    http = api_client(u)
    assert http.get("/api/v1/crm/reminders/due").status_code == 404
    assert http.get("/api/v1/crm/service-intervals").status_code == 404
    assert http.post("/api/v1/crm/reminders/invite", json={}).status_code == 404
    pages = login(app.test_client(), u)
    pages.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for url in ("/crm/reminders", "/crm/messages", "/crm/segments"):
        r = pages.get(url)  # the upgrade page, naming the plan that has it: not a bare "not found"
        assert r.status_code == 404 and "It is included in the Master plan and above." in r.get_data(as_text=True)
    # The same shop on a master tier sees the seeded catalog.
    t2 = tenant(tier="master")
    u2 = user(role="owner", tenant=t2)
    http2 = api_client(u2)
    codes = {r["code"] for r in http2.get("/api/v1/crm/service-intervals?per_page=100").get_json()["items"]}
    assert {"oil", "air_filter", "brake_fluid", "timing_belt"} <= codes
    # The catalog is the shop's to edit: a per-make line needs a limit, a model needs its make.
    bad = http2.post("/api/v1/crm/service-intervals", json={"code": "oil", "title": "Oil (Kia)", "model": "Rio"})
    assert bad.status_code == 422 and {"every_km", "make"} & set(bad.get_json()["fields"])
    ok = http2.post("/api/v1/crm/service-intervals",
                    json={"code": "oil", "title": "Oil (Kia)", "make": "Kia", "every_km": 7500, "every_months": 12})
    assert ok.status_code == 201, ok.get_json()
    # The catalog and the templates have their pages (the core's generic ones).
    pages2 = login(app.test_client(), u2)
    intervals_page = pages2.get("/crm/service-intervals").get_data(as_text=True)
    assert "Ремень ГРМ" in intervals_page and "timing_belt" not in intervals_page  # by name, not by key
    assert pages2.get("/crm/message-templates").status_code == 200
    assert pages2.get("/crm/messages").status_code == 200


def test_a_make_specific_interval_overrides_the_default(shop, user, api_client):
    http = shop["http"]
    denied = http.post("/api/v1/crm/service-intervals", json={"code": "x", "title": "X", "every_km": 1000})
    assert denied.status_code == 403  # the catalog is the owner's
    owner = api_client(user(role="owner", tenant=shop["tenant"]))
    r = owner.post("/api/v1/crm/service-intervals",
                  json={"code": "oil", "title": "Oil (Kia)", "make": "kia", "every_km": 7500, "every_months": 6})
    assert r.status_code == 201, r.get_json()
    rows = {x["vehicle_id"]: x for x in http.get("/api/v1/crm/reminders/due?within_days=3660&code=oil").get_json()["results"]}
    assert (rows[shop["car_id"]]["due_km"], rows[shop["car_id"]]["status"]) == (48_500, "overdue")
    assert rows[shop["idle_id"]]["due_km"] == 40_000  # the Lada keeps the shop's default of 10,000 km


def test_the_due_list_page_shows_50_rows_a_page_with_next_and_previous(shop, app):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import record_done

    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, shop["tenant"].id))):
        for n in range(60):  # 60 more cars whose oil change is overdue: 61 rows with the first car
            car = Vehicle(client_id=shop["client_id"], plate=f"Р{n:03d}РР77", make="Kia")
            db.session.add(car)
            db.session.flush()
            record_done(car, "oil", add_months(TODAY, -13), None)
        db.session.commit()
    http = shop["http"]
    first = http.get("/crm/reminders?code=oil").get_data(as_text=True)
    assert first.count('data-label="Car"') == 50 and "Page 1 of 2; reminders: 61" in first
    assert 'rel="next" href="/crm/reminders?code=oil&amp;page=2"' in first and 'rel="prev"' not in first
    second = http.get("/crm/reminders?code=oil&page=2").get_data(as_text=True)
    assert second.count('data-label="Car"') == 11 and 'rel="prev"' in second and 'rel="next"' not in second
    assert http.get("/crm/reminders?page=x").status_code == 422
