"""Service advisor statistics (crm.basic): per advisor and period, bookings, closed work orders,
conversion, average labour and parts per order, from the optional keys of the ``crm_visits`` hook;
calls are reported as not available (no telephony source)."""
from datetime import date, datetime
from zoneinfo import ZoneInfo
from decimal import Decimal

import pytest

from tests.plugins.crm import crm_advisor_visits_plugin as source


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_advisor_test": "tests.plugins.crm.crm_advisor_visits_plugin"}}


@pytest.fixture(autouse=True)
def _clean():
    source.VISITS.clear()
    yield
    source.VISITS.clear()


def _visit(cid, day, advisor, amount=None, labour=None, parts=None, booked=False):
    return {"client_id": cid, "date": day, "amount": amount, "booked": booked, "advisor_id": advisor,
            "labour": labour, "parts": parts}


def test_advisor_statistics_per_advisor_and_period(app, tenant, user, api_client, login):
    from core.db import db
    from core.tenants import get_tenant, set_feature

    t = tenant(tier="master")
    owner = user(role="owner", tenant=t)
    anna = user(role="service_advisor", tenant=t)
    boris = user(role="service_advisor", tenant=t)
    stranger = user(role="service_advisor", tenant=tenant(tier="master"))  # another shop's user
    http = api_client(owner)
    cid = http.post("/api/v1/crm/clients", json={"name": "Ivan"}).get_json()["id"]
    with app.app_context():
        set_feature(get_tenant(t.slug), "crm_advisor_test.use", True)
        db.session.commit()
    may = date(2026, 5, 10)
    source.VISITS.extend([
        _visit(cid, may, anna.id, Decimal("1500.00"), Decimal("1000.00"), Decimal("500.00")),
        _visit(cid, date(2026, 5, 20), anna.id, Decimal("3500.50"), Decimal("2000.00"), Decimal("1500.50")),
        _visit(cid, date(2026, 5, 25), anna.id, booked=True),
        _visit(cid, date(2026, 4, 30), anna.id, Decimal("999.00"), Decimal("999.00"), Decimal("0")),  # before
        _visit(cid, date(2026, 5, 12), boris.id, booked=True),
        _visit(cid, date(2026, 5, 13), None, Decimal("700.00")),  # a walk-in nobody is named for
        _visit(cid, date(2026, 5, 14), stranger.id, Decimal("5.00"), Decimal("5.00")),
    ])
    r = http.get("/api/v1/crm/reports/advisors?from=2026-05-01&to=2026-05-31")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert (data["calls_available"], data["source"]) == (False, "plugins")
    assert "not available" in data["calls_note"]
    rows = {row["advisor_id"]: row for row in data["rows"]}
    assert set(rows) == {anna.id, boris.id, None}  # another shop's user is not listed
    a = rows[anna.id]
    assert (a["bookings"], a["closed_orders"], a["conversion_percent"]) == (1, 2, "66.7")
    assert (a["avg_labour"], a["avg_parts"], a["revenue"], a["calls"]) == ("1500.00", "1000.25", "5000.50", None)
    assert a["advisor"] == anna.email  # a user without a name shows as the e-mail
    b = rows[boris.id]
    assert (b["bookings"], b["closed_orders"], b["conversion_percent"], b["avg_labour"]) == (1, 0, "0.0", None)
    assert (rows[None]["closed_orders"], rows[None]["avg_labour"]) == (1, None)
    assert [row["advisor_id"] for row in data["rows"]][-1] is None
    bad = http.get("/api/v1/crm/reports/advisors?from=May&to=2026-04-01")
    assert bad.status_code == 422 and "from" in bad.get_json()["fields"]
    page = login(app.test_client(), owner)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get("/crm/reports/advisors?from=2026-05-01&to=2026-05-31").get_data(as_text=True)
    assert "Calls are not available" in html and "66.7" in html and "1000.25" in html
    # The report is the owner's: a service advisor may not read it.
    assert api_client(boris).get("/api/v1/crm/reports/advisors").status_code == 403


def test_advisor_statistics_from_the_workshop_and_the_planner(app, tenant, user, token):
    """The real plugins: a closed work order (advisor, labour, parts) and a booking (advisor)."""
    t = tenant(tier="profi")
    owner = user(role="owner", tenant=t)
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token(owner)
    http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def post(url, body=None):
        r = http.post(url, json=body or {})
        assert r.status_code in (200, 201), (url, r.status_code, r.get_json())
        return r.get_json()

    client = post("/api/v1/crm/clients", {"name": "Иванов Иван"})
    car = post("/api/v1/crm/vehicles", {"client_id": client["id"], "make": "Kia", "model": "Rio"})
    wo = post("/api/v1/workshop/work-orders", {"client_id": client["id"], "vehicle_id": car["id"],
                                                "advisor_id": owner.id})
    labour = post(f"/api/v1/workshop/work-orders/{wo['id']}/labor-lines",
                  {"name": "Замена масла", "hours": "0.5", "rate": "2000.00"})["line"]
    part = post(f"/api/v1/workshop/work-orders/{wo['id']}/part-lines",
                {"name": "Фильтр", "quantity": "1", "price": "450.50"})["line"]
    post(f"/api/v1/workshop/work-orders/{wo['id']}/decisions", {"by": "Иванов", "channel": "phone", "decisions": [
        {"line_id": labour["id"], "decision": "approved"}, {"line_id": part["id"], "kind": "part", "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        post(f"/api/v1/workshop/work-orders/{wo['id']}/transitions/{name}")
    today = datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()  # the test shop's day, not the server's
    data = http.get(f"/api/v1/crm/reports/advisors?from={today}&to={today}").get_json()
    [row] = [r for r in data["rows"] if r["advisor_id"] == owner.id]
    assert (row["closed_orders"], row["avg_labour"], row["avg_parts"]) == (1, "1000.00", "450.50")


def test_the_planners_bookings_count_for_their_advisor(app, tenant, user, api_client):
    from datetime import datetime, timedelta, timezone

    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.planner.models import Bay, Booking

    t = tenant(tier="master")
    owner = user(role="owner", tenant=t)
    advisor = user(role="service_advisor", tenant=t)
    http = api_client(owner)
    cid = http.post("/api/v1/crm/clients", json={"name": "Ivan"}).get_json()["id"]
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=2)
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        bay = Bay(name="Lift 1")
        db.session.add(bay)
        db.session.flush()
        db.session.add(Booking(bay_id=bay.id, start_at=start, end_at=start + timedelta(hours=1), duration_minutes=60,
                               client_id=cid, advisor_id=advisor.id, status="confirmed"))
        db.session.commit()
    day = start.date()
    data = http.get(f"/api/v1/crm/reports/advisors?from={day - timedelta(days=1)}&to={day + timedelta(days=1)}").get_json()
    [row] = data["rows"]
    assert (row["advisor_id"], row["bookings"], row["closed_orders"], row["conversion_percent"]) == (advisor.id, 1, 0, "0.0")
