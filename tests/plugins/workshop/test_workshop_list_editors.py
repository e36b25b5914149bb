"""The job catalog, estimates and diagnostic acts are built entirely on their pages: the generic form
leaves their lists out, and a line editor on the page adds and removes parts, lines and findings."""
import re

import pytest

API = "/api/v1/workshop"


@pytest.fixture
def ui(shop, signed_in):
    return signed_in(shop)


@pytest.fixture
def post(csrf_token):
    """``post(ui, url, **form)``: a form post with the page's CSRF token."""

    def do(ui, url, **data):
        token = csrf_token(ui.get("/workshop/work-orders/new").get_data(as_text=True))
        return ui.post(url, data={"csrf_token": token, **data})

    return do


def test_a_job_with_its_parts_is_made_in_the_ui(shop, ui, post):
    form = ui.get("/workshop/jobs/new").get_data(as_text=True)
    assert 'name="parts"' not in form  # no text box the loader would refuse
    r = post(ui, "/workshop/jobs/new", name="Замена масла ДВС", standard_hours="0.5", active="on")
    assert r.status_code == 302, r.get_data(as_text=True)
    job_url = r.headers["Location"]
    job_id = int(job_url.rstrip("/").rsplit("/", 1)[1])
    page = ui.get(job_url).get_data(as_text=True)
    assert "Usual parts" in page and "Add a part" in page
    assert post(ui, f"/workshop/jobs/{job_id}/parts", name="Масло 5W-30", quantity="4.5", unit="л",
                 price="850.00").status_code == 302
    assert post(ui, f"/workshop/jobs/{job_id}/parts", name="Фильтр", price="450").status_code == 302
    assert post(ui, f"/workshop/jobs/{job_id}/parts", name="Лишнее", price="1").status_code == 302
    post(ui, f"/workshop/jobs/{job_id}/parts", name="Плохое", price="-5")  # refused, by field
    page = ui.get(job_url).get_data(as_text=True)
    assert "Price: Must not be negative." in page and "Плохое" not in page
    assert post(ui, f"/workshop/jobs/{job_id}/parts/2/remove").status_code == 302
    parts = shop.api.get(f"{API}/jobs/{job_id}").get_json()["parts"]
    assert [(p["name"], p["quantity"], p["price"]) for p in parts] == [
        ("Масло 5W-30", "4.500", "850.00"), ("Фильтр", "1.000", "450.00")]
    # Editing the job's other fields keeps its parts.
    r = post(ui, f"/workshop/jobs/{job_id}/edit", name="Замена масла", standard_hours="0.6", active="on",
              version=str(shop.api.get(f"{API}/jobs/{job_id}").get_json()["version"]))
    assert r.status_code == 302, r.get_data(as_text=True)
    job = shop.api.get(f"{API}/jobs/{job_id}").get_json()
    assert job["name"] == "Замена масла" and [p["name"] for p in job["parts"]] == ["Масло 5W-30", "Фильтр"]


def test_an_estimate_is_made_and_filled_in_the_ui(shop, ui, post):
    client, car = shop.client_and_car()
    job = shop.post(f"{API}/jobs", {"name": "Диагностика подвески", "standard_hours": "0.5"})
    r = post(ui, "/workshop/estimates/new", client_id=str(client["id"]), vehicle_id=str(car["id"]))
    assert r.status_code == 302, r.get_data(as_text=True)
    est_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert post(ui, f"/workshop/estimates/{est_id}/items", kind="labor", name="Замена стоек", hours="1.5",
                 rate="2000").status_code == 302
    assert post(ui, f"/workshop/estimates/{est_id}/items", kind="labor", job_id=str(job["id"]),
                 rate="2000").status_code == 302  # the catalog job brings its name and hours
    assert post(ui, f"/workshop/estimates/{est_id}/items", kind="part", name="Стойка", quantity="2",
                 price="1200.50").status_code == 302
    est = shop.api.get(f"{API}/estimates/{est_id}").get_json()
    assert [(i["name"], i["amount"]) for i in est["items"]] == [
        ("Замена стоек", "3000.00"), ("Диагностика подвески", "1000.00"), ("Стойка", "2401.00")]
    assert est["total"] == "6401.00"
    assert post(ui, f"/workshop/estimates/{est_id}/items/0/remove", version=str(est["version"])).status_code == 302
    est = shop.api.get(f"{API}/estimates/{est_id}").get_json()
    assert est["total"] == "3401.00" and len(est["items"]) == 2
    # A stale page (an older version) is refused; the list is unchanged.
    post(ui, f"/workshop/estimates/{est_id}/items/0/remove", version=str(est["version"] - 1))
    assert len(shop.api.get(f"{API}/estimates/{est_id}").get_json()["items"]) == 2
    page = ui.get(f"/workshop/estimates/{est_id}").get_data(as_text=True)
    assert "Стойка" in page and "3401.00" in page
    # Editing the estimate's own fields keeps its lines.
    est = shop.api.get(f"{API}/estimates/{est_id}").get_json()
    r = post(ui, f"/workshop/estimates/{est_id}/edit", client_id=str(client["id"]), vehicle_id=str(car["id"]),
              complaint="Стук", version=str(est["version"]))
    assert r.status_code == 302, r.get_data(as_text=True)
    assert len(shop.api.get(f"{API}/estimates/{est_id}").get_json()["items"]) == 2


