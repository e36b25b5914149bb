"""planner.advanced: bookings in a sequence of bays (segments), the earliest fit of a chain, the day
plan and "Find a time" pages, and what a Basic-tier shop is refused or never shown."""
from __future__ import annotations


from sqlalchemy import select

MONDAY = "2030-03-25"
BAYS = (("Diag", "diagnostics"), ("Lift 1", "lift"), ("Lift 2", "lift"))


def _sequence(client, start, steps, **extra):
    body = {"start": start, "segments": steps, "client_name": "Oleg", "client_phone": "+7 916 000-00-01",
            "vehicle": "Lada Vesta", "reason": "Knock, then suspension", **extra}
    return client.post("/api/v1/planner/bookings", json=body)


def test_a_sequence_holds_each_bay_only_for_its_segment(app, shop, api, book, in_tenant):
    s = shop(tier="specialist", bays=BAYS)
    client = api(s)
    r = _sequence(client, f"{MONDAY}T10:00", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                               {"bay_type": "lift", "duration_minutes": 90}])
    assert r.status_code == 201, r.json
    seq = r.json
    assert (seq["start"], seq["end"], seq["duration_minutes"]) == (f"{MONDAY}T10:00+03:00", f"{MONDAY}T12:00+03:00", 120)
    assert seq["bay_ids"] == [s.bays["Diag"], s.bays["Lift 1"]]
    assert seq["segments"] == [
        {"bay_id": s.bays["Diag"], "start": f"{MONDAY}T10:00+03:00", "end": f"{MONDAY}T10:30+03:00", "duration_minutes": 30},
        {"bay_id": s.bays["Lift 1"], "start": f"{MONDAY}T10:30+03:00", "end": f"{MONDAY}T12:00+03:00", "duration_minutes": 90}]
    # Diagnostics is free again from 10:30; Lift 1 is free until 10:30.
    assert book(client, s.bays["Diag"], f"{MONDAY}T10:30", 60).status_code == 201
    assert book(client, s.bays["Lift 1"], f"{MONDAY}T09:30", 60).status_code == 201
    clash = book(client, s.bays["Lift 1"], f"{MONDAY}T11:00", 30)
    assert clash.status_code == 409 and clash.json["conflicting_booking_id"] == seq["id"]
    assert book(client, s.bays["Diag"], f"{MONDAY}T10:00", 30).json["conflicting_booking_id"] == seq["id"]
    # A second chain, lift first: Lift 1 is held until 12:00, so its lift step takes Lift 2.
    second = _sequence(client, f"{MONDAY}T11:30", [{"bay_type": "lift", "duration_minutes": 60},
                                                   {"bay_type": "diagnostics", "duration_minutes": 30}]).json
    assert [x["bay_id"] for x in second["segments"]] == [s.bays["Lift 2"], s.bays["Diag"]]
    # The day: each bay's load counts only its segments.
    day = client.get(f"/api/v1/planner/day?date={MONDAY}").json
    booked = {x["bay_id"]: x["booked_hours"] for x in day["load"]}
    assert booked == {s.bays["Diag"]: 2.0, s.bays["Lift 1"]: 2.5, s.bays["Lift 2"]: 1.0}
    listed = next(x for x in day["bookings"] if x["id"] == seq["id"])
    assert listed["segments"] == seq["segments"] and listed["bay_ids"] == seq["bay_ids"]
    # Moving the whole sequence moves its segments; a step onto a taken time is refused (409).
    moved = client.patch(f"/api/v1/planner/bookings/{seq['id']}", json={"start": f"{MONDAY}T14:00"})
    assert moved.status_code == 200, moved.json
    assert [x["start"][11:16] for x in moved.json["segments"]] == ["14:00", "14:30"]
    taken = client.patch(f"/api/v1/planner/bookings/{seq['id']}", json={"start": f"{MONDAY}T12:30"})
    assert taken.status_code == 409 and taken.json["conflicting_booking_id"] == second["id"]
    longer = client.patch(f"/api/v1/planner/bookings/{seq['id']}", json={"duration_minutes": 180})
    assert longer.status_code == 422 and "duration_minutes" in longer.json["fields"]
    # Audited with its segments.
    from core.audit import AuditLog

    with in_tenant(s) as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.object_type == "planner_booking", AuditLog.object_id == seq["id"],
                                                  AuditLog.action == "create")
                                .order_by(AuditLog.id)).first()
        assert entry.changes["segments"][1] == [[s.bays["Diag"], 30], [s.bays["Lift 1"], 90]]


