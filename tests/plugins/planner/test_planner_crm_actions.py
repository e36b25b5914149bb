"""The planner answers the CRM's ``crm_vehicle_actions``: "Book in planner" on the car's card and the due
reminders, a link to the day grid whose free cells open the quick booking form with the client, the car
and the reason filled in."""
from __future__ import annotations

import html as html_lib
import re

MONDAY = "2030-03-25"


def _client_and_car(owner):
    c = owner.post("/api/v1/crm/clients", json={"name": "Olga Smirnova", "phones": ["+7 916 222-33-44"]}).json
    car = owner.post("/api/v1/crm/vehicles", json={"client_id": c["id"], "make": "Skoda", "model": "Octavia",
                                                    "plate": "В456ОР77"}).json
    return c, car


def test_hook_crm_vehicle_actions(app, shop, api, ui, csrf, in_tenant):
    from core.tenancy import current_tenant

    s = shop(tier="basic")
    owner = api(s)
    c, car = _client_and_car(owner)
    with in_tenant(s):
        hooks = app.extensions["garage"].hooks_for(current_tenant().plugins)
        answers = hooks.crm_vehicle_actions(vehicle_id=car["id"], client_id=c["id"], reason="Oil change due")
    [link] = [a for answer in answers for a in answer if a["label"] == "Book in planner"]
    assert link["url"].startswith("/planner/?")  # the day grid carries the car to the quick form (test_planner_qa)
    quick_url = "/planner/quick?" + link["url"].split("?", 1)[1]
    page = ui(s)
    form = page.get(quick_url)
    assert form.status_code == 200
    text = html_lib.unescape(form.get_data(as_text=True))
    assert 'value="Olga Smirnova"' in text and 'value="+79162223344"' in text  # as the directory keeps them
    assert re.search(r'id="bk-vehicle"[^>]*value="Skoda Octavia B456OP77"', text)
    assert f'id="bk-client_id" value="{c["id"]}"' in text and f'id="bk-vehicle_id" value="{car["id"]}"' in text
    assert ">Oil change due</textarea>" in text
    # Saving the prefilled form books the directory's client and car.
    r = page.post("/planner/quick", data={
        "csrf_token": csrf(text), "bay_id": s.bays["Lift 1"], "start": f"{MONDAY}T10:00", "duration_minutes": "60",
        "client_name": "Olga Smirnova", "client_id": str(c["id"]), "vehicle_id": str(car["id"]),
        "reason": "Oil change due"})
    assert r.status_code == 302
    [booking] = owner.get(f"/api/v1/planner/bookings?date_from={MONDAY}").json["items"]
    assert (booking["client_id"], booking["vehicle_id"], booking["reason"]) == (c["id"], car["id"], "Oil change due")
    # The CRM shows the link on the car's history (through its own API).
    history = owner.get(f"/api/v1/crm/vehicles/{car['id']}/history").json
    assert any(a["label"] == "Book in planner" for a in history["actions"])
    # Someone who may not book gets no link; another shop's ids prefill nothing.
    assert not any(a["label"] == "Book in planner" for a in
                   api(s, role="technician").get(f"/api/v1/crm/vehicles/{car['id']}/history").json["actions"])
    other = shop(tier="basic")
    stranger = ui(other).get(quick_url).get_data(as_text=True)
    assert "Olga Smirnova" not in stranger and ">Oil change due</textarea>" in stranger


def test_the_full_form_takes_the_same_prefills(shop, api, ui):
    s = shop(tier="free")  # no quick booking: the link leads to the full form (no directory in Free)

    page = ui(s).get("/planner/bookings/new?client_id=5&vehicle_id=7&reason=Tyres").get_data(as_text=True)
    assert ">Tyres</textarea>" in page and 'name="client_id"' not in page