def test_a_diagnostic_act_with_findings_is_made_in_the_ui(shop, ui, post):
    client, car = shop.client_and_car()
    r = post(ui, "/workshop/diagnostic-acts/new", client_id=str(client["id"]), vehicle_id=str(car["id"]))
    assert r.status_code == 302, r.get_data(as_text=True)
    act_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert post(ui, f"/workshop/diagnostic-acts/{act_id}/findings", item="Шаровые опоры",
                 status="ok").status_code == 302
    assert post(ui, f"/workshop/diagnostic-acts/{act_id}/findings", item="Стойки стабилизатора", status="urgent",
                 job="Замена стоек", hours="0.8").status_code == 302
    post(ui, f"/workshop/diagnostic-acts/{act_id}/findings", item="", status="urgent")  # refused
    act = shop.api.get(f"{API}/diagnostic-acts/{act_id}").get_json()
    assert [(f["item"], f["status"]) for f in act["findings"]] == [
        ("Шаровые опоры", "ok"), ("Стойки стабилизатора", "urgent")]
    page = ui.get(f"/workshop/diagnostic-acts/{act_id}").get_data(as_text=True)
    assert "Urgent" in page and "Add a finding" in page
    shop.transition("diagnostic-acts", act_id, "complete")
    wo = shop.post(f"{API}/diagnostic-acts/{act_id}/work-order", {"rate": "1000.00"})
    assert [(line["name"], line["amount"]) for line in wo["labor_lines"]] == [("Замена стоек", "800.00")]
    # Converted: immutable, no editor left.
    page = ui.get(f"/workshop/diagnostic-acts/{act_id}").get_data(as_text=True)
    assert "Add a finding" not in page
    post(ui, f"/workshop/diagnostic-acts/{act_id}/findings", item="Поздно", status="ok")
    assert len(shop.api.get(f"{API}/diagnostic-acts/{act_id}").get_json()["findings"]) == 2


def test_made_work_orders_price_their_jobs_at_the_shops_rates(make_shop, signed_in, post):
    """"Make a work order" from a diagnostic act or an estimate prices jobs given without a rate as a
    line added by hand would be: the client's contract rate, else the category's, else the shop's."""
    shop = make_shop(tier="master")
    ui = signed_in(shop)
    shop.post(f"{API}/labor-rates", {"rate": "2500.00"})
    shop.post(f"{API}/labor-rates", {"category": "Кузовные", "rate": "3000.00"})
    client, car = shop.client_and_car()
    act = shop.post(f"{API}/diagnostic-acts", {"client_id": client["id"], "vehicle_id": car["id"], "findings": [
        {"item": "Стойки", "status": "urgent", "job": "Замена стоек", "hours": "0.8"},
        {"item": "Диски", "status": "attention", "job": "Правка диска", "price": "1500.00"}]})
    shop.transition("diagnostic-acts", act["id"], "complete")
    r = post(ui, f"/workshop/diagnostic-acts/{act['id']}/make-work-order")
    assert r.status_code == 302 and "/work-orders/" in r.headers["Location"]
    wo = shop.api.get(f"{API}/work-orders/{r.headers['Location'].rsplit('/', 1)[1]}").get_json()
    assert [(line["name"], line["rate"], line["amount"]) for line in wo["labor_lines"]] == [
        ("Замена стоек", "2500.00", "2000.00"), ("Правка диска", None, "1500.00")]

    body_job = shop.post(f"{API}/jobs", {"name": "Покраска крыла", "category": "Кузовные", "standard_hours": "3"})
    other, other_car = shop.client_and_car("ООО Контракт")
    shop.post(f"{API}/contract-rates", {"client_id": other["id"], "rate": "2000.00"})
    for who, car_id, expected in ((client, car["id"], "9000.00"), (other, other_car["id"], "6000.00")):
        est = shop.post(f"{API}/estimates", {"client_id": who["id"], "vehicle_id": car_id, "items": [
            {"name": "Покраска крыла", "job_id": body_job["id"]},
            {"name": "Мойка", "hours": "1", "rate": "700.00"}]})
        wo = shop.post(f"{API}/estimates/{est['id']}/work-order")
        assert [line["amount"] for line in wo["labor_lines"]] == [expected, "700.00"]


@pytest.mark.parametrize("lang, expected", [
    ("ru", ("Уровень топлива", "Пробег, км", "Планируемые работы", "Пустой", "Клиент", "Автомобиль")),
    ("zh", ("燃油量", "里程（公里）", "计划作业", "满", "客户", "车辆"))])
def test_the_workshop_forms_speak_the_users_language(shop, signed_in, lang, expected):
    ui = signed_in(shop, lang)
    page = ui.get("/workshop/service-orders/new").get_data(as_text=True)
    for text in expected:
        assert text in page, text
    for english in ("Client id", "Fuel level", "Condition notes", "Planned jobs"):
        assert english not in page, english
    assert re.search(r'<textarea[^>]*name="complaint"', page) and re.search(r'<textarea[^>]*name="condition_notes"', page)
    job_form = ui.get("/workshop/jobs/new").get_data(as_text=True)
    assert "Standard hours" not in job_form and "Fixed price" not in job_form


def test_the_norms_forms_are_labelled_too(make_shop, signed_in):
    ui = signed_in(make_shop(tier="master"), "ru")
    assert "Ставка нормо-часа" in ui.get("/workshop/labor-rates/new").get_data(as_text=True)
    page = ui.get("/workshop/job-norms/new").get_data(as_text=True)
    assert "Марка" in page and "Job id" not in page
    assert "Скидка на работы, %" in ui.get("/workshop/contract-rates/new").get_data(as_text=True)
