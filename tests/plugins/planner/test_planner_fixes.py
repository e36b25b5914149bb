"""Fixes of the planner's pages and rules: split shifts kept by the hours form, settings the page does
not show kept, multi-bay bookings editable after a downgrade, a car of another client refused, a CRM
client removable in the form, the booking source in the form, translated bay types and weekdays."""
from __future__ import annotations

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

MONDAY = "2030-03-25"


def _bookings(in_tenant, s):
    from plugins.planner.models import Booking

    with in_tenant(s) as session:
        rows = session.scalars(select(Booking).order_by(Booking.id)).all()
        session.expunge_all()
        return rows


def test_saving_hours_keeps_and_edits_split_shifts(app, shop, ui, csrf, in_tenant):
    from datetime import time

    from plugins.planner.models import WorkingHours

    s = shop(tier="free")
    with in_tenant(s) as session:  # Monday: 09-13 and 14-18 (a split shift)
        for row in session.scalars(select(WorkingHours).where(WorkingHours.weekday == 0)):
            session.delete(row)
        session.add_all([WorkingHours(weekday=0, opens=time(9), closes=time(13)),
                         WorkingHours(weekday=0, opens=time(14), closes=time(18))])
        session.commit()
    page = ui(s)
    html = page.get("/planner/settings").get_data(as_text=True)
    assert 'name="opens_0" aria-label="Monday: opens" value="14:00"' in html  # the second span shows
    # Post the page back as it is, plus an evening span on Tuesday and the first Monday span removed.
    form = [("csrf_token", csrf(html)), ("opens_0", ""), ("closes_0", ""), ("opens_0", "14:00"), ("closes_0", "18:00"),
            ("opens_1", "09:00"), ("closes_1", "12:00"), ("opens_1", "15:00"), ("closes_1", "20:00")]
    r = page.post("/planner/settings/hours", data=MultiDict(form))
    assert r.status_code == 302
    with in_tenant(s) as session:
        rows = session.execute(select(WorkingHours.weekday, WorkingHours.opens, WorkingHours.closes)
                               .where(WorkingHours.bay_id.is_(None)).order_by(WorkingHours.weekday,
                                                                             WorkingHours.opens)).all()
    assert [(wd, o.hour, c.hour) for wd, o, c in rows] == [(0, 14, 18), (1, 9, 12), (1, 15, 20)]
    # Overlapping spans of one day are refused next to the day, nothing is changed.
    bad = page.post("/planner/settings/hours", data=MultiDict([("csrf_token", csrf(html)), ("opens_2", "09:00"),
                     ("closes_2", "13:00"), ("opens_2", "12:00"), ("closes_2", "18:00")]))
    assert bad.status_code == 422 and 'id="hours_2-err"' in bad.get_data(as_text=True)
    with in_tenant(s) as session:
        assert session.scalar(select(WorkingHours.id).where(WorkingHours.weekday == 2)) is None


def test_settings_page_without_online_booking_keeps_the_online_settings(app, shop, ui, csrf, in_tenant):
    from core.models import Tenant, TenantFeature
    from plugins.planner.settings import load_settings

    s = shop(tier="free")
    with in_tenant(s) as session:
        tenant = session.get(Tenant, s.id)
        tenant.plugin_settings = {"planner": {"online_enabled": True, "online_services": ["Oil", "Tyres"]}}
        session.add(TenantFeature(tenant_id=s.id, feature="planner.online_booking", granted=False))
        session.commit()
    page = ui(s)
    html = page.get("/planner/settings").get_data(as_text=True)
    assert 'name="online_services"' not in html
    r = page.post("/planner/settings", data={"csrf_token": csrf(html), "slot_minutes": "15"})
    assert r.status_code == 302
    with in_tenant(s) as session:
        stored = load_settings(session.get(Tenant, s.id))
    assert (stored["slot_minutes"], stored["online_enabled"], stored["online_services"]) == (15, True, ["Oil", "Tyres"])


