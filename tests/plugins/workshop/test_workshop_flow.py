"""The day of a car in the shop, through the HTTP API: reception act, work order with labour and parts,
the client's decisions, work, close; the CRM's mileage history, service book and recommendations."""
API = "/api/v1/workshop"


def test_from_service_order_to_closed_work_order(shop):
    with shop.ctx() as s:
        from core.models import Tenant

        row = s.get(Tenant, shop.tenant.id)
        row.requisites = {"legal_name": "ООО «Автосервис Север»", "inn": "7707083893", "address": "Москва"}
        s.commit()
    client, car = shop.client_and_car()
    job = shop.post(f"{API}/jobs", {"name": "Замена масла ДВС", "code": "ENG-OIL", "standard_hours": "0.5"})
    assert job["standard_hours"] == "0.500"

    # 3. The car arrives: the reception act, then the car is received (mileage into the car's history).
    so = shop.post(f"{API}/service-orders", {
        "client_id": client["id"], "vehicle_id": car["id"], "odometer": 45210, "fuel_level": 50,
        "complaint": "Стук спереди справа", "condition_notes": "Скол на лобовом стекле",
        "planned_jobs": "ТО-45, диагностика подвески"})
    assert so["number"].startswith("SO-") and so["state"] == "draft"
    so = shop.transition("service-orders", so["id"], "accept")
    assert so["state"] == "accepted"
    readings = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/odometer").get_json()
    assert [(r["value"], r["source"]) for r in readings["readings"]] == [(45210, "intake")]
    printed = shop.api.get(f"{API}/service-orders/{so['id']}/print")
    assert printed.status_code == 200
    html = printed.get_data(as_text=True)
    assert so["number"] in html and "ООО «Автосервис Север»" in html and "Стук спереди справа" in html

    # 4. The work order from the service order: client, car, mileage and complaint come along.
    wo = shop.work_order(service_order_id=so["id"])
    assert wo["number"].startswith("WO-") and wo["state"] == "draft"
    assert (wo["client_id"], wo["vehicle_id"], wo["odometer"]) == (client["id"], car["id"], 45210)
    oil_job = shop.line(wo["id"], job_id=job["id"], rate="2000.00", technician_id=shop.user.id)["line"]
    assert (oil_job["name"], oil_job["hours"], oil_job["amount"]) == ("Замена масла ДВС", "0.500", "1000.00")
    pads = shop.line(wo["id"], name="Замена колодок передних", hours="1.2", rate="2000.00",
                     discount_percent="10")["line"]
    assert (pads["gross"], pads["discount"], pads["amount"]) == ("2400.00", "240.00", "2160.00")
    oil = shop.line(wo["id"], "part-lines", name="Масло 5W-30", quantity="4.5", unit="л", price="850.00",
                    labor_line_id=oil_job["id"])["line"]
    assert oil["amount"] == "3825.00"
    out = shop.line(wo["id"], "part-lines", name="Фильтр масляный", code="OC 90", quantity="1", price="450.50")
    assert out["work_order"]["total"] == "7435.50"

    # Approving needs the client's decision on every line.
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/transitions/approve", json={})
    assert r.status_code == 422 and "decision" in r.get_json()["message"]
    decisions = [{"line_id": oil_job["id"], "decision": "approved"},
                 {"line_id": pads["id"], "decision": "approved"},
                 {"line_id": out["line"]["id"], "kind": "part", "decision": "approved"}]
    wo = shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Иванов И. И.", "channel": "phone",
                                                                "decisions": decisions})
    assert all(line["decision"] == "approved" and line["decided_by"] == "Иванов И. И."
               for line in wo["labor_lines"] + wo["part_lines"])  # the oil followed its job
    for name, state in (("approve", "approved"), ("start", "in_progress"), ("wait", "waiting"),
                        ("resume", "in_progress"), ("finish", "done")):
        wo = shop.transition("work-orders", wo["id"], name)
        assert wo["state"] == state
    assert wo["totals"]["payers"][0]["total"] == "7435.50" and wo["totals"]["vat"] == "0.00"
    printed = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert wo["number"] in printed and "Замена колодок передних" in printed and "7,435.50" in printed

    wo = shop.transition("work-orders", wo["id"], "close")
    assert wo["state"] == "closed" and wo["closed_at"]
    # Closed is immutable: neither the header nor the lines change any more.
    r = shop.api.patch(f"{API}/work-orders/{wo['id']}", json={"notes": "late", "version": wo["version"]})
    assert r.status_code == 409
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/labor-lines", json={"name": "Мойка", "fixed_price": "500"})
    assert r.status_code == 409
    assert shop.api.post(f"{API}/work-orders/{wo['id']}/transitions/reopen", json={}).status_code == 409
    # The reception act closes with its only work order; no new order can be made from it.
    assert shop.api.get(f"{API}/service-orders/{so['id']}").get_json()["state"] == "closed"
    r = shop.api.post(f"{API}/work-orders", json={"service_order_id": so["id"]})
    assert r.status_code == 422 and "service_order_id" in r.get_json()["fields"]
    pdf = shop.api.get(f"{API}/work-orders/{wo['id']}/print.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    import io

    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert wo["number"] in text and "Автосервис Север" in text and "колодок" in text  # Cyrillic survives

    # The CRM's service book now has the visit: date, mileage, jobs, parts, technician, amount.
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    entry = next(e for e in history["entries"] if e["source"] == "workshop.work_order")
    assert entry["mileage"] == 45210 and entry["amount"] == "7435.50"
    assert entry["work"] == ["Замена масла ДВС", "Замена колодок передних"]
    assert entry["parts"] == ["Масло 5W-30 × 4.5 л", "Фильтр масляный × 1"]
    assert entry["performed_by"] and entry["reference"]["id"] == wo["id"]
    # Reception's search shows the last visit.
    found = shop.api.get("/api/v1/crm/search?q=" + car["plate"]).get_json()["results"]
    assert any((item.get("last_visit") or {}).get("mileage") == 45210 for item in found), found
    # The mileage was recorded once, at intake (the order carried the same value).
    readings = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/odometer").get_json()
    assert [r["value"] for r in readings["readings"]] == [45210]

    with shop.ctx() as s:
        from sqlalchemy import select

        from core.audit import AuditLog

        actions = {(a.object_type, a.action) for a in s.scalars(select(AuditLog))}
        assert {("workshop_work_order", "create"), ("workshop_work_order", "transition"),
                ("workshop_labor_line", "create"), ("workshop_labor_line", "decision")} <= actions


def test_bad_input_gets_field_errors(shop):
    client, car = shop.client_and_car()
    r = shop.api.post(f"{API}/service-orders", json={"client_id": client["id"], "vehicle_id": 999999,
                                                      "fuel_level": 33, "odometer": -5})
    assert r.status_code == 422
    assert set(r.get_json()["fields"]) == {"vehicle_id", "fuel_level", "odometer"}
    r = shop.api.post(f"{API}/work-orders", json={})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"client_id", "vehicle_id"}
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/part-lines",
                      json={"name": "Масло", "quantity": "1.0005", "price": "10.001"})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"quantity", "price"}
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/labor-lines", json={"name": "X", "hours": 1.5, "rate": "abc"})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"rate"}
    assert shop.api.post(f"{API}/work-orders/999999/labor-lines", json={"name": "X"}).status_code == 404
