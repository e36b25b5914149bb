"""Findings of the QA walkthrough of the demo shop: one directory car on two bays at once, the reason
shown twice on the arrivals list, converting a booking made with free text only, "Book in planner" from
the car's card, calendar feeds of sequences."""
from __future__ import annotations

from sqlalchemy import func, select

MONDAY = "2030-03-25"


def _client_and_car(owner, name="Olga Smirnova", phone="+7 916 222-33-44", plate="Е521УЕ199"):
    c = owner.post("/api/v1/crm/clients", json={"name": name, "phones": [phone]}).json
    car = owner.post("/api/v1/crm/vehicles", json={"client_id": c["id"], "make": "Skoda", "model": "Octavia",
                                                    "plate": plate}).json
    return c, car


def test_one_directory_car_cannot_be_on_two_bays_at_once(app, shop, api, book):
    s = shop(tier="specialist", bays=(("Lift 1", "lift"), ("Lift 2", "lift"), ("Diag", "diagnostics")))
    owner = api(s)
    c, car = _client_and_car(owner)
    refs = {"client_id": c["id"], "vehicle_id": car["id"]}
    first = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", 60, **refs)
    assert first.status_code == 201, first.json
    clash = book(owner, s.bays["Lift 2"], f"{MONDAY}T10:30", 60, **refs)
    assert clash.status_code == 409
    assert clash.json["conflicting_booking_id"] == first.json["id"]
    assert f"#{first.json['id']}" in clash.json["message"] and "car" in clash.json["message"]
    # Right after, the same car is welcome; a free-text car is not checked (the text may be anything).
    assert book(owner, s.bays["Lift 2"], f"{MONDAY}T11:00", 60, **refs).status_code == 201
    assert book(owner, s.bays["Lift 2"], f"{MONDAY}T10:00", 60).status_code == 201
    # Moving another booking of the car onto the first one's time is refused too...
    later = book(owner, s.bays["Diag"], f"{MONDAY}T15:00", 60, **refs).json
    moved = owner.patch(f"/api/v1/planner/bookings/{later['id']}", json={"start": f"{MONDAY}T09:45"})
    assert moved.status_code == 409 and moved.json["conflicting_booking_id"] == first.json["id"]
    # ...and once the first is cancelled the car is free again.
    assert owner.post(f"/api/v1/planner/bookings/{first.json['id']}/cancel").status_code == 200
    assert owner.patch(f"/api/v1/planner/bookings/{later['id']}", json={"start": f"{MONDAY}T09:45"}).status_code == 200
    # The steps of one sequence follow one another on several bays: no clash with themselves.
    seq = owner.post("/api/v1/planner/bookings", json={
        "start": f"{MONDAY}T16:00", "segments": [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                                 {"bay_id": s.bays["Lift 1"], "duration_minutes": 60}],
        "client_name": "Olga", **refs})
    assert seq.status_code == 201, seq.json


def test_concurrent_bookings_of_one_car_on_different_bays_one_wins(app, shop, api, book, in_tenant, race):
    from plugins.planner.models import Booking

    s = shop(tier="basic", bays=tuple((f"Lift {n}", "lift") for n in range(1, 7)))
    owner = api(s)
    c, car = _client_and_car(owner)
    clients = [api(s) for _ in range(6)]
    results = [r.status_code for r in race([
        (lambda cl=cl, n=n: book(cl, s.bays[f"Lift {n + 1}"], f"{MONDAY}T10:00", 60, client_id=c["id"],
                                 vehicle_id=car["id"])) for n, cl in enumerate(clients)])]
    assert sorted(results) == [201] + [409] * 5
    with in_tenant(s) as session:
        assert len(session.scalars(select(Booking)).all()) == 1


def test_arrivals_show_a_reason_once_when_the_planned_job_repeats_it(app, shop, api, ui, book):
    s = shop(tier="free")
    owner = api(s)
    assert book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", 60, reason="Замена масла и фильтров",
                planned_jobs=["Замена масла и фильтров", "Wheel alignment"]).status_code == 201
    page = ui(s).get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    assert page.count("Замена масла и фильтров") == 1
    assert "<li>Wheel alignment</li>" in page


