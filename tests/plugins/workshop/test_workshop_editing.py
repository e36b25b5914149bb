"""Editing an order while others work on it: stale versions, the technician's job list, client merges."""
API = "/api/v1/workshop"


def test_a_stale_edit_of_the_lines_is_refused(shop):
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    seen = wo["version"]
    line = shop.line(wo["id"], name="Замена лампы", fixed_price="300.00", version=seen)["line"]
    # Someone else's change bumped the version: an edit based on the old one is a clear 409.
    r = shop.api.patch(f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}",
                       json={"fixed_price": "350.00", "version": seen})
    assert r.status_code == 409 and r.get_json()["current_version"] > seen
    current = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    assert current["labor_lines"][0]["fixed_price"] == "300.00"
    r = shop.api.patch(f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}",
                       json={"fixed_price": "350.00", "version": current["version"]})
    assert r.status_code == 200 and r.get_json()["work_order"]["total"] == "350.00"


def test_the_technician_sees_his_approved_jobs(shop, make_shop):
    tech = make_shop(role="technician", t=shop.tenant)
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    mine = shop.line(wo["id"], name="Замена амортизаторов", hours="2", rate="2000.00", technician_id=tech.user.id)
    shop.line(wo["id"], name="Мойка", fixed_price="500.00")
    lines = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"} for line in lines]})
    assert tech.api.get(f"{API}/my-jobs").get_json()["items"] == []  # not approved as an order yet
    shop.transition("work-orders", wo["id"], "approve")
    items = tech.api.get(f"{API}/my-jobs").get_json()["items"]
    assert [(i["name"], i["hours"], i["number"]) for i in items] == [("Замена амортизаторов", "2.000", wo["number"])]
    assert mine["line"]["technician_name"]  # the user's name, for the print and the service book


def test_merging_clients_moves_their_orders_even_closed_ones(shop):
    a, car = shop.client_and_car("Сидоров Семён")
    b, car_b = shop.client_and_car("Сидоров С.")
    wo = shop.work_order(client_id=b["id"], vehicle_id=car_b["id"])
    line = shop.line(wo["id"], name="Шиномонтаж", fixed_price="2000.00")["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Сидоров", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", wo["id"], name)
    so = shop.post(f"{API}/service-orders", {"client_id": b["id"], "vehicle_id": car_b["id"]})
    r = shop.api.post(f"/api/v1/crm/clients/{a['id']}/merge", json={"source_id": b["id"]})
    assert r.status_code == 200, r.get_json()
    assert shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["client_id"] == a["id"]
    assert shop.api.get(f"{API}/service-orders/{so['id']}").get_json()["client_id"] == a["id"]
    # A client with orders cannot simply be deleted.
    assert shop.api.delete(f"/api/v1/crm/clients/{a['id']}").status_code == 409


def test_a_job_brings_its_parts_with_the_norms_feature(make_shop):
    results = {}
    for tier in ("specialist", "master"):
        s = make_shop(tier=tier)
        client, car = s.client_and_car()
        job = s.post(f"{API}/jobs", {"name": "Замена масла ДВС", "standard_hours": "0.5", "parts": [
            {"name": "Масло 5W-30", "quantity": "4.5", "unit": "л", "price": "850.00"},
            {"name": "Фильтр масляный", "code": "W 712/95", "price": "450.00"}]})
        assert job["parts"][0] == {"name": "Масло 5W-30", "quantity": "4.500", "unit": "л", "price": "850.00"}
        wo = s.work_order(client_id=client["id"], vehicle_id=car["id"])
        out = s.line(wo["id"], job_id=job["id"], rate="2000.00")
        results[tier] = [(p["name"], p["amount"], p["labor_line_id"] == out["line"]["id"])
                         for p in out["work_order"]["part_lines"]]
    assert results["specialist"] == []
    assert results["master"] == [("Масло 5W-30", "3825.00", True), ("Фильтр масляный", "450.00", True)]


def test_technicians_clock_their_jobs_and_the_owner_sees_productivity(make_shop):
    from datetime import date, timedelta

    from core.models import User, utcnow
    from plugins.workshop import services
    from plugins.workshop.models import LaborLine, WorkOrder

    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена сцепления", hours="2", rate="2500.00", technician_id=tech.user.id)["line"]
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    url = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}/clock"
    owner.transition("work-orders", wo["id"], "approve")
    assert tech.api.post(f"{url}/start", json={}).status_code == 409  # the order is not in progress yet
    tech.transition("work-orders", wo["id"], "start")
    first = tech.post(f"{url}/start")
    assert tech.post(f"{url}/start")["id"] == first["id"]  # starting twice changes nothing
    assert tech.post(f"{url}/stop")["ended_at"]
    assert tech.api.post(f"{url}/stop", json={}).status_code == 409
    # An hour and a half of clocked work, recorded at known times.
    with owner.ctx() as s:
        order, job = s.get(WorkOrder, wo["id"]), s.get(LaborLine, line["id"])
        who = s.get(User, tech.user.id)
        t0 = utcnow() - timedelta(hours=3)
        services.clock(order, job, "start", who, at=t0)
        services.clock(order, job, "stop", who, at=t0 + timedelta(minutes=90))
        s.commit()
    tech.transition("work-orders", wo["id"], "finish")
    owner.transition("work-orders", wo["id"], "close")
    today = date.today().isoformat()
    yesterday = (date.today() - timedelta(days=1)).isoformat()  # t0 may fall before midnight (UTC)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()  # the shop's (Moscow) day may be ahead of UTC
    report = owner.api.get(f"{API}/reports/productivity?from={yesterday}&to={tomorrow}").get_json()["items"]
    assert [(r["technician_id"], r["clocked_hours"], r["sold_hours"], r["efficiency"]) for r in report] == [
        (tech.user.id, "1.50", "2.00", "1.33")]
    assert tech.api.get(f"{API}/reports/productivity?from={today}&to={today}").status_code == 403
    specialist = make_shop()
    assert specialist.api.get(f"{API}/reports/productivity?from={today}&to={today}").status_code == 404


def test_a_wrong_reference_is_a_readable_field_error(shop):
    # Messages raised by validators are whole sentences, not a list of letters.
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/labor-lines",
                      json={"name": "Замена лампы", "fixed_price": "300.00", "technician_id": 987654})
    assert r.status_code == 422
    assert r.get_json()["fields"]["technician_id"] == ["No such user."]
    assert shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"] == []
