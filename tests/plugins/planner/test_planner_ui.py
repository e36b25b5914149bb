"""The planner's pages, and what each tier gets: a Free shop uses everything it has and gets 404 for
the planner.quick / planner.advanced parts."""
from __future__ import annotations

import re

from sqlalchemy import select

MONDAY = "2030-03-25"


def _bookings(in_tenant, s):
    from plugins.planner.models import Booking

    with in_tenant(s) as session:
        return session.scalars(select(Booking).order_by(Booking.id)).all()


def test_free_shop_uses_everything_it_has(app, shop, api, ui, book, csrf, in_tenant):
    s = shop(tier="free")
    client = api(s)
    # Bays and working time through the generic API of the registered entities.
    bays = client.get("/api/v1/planner/bays")
    assert bays.status_code == 200
    assert book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").status_code == 201
    day = client.get(f"/api/v1/planner/day?date={MONDAY}").json
    assert [b["name"] for b in day["bays"]] == ["Lift 1", "Lift 2", "Alignment"]
    assert len(day["bookings"]) == 1 and "load" not in day  # the load is planner.advanced
    assert client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=60").status_code == 200
    assert client.get(f"/api/v1/planner/arrivals?date={MONDAY}").json["items"][0]["client_name"] == "Ivan Petrov"
    # planner.advanced only:
    assert client.get("/api/v1/planner/earliest?duration=60").status_code == 404
    several = book(client, s.bays["Lift 1"], f"{MONDAY}T12:00", bay_ids=[s.bays["Lift 1"], s.bays["Lift 2"]])
    assert several.status_code == 422 and "bay_ids" in several.json["fields"]

    page = ui(s)
    day_html = page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    assert "Ivan Petrov" in day_html and "Lift 2" in day_html
    assert "/planner/quick" not in day_html  # free cells lead to the plain form
    assert f"/planner/bookings/new?bay_id={s.bays['Lift 2']}" in day_html
    # planner.quick only: the upgrade page with 404.
    assert page.get("/planner/quick").status_code == 404
    # The plain form works without JavaScript.
    form = page.get(f"/planner/bookings/new?bay_id={s.bays['Lift 2']}&start={MONDAY}T11:00")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert "data-crm-search-url" not in html  # no client directory in Free
    r = page.post("/planner/bookings/new", data={
        "csrf_token": csrf(html), "bay_id": s.bays["Lift 2"], "start": f"{MONDAY}T11:00", "duration_minutes": "90",
        "client_name": "Maria", "client_phone": "+7 903 555-12-34", "vehicle": "Hyundai Solaris",
        "reason": "Knocking", "planned_jobs": "Check suspension\nReplace links", "status": "confirmed"})
    assert r.status_code == 302
    maria = _bookings(in_tenant, s)[-1]
    assert (maria.client_name, maria.planned_jobs, maria.duration_minutes) == (
        "Maria", ["Check suspension", "Replace links"], 90)
    assert maria.advisor_id == page.user.id  # the one who booked, unless another advisor is chosen
    assert f'<option value="{page.user.id}" selected>' in html
    for url in ("/planner/bays", "/planner/week?date=" + MONDAY, "/planner/arrivals?date=" + MONDAY, "/planner/settings",
                f"/planner/bookings/{maria.id}"):
        assert page.get(url).status_code == 200, url


def test_the_form_shows_conflicts_and_hours_next_to_the_fields(app, shop, api, ui, book, csrf, in_tenant):
    s = shop(tier="free")
    first = book(api(s), s.bays["Lift 1"], f"{MONDAY}T10:00").json
    page = ui(s)
    html = page.get("/planner/bookings/new").get_data(as_text=True)
    data = {"csrf_token": csrf(html), "bay_id": s.bays["Lift 1"], "start": f"{MONDAY}T10:30",
            "duration_minutes": "60", "client_name": "Bob", "status": "confirmed"}
    r = page.post("/planner/bookings/new", data=data)
    assert r.status_code == 409 and f"#{first['id']}" in r.get_data(as_text=True)
    r = page.post("/planner/bookings/new", data={**data, "start": f"{MONDAY}T20:00"})
    assert r.status_code == 422 and "working hours" in r.get_data(as_text=True)
    assert len(_bookings(in_tenant, s)) == 1


def test_status_buttons_on_the_booking_page(app, shop, api, ui, book, csrf, in_tenant):
    s = shop(tier="free")
    b = book(api(s), s.bays["Lift 1"], f"{MONDAY}T10:00", status="requested").json
    page = ui(s)
    html = page.get(f"/planner/bookings/{b['id']}").get_data(as_text=True)
    assert f"/planner/bookings/{b['id']}/confirm" in html
    r = page.post(f"/planner/bookings/{b['id']}/confirm", data={"csrf_token": csrf(html)})
    assert r.status_code == 302
    assert _bookings(in_tenant, s)[0].status == "confirmed"


def test_basic_shop_books_in_two_clicks(app, shop, ui, csrf, in_tenant):
    s = shop(tier="basic")
    page = ui(s)
    day_html = page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    link = re.search(r'href="(/planner/quick\?[^"]+)"', day_html).group(1).replace("&amp;", "&")
    fragment = page.get(link + "&fragment=1")
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and 'name="client_name"' in html
    start = re.search(r'name="start" value="([^"]+)"', html).group(1)
    bay_id = re.search(r'<option value="(\d+)" selected', html).group(1)
    r = page.post("/planner/quick", data={"csrf_token": csrf(html), "bay_id": bay_id, "start": start,
                                          "duration_minutes": "60", "client_name": "Oleg", "vehicle": "Lada Vesta",
                                          "reason": "Oil"})
    assert r.status_code == 302
    [booking] = _bookings(in_tenant, s)
    assert (booking.client_name, booking.status, booking.bay_id) == ("Oleg", "confirmed", int(bay_id))


