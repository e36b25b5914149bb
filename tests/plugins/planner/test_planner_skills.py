"""A job that needs a technician skill: free slots, the earliest fit and the public page offer only the
bays whose technician of the day has it (planner.advanced; staffing.py keeps who works where)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

MONDAY = "2030-03-25"
A = "/api/v1/planner"


def _staff(s, api, day):
    owner, diag, plain = api(s), api(s, role="technician"), api(s, role="technician")
    assert owner.put(f"{A}/technicians/{diag.user.id}/skills", json={"skills": ["Diagnostics"]}).status_code == 200
    r = owner.put(f"{A}/assignments?date={day}", json={"assignments": [
        {"bay_id": s.bays["Lift 1"], "user_id": plain.user.id}, {"bay_id": s.bays["Lift 2"], "user_id": diag.user.id}]})
    assert r.status_code == 200, r.json
    return owner


def test_free_slots_and_earliest_fit_respect_the_skill(shop, api):
    s = shop(tier="specialist")
    owner = _staff(s, api, MONDAY)
    every = owner.get(f"{A}/slots?date={MONDAY}&duration=60").json["slots"]
    assert set(every[0]["bay_ids"]) == set(s.bays.values())
    skilled = owner.get(f"{A}/slots?date={MONDAY}&duration=60&skill=diagnostics").json["slots"]
    assert skilled and all(slot["bay_ids"] == [s.bays["Lift 2"]] for slot in skilled)
    assert len(skilled) == len(every)
    # Lift 2 taken in the morning: the skilled slots start later, though Lift 1 is free.
    assert owner.post(f"{A}/bookings", json={"bay_id": s.bays["Lift 2"], "start": f"{MONDAY}T09:00",
                                             "duration_minutes": 120, "client_name": "Ivan"}).status_code == 201
    skilled = owner.get(f"{A}/slots?date={MONDAY}&duration=60&skill=Diagnostics").json["slots"]
    assert skilled[0]["start"] == f"{MONDAY}T11:00+03:00"
    assert owner.get(f"{A}/slots?date={MONDAY}&duration=60").json["slots"][0]["start"] == f"{MONDAY}T09:00+03:00"
    fit = owner.get(f"{A}/earliest?duration=60&from={MONDAY}&skill=diagnostics").json["slot"]
    assert fit == {"start": f"{MONDAY}T11:00+03:00", "end": f"{MONDAY}T12:00+03:00", "bay_ids": [s.bays["Lift 2"]]}
    # Nobody has the skill (or nobody works that day): nothing to offer.
    assert owner.get(f"{A}/slots?date={MONDAY}&duration=60&skill=Painting").json["slots"] == []
    assert owner.get(f"{A}/slots?date=2030-03-26&duration=60&skill=diagnostics").json["slots"] == []
    long = owner.get(f"{A}/slots?date={MONDAY}&duration=60&skill=" + "x" * 81)
    assert long.status_code == 422 and "skill" in long.json["fields"]


def test_skills_are_planner_advanced(shop, api):
    s = shop(tier="basic")
    r = api(s).get(f"{A}/slots?date={MONDAY}&duration=60&skill=diagnostics")
    assert r.status_code == 422 and "skill" in r.json["fields"]
    assert api(s).get(f"{A}/slots?date={MONDAY}&duration=60").status_code == 200


def test_the_public_page_offers_only_bays_with_the_skill(app, shop, api, ui, csrf, in_tenant):
    from core.db import db
    from core.models import Tenant
    from plugins.planner.models import Booking

    s = shop(tier="specialist")
    today = datetime.now(timezone.utc).date()
    monday = today + timedelta(days=7 - today.weekday())  # next Monday, within the page's 14 days
    _staff(s, api, monday.isoformat())
    page = ui(s)
    html = page.get("/planner/settings").get_data(as_text=True)
    r = page.post("/planner/settings", data={"csrf_token": csrf(html), "slot_minutes": "30", "online_enabled": "on",
                                             "online_duration_minutes": "60", "online_days_ahead": "14",
                                             "online_skill": "Diagnostics"})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.get(Tenant, s.id).plugin_settings["planner"]["online_skill"] == "Diagnostics"
    visitor = app.test_client()
    visitor.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = visitor.get(f"/planner/book/{s.slug}?day={monday.isoformat()}").get_data(as_text=True)
    starts = re.findall(r'name="start" value="([^"]+)"', html)
    assert starts, "the skilled bay has free times"
    r = visitor.post(f"/planner/book/{s.slug}", data={
        "csrf_token": csrf(html), "name": "Anna", "phone": "+7 903 555-12-34", "vehicle": "VW Polo",
        "reason": "Check engine light", "start": starts[0], "day": monday.isoformat()})
    assert r.status_code == 200, r.get_data(as_text=True)
    with in_tenant(s) as session:
        [booking] = session.scalars(select(Booking)).all()
        assert booking.bay_id == s.bays["Lift 2"] and booking.source == "online"
    # The day after nobody is assigned: no free times for the skilled job.
    html = visitor.get(f"/planner/book/{s.slug}?day={(monday + timedelta(days=1)).isoformat()}").get_data(as_text=True)
    assert 'name="start"' not in html and "No free times" in html
