"""The work order page edits what an advisor edits every day: discounts on new lines, a line's fields,
deleting a line, charging a job or a part (by percent or amount) to a payer and giving it back."""
import re

import pytest

API = "/api/v1/workshop"


@pytest.fixture
def page(shop, signed_in, csrf_token):
    ui = signed_in(shop)

    class Page:
        def __init__(self):
            client, car = shop.client_and_car()
            self.order = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
            self.url = f"/workshop/work-orders/{self.order['id']}"

        def html(self):
            return ui.get(self.url).get_data(as_text=True)

        def post(self, path, **data):
            token = csrf_token(self.html())
            r = ui.post(self.url + path, data={"csrf_token": token, **data})
            assert r.status_code == 302
            return ui.get(self.url).get_data(as_text=True)  # with the flashed messages

        def api(self):
            return shop.api.get(f"{API}/work-orders/{self.order['id']}").get_json()

    return Page()


def test_lines_get_discounts_and_are_edited_and_deleted_on_the_page(page):
    page.post("/lines", kind="labor", name="Замена масла", hours="1", rate="2000", discount_percent="10")
    page.post("/lines", kind="part", name="Масло", quantity="4", price="800", discount_percent="5")
    wo = page.api()
    labor, part = wo["labor_lines"][0], wo["part_lines"][0]
    assert (labor["amount"], part["amount"]) == ("1800.00", "3040.00")
    html = page.html()
    assert f'/lines/labor/{labor["id"]}' in html and f'/lines/part/{part["id"]}/delete' in html
    page.post(f"/lines/labor/{labor['id']}", name="Замена масла ДВС", hours="1.5", rate="2000", fixed_price="",
              discount_percent="")
    page.post(f"/lines/part/{part['id']}", name="Масло 5W-30", quantity="4.5", price="800", discount_percent="5")
    refused = page.post(f"/lines/part/{part['id']}", name="Масло 5W-30", quantity="0", price="800")
    assert "The quantity must be above 0." in refused
    wo = page.api()
    assert [(x["name"], x["amount"]) for x in wo["labor_lines"] + wo["part_lines"]] == [
        ("Замена масла ДВС", "3000.00"), ("Масло 5W-30", "3420.00")]
    page.post(f"/lines/labor/{labor['id']}/delete")
    wo = page.api()
    assert wo["labor_lines"] == [] and wo["total"] == "3420.00"


def test_a_part_is_charged_to_a_payer_by_amount_and_given_back(shop, page):
    insurer = shop.insurer()
    page.post("/lines", kind="labor", name="Покраска", fixed_price="10000")
    page.post("/lines", kind="part", name="Бампер", quantity="1", price="20000")
    page.post("/payers", kind="insurer", counterparty_id=str(insurer["id"]))
    wo = page.api()
    part, labor = wo["part_lines"][0], wo["labor_lines"][0]
    assert f'value="part:{part["id"]}"' in page.html()  # parts are in the picker too
    page.post("/shares", line=f"part:{part['id']}", payer_id=str(wo["payers"][0]["id"]), share_by="amount",
              value="15000")
    page.post("/shares", line=f"labor:{labor['id']}", payer_id=str(wo["payers"][0]["id"]), share_by="percent",
              value="60")
    payers = {p["kind"]: p["total"] for p in page.api()["totals"]["payers"]}
    assert payers == {"client": "9000.00", "insurer": "21000.00"}  # 5000 + 4000 / 15000 + 6000
    too_much = page.post("/shares", line=f"part:{part['id']}", payer_id=str(wo["payers"][0]["id"]),
                         share_by="amount", value="25000")
    assert "do not fit its amount" in too_much
    page.post("/shares/clear", line=f"part:{part['id']}")
    payers = {p["kind"]: p["total"] for p in page.api()["totals"]["payers"]}
    assert payers == {"client": "24000.00", "insurer": "6000.00"}


def test_a_closed_order_has_no_edit_forms(shop, page):
    page.post("/lines", kind="labor", name="Мойка", fixed_price="500")
    line = page.api()["labor_lines"][0]
    shop.post(f"{API}/work-orders/{page.order['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", page.order["id"], name)
    assert f"/lines/labor/{line['id']}" not in page.html()
    page.post(f"/lines/labor/{line['id']}/delete")
    assert len(page.api()["labor_lines"]) == 1


