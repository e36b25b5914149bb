"""Technicians on bays per day, their calendar feeds and the earliest fit that needs a skill."""
from __future__ import annotations

import re
from datetime import date, timedelta

from icalendar import Calendar
from sqlalchemy import select

MONDAY = "2030-03-25"

TUESDAY = "2030-03-26"
A = "/api/v1/planner"


def _assign(client, day, pairs):
    return client.put(f"{A}/assignments?date={day}",
                      json={"assignments": [{"bay_id": b, "user_id": u} for b, u in pairs]})


def test_assignments_round_trip_are_per_day_and_shown_on_the_day(shop, api, ui):
    s = shop()
    owner, tech = api(s), api(s, role="technician")
    r = _assign(owner, MONDAY, [(s.bays["Lift 1"], tech.user.id), (s.bays["Lift 2"], owner.user.id)])
    assert r.status_code == 200, r.json
    got = owner.get(f"{A}/assignments?date={MONDAY}").json
    assert {(i["bay_id"], i["user_id"]) for i in got["items"]} == {(s.bays["Lift 1"], tech.user.id),
                                                                   (s.bays["Lift 2"], owner.user.id)}
    assert owner.get(f"{A}/assignments?date={TUESDAY}").json["items"] == []
    # Replacing the day drops the bays left out.
    assert _assign(owner, MONDAY, [(s.bays["Lift 1"], owner.user.id)]).status_code == 200
    items = tech.get(f"{A}/assignments?date={MONDAY}").json["items"]
    assert [(i["bay_id"], i["user_id"]) for i in items] == [(s.bays["Lift 1"], owner.user.id)]
    assert owner.get(f"{A}/day?date={MONDAY}").json["assignments"][0]["user_id"] == owner.user.id
    # The technician may read but not plan.
    assert _assign(tech, MONDAY, []).status_code == 403
    page = ui(s).get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    assert 'class="planner-tech"' in page


def test_day_page_form_assigns_technicians(shop, ui, api, csrf):
    s = shop()
    page, tech = ui(s), api(s, role="technician")
    html = page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    r = page.post(f"/planner/assignments?date={MONDAY}",
                  data={"csrf_token": csrf(html), f"bay-{s.bays['Lift 2']}": str(tech.user.id)})
    assert r.status_code == 302
    items = tech.get(f"{A}/assignments?date={MONDAY}").json["items"]
    assert [(i["bay_id"], i["user_id"]) for i in items] == [(s.bays["Lift 2"], tech.user.id)]
    html = page.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    assert f'<option value="{tech.user.id}" selected>' in html
    # A technician sees who works where but gets no form.
    tech_page = ui(s, role="technician").get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    assert 'class="planner-tech"' in tech_page and "/planner/assignments" not in tech_page


def test_assignments_refuse_bad_input_and_other_shops(shop, api):
    s, other = shop(), shop()
    owner, stranger = api(s), api(other)
    r = _assign(owner, MONDAY, [(s.bays["Lift 1"], stranger.user.id)])
    assert r.status_code == 422 and "user_id" in r.json["fields"]
    r = _assign(owner, MONDAY, [(other.bays["Lift 1"], owner.user.id)])
    assert r.status_code == 422 and "bay_id" in r.json["fields"]
    r = _assign(owner, MONDAY, [(s.bays["Lift 1"], owner.user.id), (s.bays["Lift 1"], owner.user.id)])
    assert r.status_code == 422
    assert _assign(owner, MONDAY, [(s.bays["Lift 1"], owner.user.id)]).status_code == 200
    assert stranger.get(f"{A}/assignments?date={MONDAY}").json["items"] == []
    assert owner.get(f"{A}/assignments").status_code == 422  # a date is required


def test_technician_feed_has_only_the_bookings_of_their_bays_and_needs_its_secret(app, shop, api, book):
    # The feed covers 30 days back and 90 ahead of today: a Monday one to two weeks from now.
    today = date.today()
    monday = today + timedelta(days=7 + (7 - today.weekday()) % 7)
    tuesday = monday + timedelta(days=1)
    s = shop()
    owner, tech = api(s), api(s, role="technician")
    book(owner, s.bays["Lift 1"], f"{monday}T10:00", client_name="On my bay")
    book(owner, s.bays["Lift 2"], f"{monday}T10:00", client_name="Other bay")
    book(owner, s.bays["Lift 1"], f"{tuesday}T10:00", client_name="Not my day")
    assert _assign(owner, monday, [(s.bays["Lift 1"], tech.user.id), (s.bays["Lift 2"], owner.user.id)]
                   ).status_code == 200
    feed = tech.get(f"{A}/feed")
    assert feed.status_code == 200
    url = feed.json["url"].replace("http://localhost", "")
    anonymous = app.test_client()
    r = anonymous.get(url)
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    summaries = [str(e["summary"]).split(" · ")[0] for e in Calendar.from_ical(r.data).walk("VEVENT")]
    assert summaries == ["On my bay"]
    assert anonymous.get(url.replace(url.rsplit("/", 1)[1], "wrong.ics")).status_code == 404
    # Only staffing managers read someone else's feed; rotating revokes the old URL.
    assert tech.get(f"{A}/feed?user_id={owner.user.id}").status_code == 403
    assert owner.get(f"{A}/feed?user_id={tech.user.id}").json["url"] == feed.json["url"]
    assert tech.post(f"{A}/feed/rotate").status_code == 200
    assert anonymous.get(url).status_code == 404


