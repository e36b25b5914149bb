"""Findings of the QA walkthrough of the demo shop: one directory car on two bays at once, the reason
shown twice on the arrivals list, converting a booking made with free text only, "Book in planner" from
the car's card, calendar feeds of sequences."""
from __future__ import annotations

import threading

from sqlalchemy import select

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


def test_concurrent_bookings_of_one_car_on_different_bays_one_wins(app, shop, api, book, in_tenant):
    from plugins.planner.models import Booking

    s = shop(tier="basic", bays=tuple((f"Lift {n}", "lift") for n in range(1, 7)))
    owner = api(s)
    c, car = _client_and_car(owner)
    clients = [api(s) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    results: list[int] = []
    lock = threading.Lock()

    def attempt(client, n):
        barrier.wait()
        response = book(client, s.bays[f"Lift {n + 1}"], f"{MONDAY}T10:00", 60,
                        client_id=c["id"], vehicle_id=car["id"])
        with lock:
            results.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(cl, n)) for n, cl in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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