def test_the_cars_recommendations_are_offered_and_added_in_one_click(make_shop, signed_in, csrf_token):
    shop = make_shop(tier="master")
    shop.post(f"{API}/labor-rates", {"rate": "2000.00"})
    shop.post(f"{API}/jobs", {"name": "Замена ремня ГРМ", "standard_hours": "3"})
    client, car = shop.client_and_car()
    first = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    belt = shop.line(first["id"], name="Замена ремня ГРМ", hours="3")["line"]
    shop.post(f"{API}/work-orders/{first['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": belt["id"], "decision": "declined"}]})
    ui = signed_in(shop)
    # Not offered back on the order that made it.
    assert "Recommended for this car" not in ui.get(f"/workshop/work-orders/{first['id']}").get_data(as_text=True)
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    html = ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "Recommended for this car" in html and "Замена ремня ГРМ" in html
    rec_id = int(re.search(rf'/workshop/work-orders/{wo["id"]}/recommendations/(\d+)', html).group(1))
    token = csrf_token(html)
    assert ui.post(f"/workshop/work-orders/{wo['id']}/recommendations/{rec_id}",
                   data={"csrf_token": token}).status_code == 302
    line = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"][0]
    # The catalog job of the same name, priced at the shop's rate; the line carries the recommendation.
    assert (line["name"], line["recommendation_id"], line["amount"]) == ("Замена ремня ГРМ", rec_id, "6000.00")
    assert line["job_id"] is not None
    html = ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "Recommended for this car" not in html  # on the order now
    # Another shop's recommendation cannot be added.
    other = make_shop(tier="master")
    oc, ocar = other.client_and_car()
    owo = other.work_order(client_id=oc["id"], vehicle_id=ocar["id"])
    other_ui = signed_in(other)
    token = csrf_token(other_ui.get(f"/workshop/work-orders/{owo['id']}").get_data(as_text=True))
    other_ui.post(f"/workshop/work-orders/{owo['id']}/recommendations/{rec_id}", data={"csrf_token": token})
    assert other.api.get(f"{API}/work-orders/{owo['id']}").get_json()["labor_lines"] == []


def test_a_work_order_made_from_a_service_order_brings_its_planned_jobs(make_shop, signed_in, csrf_token):
    shop = make_shop(tier="master")
    shop.post(f"{API}/labor-rates", {"rate": "2000.00"})
    shop.post(f"{API}/jobs", {"name": "Замена масла ДВС", "code": "OIL", "standard_hours": "0.5", "parts": [
        {"name": "Масло 5W-30", "quantity": "4", "price": "800.00"}]})
    shop.post(f"{API}/jobs", {"name": "Развал-схождение", "fixed_price": "2500.00"})
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"],
                                             "planned_jobs": "oil\nразвал-схождение\nПосмотреть стук справа"})
    ui = signed_in(shop)
    html = ui.get(f"/workshop/service-orders/{so['id']}").get_data(as_text=True)
    token = csrf_token(html)
    r = ui.post(f"/workshop/service-orders/{so['id']}/make-work-order", data={"csrf_token": token})
    assert r.status_code == 302 and "/work-orders/" in r.headers["Location"]
    wo = shop.api.get(f"{API}/work-orders/{r.headers['Location'].rsplit('/', 1)[1]}").get_json()
    assert [(x["name"], x["amount"], x["decision"]) for x in wo["labor_lines"]] == [
        ("Замена масла ДВС", "1000.00", "pending"), ("Развал-схождение", "2500.00", "pending"),
        ("Посмотреть стук справа", "0.00", "pending")]
    assert [p["name"] for p in wo["part_lines"]] == ["Масло 5W-30"]  # the job's usual parts come along

    # An order made through the API offers them on its page instead; one click adds one.
    api_wo = shop.work_order(service_order_id=so["id"])
    html = ui.get(f"/workshop/work-orders/{api_wo['id']}").get_data(as_text=True)
    assert "Planned at reception" in html and "Посмотреть стук справа" in html
    assert ui.post(f"/workshop/work-orders/{api_wo['id']}/planned-jobs/1", data={"csrf_token": token}).status_code == 302
    lines = shop.api.get(f"{API}/work-orders/{api_wo['id']}").get_json()["labor_lines"]
    assert [x["name"] for x in lines] == ["Развал-схождение"]
    html = ui.get(f"/workshop/work-orders/{api_wo['id']}").get_data(as_text=True)
    assert f"/workshop/work-orders/{api_wo['id']}/planned-jobs/1" not in html
    assert f"/workshop/work-orders/{api_wo['id']}/planned-jobs/0" in html
