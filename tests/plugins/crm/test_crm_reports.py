"""CRM reports (crm.basic): client base activity per month and advertising channel efficiency, on small
crafted data whose figures are worked out by hand; gating, permissions, validation, tenant isolation;
the shop's own date for the default period and the card's dates."""
from datetime import date, datetime, timezone
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


def _shop(app, tenant, user, api_client, tier="master"):
    """Clients A, B, C, D (created 5 Jan 2025, 1 Feb, 1 Nov 2024, 1 Mar 2025) and the visits the workshop
    reports: A on 10 Jan (1,000), 15 Feb (2,000) and 5 Jun 2025 (500); B on 20 Feb (3,000); C on 1 Dec
    2024 and 3 Mar 2025 (100 each); D never came. A manual service-book entry (work done elsewhere)
    for D is not a visit."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import set_feature
    from plugins.crm.models import Client, ServiceEntry, Vehicle

    t = tenant(tier=tier)
    owner = user(role="owner", tenant=t)

    def at(y, m, d):
        return datetime(y, m, d, 12, tzinfo=timezone.utc)

    with app.app_context():
        set_feature(db.session.get(Tenant, t.id), "crm_advisor_test.use", True)
        db.session.commit()
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            a = Client(name="A", source="yandex", created_at=at(2025, 1, 5))
            b = Client(name="B", source="avito", created_at=at(2025, 2, 1))
            c = Client(name="C", source=None, created_at=at(2024, 11, 1))
            d = Client(name="D (never came)", source="yandex", created_at=at(2025, 3, 1))
            db.session.add_all([a, b, c, d])
            db.session.flush()
            car = Vehicle(client_id=d.id, make="Kia")
            db.session.add(car)
            db.session.flush()
            db.session.add(ServiceEntry(vehicle_id=car.id, performed_on=date(2025, 4, 1), description="TO elsewhere",
                                        amount=Decimal("7777")))
            for client, day, amount in (
                (a, date(2025, 1, 10), "1000"), (a, date(2025, 2, 15), "2000"), (a, date(2025, 6, 5), "500"),
                (b, date(2025, 2, 20), "3000"),
                (c, date(2024, 12, 1), "100"), (c, date(2025, 3, 3), "100"),
            ):
                source.VISITS.append({"client_id": client.id, "date": day, "amount": Decimal(amount),
                                      "booked": False})
            db.session.commit()
    return t, api_client(owner)


@pytest.fixture
def shop(app, tenant, user, api_client):
    return _shop(app, tenant, user, api_client)


COLS = ("month", "total", "returning", "future", "one_time", "new", "lost", "growth")


def test_client_activity_per_month_as_seed_003_defines_it(shop):
    _t, c = shop
    r = c.get("/api/v1/crm/reports/client-activity?from=2025-01&to=2025-06&gap=3")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["source"] == "plugins"
    got = [tuple(row[k] for k in COLS) for row in body["rows"]]
    assert got == [
        # A is served; it comes again in June (3+ months later): future. A's card is new this month.
        ("2025-01", 1, 0, 1, 0, 1, 0, 1),
        # A again (January is closer than the 3-month gap: the same episode, not "returning"); B comes
        # once and never again: one-time and lost. B's card is new.
        ("2025-02", 2, 0, 1, 1, 1, 1, 0),
        # C was served in December, 3 months before: returning; never again: lost. D's card is new.
        ("2025-03", 1, 1, 0, 0, 1, 1, 0),
        ("2025-04", 0, 0, 0, 0, 0, 0, 0),  # D's entry for work done elsewhere is not a visit
        ("2025-05", 0, 0, 0, 0, 0, 0, 0),
        ("2025-06", 1, 1, 0, 0, 0, 1, -1),
    ]
    assert all(row["served"] == row["total"] for row in body["rows"])
    # With the recommended gap of one month, A's February visit returns to January's.
    body = c.get("/api/v1/crm/reports/client-activity?from=2025-01&to=2025-06").get_json()
    assert body["gap"] == 1
    assert [tuple(row[k] for k in COLS) for row in body["rows"]][:3] == [
        ("2025-01", 1, 0, 1, 0, 1, 0, 1), ("2025-02", 2, 1, 1, 1, 1, 1, 0), ("2025-03", 1, 1, 0, 0, 1, 1, 0)]


def test_manual_entries_never_count_whether_or_not_a_plugin_reports_visits(shop):
    _t, c = shop
    source.VISITS.clear()  # no plugin visit at all: the manual entry still is not one
    body = c.get("/api/v1/crm/reports/client-activity?from=2025-01&to=2025-06").get_json()
    assert all(row["total"] == 0 for row in body["rows"])
    assert c.get("/api/v1/crm/reports/channels?from=2025-01-01&to=2025-12-31").get_json()["rows"][0]["visits"] == 0


def test_channel_efficiency_counts_clients_and_revenue_per_source(shop):
    _t, c = shop
    body = c.get("/api/v1/crm/reports/channels?from=2025-01-01&to=2025-12-31").get_json()
    no_spend = {"spend": None, "cost_per_new_client": None, "return_on_spend": None, "roi_percent": None}
    assert [{k: v for k, v in row.items() if k not in no_spend} for row in body["rows"]] == [
        {"source": "yandex", "new_clients": 2, "served_clients": 1, "visits": 3, "revenue": "3500.00",
         "revenue_per_client": "3500.00"},
        {"source": "avito", "new_clients": 1, "served_clients": 1, "visits": 1, "revenue": "3000.00",
         "revenue_per_client": "3000.00"},
        # C came in 2024, but its March visit counts for the period.
        {"source": None, "new_clients": 0, "served_clients": 1, "visits": 1, "revenue": "100.00",
         "revenue_per_client": "100.00"},
    ]
    assert all({k: row[k] for k in no_spend} == no_spend for row in body["rows"])  # no spend recorded


def test_channel_spend_gives_cost_per_new_client_and_return(shop, app, user, api_client, login):
    t, c = shop
    for source, month, amount in (("yandex", "2025-01", "1000.10"), ("yandex", "2025-03", "499.90"),
                                  ("avito", "2025-02", "3000.00"), ("radio", "2025-05", "700.00"),
                                  ("yandex", "2024-12", "5000.00")):  # before the period
        r = c.post("/api/v1/crm/channel-spend", json={"source": source, "month": month, "amount": amount})
        assert r.status_code == 201, r.get_json()
    # Money stays exact; bad input is refused per field; one row per channel and month.
    bad = c.post("/api/v1/crm/channel-spend", json={"source": "", "month": "2025-13", "amount": "10.005"})
    assert bad.status_code == 422 and {"source", "month", "amount"} <= set(bad.get_json()["fields"])
    assert c.post("/api/v1/crm/channel-spend", json={"source": "avito", "month": "2025-02", "amount": "-1"}
                  ).status_code == 422
    dup = c.post("/api/v1/crm/channel-spend", json={"source": "avito", "month": "2025-02", "amount": "1.00"})
    assert dup.status_code == 422, dup.get_json()
    body = c.get("/api/v1/crm/reports/channels?from=2025-01-01&to=2025-12-31").get_json()
    rows = {r["source"]: r for r in body["rows"]}
    y = rows["yandex"]
    assert (y["spend"], y["new_clients"], y["cost_per_new_client"], y["revenue"]) == ("1500.00", 2, "750.00", "3500.00")
    assert (y["return_on_spend"], y["roi_percent"]) == ("2.33", "133.3")
    a = rows["avito"]
    assert (a["spend"], a["cost_per_new_client"], a["return_on_spend"], a["roi_percent"]) == ("3000.00", "3000.00", "1.00", "0.0")
    r = rows["radio"]  # money spent, nobody came: no cost per client to divide, a return of zero
    assert (r["spend"], r["new_clients"], r["cost_per_new_client"], r["return_on_spend"]) == ("700.00", 0, None, "0.00")
    assert rows[None]["spend"] is None and body["total_spend"] == "5200.00"
    # Only the months the period touches count.
    feb = {r["source"]: r for r in c.get("/api/v1/crm/reports/channels?from=2025-02-10&to=2025-02-20").get_json()["rows"]}
    assert feb["avito"]["spend"] == "3000.00" and feb.get("yandex", {}).get("spend") is None
    # The page: a form for the spend (generic entity pages) and the report's columns.
    page = login(app.test_client(), user(role="owner", tenant=t))
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert page.get("/crm/channel-spend").status_code == 200
    assert page.get("/crm/channel-spend/new").status_code == 200
    html = page.get("/crm/reports/channels?from=2025-01-01&to=2025-12-31").get_data(as_text=True)
    assert "Cost per new client" in html and "750.00" in html and "1500.00" in html
    # Recording spend is the owner's; a service advisor may read it but not write it.
    advisor = api_client(user(role="service_advisor", tenant=t))
    assert advisor.get("/api/v1/crm/channel-spend").status_code == 200
    assert advisor.post("/api/v1/crm/channel-spend", json={"source": "x", "month": "2025-01", "amount": "1"}
                        ).status_code == 403


def test_report_pages_and_registry(shop, app):
    _t, c = shop
    page = c.get("/crm/reports/client-activity?from=2025-01&to=2025-06&gap=3")
    assert page.status_code == 200
    assert "2025-05" in page.get_data(as_text=True)
    page = c.get("/crm/reports/channels?from=2025-01-01&to=2025-12-31")
    assert page.status_code == 200 and "avito" in page.get_data(as_text=True)
    reports = app.extensions["garage"].reports
    assert {"crm.client-activity", "crm.channels"} <= set(reports)
    assert reports["crm.channels"][1].feature == "crm.basic"


def test_bad_parameters_are_refused_per_field(shop):
    _t, c = shop
    r = c.get("/api/v1/crm/reports/client-activity?from=2025-13&to=2025-01&gap=0")
    assert r.status_code == 422
    assert set(r.get_json()["fields"]) == {"from", "gap"}
    r = c.get("/api/v1/crm/reports/channels?from=2025-02-01&to=2025-01-01")
    assert r.status_code == 422 and "from" in r.get_json()["fields"]
    assert c.get("/api/v1/crm/reports/nope").status_code == 404
    assert c.get("/crm/reports/client-activity?gap=x").status_code == 422


def test_other_tenants_see_only_their_own_clients(shop, app, tenant, user, api_client):
    other = tenant(tier="master")
    c = api_client(user(role="owner", tenant=other))
    body = c.get("/api/v1/crm/reports/client-activity?from=2025-01&to=2025-06&gap=3").get_json()
    assert all(row["served"] == 0 and row["total"] == 0 for row in body["rows"])
    assert c.get("/api/v1/crm/reports/channels").get_json()["rows"] == []


def test_gated_by_tier_and_permission(app, tenant, user, api_client, shop):
    basic = tenant(tier="basic")
    c = api_client(user(role="owner", tenant=basic))
    assert c.get("/api/v1/crm/reports/client-activity").status_code == 404
    assert c.get("/crm/reports/channels").status_code == 404
    t, _c = shop
    tech = api_client(user(role="technician", tenant=t))
    assert tech.get("/api/v1/crm/reports/channels").status_code == 403
    assert tech.get("/crm/reports/channels").status_code == 403


# --- the shop's own date -------------------------------------------------------------------------
# A report page opened without a period shows the current month in the shop's time zone (and says so in
# its form), and the dates on the car's card (plates, recommendations) are the shop's days, not UTC's. The
# shop's zone is chosen so that its date differs from UTC's right now, whatever the hour the test runs.


def _zone_off_utc_date() -> str:
    """A zone whose date is not UTC's now: UTC+14 in UTC's afternoon, UTC-12 in its morning."""
    return "Etc/GMT-14" if datetime.now(timezone.utc).hour >= 12 else "Etc/GMT+12"


@pytest.fixture
def local_shop(app, tenant, user, api_client):
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


def test_report_pages_default_to_the_shops_current_month(local_shop):
    c, local_today, _ids = local_shop
    first = local_today.replace(day=1).isoformat()
    page = c.get("/crm/reports/channels").get_data(as_text=True)
    assert f'name="from" value="{first}"' in page and f'name="to" value="{local_today.isoformat()}"' in page
    assert "17806.00" in page and "<td>1</td>" in page  # today's visit and its revenue
    page = c.get("/crm/reports/advisors").get_data(as_text=True)
    assert f'name="from" value="{first}"' in page
    assert "17806.00" in page  # the advisor's row is there
    page = c.get("/crm/reports/client-activity").get_data(as_text=True)
    assert f'name="to" value="{local_today.strftime("%Y-%m")}"' in page


def test_a_bad_date_names_the_field_by_its_label(local_shop):
    c, _today, _ids = local_shop
    r = c.get("/crm/reports/channels?from=nope", headers={"Accept-Language": "ru"})
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'role="alert">С:' in body and 'role="alert">from:' not in body


def test_card_dates_are_the_shops_days(local_shop):
    c, local_today, (_client_id, car_id) = local_shop
    utc_today = datetime.now(timezone.utc).date()
    assert local_today != utc_today
    page = c.get(f"/crm/vehicles/{car_id}/history").get_data(as_text=True)
    assert f"<strong>A123BC77</strong>: {local_today.isoformat()}" in page  # the plate's "since"
    assert f'data-label="Date">{local_today.isoformat()}</td>' in page  # the recommendation's date
    assert utc_today.isoformat() not in page