def test_sequence_input_is_checked(app, shop, api):
    s = shop(tier="specialist", bays=BAYS)
    client = api(s)
    no_minutes = _sequence(client, f"{MONDAY}T10:00", [{"bay_type": "lift"}])
    assert no_minutes.status_code == 422 and "segments" in no_minutes.json["fields"]
    both = _sequence(client, f"{MONDAY}T10:00", [{"bay_type": "lift", "bay_id": s.bays["Lift 1"],
                                                  "duration_minutes": 30}])
    assert both.status_code == 422 and "segments" in both.json["fields"]
    late = _sequence(client, f"{MONDAY}T18:30", [{"bay_type": "diagnostics", "duration_minutes": 30},
                                                 {"bay_type": "lift", "duration_minutes": 60}])
    assert late.status_code == 409  # no lift is open 19:00-20:00
    closed = _sequence(client, f"{MONDAY}T18:30", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                                   {"bay_id": s.bays["Lift 1"], "duration_minutes": 60}])
    assert closed.status_code == 422 and "working hours" in closed.json["fields"]["start"][0]


def test_concurrent_sequences_over_one_bay_exactly_one_wins(app, shop, api, race):
    s = shop(tier="specialist", bays=BAYS)
    clients = [api(s) for _ in range(6)]
    # Different diagnostics times, the same lift time: only the lift step can clash.
    results = [r.status_code for r in race([
        (lambda client=client, n=n: _sequence(client, f"{MONDAY}T{9 + n // 2:02d}:{30 * (n % 2):02d}",
                                              [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                               {"bay_id": s.bays["Lift 1"], "duration_minutes": 600 - 30 * (n + 1)}],
                                              client_name=f"Client {n}")) for n, client in enumerate(clients)])]
    assert sorted(results) == [201] + [409] * 5


def test_earliest_fit_of_a_chain(app, shop, api, book):
    s = shop(tier="specialist", bays=BAYS)
    client = api(s)
    book(client, s.bays["Diag"], f"{MONDAY}T09:00", 60)
    book(client, s.bays["Lift 1"], f"{MONDAY}T09:00", 180)
    book(client, s.bays["Lift 2"], f"{MONDAY}T09:00", 150)
    r = client.get(f"/api/v1/planner/earliest?segments=diagnostics:30,lift:90&from={MONDAY}&limit=2")
    assert r.status_code == 200, r.json
    # Diagnostics is free from 10:00; a lift from 11:30 (Lift 2): the chain starts at 11:00.
    first = r.json["slot"]
    assert (first["start"], first["end"]) == (f"{MONDAY}T11:00+03:00", f"{MONDAY}T13:00+03:00")
    assert [(x["bay_id"], x["start"][11:16], x["end"][11:16]) for x in first["segments"]] == [
        (s.bays["Diag"], "11:00", "11:30"), (s.bays["Lift 2"], "11:30", "13:00")]
    assert r.json["slots"][1]["start"] == f"{MONDAY}T11:30+03:00"
    day = client.get(f"/api/v1/planner/slots?date={MONDAY}&segments=diagnostics:30,lift:90").json
    assert day["duration_minutes"] == 120 and day["slots"][0] == first
    bad = client.get(f"/api/v1/planner/earliest?segments=boat:30&from={MONDAY}")
    assert bad.status_code == 422 and "segments" in bad.json["fields"]
    # Booking the proposal as it is succeeds.
    steps = [{"bay_id": x["bay_id"], "duration_minutes": x["duration_minutes"]} for x in first["segments"]]
    assert _sequence(client, first["start"], steps).status_code == 201


def test_basic_tier_is_refused_several_bays_skills_segments_and_advanced_endpoints(app, shop, api, book):
    s = shop(tier="free", bays=BAYS)
    client = api(s)
    several = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", bay_ids=[s.bays["Lift 1"], s.bays["Lift 2"]])
    assert several.status_code == 422 and "bay_ids" in several.json["fields"]
    chain = _sequence(client, f"{MONDAY}T10:00", [{"bay_type": "diagnostics", "duration_minutes": 30}])
    assert chain.status_code == 422 and "segments" in chain.json["fields"]
    chain_slots = client.get(f"/api/v1/planner/slots?date={MONDAY}&segments=diagnostics:30,lift:60")
    assert chain_slots.status_code == 422 and "segments" in chain_slots.json["fields"]
    skill = client.get(f"/api/v1/planner/slots?date={MONDAY}&duration=60&skill=Electrics")
    assert skill.status_code == 422 and "skill" in skill.json["fields"]
    assert client.get(f"/api/v1/planner/earliest?duration=60&from={MONDAY}").status_code == 404
    day = client.get(f"/api/v1/planner/day?date={MONDAY}").json
    assert "load" not in day and "load_total" not in day


