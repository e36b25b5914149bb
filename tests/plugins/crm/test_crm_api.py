"""CRM behaviour through the HTTP API (generic CRUD + the CRM's own endpoints), on both databases."""
from datetime import date, timedelta

import pytest
from tests.plugins.crm.shop_clock import shop_today

VIN_US = "1M8GDM9AXKP042788"


def make_client(c, **body):
    body.setdefault("name", "Иванов Иван Иванович")
    r = c.post("/api/v1/crm/clients", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def make_vehicle(c, **body):
    r = c.post("/api/v1/crm/vehicles", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_field_errors_say_what_is_wrong(crm):
    c = crm.client
    r = c.post("/api/v1/crm/clients", json={"name": "ООО Ромашка", "kind": "company", "phones": ["12345"],
                                            "emails": ["ivan@"], "inn": "7707083894"})
    assert r.status_code == 422
    fields = r.get_json()["fields"]
    assert "valid phone number" in fields["phones"]["0"][0]
    assert "e-mail address" in fields["emails"]["0"][0]
    assert "check digits" in fields["inn"][0]
    r = c.post("/api/v1/crm/vehicles", json={"vin": "1M8GDM9A1KP042788", "plate": "а1"})
    fields = r.get_json()["fields"]
    assert "check digit" in fields["vin"][0] and "4 to 12" in fields["plate"][0]
    # A valid client: phones normalised to E.164, INN kept.
    made = make_client(c, name="ООО «Ромашка»", kind="company", phones=["8 (916) 123-45-67"],
                       emails=["Info@Romashka.RU"], inn="7707083893", consent_sms=True, source="Яндекс.Карты")
    assert made["phones"] == ["+79161234567"] and made["emails"] == ["Info@romashka.ru"]
    assert made["consent_sms_at"] and made["consent_email_at"] is None  # consent carries its date
    # A Russian-speaking user reads the same errors in Russian.
    r = c.post("/api/v1/crm/clients", json={"name": "Х", "phones": ["12345"]}, headers={"Accept-Language": "ru"})
    assert r.status_code == 422 and "номер телефона" in r.get_json()["fields"]["phones"]["0"][0]


def test_duplicates_are_shown_and_merge_moves_everything(crm):
    c = crm.client
    a = make_client(c, name="Петров Пётр", phones=["+7 916 111-22-33"])
    r = c.post("/api/v1/crm/clients", json={"name": "Петров П.", "phones": ["8 916 1112233"]})
    assert r.status_code == 422
    body = r.get_json()["fields"]
    assert f"client #{a['id']}" in body["phones"][0] and body["duplicate_of"] == [f"/api/v1/crm/clients/{a['id']}"]
    b = make_client(c, name="Петров П.", phones=["8 916 1112233", "+7 903 555-66-77"], allow_duplicate=True,
                    emails=["petrov@example.ru"])
    car = make_vehicle(c, vin=VIN_US, plate="о777оо77", client_id=b["id"], make="Ford")
    r = c.post("/api/v1/crm/vehicles", json={"vin": VIN_US.lower()})
    assert r.status_code == 422 and r.get_json()["fields"]["duplicate_of"] == [f"/api/v1/crm/vehicles/{car['id']}"]
    r = c.post("/api/v1/crm/vehicles", json={"plate": "O777OO77"})  # Latin O this time
    assert r.status_code == 422 and "plate" in r.get_json()["fields"]
    found = c.get("/api/v1/crm/duplicates?phone=89161112233&plate=О777ОО77").get_json()
    assert {x["id"] for x in found["clients"]} == {a["id"], b["id"]} and found["vehicles"][0]["id"] == car["id"]
    # Updating a record never reports itself as its duplicate.
    r = c.patch(f"/api/v1/crm/vehicles/{car['id']}", json={"plate": "О777ОО77", "make": "Ford", "version": car["version"]})
    assert r.status_code == 200, r.get_json()

    r = c.post(f"/api/v1/crm/clients/{a['id']}/merge", json={"source_id": b["id"]})
    assert r.status_code == 200, r.get_json()
    merged = r.get_json()["client"]
    assert merged["phones"] == ["+79161112233", "+79035556677"] and merged["emails"] == ["petrov@example.ru"]
    assert c.get(f"/api/v1/crm/clients/{b['id']}").status_code == 404
    assert c.get(f"/api/v1/crm/vehicles/{car['id']}").get_json()["client_id"] == a["id"]
    history = c.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [o["client_id"] for o in history["owners"]] == [a["id"]]
    with crm.ctx() as s:
        from sqlalchemy import select

        from core.audit import AuditLog

        row = s.scalars(select(AuditLog).where(AuditLog.action == "merge")).one()
        assert row.object_id == a["id"] and row.changes["merged_client"][0]["id"] == b["id"]
    assert c.post(f"/api/v1/crm/clients/{a['id']}/merge", json={"source_id": a["id"]}).status_code == 422


def test_search_by_every_key(crm):
    c = crm.client
    ivanov = make_client(c, name="Иванов Сергей Петрович", phones=["+7 916 123-45-67"])
    romashka = make_client(c, name="ООО «Ромашка»", kind="company", phones=["+7 495 765-43-21"])
    v1 = make_vehicle(c, vin="XTA219000K0123456", plate="А123ВС77", make="Lada", model="Vesta", client_id=ivanov["id"])
    v2 = make_vehicle(c, vin=VIN_US, plate="K001MM199", make="Ford", client_id=romashka["id"])
    make_vehicle(c, plate="B555XX50")  # noise

    def first(q):
        r = c.get("/api/v1/crm/search", query_string={"q": q})
        assert r.status_code == 200 and "db;dur=" in r.headers["Server-Timing"]
        results = r.get_json()["results"]
        assert results, q
        return results[0]

    assert first("XTA219000K0123456")["vehicle"]["id"] == v1["id"]
    assert first("123456")["vehicle"]["id"] == v1["id"]  # VIN suffix
    assert first("042788")["vehicle"]["id"] == v2["id"]
    assert first("а123вс77")["vehicle"]["id"] == v1["id"]  # Cyrillic
    assert first("A123ВC77")["vehicle"]["id"] == v1["id"]  # Latin/Cyrillic mix
    hit = first("123вс")
    assert hit["vehicle"]["id"] == v1["id"] and hit["client"]["id"] == ivanov["id"] and hit["last_visit"] is None
    assert first("001мм")["vehicle"]["id"] == v2["id"]
    assert first("а 123 вс 77")["vehicle"]["id"] == v1["id"]
    assert first("8 (916) 123-45-67")["client"]["id"] == ivanov["id"]
    assert first("4567")["client"]["id"] == ivanov["id"]  # last digits
    phone_hit = first("+74957654321")
    assert phone_hit["client"]["id"] == romashka["id"] and phone_hit["vehicles"][0]["id"] == v2["id"]
    assert first("иван")["client"]["id"] == ivanov["id"]  # name prefix
    assert first("Ивонов")["client"]["id"] == ivanov["id"]  # one typo
    namesake = make_client(c, name="Иванов Алексей Петрович")
    assert first("Ивонов Сергей")["client"]["id"] == ivanov["id"]  # typo'd surname + first name
    assert first("Сергей Иванов")["client"]["id"] == ivanov["id"]  # either order
    assert first("Иванов Алек")["client"]["id"] == namesake["id"]
    assert first("Ромашка")["client"]["id"] == romashka["id"]
    r = c.patch(f"/api/v1/crm/clients/{romashka['id']}", json={"inn": "7707083893", "version": romashka["version"]})
    assert r.status_code == 200, r.get_json()
    assert first("7707083893")["client"]["id"] == romashka["id"]  # by INN
    assert first("ромашко")["client"]["id"] == romashka["id"]
    assert first("иванов а123")["vehicle"]["id"] == v1["id"]
    assert c.get("/api/v1/crm/search?q=zzzzzz").get_json()["results"] == []
    page = c.get("/crm/search?q=а123вс77")
    assert page.status_code == 200 and "A123BC77" in page.get_data(as_text=True)


def test_search_never_crosses_tenants(crm, tenant, user, api_client):
    make_vehicle(crm.client, vin="XTA219000K0123456", plate="А123ВС77")
    make_client(crm.client, name="Сидоров", phones=["+7 916 000-11-22"])
    other = api_client(user(role="service_advisor", tenant=tenant(tier="basic")))
    for q in ("А123ВС77", "123456", "Сидоров", "0001122"):
        assert other.get("/api/v1/crm/search", query_string={"q": q}).get_json()["results"] == [], q


def test_free_tier_has_no_crm(tenant, user, api_client):
    client = api_client(user(role="owner", tenant=tenant(tier="free")))
    for url in ("/api/v1/crm/search?q=a123", "/api/v1/crm/clients", "/api/v1/crm/duplicates?plate=A1",
                "/api/v1/crm/vehicles/1/history"):
        assert client.get(url).status_code == 404, url
    assert client.get("/crm/search").status_code == 404


def test_permissions(crm, user, api_client, app):
    car = make_vehicle(crm.client, plate="А123ВС77")
    tech = api_client(user(role="technician", tenant=crm.tenant))
    assert tech.get("/api/v1/crm/search?q=a123").status_code == 200
    assert tech.post(f"/api/v1/crm/vehicles/{car['id']}/odometer", json={"value": 10}).status_code == 403
    assert tech.post("/api/v1/crm/clients/1/merge", json={"source_id": 2}).status_code == 403
    assert app.test_client().get("/api/v1/crm/search?q=a123").status_code in (401, 404)


def test_odometer_flags_and_daily_mileage(crm):
    c = crm.client
    car = make_vehicle(c, plate="А123ВС77")
    url = f"/api/v1/crm/vehicles/{car['id']}/odometer"
    today = shop_today()

    def add(days_ago, value, **extra):
        r = c.post(url, json={"read_on": (today - timedelta(days=days_ago)).isoformat(), "value": value, **extra})
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    assert not add(300, 10_000, source="intake")["reading"]["flagged"]
    assert not add(100, 20_000)["reading"]["flagged"]
    assert not add(200, 15_000, source="import")["reading"]["flagged"]  # late, but consistent
    rollback = add(50, 12_000)["reading"]
    assert rollback["flagged"] and "cannot go back" in rollback["flag_reason"]
    jump = add(49, 900_000)["reading"]
    assert jump["flagged"] and "implausible" in jump["flag_reason"]
    too_high = add(250, 30_000)["reading"]
    assert too_high["flagged"]
    body = add(0, 25_000)
    assert not body["reading"]["flagged"]
    # 10,000 -> 25,000 km in 300 days on a straight line: 50 km a day; flagged readings ignored.
    assert body["mileage"]["daily_km"] == pytest.approx(50, abs=1)
    assert body["mileage"]["last_value"] == 25_000
    listing = c.get(url).get_json()
    assert len(listing["readings"]) == 7 and sum(r["flagged"] for r in listing["readings"]) == 3
    r = c.post(url, json={"value": -5, "read_on": (today + timedelta(days=2)).isoformat()})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"value", "read_on"}


def test_service_book_recommendations_and_histories(crm):
    c = crm.client
    owner1 = make_client(c, name="Первый Владелец")
    owner2 = make_client(c, name="Второй Владелец")
    car = make_vehicle(c, plate="А123ВС77", client_id=owner1["id"])
    r = c.post("/api/v1/crm/service-entries", json={
        "vehicle_id": car["id"], "performed_on": "2024-05-01", "mileage": 45000, "description": "ТО-3",
        "parts": ["Масло 5W-30", "Фильтр"], "performed_by": "Дилер", "amount": "12500.50"})
    assert r.status_code == 201, r.get_json()
    rec = c.post("/api/v1/crm/recommendations", json={"vehicle_id": car["id"], "text": "Заменить колодки",
                                                      "urgency": "high", "source": "inspection"})
    assert rec.status_code == 201, rec.get_json()
    rec = rec.get_json()
    assert rec["state"] == "open" and rec["created_by_id"] == crm.user.id
    declined = c.post(f"/api/v1/crm/recommendations/{rec['id']}/decide", json={"state": "declined"}).get_json()
    assert declined["state"] == "declined" and declined["declined_at"]
    v = c.get(f"/api/v1/crm/vehicles/{car['id']}").get_json()
    r = c.patch(f"/api/v1/crm/vehicles/{car['id']}", json={"plate": "В456ОР99", "client_id": owner2["id"],
                                                            "version": v["version"]})
    assert r.status_code == 200, r.get_json()
    stale = c.patch(f"/api/v1/crm/vehicles/{car['id']}", json={"colour": "red", "version": v["version"]})
    assert stale.status_code == 409  # someone saved since this version was read
    h = c.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert h["entries"][0]["work"] == ["ТО-3"] and h["entries"][0]["amount"] == "12500.50"
    assert h["entries"][0]["parts"] == ["Масло 5W-30", "Фильтр"] and h["entries"][0]["performed_by"] == "Дилер"
    assert [x["state"] for x in h["recommendations"]] == ["declined"]
    assert [p["plate"] for p in h["plates"]] == ["A123BC77", "B456OP99"] and h["plates"][0]["to"]
    assert [o["client_id"] for o in h["owners"]] == [owner1["id"], owner2["id"]] and h["owners"][0]["until"]
    # The new plate finds the car (the old one too, as a former plate: test_crm_former_plates.py).
    assert c.get("/api/v1/crm/search?q=B456OP99").get_json()["results"][0]["vehicle"]["id"] == car["id"]
    r = c.post(f"/api/v1/crm/vehicles/{car['id']}/drivers", json={"client_id": owner1["id"], "note": "сын"})
    assert r.status_code == 201 and r.get_json()["drivers"][0]["name"] == "Первый Владелец"
    assert c.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()["drivers"][0]["note"] == "сын"
    assert c.delete(f"/api/v1/crm/vehicles/{car['id']}/drivers/{owner1['id']}").get_json()["drivers"] == []
    page = c.get(f"/crm/vehicles/{car['id']}/history")
    assert page.status_code == 200 and "ТО-3" in page.get_data(as_text=True)
    bad = c.post(f"/api/v1/crm/recommendations/{rec['id']}/decide", json={"state": "declined"})
    assert bad.status_code == 409


def test_import_is_all_or_nothing(crm, user, api_client):
    import io

    c = api_client(user(role="admin", tenant=crm.tenant))  # importing is for owners and admins
    assert crm.client.post("/api/v1/crm/import/clients", data={}).status_code == 403
    make_client(c, name="Уже Есть", phones=["+7 916 999-88-77"])
    bad_csv = ("name;phones;emails\nНовиков Н.;+7 916 100-00-01;\n;+7 916 100-00-02;\n"
               "Дубль;+7 916 999-88-77;\nКозлов;8 916 100-00-01;bad@\n").encode()
    r = c.post("/api/v1/crm/import/clients", data={"file": (io.BytesIO(bad_csv), "clients.csv")})
    assert r.status_code == 422
    report = {row["row"]: row["errors"] for row in r.get_json()["rows"]}
    assert set(report) == {3, 4, 5} and "name" in report[3] and "phones" in report[4]
    assert "row 2" in report[5]["phones"][0] and "emails" in report[5]
    assert c.get("/api/v1/crm/search?q=Новиков").get_json()["results"] == []

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["vin", "plate", "make", "year", "client_phone", "odometer"])
    wb.active.append(["XTA219000K0123456", "а123вс77", "Lada", 2019, "89169998877", 45000])
    wb.active.append([None, "К001ММ199", "Kia", 2021, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    r = c.post("/api/v1/crm/import/vehicles", data={"file": (io.BytesIO(buf.getvalue()), "cars.xlsx")})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["created"] == 2
    hit = c.get("/api/v1/crm/search?q=а123вс77").get_json()["results"][0]
    assert hit["client"]["name"] == "Уже Есть"
    readings = c.get(f"/api/v1/crm/vehicles/{hit['vehicle']['id']}/odometer").get_json()["readings"]
    assert readings[0]["value"] == 45000 and readings[0]["source"] == "import"


def test_demo_data_is_idempotent(crm):
    from sqlalchemy import func, select

    from core.db import db
    from core.models import Tenant
    from plugins.crm.demo import add_demo_data
    from plugins.crm.models import Client, Vehicle

    with crm.ctx() as s:
        assert add_demo_data(s.get(Tenant, crm.tenant.id)) >= 30
    with crm.ctx() as s:
        assert add_demo_data(s.get(Tenant, crm.tenant.id)) == 0
        assert s.scalar(select(func.count()).select_from(Client)) == 30
        assert s.scalar(select(func.count()).select_from(Vehicle)) >= 30
    assert crm.client.get("/api/v1/crm/search?q=Иванов").get_json()["results"]
