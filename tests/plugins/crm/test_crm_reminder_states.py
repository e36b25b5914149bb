"""Reminder states (crm.basic): a due reminder is invited (message queued), snoozed until a date,
converted (booked, also by a planner booking) or dismissed; the due-soon list filters by state;
every change is audited; a done service starts the next occurrence afresh."""
import re
from datetime import date, timedelta

from sqlalchemy import select

from tests.plugins.crm.test_crm_reminders import shop  # noqa: F401 - the shared fixture
from tests.plugins.crm.shop_clock import shop_today

TODAY = shop_today()


def _due(http, **args):
    query = "&".join(f"{k}={v}" for k, v in {"within_days": 30, "code": "oil", **args}.items())
    r = http.get(f"/api/v1/crm/reminders/due?{query}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["results"]


def test_invite_snooze_convert_dismiss_and_the_state_filter(shop, app):  # noqa: F811
    http, car = shop["http"], shop["car_id"]
    [row] = _due(http)
    assert (row["state"], row["snoozed_until"]) == ("open", None)
    # Invite: the reminder message is queued through the outbox and the reminder reads "invited".
    r = http.post("/api/v1/crm/reminders/invite", json={"vehicle_id": car, "code": "oil"})
    assert r.status_code == 201 and r.get_json()["messages"][0]["event"] == "reminder_due"
    [row] = _due(http)
    assert row["state"] == "invited"
    assert _due(http, state="open") == [] and len(_due(http, state="invited")) == 1
    # Snooze: a date in the future, within a year; bad dates are field errors.
    for bad in ("tomorrow", TODAY.isoformat(), (TODAY + timedelta(days=400)).isoformat()):
        r = http.post("/api/v1/crm/reminders/snooze", json={"vehicle_id": car, "code": "oil", "until": bad})
        assert r.status_code == 422 and "until" in r.get_json()["fields"], bad
    until = (TODAY + timedelta(days=7)).isoformat()
    r = http.post("/api/v1/crm/reminders/snooze", json={"vehicle_id": car, "code": "oil", "until": until})
    assert r.status_code == 200 and r.get_json()["state"] == "snoozed"
    assert _due(http) == []  # hidden from the default list while snoozed
    [row] = _due(http, state="snoozed")
    assert row["snoozed_until"] == until
    # Booked, then dismissed, then open again; "all" shows whatever the state.
    assert http.post("/api/v1/crm/reminders/convert", json={"vehicle_id": car, "code": "oil"}).get_json()["state"] == "converted"
    assert [r["state"] for r in _due(http, state="converted")] == ["converted"] and _due(http) == []
    assert http.post("/api/v1/crm/reminders/dismiss", json={"vehicle_id": car, "code": "oil"}).status_code == 200
    assert [r["state"] for r in _due(http, state="all")] == ["dismissed"]
    assert http.post("/api/v1/crm/reminders/reopen", json={"vehicle_id": car, "code": "oil"}).status_code == 200
    assert [r["state"] for r in _due(http)] == ["open"]
    bad = http.get("/api/v1/crm/reminders/due?state=later")
    assert bad.status_code == 422 and "state" in bad.get_json()["fields"]
    assert http.post("/api/v1/crm/reminders/dismiss", json={"vehicle_id": car, "code": "nope"}).status_code == 422
    # Every change is in the audit log, with who did it.
    from core.audit import AuditLog
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, shop["tenant"].id))):
        actions = list(db.session.scalars(select(AuditLog.action).where(AuditLog.object_type == "crm_reminder_state")
                                          .order_by(AuditLog.id)))
        users = set(db.session.scalars(select(AuditLog.user_id).where(AuditLog.object_type == "crm_reminder_state")))
    assert actions == ["crm.reminder.invited", "crm.reminder.snoozed", "crm.reminder.converted",
                       "crm.reminder.dismissed", "crm.reminder.open"]
    assert users == {shop["user"].id}


def test_a_run_out_snooze_reads_open_and_a_done_service_starts_afresh(shop, app):  # noqa: F811
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.reminders import due_list

    http, car = shop["http"], shop["car_id"]
    until = TODAY + timedelta(days=3)
    http.post("/api/v1/crm/reminders/snooze", json={"vehicle_id": car, "code": "oil", "until": until.isoformat()})
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, shop["tenant"].id))):
        later = due_list(within_days=30, code="oil", today=until)
        assert [(r["state"], r["snoozed_until"]) for r in later] == [("open", until.isoformat())]
    http.post("/api/v1/crm/reminders/dismiss", json={"vehicle_id": car, "code": "oil"})
    assert _due(http) == []
    # A new odometer reading moves the forecast, not the shop's decision.
    before = _due(http, state="all")[0]["due_on"]
    r = http.post(f"/api/v1/crm/vehicles/{car}/odometer", json={"value": 50_300, "read_on": TODAY.isoformat(),
                                                                "source": "client"})
    assert r.status_code == 201, r.get_json()
    [after] = _due(http, state="all")
    assert after["due_on"] != before and after["state"] == "dismissed"
    # The service is recorded (due at 53,000 km now): the next oil change is a new reminder, open.
    http.post(f"/api/v1/crm/vehicles/{car}/service-done", json={"code": "oil", "done_on": TODAY.isoformat(),
                                                                 "done_km": 43_000})
    [row] = _due(http, within_days=90)
    assert (row["due_km"], row["state"]) == (53_000, "open")


def test_a_planner_booking_converts_the_cars_due_reminders(shop, app):  # noqa: F811
    from core import events
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    http, car = shop["http"], shop["car_id"]
    http.post("/api/v1/crm/reminders/invite", json={"vehicle_id": car, "code": "oil"})
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, shop["tenant"].id))):
        events.emit("planner.booking.confirmed", booking_id=5, client_id=shop["client_id"], vehicle_id=car,
                    start_at="2026-12-01 10:00")
        events.commit()
    assert _due(http) == []
    assert [r["state"] for r in _due(http, state="converted")] == ["converted"]


def test_reminders_page_filters_by_state_and_changes_it(shop, app, login):  # noqa: F811
    page = login(app.test_client(), shop["user"])
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"  # the page in the user's language
    html = page.get("/crm/reminders?within_days=30&code=oil").get_data(as_text=True)
    assert 'name="state"' in html and "A123BC77" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = page.post("/crm/reminders/dismiss", data={"csrf_token": token, "vehicle_id": shop["car_id"], "code": "oil",
                                                   "within_days": 30})
    assert r.status_code == 302
    assert "A123BC77" not in page.get("/crm/reminders?within_days=30&code=oil").get_data(as_text=True)
    html = page.get("/crm/reminders?within_days=30&code=oil&state=dismissed").get_data(as_text=True)
    assert "A123BC77" in html and "Отклонено" in html and "Открыть снова" in html
    r = page.post("/crm/reminders/snooze", data={"csrf_token": token, "vehicle_id": shop["car_id"], "code": "oil",
                                                  "until": "yesterday"}, follow_redirects=True)
    assert "Введите дату в виде ГГГГ-ММ-ДД." in r.get_data(as_text=True)