def test_basic_tier_ui_shows_no_load_buffer_several_bays_or_advanced_pages(app, shop, ui, api, book):
    s = shop(tier="free", bays=BAYS)
    book(api(s), s.bays["Lift 1"], f"{MONDAY}T10:00")
    client = ui(s)
    day = client.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    assert "planner-load" not in day and "Day plan" not in day and "Find a time" not in day
    form = client.get("/planner/bookings/new").get_data(as_text=True)
    assert 'name="bay_ids"' not in form and 'name="bay_id"' in form
    settings = client.get("/planner/settings").get_data(as_text=True)
    assert 'name="buffer_percent"' not in settings
    for url in (f"/planner/plan?date={MONDAY}", "/planner/find", "/planner/find/book"):
        assert client.get(url).status_code == 404, url
    # The same pages for a Specialist shop.
    adv = shop(tier="specialist", bays=BAYS)
    book(api(adv), adv.bays["Lift 1"], f"{MONDAY}T10:00")
    staff = ui(adv)
    day = staff.get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    assert "planner-load" in day and "Day plan" in day and "Find a time" in day
    assert 'name="buffer_percent"' in staff.get("/planner/settings").get_data(as_text=True)


def test_day_plan_page_shows_load_buffers_technicians_and_bookings_in_order(app, shop, api, ui, book):
    from tests.plugins.planner.test_planner_time import _settings

    s = shop(tier="specialist", bays=BAYS)
    _settings(app, s, buffer_percent=20)
    client = api(s)
    assert book(client, s.bays["Lift 1"], f"{MONDAY}T17:00", 60, client_name="Late Client").status_code == 201
    # 9 hours of 10 booked by hand: one hour into the 2-hour buffer.
    assert book(client, s.bays["Lift 1"], f"{MONDAY}T09:00", 480, client_name="Early Client").status_code == 201
    _sequence(client, f"{MONDAY}T12:00", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                           {"bay_id": s.bays["Lift 2"], "duration_minutes": 60}])
    staff = ui(s)
    tech = staff.user
    client.put(f"/api/v1/planner/assignments?date={MONDAY}",
               json={"assignments": [{"bay_id": s.bays["Lift 1"], "user_id": tech.id}]})
    r = staff.get(f"/planner/plan?date={MONDAY}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    lift1 = html[html.index(f'data-bay="{s.bays["Lift 1"]}"'):html.index(f'data-bay="{s.bays["Lift 2"]}"')]
    assert "planner-plan-bay--over" in html[html.index(f'data-bay="{s.bays["Lift 1"]}"') - 100:][:200]
    assert lift1.index("Early Client") < lift1.index("Late Client")
    assert "2.0 h" in lift1 and "8.0 h" in lift1 and "9.0 h" in lift1  # buffer, bookable, booked
    assert tech.email in lift1
    lift2 = html[html.index(f'data-bay="{s.bays["Lift 2"]}"'):]
    assert "12:30–13:30" in lift2 and "step 2 of 2" in lift2
    total = html[html.index('id="plan-total"'):html.index(f'data-bay="{s.bays["Diag"]}"')]
    assert "30.0 h" in total and "10.5 h" in total  # capacity of three bays; booked 9 + 0.5 + 1


def test_find_a_time_lists_the_earliest_fits_and_books_a_chain_in_one_click(app, shop, api, ui, book, csrf,
                                                                              in_tenant):
    from plugins.planner.models import Booking

    s = shop(tier="specialist", bays=BAYS)
    client = api(s)
    book(client, s.bays["Lift 1"], f"{MONDAY}T09:00", 600)
    staff = ui(s)
    single = staff.get(f"/planner/find?minutes_0=60&bay_type_0=lift&from={MONDAY}").get_data(as_text=True)
    assert single.count("data-fit=") == 5
    assert (f'/planner/bookings/new?bay_id={s.bays["Lift 2"]}&amp;start={MONDAY}T09:00&amp;duration=60'
            in single)
    bad = staff.get(f"/planner/find?minutes_0=abc&from={MONDAY}")
    assert bad.status_code == 422 and "Enter a whole number" in bad.get_data(as_text=True)
    chain = staff.get(f"/planner/find?bay_type_0=diagnostics&minutes_0=30&bay_type_1=lift&minutes_1=90"
                      f"&from={MONDAY}").get_data(as_text=True)
    link = f'/planner/find/book?start={MONDAY}T09:00&amp;segments={s.bays["Diag"]}:30,{s.bays["Lift 2"]}:90'
    assert link.replace(",", "%2C").replace(":", "%3A") in chain or link in chain
    url = f"/planner/find/book?start={MONDAY}T09:00&segments={s.bays['Diag']}:30,{s.bays['Lift 2']}:90"
    page = staff.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    form = {"csrf_token": csrf(html), "start": f"{MONDAY}T09:00",
            "segments": f"{s.bays['Diag']}:30,{s.bays['Lift 2']}:90", "client_name": "Nina",
            "client_phone": "+7 900 100-20-30", "vehicle": "Kia Rio", "reason": "Noise"}
    empty = staff.post(url, data={**form, "client_name": ""})
    assert empty.status_code == 422 and "client" in empty.get_data(as_text=True).lower()
    saved = staff.post(url, data=form)
    assert saved.status_code == 302
    with in_tenant(s) as session:
        booking = session.scalars(select(Booking).where(Booking.client_name == "Nina")).one()
        assert booking.sequential and [seg.bay_id for seg in booking.segments] == [s.bays["Diag"], s.bays["Lift 2"]]
    again = staff.post(url, data={**form, "client_name": "Late"})
    assert again.status_code == 409 and "already booked" in again.get_data(as_text=True)


def test_a_bay_keeps_its_own_buffer_set_on_the_day_plan(app, shop, api, ui, csrf, in_tenant):
    from core.audit import AuditLog
    from plugins.planner.models import Bay
    from tests.plugins.planner.test_planner_time import _settings

    s = shop(tier="specialist", bays=BAYS)
    _settings(app, s, buffer_percent=20)
    staff = ui(s)
    html = staff.get(f"/planner/plan?date={MONDAY}").get_data(as_text=True)
    assert "Buffer per bay" in html and "the shop&#39;s setting, 20%" in html
    url = f"/planner/plan/buffers?date={MONDAY}"
    token = csrf(html)
    refused = staff.post(url, data={"csrf_token": token, f"buffer-{s.bays['Diag']}": "95"}, follow_redirects=True)
    assert "enter a share from 0 to 90" in refused.get_data(as_text=True)
    saved = staff.post(url, data={"csrf_token": token, f"buffer-{s.bays['Diag']}": "50",
                                  f"buffer-{s.bays['Lift 1']}": ""})
    assert saved.status_code == 302
    load = {x["bay_id"]: x["buffer_percent"] for x in api(s).get(f"/api/v1/planner/day?date={MONDAY}").json["load"]}
    assert load == {s.bays["Diag"]: 50, s.bays["Lift 1"]: 20, s.bays["Lift 2"]: 20}
    with in_tenant(s) as session:
        assert session.get(Bay, s.bays["Diag"]).buffer_percent == 50
        [entry] = session.scalars(select(AuditLog).where(AuditLog.object_type == "planner_bay")).all()
        assert entry.changes == {"buffer_percent": [None, 50]}
    technician = ui(s, role="technician")
    assert "Buffer per bay" not in technician.get(f"/planner/plan?date={MONDAY}").get_data(as_text=True)
    assert technician.post(url, data={"csrf_token": token, f"buffer-{s.bays['Diag']}": "0"}).status_code in (400, 403)


def test_the_day_reads_a_fixed_number_of_statements_with_sequences_and_many_bookings(app, shop, api, book):
    """No N+1: the day's statements do not grow with its bookings, segments or further bays."""
    from sqlalchemy import event

    from core.db import db

    s = shop(tier="specialist", bays=BAYS)
    client = api(s)

    def statements(day):
        seen = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/api/v1/planner/day?date={day}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    _sequence(client, f"{MONDAY}T09:00", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                           {"bay_id": s.bays["Lift 1"], "duration_minutes": 30}])
    few = statements(MONDAY)
    for hour in range(10, 18):
        _sequence(client, f"{MONDAY}T{hour}:00", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                                   {"bay_id": s.bays["Lift 1"], "duration_minutes": 30}])
        book(client, s.bays["Lift 2"], f"{MONDAY}T{hour}:00", 30, bay_ids=[s.bays["Lift 2"]])
    many = client.get(f"/api/v1/planner/day?date={MONDAY}").json
    assert len(many["bookings"]) == 17
    assert statements(MONDAY) == few


