"""Maintenance due for the car (the CRM's reminders) is offered on the work order: the API lists it with
the matching catalog job, one click adds it as a job line, and closing the order resets the reminder."""
import re
from datetime import date, timedelta

API = "/api/v1/workshop"


def _car_with_history(shop):
    """A car first seen 13 months ago at 20,000 km and read at 31,000 km today: oil (10,000 km / 12
    months) and the cabin filter (15,000 km / 12 months) are overdue, the timing belt is not."""
    client, car = shop.client_and_car()
    with shop.ctx() as s:
        from plugins.crm.models import Vehicle
        from plugins.crm.services import add_reading

        vehicle = s.get(Vehicle, car["id"])
        add_reading(vehicle, 20000, date.today() - timedelta(days=400), source="client")
        s.commit()
    return client, car


def _reminder(shop, car_id, code):
    items = shop.api.get(f"/api/v1/crm/vehicles/{car_id}/reminders").get_json()["results"]
    return next(i for i in items if i["code"] == code)


def test_due_services_are_offered_added_and_reset_when_the_order_closes(make_shop, login):
    shop = make_shop(tier="master")
    shop.post(f"{API}/labor-rates", {"rate": "2000.00"})  # an unpriced job would not pass the approval
    client, car = _car_with_history(shop)
    # "Регламентное ТО" has the interval's code but none of its keywords in the name; the cabin filter
    # job is found by a keyword ("салонн").
    service = shop.post(f"{API}/jobs", {"name": "Регламентное ТО", "code": "oil", "standard_hours": "1"})
    cabin = shop.post(f"{API}/jobs", {"name": "Замена салонного фильтра", "code": "CF-1", "standard_hours": "0.3"})
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"], odometer=31000)

    r = shop.api.get(f"{API}/work-orders/{wo['id']}/due-services")
    assert r.status_code == 200 and r.get_json()["available"] is True
    due = {i["code"]: i for i in r.get_json()["items"]}
    assert {"oil", "cabin_filter"} <= set(due) and "timing_belt" not in due
    assert due["oil"]["status"] == "overdue" and due["oil"]["job"]["id"] == service["id"]
    assert due["cabin_filter"]["job"]["id"] == cabin["id"] and due["oil"]["on_order"] is False
    assert _reminder(shop, car["id"], "oil")["last_done_source"] == "first_reading"

    added = shop.post(f"{API}/work-orders/{wo['id']}/due-services/oil", {"version": wo["version"]})
    line = added["line"]
    assert (line["name"], line["job_id"], line["reminder_code"], line["hours"]) == (
        "Регламентное ТО", service["id"], "oil", "1.000")
    again = shop.api.post(f"{API}/work-orders/{wo['id']}/due-services/oil", json={})
    assert again.status_code == 409
    assert shop.api.post(f"{API}/work-orders/{wo['id']}/due-services/timing_belt", json={}).status_code == 404
    due = {i["code"]: i for i in shop.api.get(f"{API}/work-orders/{wo['id']}/due-services").get_json()["items"]}
    assert due["oil"]["on_order"] is True and due["cabin_filter"]["on_order"] is False

    # The page: "Due for this car" with a one-click button per item.
    ui = shop.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, shop.user)
    page = ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "Due for this car" in page and "Add as a job line" in page
    assert f'action="/workshop/work-orders/{wo["id"]}/due-services/cabin_filter"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert ui.post(f"/workshop/work-orders/{wo['id']}/due-services/cabin_filter",
                   data={"csrf_token": token}).status_code == 302
    lines = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"]
    assert [(x["name"], x["reminder_code"]) for x in lines] == [
        ("Регламентное ТО", "oil"), ("Замена салонного фильтра", "cabin_filter")]

    # Close the order: the reminders start again from today at the order's mileage.
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": x["id"], "decision": "approved"} for x in lines]})
    for name in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", wo["id"], name)
    with shop.ctx():
        from core.documents import tenant_now

        today = tenant_now().date().isoformat()  # the shop's day, not UTC's
    for code in ("oil", "cabin_filter"):
        rem = _reminder(shop, car["id"], code)
        assert (rem["last_done_on"], rem["last_done_km"], rem["last_done_source"]) == (today, 31000, "manual"), rem
        assert rem["status"] == "upcoming"
    # The CRM already resets "last done" from the service book by itself (record_from_visit matches the
    # closed order's entry against the interval's keywords): that covers the cabin filter's name, but
    # "Регламентное ТО" has no oil keyword, so only the line's reminder_code reset the oil reminder.
    # Exactly one "done" row per service and day, whichever path found it first.
    with shop.ctx() as s:
        from sqlalchemy import select

        from plugins.crm.reminders import ServiceDone

        rows = s.execute(select(ServiceDone.code).where(ServiceDone.vehicle_id == car["id"])).scalars().all()
        assert sorted(rows) == ["cabin_filter", "oil"]
    assert not {i["code"] for i in shop.api.get(f"{API}/work-orders/{wo['id']}/due-services").get_json()["items"]} & {
        "oil", "cabin_filter"}


def test_due_services_need_the_crm_reminders_and_stay_in_the_shop(make_shop):
    specialist = make_shop(tier="specialist")  # workshop documents, but no crm.basic
    client, car = specialist.client_and_car()
    wo = specialist.work_order(client_id=client["id"], vehicle_id=car["id"])
    r = specialist.api.get(f"{API}/work-orders/{wo['id']}/due-services")
    assert r.status_code == 200 and r.get_json() == {"available": False, "items": []}
    assert specialist.api.post(f"{API}/work-orders/{wo['id']}/due-services/oil", json={}).status_code == 404
    other = make_shop(tier="master")
    assert other.api.get(f"{API}/work-orders/{wo['id']}/due-services").status_code == 404
    assert other.api.post(f"{API}/work-orders/{wo['id']}/due-services/oil", json={}).status_code == 404
    tech = make_shop(tier="master", role="technician", t=other.tenant)
    oc, ocar = other.client_and_car()
    owo = other.work_order(client_id=oc["id"], vehicle_id=ocar["id"])
    assert tech.api.post(f"{API}/work-orders/{owo['id']}/due-services/oil", json={}).status_code == 403