def _directory(in_tenant, s):
    from plugins.crm.models import Client, Vehicle

    with in_tenant(s) as session:
        return (session.execute(select(Client.id, Client.name)).all(),
                session.execute(select(Vehicle.id, Vehicle.client_id, Vehicle.make, Vehicle.model, Vehicle.plate)).all())


def test_hook_planner_client_from_booking(app, shop, api, in_tenant):
    """The CRM finds the client by phone and the car by plate; with ``create`` it adds what is missing
    (audited, not committed); a plate of another client's car is refused."""
    from core.db import db
    from core.audit import AuditLog
    from core.tenancy import current_tenant

    s = shop(tier="basic")
    owner = api(s)
    known, known_car = _client_and_car(owner, name="Olga", phone="+7 916 222-33-44", plate="В456ОР77")
    wanted = {"name": "Иван Петров", "phone": "8 (916) 123-45-67"}
    car = {"make": "Kia", "model": "Rio", "plate": "а123 вс777", "text": "Kia Rio, а123 вс777"}
    with in_tenant(s):
        hooks = app.extensions["garage"].hooks_for(current_tenant().plugins)
        look = hooks.planner_client_from_booking(client=wanted, vehicle=car, create=False, actor=None)
        assert look == {"client_id": None, "client_name": "", "vehicle_id": None, "vehicle": ""}
        made = hooks.planner_client_from_booking(client=wanted, vehicle=car, create=True, actor=None)
        assert made["client_id"] and made["vehicle_id"] and made["vehicle"] == "Kia Rio A123BC777"
        assert {a.object_type for a in db.session.scalars(select(AuditLog).where(AuditLog.action == "create"))} \
            >= {"crm_client", "crm_vehicle"}
        db.session.commit()
        again = hooks.planner_client_from_booking(client={"name": "Ivan", "phone": "+79161234567"},
                                                  vehicle={"plate": "A123BC777"}, create=True, actor=None)
        assert (again["client_id"], again["vehicle_id"]) == (made["client_id"], made["vehicle_id"])
        clash = hooks.planner_client_from_booking(client=wanted, vehicle={"plate": "В456ОР77"}, create=True,
                                                  actor=None)
        assert clash["status"] == 409 and clash["field"] == "plate"
    clients, cars = _directory(in_tenant, s)
    assert len(clients) == 2 and len(cars) == 2
    # No directory in the plan: no answer.
    free = shop(tier="free")
    with in_tenant(free):
        hooks = app.extensions["garage"].hooks_for(current_tenant().plugins)
        assert hooks.planner_client_from_booking(client=wanted, vehicle=car, create=True, actor=None) is None