def test_a_multi_bay_booking_stays_editable_after_a_downgrade(app, shop, api, book):
    from core.db import db
    from core.models import TenantFeature

    s = shop(tier="specialist")
    client = api(s)
    both = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", 120, bay_ids=[s.bays["Lift 1"], s.bays["Alignment"]])
    assert both.status_code == 201, both.json
    with app.app_context():  # the shop loses planner.advanced
        db.session.add(TenantFeature(tenant_id=s.id, feature="planner.advanced", granted=False))
        db.session.commit()
    url = f"/api/v1/planner/bookings/{both.json['id']}"
    changed = client.patch(url, json={"reason": "Alignment after the tyre change", "start": f"{MONDAY}T11:00"})
    assert changed.status_code == 200, changed.json
    assert changed.json["bay_ids"] == [s.bays["Lift 1"], s.bays["Alignment"]]
    # A different set of bays still needs the feature.
    other = client.patch(url, json={"bay_ids": [s.bays["Lift 2"], s.bays["Alignment"]]})
    assert other.status_code == 422 and "bay_ids" in other.json["fields"]


def test_a_car_of_another_client_is_refused(app, shop, api, book):
    s = shop(tier="basic")
    client = api(s)
    ivan = client.post("/api/v1/crm/clients", json={"name": "Ivan Petrov"}).json
    olga = client.post("/api/v1/crm/clients", json={"name": "Olga Smirnova"}).json
    olgas_car = client.post("/api/v1/crm/vehicles", json={"client_id": olga["id"], "make": "VW", "plate": "B777OP77"}).json
    refused = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=ivan["id"], vehicle_id=olgas_car["id"])
    assert refused.status_code == 422
    assert refused.json["fields"]["vehicle_id"] == ["This car belongs to another client."]
    ok = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=olga["id"], vehicle_id=olgas_car["id"])
    assert ok.status_code == 201
    # Changing only the client of a booking checks the car it already has.
    switched = client.patch(f"/api/v1/planner/bookings/{ok.json['id']}", json={"client_id": ivan["id"]})
    assert switched.status_code == 422 and "vehicle_id" in switched.json["fields"]


def test_the_edit_form_unlinks_a_directory_client(app, shop, api, ui, book, csrf, in_tenant):
    s = shop(tier="basic")
    client = api(s)
    ivan = client.post("/api/v1/crm/clients", json={"name": "Ivan Petrov", "phones": ["+7 916 123-45-67"]}).json
    car = client.post("/api/v1/crm/vehicles", json={"client_id": ivan["id"], "make": "Kia", "plate": "A123BC777"}).json
    booked = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=ivan["id"], vehicle_id=car["id"]).json
    page = ui(s)
    html = page.get(f"/planner/bookings/{booked['id']}").get_data(as_text=True)
    assert "data-crm-unlink" in html
    r = page.post(f"/planner/bookings/{booked['id']}", data={
        "csrf_token": csrf(html), "client_id": "", "vehicle_id": "", "bay_id": str(s.bays["Lift 1"]),
        "start": f"{MONDAY}T10:00", "duration_minutes": "60", "client_name": "Walk-in friend",
        "client_phone": "", "vehicle": "Kia", "reason": "", "version": str(booked["version"])})
    assert r.status_code == 302, r.get_data(as_text=True)
    [booking] = _bookings(in_tenant, s)
    assert (booking.client_id, booking.vehicle_id, booking.client_name) == (None, None, "Walk-in friend")


def test_the_booking_source_is_chosen_in_the_form_and_shown(app, shop, ui, csrf, in_tenant):
    s = shop(tier="basic")
    page = ui(s)
    html = page.get(f"/planner/bookings/new?bay_id={s.bays['Lift 1']}&start={MONDAY}T10:00").get_data(as_text=True)
    assert '<option value="walk_in">Walk-in</option>' in html
    form = {"csrf_token": csrf(html), "bay_ids": str(s.bays["Lift 1"]), "start": f"{MONDAY}T10:00",
            "duration_minutes": "60", "client_name": "Oleg", "status": "confirmed", "advisor_id": str(page.user.id)}
    assert page.post("/planner/bookings/new", data={**form, "source": "walk_in"}).status_code == 302
    [booking] = _bookings(in_tenant, s)
    assert booking.source == "walk_in"
    shown = page.get(f"/planner/bookings/{booking.id}").get_data(as_text=True)
    assert "Source: Walk-in" in shown and '<option value="walk_in" selected>' in shown
    bad = page.post("/planner/bookings/new", data={**form, "start": f"{MONDAY}T12:00", "source": "pigeon"})
    assert bad.status_code == 422 and 'id="bk-source-err"' in bad.get_data(as_text=True)


