"""The client's decision per job: declined and deferred jobs become the car's recommendations; a
recommendation carried out by a work order leaves the list when the order closes."""
import threading

API = "/api/v1/workshop"


def _ready_to_close(shop, wo_id):
    for name in ("approve", "start", "finish"):
        shop.transition("work-orders", wo_id, name)


def test_a_declined_job_becomes_a_recommendation_and_a_done_one_leaves_the_list(shop):
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"], odometer=60000)
    oil = shop.line(wo["id"], name="Замена масла", fixed_price="1500.00")["line"]
    belt = shop.line(wo["id"], name="Замена ремня ГРМ", hours="3", rate="2000.00")["line"]
    kit = shop.line(wo["id"], "part-lines", name="Комплект ГРМ", quantity="1", price="9800.00",
                    labor_line_id=belt["id"])["line"]
    discs = shop.line(wo["id"], name="Замена тормозных дисков", hours="1.5", rate="2000.00")["line"]
    wo = shop.post(f"{API}/work-orders/{wo['id']}/decisions", {
        "by": "Иванов Иван", "channel": "phone", "decisions": [
            {"line_id": oil["id"], "decision": "approved"},
            {"line_id": belt["id"], "decision": "declined", "note": "дорого, в следующий раз", "urgency": "high"},
            {"line_id": discs["id"], "decision": "deferred"}]})
    lines = {line["name"]: line for line in wo["labor_lines"] + wo["part_lines"]}
    assert lines["Комплект ГРМ"]["decision"] == "declined"  # the part follows its job
    assert lines["Замена ремня ГРМ"]["decision_channel"] == "phone" and lines["Замена ремня ГРМ"]["decided_at"]
    assert wo["totals"]["total"] == "1500.00" and wo["totals"]["declined"] == "18800.00"

    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    recs = {r["job"]: r for r in history["recommendations"]}
    assert set(recs) == {"Замена ремня ГРМ", "Замена тормозных дисков"}
    assert recs["Замена ремня ГРМ"]["state"] == "declined" and recs["Замена ремня ГРМ"]["urgency"] == "high"
    assert recs["Замена ремня ГРМ"]["parts"] == ["Комплект ГРМ"] and "дорого" in recs["Замена ремня ГРМ"]["text"]
    assert recs["Замена тормозных дисков"]["state"] == "open"

    # The client changes his mind about the discs: the recommendation this order made is withdrawn.
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {
        "by": "Иванов Иван", "decisions": [{"line_id": discs["id"], "decision": "approved"}]})
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [r["job"] for r in history["recommendations"]] == ["Замена ремня ГРМ"]
    _ready_to_close(shop, wo["id"])
    shop.transition("work-orders", wo["id"], "close")

    # Next visit: the belt recommendation is taken into a new order; it stays on the list until it closes.
    belt_rec = recs["Замена ремня ГРМ"]
    wo2 = shop.work_order(client_id=client["id"], vehicle_id=car["id"], odometer=61500)
    line = shop.line(wo2["id"], recommendation_id=belt_rec["id"], hours="3", rate="2000.00")["line"]
    assert line["name"] == "Замена ремня ГРМ"
    shop.post(f"{API}/work-orders/{wo2['id']}/decisions", {
        "by": "Иванов Иван", "decisions": [{"line_id": line["id"], "decision": "approved"}]})
    _ready_to_close(shop, wo2["id"])
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [r["id"] for r in history["recommendations"]] == [belt_rec["id"]]
    shop.transition("work-orders", wo2["id"], "close")
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert history["recommendations"] == []
    rec = shop.api.get(f"/api/v1/crm/recommendations/{belt_rec['id']}").get_json()
    assert rec["state"] == "accepted"
    # Both visits are in the service book, newest first; the second mileage came from the order.
    assert [e["mileage"] for e in history["entries"] if e["source"] == "workshop.work_order"] == [61500, 60000]
    readings = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/odometer").get_json()["readings"]
    assert [(r["value"], r["source"]) for r in readings] == [(60000, "work_order"), (61500, "work_order")]
    # A recommendation of another car cannot be taken into this order.
    other_client, other_car = shop.client_and_car("Петров Пётр")
    wo3 = shop.work_order(client_id=other_client["id"], vehicle_id=other_car["id"])
    r = shop.api.post(f"{API}/work-orders/{wo3['id']}/labor-lines", json={"recommendation_id": belt_rec["id"]})
    assert r.status_code == 422 and "recommendation_id" in r.get_json()["fields"]


def test_parallel_closes_of_one_order_exactly_one_wins(shop, make_shop):
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"], odometer=70000)
    job = shop.line(wo["id"], name="Развал-схождение", fixed_price="2500.00")["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": job["id"], "decision": "approved"}]})
    _ready_to_close(shop, wo["id"])
    version = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["version"]
    second = make_shop(role="cashier", t=shop.tenant)
    barrier = threading.Barrier(2, timeout=60)
    codes = []

    def close(api):
        barrier.wait()
        # Both saw the same version of the order (what the UI sends).
        r = api.post(f"{API}/work-orders/{wo['id']}/transitions/close", json={"version": version})
        codes.append(r.status_code)

    threads = [threading.Thread(target=close, args=(s.api,)) for s in (shop, second)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(codes) == [200, 409], codes
    with shop.ctx() as s:
        from core.documents import history
        from plugins.crm.models import OdometerReading
        from plugins.workshop.models import WorkOrder

        order = s.get(WorkOrder, wo["id"])
        assert order.state == "closed"
        assert [h.transition for h in history(order)].count("close") == 1
        assert len(s.query(OdometerReading).all()) == 1  # the close's side effects happened once