def test_a_free_text_booking_becomes_a_service_order_through_one_confirm_page(app, shop, api, ui, book, csrf,
                                                                                in_tenant):
    s = shop(tier="specialist")
    owner = api(s)
    b = book(owner, s.bays["Lift 1"], f"{MONDAY}T10:00", client_name="Иван Петров",
             client_phone="+7 916 123-45-67", vehicle="Kia Rio, А123ВС777").json
    page = ui(s)
    arrivals = page.get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    # "Open a service order" no longer dead-ends: it leads to the confirm page filled in from the booking.
    r = page.post(f"/planner/bookings/{b['id']}/convert", data={"csrf_token": csrf(arrivals)})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/planner/bookings/{b['id']}/client")
    confirm = page.get(f"/planner/bookings/{b['id']}/client").get_data(as_text=True)
    for name, value in (("client_name", "Иван Петров"), ("client_phone", "+7 916 123-45-67"), ("make", "Kia"),
                        ("model", "Rio"), ("plate", "А123ВС777")):
        assert f'name="{name}" value="{value}"' in confirm
    assert "a new client will be added" in confirm and "a new car will be added" in confirm
    # A missing name is a field error; nothing is added.
    bad = page.post(f"/planner/bookings/{b['id']}/client", data={"csrf_token": csrf(confirm), "client_name": "",
                                                                  "client_phone": "+7 916 123-45-67", "plate": ""})
    assert bad.status_code == 422 and 'id="dc-client_name-err"' in bad.get_data(as_text=True)
    assert _directory(in_tenant, s) == ([], [])
    done = page.post(f"/planner/bookings/{b['id']}/client", data={
        "csrf_token": csrf(confirm), "client_name": "Иван Петров", "client_phone": "+7 916 123-45-67",
        "make": "Kia", "model": "Rio", "plate": "А123ВС777"})
    assert done.status_code == 302 and "/workshop/service-orders/" in done.headers["Location"]
    booking = owner.get(f"/api/v1/planner/bookings/{b['id']}").json
    assert booking["status"] == "converted" and booking["client_id"] and booking["vehicle_id"]
    # The car is in the directory now: the plate search finds it.
    found = owner.get("/api/v1/crm/search?q=А123ВС777").json["results"]
    assert [item["client"]["id"] for item in found] == [booking["client_id"]]
    # A second booking of the same phone and plate is matched, never duplicated.
    b2 = book(owner, s.bays["Lift 1"], f"{MONDAY}T14:00", client_name="Иван", client_phone="89161234567",
              vehicle="киа рио А123ВС777").json
    confirm2 = page.get(f"/planner/bookings/{b2['id']}/client").get_data(as_text=True)
    assert f"(client #{booking['client_id']})" in confirm2 and f"(vehicle #{booking['vehicle_id']})" in confirm2
    r2 = page.post(f"/planner/bookings/{b2['id']}/client", data={
        "csrf_token": csrf(confirm2), "client_name": "Иван", "client_phone": "89161234567", "make": "киа",
        "model": "рио", "plate": "А123ВС777"})
    assert r2.status_code == 302
    second = owner.get(f"/api/v1/planner/bookings/{b2['id']}").json
    assert (second["client_id"], second["vehicle_id"]) == (booking["client_id"], booking["vehicle_id"])
    clients, cars = _directory(in_tenant, s)
    assert len(clients) == 1 and len(cars) == 1


def test_demo_bookings_are_linked_to_the_directory_clients_and_cars(app, tenant, in_tenant):
    from core.models import Tenant
    from plugins.crm.models import Client, Vehicle
    from plugins.planner import service
    from plugins.planner.models import Booking
    from plugins.planner.seed import demo_data

    t = tenant(tier="specialist")
    with in_tenant(t) as session:
        demo_data(session.get(Tenant, t.id))
        session.commit()
        bookings = session.scalars(select(Booking)).all()
        assert bookings and all(b.client_id and b.vehicle_id for b in bookings)
        petrov = session.scalars(select(Client).where(Client.name == "Иван Петров")).one()
        car = session.scalars(select(Vehicle).where(Vehicle.client_id == petrov.id)).one()
        assert (car.make, car.model, car.plate) == ("Kia", "Rio", "A123BC777")
        # The demo's bookings obey the car rule too: no car on two bays at once.
        for bk in bookings:
            assert service.find_vehicle_conflict(bk.vehicle_id, bk.start_at, bk.end_at, exclude_id=bk.id) is None
        clients = session.scalar(select(func.count(Client.id)))
        demo_data(session.get(Tenant, t.id))  # idempotent
        session.commit()
        assert session.scalar(select(func.count(Client.id))) == clients


def _book_in_planner_link(app, s, in_tenant, vehicle_id, client_id):
    from core.tenancy import current_tenant

    with in_tenant(s):
        hooks = app.extensions["garage"].hooks_for(current_tenant().plugins)
        answers = hooks.crm_vehicle_actions(vehicle_id=vehicle_id, client_id=client_id, reason="Oil change due")
    [link] = [a for answer in answers for a in answer if a["label"] == "Book in planner"]
    return link["url"]