def test_bay_types_and_weekdays_show_as_words(app, shop, ui, csrf):
    s = shop(tier="free")
    page = ui(s)
    bay_form = page.get("/planner/bays/new").get_data(as_text=True)
    assert '<option value="alignment">Alignment</option>' in bay_form
    hours_form = page.get("/planner/working-hours/new").get_data(as_text=True)
    assert '<option value="0">Monday</option>' in hours_form and '<option value="6">Sunday</option>' in hours_form
    r = page.post("/planner/working-hours/new", data={"csrf_token": csrf(hours_form), "weekday": "5",
                                                      "opens": "10:00", "closes": "12:00", "bay_id": ""})
    assert r.status_code in (302, 303), r.get_data(as_text=True)
    bad = page.post("/planner/working-hours/new", data={"csrf_token": csrf(hours_form), "weekday": "7",
                                                        "opens": "10:00", "closes": "12:00", "bay_id": ""})
    assert bad.status_code == 422


def test_a_specialist_shop_edits_technicians_skills_on_a_page(app, shop, api, ui, csrf):
    s = shop(tier="specialist")  # planner.advanced without the workshop's employee cards
    owner = ui(s)
    tech = api(s, role="technician")
    html = owner.get("/planner/skills").get_data(as_text=True)
    assert f'name="skills-{tech.user.id}"' in html
    r = owner.post("/planner/skills", data={"csrf_token": csrf(html), f"skills-{tech.user.id}": "Diagnostics, A-level ,"})
    assert r.status_code == 302
    assert api(s).get(f"/api/v1/planner/technicians/{tech.user.id}/skills").json["skills"] == ["A-level", "Diagnostics"]
    assert 'value="A-level, Diagnostics"' in owner.get("/planner/skills").get_data(as_text=True)
    bad = owner.post("/planner/skills", data={"csrf_token": csrf(html), f"skills-{tech.user.id}": "x" * 81})
    assert bad.status_code == 422 and f'id="skills-{tech.user.id}-err"' in bad.get_data(as_text=True)
    assert api(s).get(f"/api/v1/planner/technicians/{tech.user.id}/skills").json["skills"] == ["A-level", "Diagnostics"]
    assert ui(s, role="technician").get("/planner/skills").status_code == 403
    basic = shop(tier="basic")
    assert "/planner/skills" not in ui(basic).get("/planner/").get_data(as_text=True)
    assert ui(basic).get("/planner/skills").status_code != 200


def test_bay_feed_reads_only_its_own_bays_bookings(app, shop, api, book, in_tenant, monkeypatch):
    from datetime import datetime, timezone

    from sqlalchemy import event

    import plugins.planner.public as public
    from plugins.planner.models import Bay, Booking

    class FrozenDatetime(datetime):  # the feed covers 30 days back and 90 ahead of "now"
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 3, 20, tzinfo=timezone.utc)

    monkeypatch.setattr(public, "datetime", FrozenDatetime)
    s = shop(tier="specialist")
    client = api(s)
    for hour in (9, 11, 13, 15):
        assert book(client, s.bays["Lift 2"], f"{MONDAY}T{hour:02}:00").status_code == 201
    mine = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").json
    shared = book(client, s.bays["Alignment"], f"{MONDAY}T12:00", bay_ids=[s.bays["Alignment"], s.bays["Lift 1"]]).json
    with in_tenant(s) as session:
        token = session.scalars(select(Bay.ics_token).where(Bay.id == s.bays["Lift 1"])).one()
    loaded = []
    listener = lambda target, context: loaded.append(target.id)  # noqa: E731
    event.listen(Booking, "load", listener)
    try:
        anonymous = app.test_client()
        r = anonymous.get(f"/planner/ics/{s.slug}/{s.bays['Lift 1']}/{token}.ics")
    finally:
        event.remove(Booking, "load", listener)
    assert r.status_code == 200
    assert r.get_data(as_text=True).count("BEGIN:VEVENT") == 2
    assert sorted(set(loaded)) == sorted([mine["id"], shared["id"]])  # not Lift 2's four bookings


