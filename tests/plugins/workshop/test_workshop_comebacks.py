"""Comebacks: the same catalog job on the same car within the shop's window of a closed work order (or a
line marked as a warranty rework) is flagged and linked to the original order and technician; the
report counts comebacks per technician and their share of his closed jobs."""
import re
from datetime import date, timedelta

API = "/api/v1/workshop"


def _close(shop, wo_id):
    lines = shop.api.get(f"{API}/work-orders/{wo_id}").get_json()["labor_lines"]
    shop.post(f"{API}/work-orders/{wo_id}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": x["id"], "decision": "approved"} for x in lines]})
    for name in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", wo_id, name)


def _ui(shop, login):
    ui = shop.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, shop.user)
    return ui


def test_comebacks_are_flagged_linked_and_reported(make_shop, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    client, car = owner.client_and_car()
    pads = owner.post(f"{API}/jobs", {"name": "Замена колодок передних", "code": "BRK-1", "standard_hours": "1"})
    other_jobs = [owner.post(f"{API}/jobs", {"name": n, "code": c, "standard_hours": "1"})
                  for n, c in (("Замена масла", "OIL"), ("Развал-схождение", "ALN"), ("Диагностика", "DIAG"))]
    first = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    pads_line = owner.line(first["id"], job_id=pads["id"], rate="2000.00", technician_id=tech.user.id)["line"]
    for job in other_jobs:
        owner.line(first["id"], job_id=job["id"], rate="2000.00", technician_id=tech.user.id)
    assert pads_line["comeback_of_order_id"] is None  # nothing closed before: no comeback
    _close(owner, first["id"])

    # The car is back: the same job (by catalog code, here through another catalog row with that code).
    again = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    twin = owner.post(f"{API}/jobs", {"name": "Колодки передние (повтор)", "code": "brk-1", "standard_hours": "1"})
    repeat = owner.line(again["id"], job_id=twin["id"], rate="0.00")["line"]
    assert (repeat["comeback_of_order_id"], repeat["comeback_of_line_id"], repeat["comeback_technician_id"]) == (
        first["id"], pads_line["id"], tech.user.id)
    unrelated = owner.line(again["id"], name="Замена щёток", hours="0.2", rate="2000.00")["line"]
    assert unrelated["comeback_of_order_id"] is None and unrelated["rework"] is False
    # A warranty rework marked by hand: linked to the newest closed order and its only technician.
    rework = owner.line(again["id"], name="Устранение стука после ремонта", hours="0.5", rework=True)["line"]
    assert (rework["rework"], rework["comeback_of_order_id"], rework["comeback_of_line_id"],
            rework["comeback_technician_id"]) == (True, first["id"], None, tech.user.id)
    # Unmarking it removes the link (audited as an update of the line).
    r = owner.api.patch(f"{API}/work-orders/{again['id']}/labor-lines/{unrelated['id']}", json={"rework": True})
    assert r.status_code == 200 and r.get_json()["line"]["comeback_of_order_id"] == first["id"]
    r = owner.api.patch(f"{API}/work-orders/{again['id']}/labor-lines/{unrelated['id']}", json={"rework": False})
    assert r.get_json()["line"]["comeback_of_order_id"] is None

    assert owner.api.get(f"{API}/work-orders/{again['id']}").get_json()["comeback"] is True
    assert owner.api.get(f"{API}/work-orders/{first['id']}").get_json()["comeback"] is False
    # The work order page shows the flag with a link to the original order.
    page = _ui(owner, login).get(f"/workshop/work-orders/{again['id']}").get_data(as_text=True)
    assert "Comeback" in page and f'href="/workshop/work-orders/{first["id"]}">{first["number"]}</a>' in page
    assert 'name="rework"' in page

    # The report: 4 jobs closed by the technician, 2 came back = 50 %.
    today = date.today()
    period = f"from={(today - timedelta(days=2)).isoformat()}&to={(today + timedelta(days=2)).isoformat()}"
    rep = owner.api.get(f"{API}/reports/comebacks?{period}").get_json()
    assert rep["window_days"] == 30 and (rep["closed_jobs"], rep["comebacks"], rep["share"]) == (4, 2, "50.0")
    row = rep["items"][0]
    assert (row["technician_id"], row["closed_jobs"], row["comebacks"], row["share"]) == (tech.user.id, 4, 2, "50.0")
    assert {(c["line_id"], c["original_number"]) for c in row["lines"]} == {
        (repeat["id"], first["number"]), (rework["id"], first["number"])}
    with owner.ctx():  # the same figures through the core's report registry
        from core.web import host

        _plugin, registered = host().reports["workshop.comebacks"]
        assert registered.run(**{"from": (today - timedelta(days=2)).isoformat(),
                                 "to": (today + timedelta(days=2)).isoformat()})["share"] == "50.0"
    html = _ui(owner, login).get(f"/workshop/reports/comebacks?{period}").get_data(as_text=True)
    assert "50.0" in html and first["number"] in html and again["number"] in html
    assert tech.api.get(f"{API}/reports/comebacks?{period}").status_code == 403
    assert make_shop(tier="master").api.get(f"{API}/reports/comebacks?{period}").get_json()["items"] == []
    assert owner.api.get(f"{API}/reports/comebacks").status_code == 422  # no period

    # The window is the shop's setting: 40 days later it is no comeback at 30 days, it is at 45.
    with owner.ctx() as s:
        from sqlalchemy import update

        from core.models import utcnow
        from plugins.workshop.models import WorkOrder

        s.execute(update(WorkOrder).where(WorkOrder.id == first["id"]).values(
            closed_at=utcnow() - timedelta(days=40)))
        s.commit()
    third = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    assert owner.line(third["id"], job_id=pads["id"])["line"]["comeback_of_order_id"] is None
    ui = _ui(owner, login)
    settings = ui.get("/settings").get_data(as_text=True)
    assert "Comeback window, days" in settings
    token = re.search(r'name="csrf_token" value="([^"]+)"', settings).group(1)
    r = ui.post("/settings/plugins/workshop", data={"csrf_token": token, "comeback_days": "400"})
    assert r.status_code == 422
    assert ui.post("/settings/plugins/workshop", data={"csrf_token": token, "comeback_days": "45"}).status_code == 302
    assert owner.line(third["id"], job_id=pads["id"])["line"]["comeback_of_order_id"] == first["id"]