def test_the_day_grid_shows_each_step_on_its_bay(app, shop, api, ui):
    import re

    s = shop(tier="specialist", bays=BAYS)
    seq = _sequence(api(s), f"{MONDAY}T10:00", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                                 {"bay_id": s.bays["Lift 1"], "duration_minutes": 90}]).json
    html = ui(s).get(f"/planner/?date={MONDAY}").get_data(as_text=True)
    cells = re.findall(r'<td rowspan="(\d+)" data-col="(\d+)" class="planner-booking[^"]*"[^>]*>(.*?)</td>', html, re.S)
    shown = {int(col): (int(rows), re.search(r"<strong>([^<]+)</strong>", body).group(1), "step" in body)
             for rows, col, body in cells}
    # 30-minute rows: one row on the diagnostics bay, three on the lift, nothing on Lift 2.
    assert shown == {s.bays["Diag"]: (1, "10:00–10:30", True), s.bays["Lift 1"]: (3, "10:30–12:00", True)}
    assert f'data-booking="{seq["id"]}"' not in html  # a sequence is moved through its form, not dragged


def test_editing_a_sequence_in_the_form_keeps_its_steps(app, shop, api, ui, csrf, in_tenant):
    from plugins.planner.models import Booking

    s = shop(tier="specialist", bays=BAYS)
    client = api(s)
    seq = _sequence(client, f"{MONDAY}T10:00", [{"bay_id": s.bays["Diag"], "duration_minutes": 30},
                                                 {"bay_id": s.bays["Lift 1"], "duration_minutes": 90}]).json
    staff = ui(s)
    page = staff.get(f"/planner/bookings/{seq['id']}").get_data(as_text=True)
    form = {"csrf_token": csrf(page), "bay_ids": [str(s.bays["Diag"]), str(s.bays["Lift 1"])],
            "start": f"{MONDAY}T11:00", "duration_minutes": "120", "client_name": "Oleg", "client_phone": "",
            "vehicle": "Lada Vesta", "reason": "Knock", "version": str(seq["version"])}
    assert staff.post(f"/planner/bookings/{seq['id']}", data=form).status_code == 302
    with in_tenant(s) as session:
        booking = session.get(Booking, seq["id"])
        assert booking.sequential and booking.reason == "Knock"
        assert [(seg.bay_id, seg.start_at.hour, seg.duration_minutes) for seg in booking.segments] == [
            (s.bays["Diag"], 8, 30), (s.bays["Lift 1"], 8, 90)]  # 11:00 and 11:30 Moscow time
    # Other bays given: a plain booking on them from now on.
    plain = client.patch(f"/api/v1/planner/bookings/{seq['id']}", json={"bay_ids": [s.bays["Lift 2"]]})
    assert plain.status_code == 200 and plain.json["segments"] == [] and plain.json["bay_ids"] == [s.bays["Lift 2"]]


def test_find_a_time_takes_the_duration_from_planned_jobs(app, shop, api, ui):
    from tests.plugins.planner.test_planner_workshop import _jobs

    s = shop(tier="master", bays=BAYS)  # the workshop's job catalog answers planner_job_catalog
    _jobs(api(s))
    staff = ui(s)
    found = staff.get(f"/planner/find?jobs=Oil+change%0AALIGN&bay_type_0=lift&from={MONDAY}")
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    # 0.5 + 1.2 hours, rounded up to the 30-minute slot: 2 hours.
    assert f'bay_id={s.bays["Lift 1"]}&amp;start={MONDAY}T09:00&amp;duration=120' in html
    unknown = staff.get(f"/planner/find?jobs=Paint+the+roof&from={MONDAY}")
    assert unknown.status_code == 422 and "None of the planned jobs is in the job catalog" in unknown.get_data(as_text=True)
