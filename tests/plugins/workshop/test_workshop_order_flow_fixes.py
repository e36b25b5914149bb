"""The order's flow as shops live it: a technician restarts a job of a waiting order from his phone,
the order's job clocks stop when its work is over, the service order follows its work order."""
from sqlalchemy import select

API = "/api/v1/workshop"


def _running(shop, order_id):
    from plugins.workshop.models import TimeEntry

    with shop.ctx() as session:
        return session.scalars(select(TimeEntry.id).where(TimeEntry.work_order_id == order_id,
                                                          TimeEntry.ended_at.is_(None))).all()


def test_a_technician_restarts_a_job_of_a_waiting_order_from_his_phone(make_shop, signed_in, csrf_token):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    wo, line = owner.approved_job(technician_id=tech.user.id)
    owner.transition("work-orders", wo["id"], "start")
    owner.transition("work-orders", wo["id"], "wait")  # the parts are late
    ui = signed_in(tech)
    page = ui.get("/workshop/my-jobs").get_data(as_text=True)
    token = csrf_token(page)
    r = ui.post(f"/workshop/my-jobs/{wo['id']}/{line['id']}", data={"csrf_token": token, "do": "start"})
    assert r.status_code == 302
    assert owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["state"] == "in_progress"
    assert len(_running(owner, wo["id"])) == 1


def test_the_orders_job_clocks_stop_when_its_work_is_over(make_shop):
    owner = make_shop(tier="master")
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша"})
    results = {}
    for ending in ("finish", "wait", "void"):  # waiting for parts is no work either
        wo, line = owner.approved_job()
        owner.transition("work-orders", wo["id"], "start")
        clock = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}/clock"
        owner.post(f"{clock}/start", {"employee_id": apprentice["id"]})  # no login: nobody would stop it
        owner.post(f"{clock}/start")  # and the owner's own
        assert len(_running(owner, wo["id"])) == 2
        if ending == "void":
            assert owner.api.delete(f"{API}/work-orders/{wo['id']}", json={"reason": "Ошибка"}).status_code == 200
        else:
            owner.transition("work-orders", wo["id"], ending)
        results[ending] = len(_running(owner, wo["id"]))
    assert results == {"finish": 0, "wait": 0, "void": 0}
    from core.audit import AuditLog

    with owner.ctx() as session:  # each stop recorded, with the transition that made it
        stops = session.scalars(select(AuditLog.changes).where(AuditLog.action == "clock_stop")).all()
    assert sorted(c["by_transition"][1] for c in stops) == ["finish", "finish", "void", "void", "wait", "wait"]


def test_a_draft_service_order_closes_with_its_work_order(shop):
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 45100})
    assert so["state"] == "draft"  # made in one click from a booking: the car was never "received"
    wo = shop.work_order(service_order_id=so["id"])
    line = shop.line(wo["id"], name="Замена колодок", fixed_price="1500.00")["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", wo["id"], name)
    so = shop.api.get(f"{API}/service-orders/{so['id']}").get_json()
    assert so["state"] == "closed" and so["received_at"]
    from plugins.crm.models import OdometerReading

    with shop.ctx() as session:  # the mileage is in the car's history once
        values = session.scalars(select(OdometerReading.value).where(OdometerReading.vehicle_id == car["id"])).all()
    assert values == [45100]


def test_advisors_see_the_technicians_comments_and_grant_part_requests(make_shop, signed_in, csrf_token):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    wo, line = owner.approved_job(technician_id=tech.user.id)
    owner.transition("work-orders", wo["id"], "start")
    base = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}"
    tech.post(f"{base}/comments", {"text": "Помпа течёт, нужна замена"})
    tech.post(f"{base}/part-requests", {"name": "Помпа", "quantity": "1"})
    tech.post(f"{base}/part-requests", {"name": "Антифриз", "quantity": "5"})
    ui = signed_in(owner)
    page = ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "From the technicians" in page and "Помпа течёт, нужна замена" in page and "Антифриз" in page
    requests = owner.api.get(f"{API}/part-requests?work_order_id={wo['id']}").get_json()["items"]
    token = csrf_token(page)
    r = ui.post(f"/workshop/part-requests/{requests[0]['id']}",
                data={"csrf_token": token, "state": "done", "add_line": "1", "price": "4500.00"})
    assert r.status_code == 302
    ui.post(f"/workshop/part-requests/{requests[1]['id']}", data={"csrf_token": token, "state": "rejected"})
    states = [r["state"] for r in owner.api.get(f"{API}/part-requests?work_order_id={wo['id']}").get_json()["items"]]
    assert states == ["done", "rejected"]
    parts = owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["part_lines"]
    assert [(p["name"], p["amount"], p["labor_line_id"]) for p in parts] == [("Помпа", "4500.00", line["id"])]

    # The technician's phone page shows the car and the job's comments.
    tech_ui = signed_in(tech)
    mine = tech_ui.get("/workshop/my-jobs").get_data(as_text=True)
    car = owner.api.get(f"/api/v1/crm/vehicles/{wo['vehicle_id']}").get_json()
    assert f"Kia Rio, {car['plate']}" in mine and "Помпа течёт, нужна замена" in mine
