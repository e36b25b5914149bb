"""The planner with the workshop: a booking becomes a service order in one click (the planner's
``planner_booking_convert`` hook, answered by plugins/workshop/planner_bridge.py), and planned jobs come
from the job catalog with their standard hours (``planner_job_catalog``)."""
from __future__ import annotations

import itertools
import re

from sqlalchemy import select

MONDAY = "2030-03-25"
_n = itertools.count(1)


def client_and_car(client, make="Kia", model="Rio"):
    n = next(_n)
    c = client.post("/api/v1/crm/clients", json={"name": f"Ivan Petrov {n}", "phones": [f"+7 916 555-{n // 100:02d}-{n % 100:02d}"]})
    assert c.status_code == 201, c.json
    car = client.post("/api/v1/crm/vehicles", json={"client_id": c.json["id"], "make": make, "model": model,
                                                     "plate": f"А{n:03d}ВС77"})
    assert car.status_code == 201, car.json
    return c.json, car.json


def _orders(in_tenant, s):
    from plugins.workshop.models import ServiceOrder

    with in_tenant(s) as session:
        return session.scalars(select(ServiceOrder).order_by(ServiceOrder.id)).all()


def test_hook_planner_booking_convert(app, shop, api, book, in_tenant):
    """Converting a booking opens one service order with the booking's client, car, reason and jobs;
    a second convert is a 409 naming the same order; the booking is converted, linked and audited."""
    s = shop(tier="specialist")
    client = api(s)
    c, car = client_and_car(client)
    b = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"],
             reason="Knocks in the front", planned_jobs=["Oil change", "Check suspension"]).json
    r = client.post(f"/api/v1/planner/bookings/{b['id']}/convert")
    assert r.status_code == 200, r.json
    link = r.json["converted_to"]
    assert r.json["status"] == "converted"
    assert link["resource"] == "workshop.service_order" and link["url"] == f"/workshop/service-orders/{link['id']}"
    [order] = _orders(in_tenant, s)
    assert (order.id, order.number, order.booking_id, order.client_id, order.vehicle_id) == (
        link["id"], link["number"], b["id"], c["id"], car["id"])
    assert order.complaint == "Knocks in the front" and order.planned_jobs == "Oil change\nCheck suspension"
    assert order.state == "draft" and order.advisor_id == client.user.id
    again = client.post(f"/api/v1/planner/bookings/{b['id']}/convert")
    assert again.status_code == 409 and again.json["converted_to"] == link
    assert len(_orders(in_tenant, s)) == 1
    assert client.get(f"/api/v1/workshop/service-orders/{order.id}").json["booking_id"] == b["id"]
    from core.audit import AuditLog as Log

    with in_tenant(s) as session:
        actions = session.scalars(select(Log.action).where(Log.object_type == "planner_booking",
                                                           Log.object_id == b["id"])).all()
    assert "convert" in actions and "transition" in actions


def test_convert_needs_the_client_and_car_from_the_directory(app, shop, api, book, in_tenant):
    s = shop(tier="specialist")
    client = api(s)
    b = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").json  # typed-in client, no directory link
    r = client.post(f"/api/v1/planner/bookings/{b['id']}/convert")
    assert r.status_code == 422 and "client directory" in r.json["message"]
    assert client.get(f"/api/v1/planner/bookings/{b['id']}").json["status"] == "confirmed"
    assert _orders(in_tenant, s) == []