def test_book_in_planner_opens_the_day_grid_with_the_car_carried_to_each_free_cell(app, shop, api, ui, in_tenant):
    import html as html_lib
    import re
    from datetime import datetime
    from zoneinfo import ZoneInfo

    s = shop(tier="basic")  # planner.quick, no planner.advanced: today's grid
    owner = api(s)
    c, car = _client_and_car(owner, plate="В456ОР77")
    url = _book_in_planner_link(app, s, in_tenant, car["id"], c["id"])
    assert url.startswith("/planner/?")
    page = ui(s)
    grid = html_lib.unescape(page.get(url + f"&date={MONDAY}").get_data(as_text=True))
    assert "Skoda Octavia B456OP77" in grid and "pick a free time" in grid
    cell = re.search(r'<td class="planner-free"[^>]*><a href="([^"]+)"', grid).group(1)
    assert f"vehicle_id={car['id']}" in cell and f"client_id={c['id']}" in cell and "start=2030-03-25T" in cell
    # The day links keep the car too.
    assert re.search(r'rel="next" href="[^"]*date=2030-03-26[^"]*vehicle_id=%d' % car["id"], grid)
    # The second click: the quick form has the time, the bay, the client and the car.
    form = html_lib.unescape(page.get(cell).get_data(as_text=True))
    assert 'value="2030-03-25T09:00"' in form and 'value="Olga Smirnova"' in form
    assert f'id="bk-vehicle_id" value="{car["id"]}"' in form and ">Oil change due</textarea>" in form
    # Without a date: today's grid (no earliest-fit suggestion below planner.advanced).
    today = page.get(url).get_data(as_text=True)
    assert "data-suggested-slot" not in today and "data-planner-carry" in today
    assert f'value="{datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()}"' in today


def test_book_in_planner_offers_the_earliest_free_hour_with_planner_advanced(app, shop, api, ui, in_tenant):
    import html as html_lib
    import re
    from zoneinfo import ZoneInfo

    from plugins.planner import service

    s = shop(tier="specialist")
    owner = api(s)
    c, car = _client_and_car(owner, plate="В456ОР77")
    url = _book_in_planner_link(app, s, in_tenant, car["id"], c["id"])
    with in_tenant(s):
        first_day, first = service.earliest_fit(60)
    # The car is booked on another bay at the first free hour: the next hour it is free is offered.
    taken = owner.post("/api/v1/planner/bookings", json={
        "bay_id": s.bays["Alignment"], "start": service.local_iso(first.start, ZoneInfo("Europe/Moscow"))[:16],
        "duration_minutes": 60, "client_name": "Olga", "client_id": c["id"], "vehicle_id": car["id"]})
    assert taken.status_code == 201, taken.json
    with in_tenant(s):
        fit_day, slot = next((d, x) for d, x in service.earliest_fits(60, limit=40) if x.start >= first.end)
        expected = service.local_iso(slot.start, service.tenant_zone())[:16]
    grid = html_lib.unescape(ui(s).get(url).get_data(as_text=True))
    assert f'value="{fit_day.isoformat()}"' in grid  # the grid opens on the day of the earliest fit
    book_it = re.search(r'data-suggested-slot href="([^"]+)"', grid).group(1)
    assert f"start={expected}" in book_it and f"bay_id={slot.bay_ids[0]}" in book_it
    assert f"vehicle_id={car['id']}" in book_it


def test_calendar_feeds_list_each_step_of_a_sequence_on_its_bay_at_its_time(app, shop, api, in_tenant):
    from datetime import date, timedelta

    from icalendar import Calendar

    from plugins.planner.models import Bay

    today = date.today()  # the feeds cover 30 days back and 90 ahead
    monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)
    s = shop(tier="specialist", bays=(("Lift 1", "lift"), ("Diag", "diagnostics")))
    owner, tech = api(s), api(s, role="technician")
    seq = owner.post("/api/v1/planner/bookings", json={
        "start": f"{monday}T10:00", "segments": [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                                 {"bay_id": s.bays["Lift 1"], "duration_minutes": 90}],
        "client_name": "Oleg", "vehicle": "Lada Vesta"})
    assert seq.status_code == 201, seq.json
    with in_tenant(s) as session:
        tokens = dict(session.execute(select(Bay.id, Bay.ics_token)).all())
    anonymous = app.test_client()

    def events(url):
        r = anonymous.get(url)
        assert r.status_code == 200
        return [(e.decoded("dtstart").strftime("%H:%M"), e.decoded("dtend").strftime("%H:%M"), str(e["uid"]))
                for e in Calendar.from_ical(r.data).walk("VEVENT")]

    def bay_feed(name):
        return events(f"/planner/ics/{s.slug}/{s.bays[name]}/{tokens[s.bays[name]]}.ics")

    diag, lift = bay_feed("Diag"), bay_feed("Lift 1")
    # Times in UTC in the feed (Moscow is UTC+3): 10:00-10:30 on diagnostics, 10:30-12:00 on the lift.
    assert [(a, b) for a, b, _u in diag] == [("07:00", "07:30")]
    assert [(a, b) for a, b, _u in lift] == [("07:30", "09:00")]
    assert diag[0][2] != lift[0][2]  # each step its own event
    # The technician of the lift that day sees the lift step only.
    r = owner.put(f"/api/v1/planner/assignments?date={monday}",
                  json={"assignments": [{"bay_id": s.bays["Lift 1"], "user_id": tech.user.id}]})
    assert r.status_code == 200, r.json
    url = tech.get("/api/v1/planner/feed").json["url"].replace("http://localhost", "")
    assert [(a, b) for a, b, _u in events(url)] == [("07:30", "09:00")]


