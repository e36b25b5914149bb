"""Time zones and DST, free slots, buffers and the earliest fit."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

MONDAY = "2030-03-25"
BERLIN_DST_SUNDAY = "2030-03-31"  # 02:00 CET -> 03:00 CEST


def _utc_start(in_tenant, s, booking_id):
    from plugins.planner.models import Booking

    with in_tenant(s) as session:
        return session.scalars(select(Booking.start_at).where(Booking.id == booking_id)).one()


def test_local_times_in_and_out_across_a_dst_change(app, shop, api, book, in_tenant):
    s = shop(tz="Europe/Berlin")
    client = api(s)
    friday = book(client, s.bays["Lift 1"], "2030-03-29T10:00").json
    monday = book(client, s.bays["Lift 1"], "2030-04-01T10:00").json
    assert friday["start"] == "2030-03-29T10:00+01:00"
    assert monday["start"] == "2030-04-01T10:00+02:00"
    assert _utc_start(in_tenant, s, friday["id"]) == datetime(2030, 3, 29, 9, 0, tzinfo=timezone.utc)
    assert _utc_start(in_tenant, s, monday["id"]) == datetime(2030, 4, 1, 8, 0, tzinfo=timezone.utc)
    # An explicit offset is honoured: 08:00Z is 10:00 in Berlin in summer.
    other = book(client, s.bays["Lift 2"], "2030-04-01T08:00:00+00:00").json
    assert other["start"] == "2030-04-01T10:00+02:00"


def test_the_night_of_the_clock_change(app, shop, api, book, set_hours):
    s = shop(tier="specialist", tz="Europe/Berlin", bays=(("Lift 1", "lift"),))
    set_hours(s, {6: ("01:00", "05:00")})  # a Sunday night shift
    client = api(s)
    skipped = book(client, s.bays["Lift 1"], f"{BERLIN_DST_SUNDAY}T02:30")
    assert skipped.status_code == 422
    assert "does not exist" in skipped.json["fields"]["start"][0]
    # 01:30 CET + 60 real minutes = 03:30 CEST.
    b = book(client, s.bays["Lift 1"], f"{BERLIN_DST_SUNDAY}T01:30", 60).json
    assert (b["start"], b["end"]) == (f"{BERLIN_DST_SUNDAY}T01:30+01:00", f"{BERLIN_DST_SUNDAY}T03:30+02:00")
    day = client.get(f"/api/v1/planner/day?date={BERLIN_DST_SUNDAY}").json
    assert [x["id"] for x in day["bookings"]] == [b["id"]]
    # Local 01:00-05:00 that night is three real hours.
    assert day["load"] == [{"bay_id": s.bays["Lift 1"], "capacity_hours": 3.0, "buffer_percent": 0, "buffer_hours": 0.0,
                            "bookable_hours": 3.0, "booked_hours": 1.0, "free_hours": 2.0, "into_buffer_hours": 0.0,
                            "percent": 33}]
    client.post(f"/api/v1/planner/bookings/{b['id']}/cancel")
    slots = client.get(f"/api/v1/planner/slots?date={BERLIN_DST_SUNDAY}&duration=60").json["slots"]
    assert [x["start"] for x in slots] == [
        f"{BERLIN_DST_SUNDAY}T01:00+01:00", f"{BERLIN_DST_SUNDAY}T01:30+01:00", f"{BERLIN_DST_SUNDAY}T03:00+02:00",
        f"{BERLIN_DST_SUNDAY}T03:30+02:00", f"{BERLIN_DST_SUNDAY}T04:00+02:00"]


def test_free_slots_respect_hours_breaks_and_bookings(app, shop, api, book, set_hours):
    s = shop()
    set_hours(s, {0: ("09:00", "13:00")}, breaks=[("11:00", "11:30")])
    client = api(s)
    book(client, s.bays["Alignment"], f"{MONDAY}T09:30", 60)
    r = client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=60&bay_type=alignment")
    assert r.status_code == 200
    # 09:00-11:00 open but booked 09:30-10:30; lunch 11:00-11:30; 11:30-13:00 open.
    assert [x["start"][11:16] for x in r.json["slots"]] == ["11:30", "12:00"]
    lifts = client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=60&bay_type=lift").json["slots"]
    assert lifts[0] == {"start": f"{MONDAY}T09:00+03:00", "end": f"{MONDAY}T10:00+03:00",
                        "bay_ids": [s.bays["Lift 1"], s.bays["Lift 2"]]}
    assert client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=60&bay_type=boat").status_code == 422
    assert client.get(f"/api/v1/planner/slots?date={MONDAY}").status_code == 422
    assert client.get("/api/v1/planner/slots?date=2030-03-24&duration=60").json["slots"] == []  # Sunday


def _settings(app, s, **values):
    from core.db import db
    from core.models import Tenant

    with app.app_context():
        row = db.session.get(Tenant, s.id)
        row.plugin_settings = {**(row.plugin_settings or {}), "planner": values}
        db.session.commit()


def test_the_buffer_keeps_a_share_of_the_day_free_with_advanced_only(app, shop, api, book, set_hours):
    """Mon 9-13 is 4 hours; 25% kept free leaves 3 bookable hours. An empty day keeps the hour free too."""
    for tier in ("free", "specialist"):
        s = shop(tier=tier, bays=(("Alignment", "alignment"),))
        set_hours(s, {0: ("09:00", "13:00")})
        _settings(app, s, buffer_percent=25)
        client = api(s)
        url = f"/api/v1/planner/slots?date={MONDAY}&duration=60&bay_type=alignment"
        assert len(client.get(url).json["slots"]) == 7  # 09:00..12:00 every 30 min, the buffer or not
        four_hours = client.get(url.replace("duration=60", "duration=240")).json["slots"]
        assert len(four_hours) == (1 if tier == "free" else 0), tier  # the whole day would eat the buffer
        if tier == "free":
            assert "load" not in client.get(f"/api/v1/planner/day?date={MONDAY}").json
            continue
        assert book(client, s.bays["Alignment"], f"{MONDAY}T09:00", 120).status_code == 201
        # One bookable hour left: a 60-minute job still fits, a 90-minute one would eat the buffer.
        assert [x["start"][11:16] for x in client.get(url).json["slots"]] == ["11:00", "11:30", "12:00"]
        assert client.get(url.replace("duration=60", "duration=90")).json["slots"] == []
        # Staff may still book over the buffer by hand; the load shows it.
        assert book(client, s.bays["Alignment"], f"{MONDAY}T11:00", 120).status_code == 201
        load = client.get(f"/api/v1/planner/day?date={MONDAY}").json
        assert load["load"][0] == {"bay_id": s.bays["Alignment"], "capacity_hours": 4.0, "buffer_percent": 25,
                                   "buffer_hours": 1.0, "bookable_hours": 3.0, "booked_hours": 4.0,
                                   "free_hours": 0.0, "into_buffer_hours": 1.0, "percent": 100}
        assert load["load_total"]["into_buffer_hours"] == 1.0


def test_a_bay_can_keep_its_own_buffer_share(app, shop, api, set_hours, in_tenant):
    from plugins.planner.models import Bay

    s = shop(tier="specialist", bays=(("Lift 1", "lift"), ("Lift 2", "lift")))
    set_hours(s, {0: ("09:00", "13:00")})
    _settings(app, s, buffer_percent=50)
    with in_tenant(s) as session:
        session.get(Bay, s.bays["Lift 2"]).buffer_percent = 0  # the walk-in lift is Lift 1
        session.commit()
    client = api(s)
    slots = client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=180").json["slots"]
    assert [(x["start"][11:16], x["bay_ids"]) for x in slots] == [("09:00", [s.bays["Lift 2"]]),
                                                                   ("09:30", [s.bays["Lift 2"]]),
                                                                   ("10:00", [s.bays["Lift 2"]])]
    day = client.get(f"/api/v1/planner/day?date={MONDAY}").json
    assert [(x["buffer_hours"], x["bookable_hours"]) for x in day["load"]] == [(2.0, 2.0), (0.0, 4.0)]
    total = day["load_total"]
    assert (total["capacity_hours"], total["buffer_hours"], total["bookable_hours"], total["buffer_percent"],
            total["booked_hours"]) == (8.0, 2.0, 6.0, 25, 0.0)


def test_earliest_fits_across_days_leave_the_buffer_free(app, shop, api, book):
    s = shop(tier="specialist")
    _settings(app, s, buffer_percent=10)  # Mon-Fri 9-19: one hour of ten kept free
    client = api(s)
    book(client, s.bays["Alignment"], f"{MONDAY}T09:00", 600)  # all Monday
    book(client, s.bays["Alignment"], "2030-03-26T09:00", 360)  # Tuesday 9-15: 3 bookable hours left
    r = client.get(f"/api/v1/planner/earliest?duration=120&bay_type=alignment&from={MONDAY}")
    assert r.status_code == 200
    assert r.json["slots"][0] == {"date": "2030-03-26", "start": "2030-03-26T15:00+03:00",
                              "end": "2030-03-26T17:00+03:00", "bay_ids": [s.bays["Alignment"]]}
    assert r.json["slot"] == {k: v for k, v in r.json["slots"][0].items() if k != "date"}
    assert [x["start"] for x in r.json["slots"]] == ["2030-03-26T15:00+03:00", "2030-03-26T15:30+03:00",
                                                     "2030-03-26T16:00+03:00", "2030-03-26T16:30+03:00",
                                                     "2030-03-26T17:00+03:00"]
    # A 4-hour job would eat into Tuesday's buffer: Wednesday.
    four = client.get(f"/api/v1/planner/earliest?duration=240&bay_type=alignment&from={MONDAY}&limit=1").json
    assert [x["start"] for x in four["slots"]] == ["2030-03-27T09:00+03:00"]
    none = client.get(f"/api/v1/planner/earliest?duration=900&bay_type=alignment&from={MONDAY}&days=5")
    assert none.json == {"slot": None, "slots": []}
    assert client.get(f"/api/v1/planner/earliest?duration=60&limit=50").status_code == 422


def test_a_bay_can_have_hours_of_its_own(app, shop, api, book, in_tenant):
    from datetime import time

    from plugins.planner.models import WorkingHours

    s = shop()
    with in_tenant(s) as session:  # the alignment stand works Mondays 12-16 only
        session.add(WorkingHours(weekday=0, bay_id=s.bays["Alignment"], opens=time(12), closes=time(16)))
        session.commit()
    client = api(s)
    assert book(client, s.bays["Alignment"], f"{MONDAY}T10:00").status_code == 422
    assert book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").status_code == 201
    assert book(client, s.bays["Alignment"], f"{MONDAY}T12:00").status_code == 201
    slots = client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=60&bay_type=alignment").json["slots"]
    assert [x["start"][11:16] for x in slots] == ["13:00", "13:30", "14:00", "14:30", "15:00"]
    hours = client.get(f"/api/v1/planner/day?date={MONDAY}").json["hours"]
    assert hours[str(s.bays["Alignment"])] == [[f"{MONDAY}T12:00+03:00", f"{MONDAY}T16:00+03:00"]]


def test_the_day_views_quick_buffer_read_agrees_with_the_settings():
    from types import SimpleNamespace

    from plugins.planner.service import shop_buffer_percent
    from plugins.planner.settings import load_settings

    for stored in ({}, {"planner": {}}, {"planner": {"buffer_percent": 15}}, {"planner": {"buffer_percent": 90}},
                   {"planner": {"buffer_percent": 95}}, {"planner": {"buffer_percent": -1}},
                   {"planner": {"buffer_percent": "x"}}, {"planner": {"buffer_percent": None}}):
        tenant = SimpleNamespace(plugin_settings=stored)
        assert shop_buffer_percent(tenant) == load_settings(tenant)["buffer_percent"], stored