def test_convert_without_the_workshop_or_the_rights(app, shop, api, book, in_tenant):
    free = shop(tier="basic")
    client = api(free)
    b = book(client, free.bays["Lift 1"], f"{MONDAY}T10:00").json
    r = client.post(f"/api/v1/planner/bookings/{b['id']}/convert")
    assert r.status_code == 409 and r.json["error"] == "conflict"
    assert client.get(f"/api/v1/planner/bookings/{b['id']}").json["status"] == "confirmed"
    # Technicians may not change bookings at all.
    s = shop(tier="specialist")
    owner = api(s)
    c, car = client_and_car(owner)
    b = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"]).json
    assert api(s, role="technician").post(f"/api/v1/planner/bookings/{b['id']}/convert").status_code == 403
    # A cancelled booking is not converted; PATCH status=converted goes through the same hook.
    cancelled = owner.post(f"/api/v1/planner/bookings/{b['id']}/cancel").json
    assert owner.post(f"/api/v1/planner/bookings/{cancelled['id']}/convert").status_code == 409
    b2 = book(owner, s.bays["Lift 2"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"]).json
    patched = owner.patch(f"/api/v1/planner/bookings/{b2['id']}", json={"status": "converted"})
    assert patched.status_code == 200 and patched.json["converted_to"]["number"].startswith("SO")
    assert len(_orders(in_tenant, s)) == 1


def test_one_click_from_tomorrows_arrivals(app, shop, api, ui, book, csrf, in_tenant):
    s = shop(tier="specialist")
    owner = api(s)
    c, car = client_and_car(owner)
    b = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"]).json
    page = ui(s)
    html = page.get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    action = f"/planner/bookings/{b['id']}/convert"
    assert f'action="{action}"' in html and "Open a service order" in html
    assert "data-label=\"Parts\"" not in html  # no plugin answers planner_booking_parts_status
    r = page.post(action, data={"csrf_token": csrf(html), "next": f"/planner/arrivals?date={MONDAY}"})
    [order] = _orders(in_tenant, s)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/workshop/service-orders/{order.id}")
    html = page.get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    assert action not in html and f'<a href="/workshop/service-orders/{order.id}">{order.number}</a>' in html
    assert f"converted to an order: {order.number}" in page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    form = page.get(f"/planner/bookings/{b['id']}").get_data(as_text=True)
    assert f'href="/workshop/service-orders/{order.id}"' in form and order.number in form
    # The button is on the booking page of a booking still to convert, not without the workshop.
    b2 = book(owner, s.bays["Lift 2"], f"{MONDAY}T10:00").json
    assert f"/planner/bookings/{b2['id']}/convert" in page.get(f"/planner/bookings/{b2['id']}").get_data(as_text=True)
    basic = shop(tier="basic")
    b3 = book(api(basic), basic.bays["Lift 1"], f"{MONDAY}T10:00").json
    basic_page = ui(basic)
    assert "/convert" not in basic_page.get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    assert "/convert" not in basic_page.get(f"/planner/bookings/{b3['id']}").get_data(as_text=True)


def test_a_refused_convert_is_shown_on_the_booking_page(app, shop, api, ui, book, csrf, in_tenant):
    s = shop(tier="specialist")
    b = book(api(s), s.bays["Lift 1"], f"{MONDAY}T10:00").json
    page = ui(s)
    html = page.get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    r = page.post(f"/planner/bookings/{b['id']}/convert", data={"csrf_token": csrf(html)}, follow_redirects=True)
    assert r.status_code == 200 and "client directory" in r.get_data(as_text=True)
    assert _orders(in_tenant, s) == []


# --- planned jobs from the catalog ------------------------------------------------------------------------

def _jobs(owner):
    for body in ({"code": "OIL", "name": "Oil change", "standard_hours": "0.5"},
                 {"code": "ALIGN", "name": "Wheel alignment", "standard_hours": "1.2"},
                 {"code": "BRK", "name": "Brake pads", "standard_hours": "0.8"}):
        r = owner.post("/api/v1/workshop/jobs", json=body)
        assert r.status_code == 201, r.json
        body["id"] = r.json["id"]
    return r.json


def test_hook_planner_job_catalog(app, shop, api, book, in_tenant):
    s = shop(tier="master")
    owner = api(s)
    _jobs(owner)
    c, car = client_and_car(owner, make="Kia", model="Rio")
    brakes = owner.get("/api/v1/workshop/jobs?q=brake").json["items"][0]
    assert owner.post("/api/v1/workshop/job-norms", json={"job_id": brakes["id"], "make": "Kia", "model": "Rio",
                                                          "hours": "1.6"}).status_code == 201
    r = owner.get("/api/v1/planner/jobs?q=oil")
    assert r.status_code == 200
    assert r.json["items"] == [{"code": "OIL", "name": "Oil change", "standard_hours": "0.5", "minutes": 30,
                                "bay_type": None}]
    assert len(owner.get("/api/v1/planner/jobs").json["items"]) == 3
    # The car's make/model norm wins over the catalog's hours (workshop.norms).
    assert owner.get("/api/v1/planner/jobs?q=brake").json["items"][0]["minutes"] == 60
    norm = owner.get(f"/api/v1/planner/jobs?q=brake&vehicle_id={car['id']}").json["items"][0]
    assert (norm["standard_hours"], norm["minutes"]) == ("1.6", 120)
    # A norm for the make (any model) applies when there is none for the model; other makes' do not.
    oil = owner.get("/api/v1/workshop/jobs?q=oil").json["items"][0]
    for make, hours in (("Kia", "0.7"), ("Lada", "2")):
        assert owner.post("/api/v1/workshop/job-norms", json={"job_id": oil["id"], "make": make, "model": None,
                                                              "hours": hours}).status_code == 201
    items = {i["code"]: i for i in owner.get(f"/api/v1/planner/jobs?vehicle_id={car['id']}").json["items"]}
    assert (items["OIL"]["standard_hours"], items["BRK"]["standard_hours"], items["ALIGN"]["standard_hours"]) == (
        "0.7", "1.6", "1.2")
    # Without a duration, a booking lasts its planned jobs' hours, rounded up to the slot (30 min).
    b = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", minutes=None, planned_jobs=["Oil change", "ALIGN"])
    assert b.status_code == 201, b.json
    assert b.json["duration_minutes"] == 120 and b.json["planned_jobs"] == ["Oil change", "ALIGN"]
    unknown = book(owner, s.bays["Lift 2"], f"{MONDAY}T10:00", minutes=None, planned_jobs=["Paint the roof"])
    assert unknown.status_code == 422 and "duration_minutes" in unknown.json["fields"]
    # Without the workshop nobody answers: an empty catalog.
    basic = shop(tier="basic")
    assert api(basic).get("/api/v1/planner/jobs?q=oil").json["items"] == []


def test_the_booking_form_offers_catalog_jobs(app, shop, api, ui):
    s = shop(tier="specialist")
    _jobs(api(s))
    html = ui(s).get("/planner/bookings/new").get_data(as_text=True)
    assert '<datalist id="bk-job-catalog" data-slot="30"' in html
    assert re.search(r'<option value="Wheel alignment" data-minutes="90"', html)


def test_concurrent_converts_make_one_service_order(app, shop, api, book, in_tenant):
    """Four clicks at once (two advisors, double clicks): one service order, the others get a 409."""
    import threading

    s = shop(tier="specialist")
    owner = api(s)
    c, car = client_and_car(owner)
    b = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"]).json
    clients = [api(s) for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    results: list[int] = []
    lock = threading.Lock()

    def attempt(client):
        barrier.wait()
        response = client.post(f"/api/v1/planner/bookings/{b['id']}/convert")
        with lock:
            results.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(client,)) for client in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409, 409, 409]
    assert len(_orders(in_tenant, s)) == 1


def test_the_workshop_refuses_users_who_may_not_open_service_orders(app, shop, api, user, book, in_tenant):
    """Called through the tenant's proxy with an actor lacking workshop.service_order.create: a 403 answer,
    nothing made; a shop without workshop.documents gets no answer at all."""
    from core.models import User
    from core.tenancy import current_tenant

    s = shop(tier="specialist")
    owner = api(s)
    c, car = client_and_car(owner)
    b = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"]).json
    tech = user(role="technician", tenant=s.handle)
    with in_tenant(s) as session:
        from plugins.planner.models import Booking
        from plugins.planner.service import booking_for_hooks

        booking = session.scalars(select(Booking).where(Booking.id == b["id"])).one()
        actor = session.scalars(select(User).where(User.id == tech.id)).one()
        hooks = app.extensions["garage"].hooks_for(current_tenant().plugins)
        data = booking_for_hooks(booking)
        assert hooks.planner_booking_convert(booking=data, actor=actor) == {"error": "forbidden", "status": 403}
        assert data["bay"] == "Lift 1" and data["client_id"] == c["id"] and data["start"].startswith(f"{MONDAY}T10:00")
    assert _orders(in_tenant, s) == []
    basic = shop(tier="basic")
    with in_tenant(basic):
        hooks = app.extensions["garage"].hooks_for(current_tenant().plugins)
        assert hooks.planner_booking_convert(booking=data, actor=None) is None


def test_a_walk_in_is_booked_and_gets_its_service_order_in_one_go(app, shop, api, ui, csrf, in_tenant):
    """The quick form's "Save and open a service order": the booking is saved, then converted."""
    s = shop(tier="specialist")
    owner = api(s)
    c, car = client_and_car(owner)
    page = ui(s)
    html = page.get(f"/planner/quick?bay_id={s.bays['Lift 1']}&start={MONDAY}T10:00&fragment=1").get_data(as_text=True)
    assert 'name="then" value="convert"' in html
    form = {"csrf_token": csrf(html), "bay_id": s.bays["Lift 1"], "start": f"{MONDAY}T10:00", "duration_minutes": "60",
            "client_name": "", "client_id": str(c["id"]), "vehicle_id": str(car["id"]), "reason": "Walk-in: noise"}
    r = page.post("/planner/quick", data={**form, "then": "convert"})
    [order] = _orders(in_tenant, s)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/workshop/service-orders/{order.id}")
    assert order.complaint == "Walk-in: noise"
    # Without a directory client the booking is kept and the refusal shown on its page.
    r = page.post("/planner/quick", data={**form, "client_name": "Typed Name", "client_id": "", "vehicle_id": "",
                                          "start": f"{MONDAY}T12:00", "then": "convert"}, follow_redirects=True)
    assert r.status_code == 200 and "client directory" in r.get_data(as_text=True)
    assert len(_orders(in_tenant, s)) == 1
    assert len(owner.get(f"/api/v1/planner/bookings?date_from={MONDAY}").json["items"]) == 2
    # Without the workshop there is no such button.
    basic = shop(tier="basic")
    assert 'value="convert"' not in ui(basic).get("/planner/quick?fragment=1").get_data(as_text=True)
