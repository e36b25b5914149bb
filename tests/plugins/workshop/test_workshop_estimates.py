"""Estimates and diagnostic acts: printable, and each becomes a work order once."""
API = "/api/v1/workshop"


def test_an_estimate_is_printed_accepted_and_becomes_a_work_order(shop):
    client, car = shop.client_and_car()
    est = shop.post(f"{API}/estimates", {
        "client_id": client["id"], "vehicle_id": car["id"], "odometer": 98000, "complaint": "Течь масла",
        "valid_until": "2030-01-31", "items": [
            {"name": "Замена сальника коленвала", "hours": "2.5", "rate": "2000.00"},
            {"kind": "part", "name": "Сальник", "code": "12345", "quantity": "1", "price": "650.00"},
            {"kind": "part", "name": "Герметик", "quantity": "0.5", "unit": "туба", "price": "333.33",
             "discount_percent": "10"}]})
    assert est["number"].startswith("EST-") and est["total"] == "5800.00"  # 5000 + 650 + 150.00
    assert [i["amount"] for i in est["items"]] == ["5000.00", "650.00", "150.00"]
    r = shop.api.post(f"{API}/estimates", json={"client_id": client["id"], "vehicle_id": car["id"],
                                                "items": [{"kind": "part", "name": "X", "price": "1.001"}]})
    assert r.status_code == 422 and "items" in r.get_json()["fields"]
    printed = shop.api.get(f"{API}/estimates/{est['id']}/print").get_data(as_text=True)
    assert est["number"] in printed and "Замена сальника коленвала" in printed and "5,800.00" in printed
    shop.transition("estimates", est["id"], "send")
    shop.transition("estimates", est["id"], "accept")

    wo = shop.post(f"{API}/estimates/{est['id']}/work-order")
    assert wo["number"].startswith("WO-") and wo["total"] == "5800.00" and wo["odometer"] == 98000
    assert [line["name"] for line in wo["labor_lines"] + wo["part_lines"]] == [
        "Замена сальника коленвала", "Сальник", "Герметик"]
    est = shop.api.get(f"{API}/estimates/{est['id']}").get_json()
    assert est["state"] == "converted" and est["work_order_id"] == wo["id"]
    assert shop.api.post(f"{API}/estimates/{est['id']}/work-order").status_code == 409
    r = shop.api.patch(f"{API}/estimates/{est['id']}", json={"complaint": "x", "version": est["version"]})
    assert r.status_code == 409  # converted: immutable


def test_a_diagnostic_act_turns_its_findings_into_jobs(shop):
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 120500,
                                             "complaint": "Стук в подвеске"})
    act = shop.post(f"{API}/diagnostic-acts", {
        "service_order_id": so["id"], "technician_name": "Иван Кузнецов",
        "conclusion": "Требуется замена стоек стабилизатора", "findings": [
            {"item": "Шаровые опоры", "status": "ok"},
            {"item": "Стойки стабилизатора", "status": "urgent", "note": "люфт", "job": "Замена стоек стабилизатора",
             "hours": "0.8"},
            {"item": "Сайлентблоки", "status": "attention", "job": "Замена сайлентблоков", "hours": "2.0"},
            {"item": "Пыльники ШРУС", "status": "attention", "note": "трещины, наблюдать"}]})
    assert act["number"].startswith("DA-") and (act["client_id"], act["odometer"]) == (client["id"], 120500)
    printed = shop.api.get(f"{API}/diagnostic-acts/{act['id']}/print").get_data(as_text=True)
    assert "Стойки стабилизатора" in printed and "Иван Кузнецов" in printed
    r = shop.api.post(f"{API}/diagnostic-acts/{act['id']}/work-order", json={"rate": "1800.00"})
    assert r.status_code == 409  # not completed yet: the transition refuses, and no order is left behind
    assert shop.api.get(f"{API}/work-orders").get_json()["total"] == 0
    shop.transition("diagnostic-acts", act["id"], "complete")
    wo = shop.post(f"{API}/diagnostic-acts/{act['id']}/work-order", {"rate": "1800.00"})
    assert [(line["name"], line["amount"], line["decision"]) for line in wo["labor_lines"]] == [
        ("Замена стоек стабилизатора", "1440.00", "pending"), ("Замена сайлентблоков", "3600.00", "pending")]
    assert wo["service_order_id"] == so["id"]
    assert shop.api.get(f"{API}/diagnostic-acts/{act['id']}").get_json()["state"] == "converted"