def test_the_week_shows_bookings_on_a_bay_out_of_service_like_the_day(app, shop, api, ui, book):
    s = shop(tier="basic")
    client = api(s)
    booked = book(client, s.bays["Alignment"], f"{MONDAY}T10:00", client_name="Retired bay client").json
    assert client.patch(f"/api/v1/planner/bays/{s.bays['Alignment']}", json={"active": False}).status_code == 200
    page = ui(s)
    day = page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    week = page.get(f"/planner/week?date={MONDAY}").get_data(as_text=True)
    assert "Retired bay client" in day and "Retired bay client" in week
    assert f"/planner/bookings/{booked['id']}" in week


def test_merging_crm_clients_moves_their_bookings(app, shop, api, book, in_tenant):
    s = shop(tier="master")  # crm.basic: merging clients
    client = api(s)
    kept = client.post("/api/v1/crm/clients", json={"name": "Ivan Petrov", "phones": ["+7 916 123-45-67"]}).json
    twin = client.post("/api/v1/crm/clients", json={"name": "Ivan P.", "phones": ["+7 916 765-43-21"]}).json
    other = client.post("/api/v1/crm/clients", json={"name": "Olga", "phones": ["+7 916 000-00-01"]}).json
    first = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=twin["id"]).json
    book(client, s.bays["Lift 2"], f"{MONDAY}T10:00", client_id=twin["id"])
    book(client, s.bays["Alignment"], f"{MONDAY}T10:00", client_id=other["id"])
    r = client.post(f"/api/v1/crm/clients/{kept['id']}/merge", json={"source_id": twin["id"]})
    assert r.status_code == 200, r.json
    assert r.json["moved"]["planner_booking.client_id"] == 2
    assert [b.client_id for b in _bookings(in_tenant, s)] == [kept["id"], kept["id"], other["id"]]
    # A form opened before the merge is stale now, not saved over the merge.
    stale = client.patch(f"/api/v1/planner/bookings/{first['id']}", json={"reason": "x", "version": first["version"]})
    assert stale.status_code == 409


def test_save_and_open_a_service_order_defaults_the_source_to_walk_in(app, shop, ui, csrf, in_tenant):
    s = shop(tier="basic")
    page = ui(s)
    html = page.get(f"/planner/bookings/new?bay_id={s.bays['Lift 1']}&start={MONDAY}T10:00").get_data(as_text=True)
    form = {"csrf_token": csrf(html), "bay_id": str(s.bays["Lift 1"]), "start": f"{MONDAY}T10:00",
            "duration_minutes": "60", "client_name": "Oleg", "status": "arrived", "then": "convert"}
    assert page.post("/planner/bookings/new", data=form).status_code == 302
    [booking] = _bookings(in_tenant, s)
    assert booking.source == "walk_in"


def test_technician_feed_reads_only_the_bookings_of_their_bays_and_days(app, shop, api, book):
    from datetime import date, timedelta

    from sqlalchemy import event

    from plugins.planner.models import Booking

    today = date.today()  # the feed covers 30 days back and 90 ahead of today
    monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)
    tuesday, wednesday = monday + timedelta(days=1), monday + timedelta(days=2)
    s = shop()
    owner, tech = api(s), api(s, role="technician")
    mine = [book(owner, s.bays["Lift 1"], f"{day}T10:00").json["id"] for day in (monday, tuesday)]
    for day in (monday, tuesday, wednesday):  # another bay, and their bay on a day they are not on it
        book(owner, s.bays["Lift 2"], f"{day}T10:00")
    book(owner, s.bays["Lift 1"], f"{wednesday}T12:00")
    for day in (monday, tuesday):
        assert owner.put(f"/api/v1/planner/assignments?date={day}", json={"assignments": [
            {"bay_id": s.bays["Lift 1"], "user_id": tech.user.id}]}).status_code == 200
    url = tech.get("/api/v1/planner/feed").json["url"].replace("http://localhost", "")
    loaded = []
    listener = lambda target, context: loaded.append(target.id)  # noqa: E731
    event.listen(Booking, "load", listener)
    try:
        r = app.test_client().get(url)
    finally:
        event.remove(Booking, "load", listener)
    assert r.status_code == 200 and r.get_data(as_text=True).count("BEGIN:VEVENT") == 2
    assert sorted(set(loaded)) == sorted(mine)