def test_settings_hours_days_off_and_embed_snippet(app, shop, ui, api, book, csrf, in_tenant):
    from plugins.planner.models import DayOff, WorkingHours

    s = shop(tier="free")
    page = ui(s)
    html = page.get("/planner/settings").get_data(as_text=True)
    assert f"/planner/book/{s.slug}?embed=1" in html and "&lt;iframe" in html
    assert f"/planner/ics/{s.slug}/{s.bays['Lift 1']}/" in html
    token = csrf(html)
    hours = {"csrf_token": token, **{f"opens_{d}": "08:00" for d in range(5)}, **{f"closes_{d}": "20:00" for d in range(5)}}
    assert page.post("/planner/settings/hours", data=hours).status_code == 302
    with in_tenant(s) as session:
        rows = session.scalars(select(WorkingHours).order_by(WorkingHours.weekday)).all()
        assert [(r.weekday, r.opens.hour, r.closes.hour) for r in rows] == [(d, 8, 20) for d in range(5)]
    bad = page.post("/planner/settings/hours", data={"csrf_token": token, "opens_0": "20:00", "closes_0": "08:00"})
    assert bad.status_code == 422
    assert page.post("/planner/settings/days-off", data={"csrf_token": token, "day": "2030-03-26",
                                                         "title": "Holiday"}).status_code == 302
    with in_tenant(s) as session:
        assert session.scalars(select(DayOff.title)).all() == ["Holiday"]
    client = api(s)
    assert book(client, s.bays["Lift 1"], "2030-03-26T10:00").status_code == 422
    assert book(client, s.bays["Lift 1"], f"{MONDAY}T08:00").status_code == 201  # the new hours
    r = page.post("/planner/settings", data={"csrf_token": token, "slot_minutes": "15", "online_name": "Garage",
                                             "online_duration_minutes": "60", "online_days_ahead": "14",
                                             "online_enabled": "on", "online_services": "Oil\nTyres"})
    assert r.status_code == 302
    assert page.post("/planner/settings", data={"csrf_token": token, "slot_minutes": "7"}).status_code == 422
    long_service = page.post("/planner/settings", data={"csrf_token": token, "online_services": "x" * 200})
    assert long_service.status_code == 422
    assert re.search(r'id="online_services-err">[^<]*120', long_service.get_data(as_text=True))


def test_technician_sees_but_cannot_book(app, shop, ui):
    s = shop(tier="specialist")
    page = ui(s, role="technician")
    assert page.get(f"/planner/?date={MONDAY}").status_code == 200
    assert page.get("/planner/bookings/new").status_code == 403
    assert page.get("/planner/settings").status_code == 403


def test_dragging_a_booking_moves_it_through_the_api_with_the_page_csrf(app, shop, api, ui, book, in_tenant):
    s = shop(tier="free")
    owner_api = api(s)
    a = book(owner_api, s.bays["Lift 1"], f"{MONDAY}T10:00").json
    b = book(owner_api, s.bays["Lift 2"], f"{MONDAY}T12:00").json
    page = ui(s)
    html = page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', html).group(1)
    assert f'data-booking="{a["id"]}" data-version="{a["version"]}"' in html
    url = f"/api/v1/planner/bookings/{a['id']}"
    assert page.patch(url, json={"bay_id": s.bays["Lift 2"], "start": f"{MONDAY}T14:00"}).status_code == 400  # no token
    moved = page.patch(url, json={"bay_id": s.bays["Lift 2"], "start": f"{MONDAY}T14:00", "version": a["version"]},
                       headers={"X-CSRFToken": token})
    assert moved.status_code == 200 and moved.json["start"] == f"{MONDAY}T14:00+03:00"
    onto_b = page.patch(url, json={"start": f"{MONDAY}T12:30", "version": moved.json["version"]},
                        headers={"X-CSRFToken": token})
    assert onto_b.status_code == 409 and onto_b.json["conflicting_booking_id"] == b["id"]
    stale = page.patch(url, json={"start": f"{MONDAY}T16:00", "version": a["version"]}, headers={"X-CSRFToken": token})
    assert stale.status_code == 409


def test_specialist_books_one_or_several_bays_in_the_form(app, shop, ui, csrf, in_tenant):
    s = shop(tier="specialist")
    page = ui(s)
    html = page.get("/planner/bookings/new").get_data(as_text=True)
    assert 'name="bay_ids"' in html and "multiple" in html
    base = {"csrf_token": csrf(html), "duration_minutes": "60", "client_name": "Oleg", "status": "confirmed"}
    one = page.post("/planner/bookings/new", data={**base, "bay_ids": [str(s.bays["Lift 1"])],
                                                   "start": f"{MONDAY}T10:00"})
    assert one.status_code == 302
    two = page.post("/planner/bookings/new", data={**base, "bay_ids": [str(s.bays["Lift 2"]), str(s.bays["Alignment"])],
                                                   "start": f"{MONDAY}T10:00"})
    assert two.status_code == 302
    first, second = _bookings(in_tenant, s)
    assert first.bay_ids == [s.bays["Lift 1"]]
    assert second.bay_ids == [s.bays["Lift 2"], s.bays["Alignment"]]
    # Editing down to one bay frees the other.
    edit = page.get(f"/planner/bookings/{second.id}").get_data(as_text=True)
    r = page.post(f"/planner/bookings/{second.id}", data={"csrf_token": csrf(edit), "bay_ids": [str(s.bays["Lift 2"])],
                                                          "version": str(second.version)})
    assert r.status_code == 302
    assert _bookings(in_tenant, s)[1].bay_ids == [s.bays["Lift 2"]]