def test_the_full_booking_form_books_bays_one_after_another(app, shop, api, ui, csrf):
    from werkzeug.datastructures import MultiDict

    s = shop(tier="specialist", bays=(("Lift 1", "lift"), ("Diag", "diagnostics")))
    owner, page = api(s), ui(s)
    html = page.get(f"/planner/bookings/new?start={MONDAY}T10:00").get_data(as_text=True)
    assert 'name="step_bay"' in html and 'value="type:diagnostics"' in html
    base = [("csrf_token", csrf(html)), ("start", f"{MONDAY}T10:00"), ("client_name", "Oleg"),
            ("bay_ids", str(s.bays["Lift 1"])), ("duration_minutes", "60")]
    # A step without its minutes is a field error next to the steps; nothing is booked.
    bad = page.post("/planner/bookings/new", data=MultiDict(base + [
        ("step_bay", "type:diagnostics"), ("step_minutes", ""), ("step_bay", ""), ("step_minutes", "")]))
    assert bad.status_code == 422 and 'id="bk-segments-err"' in bad.get_data(as_text=True)
    assert owner.get(f"/api/v1/planner/bookings?date_from={MONDAY}").json["items"] == []
    r = page.post("/planner/bookings/new", data=MultiDict(base + [
        ("step_bay", "type:diagnostics"), ("step_minutes", "30"), ("step_bay", f"bay:{s.bays['Lift 1']}"),
        ("step_minutes", "90"), ("step_bay", ""), ("step_minutes", "")]))
    assert r.status_code == 302, r.get_data(as_text=True)
    [booking] = owner.get(f"/api/v1/planner/bookings?date_from={MONDAY}").json["items"]
    assert [(x["bay_id"], x["start"][11:16], x["end"][11:16]) for x in booking["segments"]] == [
        (s.bays["Diag"], "10:00", "10:30"), (s.bays["Lift 1"], "10:30", "12:00")]
    # The booking's page shows its steps to edit; moving the start moves them all.
    form = page.get(f"/planner/bookings/{booking['id']}").get_data(as_text=True)
    assert f'value="bay:{s.bays["Diag"]}" selected' in form and 'value="90"' in form
    moved = page.post(f"/planner/bookings/{booking['id']}", data=MultiDict([
        ("csrf_token", csrf(form)), ("start", f"{MONDAY}T14:00"), ("client_name", "Oleg"),
        ("version", str(booking["version"])), ("step_bay", f"bay:{s.bays['Diag']}"), ("step_minutes", "30"),
        ("step_bay", f"bay:{s.bays['Lift 1']}"), ("step_minutes", "90")]))
    assert moved.status_code == 302, moved.get_data(as_text=True)
    again = owner.get(f"/api/v1/planner/bookings/{booking['id']}").json
    assert [x["start"][11:16] for x in again["segments"]] == ["14:00", "14:30"]
    # Below planner.advanced the form has no steps.
    basic = shop(tier="basic")
    assert 'name="step_bay"' not in ui(basic).get("/planner/bookings/new").get_data(as_text=True)