def test_earliest_fit_only_uses_bays_with_a_skilled_technician(shop, api, book):
    s = shop(tier="specialist")
    owner, tech, helper = api(s), api(s, role="technician"), api(s, role="technician")
    r = owner.put(f"{A}/technicians/{tech.user.id}/skills", json={"skills": ["Diagnostics", "A-level"]})
    assert r.status_code == 200 and r.json["source"] == "planner"
    assert owner.get(f"{A}/technicians/{tech.user.id}/skills").json["skills"] == ["A-level", "Diagnostics"]
    assert owner.put(f"{A}/technicians/{tech.user.id}/skills", json={"skills": [""]}).status_code == 422
    # Monday: the skilled technician works Lift 2 (Lift 1 has an unskilled one); Tuesday: nobody skilled.
    assert _assign(owner, MONDAY, [(s.bays["Lift 1"], helper.user.id), (s.bays["Lift 2"], tech.user.id)]
                   ).status_code == 200
    book(owner, s.bays["Lift 2"], f"{MONDAY}T09:00", minutes=120)
    r = owner.get(f"{A}/earliest?duration=60&bay_type=lift&skill=a-level&from={MONDAY}")
    assert r.status_code == 200
    assert r.json["slot"]["bay_ids"] == [s.bays["Lift 2"]] and r.json["slot"]["start"].startswith(f"{MONDAY}T11:")
    # Without the skill Lift 1 is free at opening.
    assert owner.get(f"{A}/earliest?duration=60&bay_type=lift&from={MONDAY}").json["slot"]["start"] \
        .startswith(f"{MONDAY}T09:00")
    # A skill nobody on an assigned bay has: no slot at all.
    assert owner.get(f"{A}/earliest?duration=60&skill=welding&from={MONDAY}&days=5").json["slot"] is None
    r = owner.get(f"{A}/earliest?duration=60&skill=a-level&from={TUESDAY}&days=5")
    assert r.json["slot"] is None


def test_skills_come_from_the_workshop_employees_when_the_shop_has_them(app, shop, api, in_tenant):
    s = shop(tier="master")
    owner, tech = api(s), api(s, role="technician")
    with in_tenant(s) as session:
        employee_model = app.extensions["garage"].entities[("workshop", "employees")].model
        session.add(employee_model(user_id=tech.user.id, name="Petr", skills=["Gearbox"]))
        session.commit()
    r = owner.get(f"{A}/technicians/{tech.user.id}/skills")
    assert r.json == {"user_id": tech.user.id, "skills": ["gearbox"], "source": "workshop"}
    assert owner.put(f"{A}/technicians/{tech.user.id}/skills", json={"skills": ["X"]}).status_code == 409
    assert _assign(owner, MONDAY, [(s.bays["Lift 1"], tech.user.id)]).status_code == 200
    slot = owner.get(f"{A}/earliest?duration=60&skill=GEARBOX&from={MONDAY}").json["slot"]
    assert slot["bay_ids"] == [s.bays["Lift 1"]] and slot["start"].startswith(f"{MONDAY}T09:00")


def test_free_tier_has_no_earliest_fit_nor_skills(shop, api):
    s = shop(tier="free")
    owner = api(s)
    assert owner.get(f"{A}/earliest?duration=60&skill=a-level").status_code == 404
    assert owner.get(f"{A}/technicians/{owner.user.id}/skills").status_code == 404
    assert _assign(owner, MONDAY, [(s.bays["Lift 1"], owner.user.id)]).status_code == 200  # basic feature


def test_my_calendar_page_shows_the_feed_link_and_makes_a_new_one(app, shop, ui, csrf):
    s = shop()
    page = ui(s, role="technician")
    html = page.get("/planner/my-calendar").get_data(as_text=True)
    link = re.search(r'value="(http://localhost(/planner/ics/[^"]+))"', html).group(2)
    assert f"/planner/ics/{s.slug}/tech/{page.user.id}/" in link
    assert app.test_client().get(link).status_code == 200
    assert page.post("/planner/my-calendar/rotate", data={"csrf_token": csrf(html)}).status_code == 302
    assert app.test_client().get(link).status_code == 404
    assert link not in page.get("/planner/my-calendar").get_data(as_text=True)
