"""What a QA walkthrough of the demo shop found: job lines billing 0 with no labour rate, recommendations
added without their catalog price, users shown and typed as raw ids, another client's car on an order."""
import re

API = "/api/v1/workshop"


def _russian_shop(shop):
    """The shop prints in Russian (the fixture's shops print in English)."""
    with shop.ctx() as session:
        from core.models import Tenant

        session.get(Tenant, shop.tenant.id).language = "ru"
        session.commit()


def _ui_post(ui, csrf_token, page, url, **data):
    token = csrf_token(ui.get(page).get_data(as_text=True))
    r = ui.post(url, data={"csrf_token": token, **data})
    assert r.status_code == 302, r.status_code
    return ui.get(page).get_data(as_text=True)


def test_a_job_line_without_a_labour_rate_is_flagged_refused_at_approval_and_repriced(make_shop, signed_in,
                                                                                       csrf_token):
    shop = make_shop(tier="master")
    job = shop.post(f"{API}/jobs", {"name": "Замена дисков тормозных передних", "standard_hours": "1.4"})
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    ui = signed_in(shop)
    page = f"/workshop/work-orders/{wo['id']}"
    html = _ui_post(ui, csrf_token, page, f"{page}/lines", kind="labor", job_id=str(job["id"]))
    line = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"][0]
    assert (line["hours"], line["amount"]) == ("1.400", "0.00")
    # The page says why the line is 0 and what to do, on the line and on the order.
    assert html.count("No labour rate: set one in Labour rates or type a price.") == 2
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    # Approving would bill the client nothing for 1.4 hours: refused, naming the line.
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/transitions/approve", json={})
    assert r.status_code == 422 and "No labour rate for: Замена дисков тормозных передних" in r.get_json()["message"]
    # The shop sets its rate; the line added before it is priced again on request (a typed price stays).
    shop.post(f"{API}/labor-rates", {"rate": "2200.00"})
    typed = shop.line(wo["id"], name="Диагностика", hours="0.5", rate="1000.00")["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": typed["id"], "decision": "approved"}]})
    html = _ui_post(ui, csrf_token, page, f"{page}/reprice")
    lines = {x["name"]: x for x in shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"]}
    assert lines["Замена дисков тормозных передних"]["amount"] == "3080.00"
    assert lines["Диагностика"]["amount"] == "500.00"
    assert "No labour rate" not in html
    assert shop.transition("work-orders", wo["id"], "approve")["state"] == "approved"


def test_a_recommendation_in_other_words_is_added_as_its_catalog_job(make_shop, signed_in, csrf_token):
    shop = make_shop(tier="master")
    align = shop.post(f"{API}/jobs", {"name": "Регулировка развала-схождения", "standard_hours": "1.0",
                                      "fixed_price": "2500.00"})
    shop.post(f"{API}/jobs", {"name": "Замена колодок тормозных передних", "standard_hours": "0.8"})
    client, car = shop.client_and_car()
    rec = shop.post("/api/v1/crm/recommendations", {"vehicle_id": car["id"], "text": "Развал-схождение"})
    odd = shop.post("/api/v1/crm/recommendations", {"vehicle_id": car["id"], "text": "Заменить амортизаторы задние"})
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    ui = signed_in(shop)
    page = f"/workshop/work-orders/{wo['id']}"
    for r in (rec, odd):
        _ui_post(ui, csrf_token, page, f"{page}/recommendations/{r['id']}")
    lines = {x["recommendation_id"]: x for x in shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"]}
    matched, free = lines[rec["id"]], lines[odd["id"]]
    assert (matched["job_id"], matched["name"], matched["hours"], matched["amount"]) == (
        align["id"], "Регулировка развала-схождения", "1.000", "2500.00")
    assert (free["job_id"], free["name"]) == (None, "Заменить амортизаторы задние")  # nothing close: free text


def test_users_are_chosen_and_shown_by_name_and_the_advisor_follows_to_the_work_order(make_shop, user, signed_in,
                                                                                       csrf_token):
    shop = make_shop(tier="master")
    tech = user(role="technician", tenant=shop.tenant)
    ui = signed_in(shop)
    html = ui.get("/workshop/employees/new").get_data(as_text=True)
    select = re.search(r'<select[^>]*name="user_id".*?</select>', html, re.S)
    assert select and f'value="{tech.id}"' in select.group(0) and tech.email in select.group(0)
    token = csrf_token(html)
    r = ui.post("/workshop/employees/new", data={"csrf_token": token, "name": "Пётр Механиков",
                                                 "user_id": str(tech.id)})
    assert r.status_code == 302
    with shop.ctx() as session:
        from sqlalchemy import select as sql_select

        from plugins.workshop.staff import Employee

        assert session.scalars(sql_select(Employee.user_id).where(Employee.name == "Пётр Механиков")).one() == tech.id

    with shop.ctx() as session:
        from core.models import User

        session.get(User, shop.user.id).name = "Ольга Смирнова"
        session.commit()
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"],
                                             "advisor_id": shop.user.id, "complaint": "Стук"})
    html = ui.get(f"/workshop/service-orders/{so['id']}").get_data(as_text=True)
    assert "Ольга Смирнова" in html and f">{shop.user.id}<" not in html
    assert re.search(r'<select[^>]*name="advisor_id"', ui.get(f"/workshop/service-orders/{so['id']}/edit")
                     .get_data(as_text=True))
    _ui_post(ui, csrf_token, f"/workshop/service-orders/{so['id']}", f"/workshop/service-orders/{so['id']}/make-work-order")
    orders = shop.api.get(f"{API}/work-orders?service_order_id={so['id']}").get_json()
    assert [o["advisor_id"] for o in orders["items"]] == [shop.user.id]


def test_a_work_order_refuses_a_car_of_another_client(make_shop):
    shop = make_shop()
    ivanov, _car = shop.client_and_car("Иванов Иван")
    petrov, petrovs_car = shop.client_and_car("Петров Пётр")
    r = shop.api.post(f"{API}/work-orders", json={"client_id": ivanov["id"], "vehicle_id": petrovs_car["id"]})
    assert r.status_code == 422 and "vehicle_id" in r.get_json()["fields"], r.get_json()
    # Unless Ivanov drives it.
    shop.post(f"/api/v1/crm/vehicles/{petrovs_car['id']}/drivers", {"client_id": ivanov["id"]})
    assert shop.work_order(client_id=ivanov["id"], vehicle_id=petrovs_car["id"])["vehicle_id"] == petrovs_car["id"]


def test_order_lists_show_translated_headers_and_the_clients_and_cars_names(make_shop, signed_in):
    shop = make_shop()
    client, car = shop.client_and_car("Иванов Иван")
    shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"]})
    ui = signed_in(shop, lang="ru")
    for url in ("/workshop/work-orders", "/workshop/service-orders"):
        html = ui.get(url).get_data(as_text=True)
        heads = re.findall(r'<th scope="col"[^>]*>\s*(?:<a [^>]*>)?([^<]+)', html)
        assert [h.strip() for h in heads][:4] == ["Номер", "Состояние", "Клиент", "Автомобиль"], heads
        assert "Иванов Иван" in html and car["plate"] in html


def test_a_decision_without_who_is_recorded_as_the_signed_in_user(make_shop, signed_in, csrf_token):
    shop = make_shop()
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = shop.line(wo["id"], name="Замена масла", hours="0.5", rate="2000.00")["line"]
    ui = signed_in(shop)
    page = f"/workshop/work-orders/{wo['id']}"
    _ui_post(ui, csrf_token, page, f"{page}/decisions", line_id=str(line["id"]), kind="labor", by="",
             decision="approved")
    line = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"][0]
    assert (line["decision"], line["decided_by"]) == ("approved", shop.user.email)


def test_the_print_shows_the_excess_as_what_the_client_pays_and_the_discount_as_included(make_shop):
    shop = make_shop()
    _russian_shop(shop)
    client, car = shop.client_and_car()
    insurer = shop.insurer()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    job = shop.line(wo["id"], name="Покраска бампера", fixed_price="10000.00")["line"]
    shop.line(wo["id"], "part-lines", name="Краска", quantity="1", price="1000.00", discount_percent="10")
    payer = shop.api.put(f"{API}/work-orders/{wo['id']}/payers", json={"payers": [
        {"kind": "insurer", "counterparty_id": insurer["id"], "excess": "1000.00"}]}).get_json()["payers"][0]
    shop.api.put(f"{API}/work-orders/{wo['id']}/labor-lines/{job['id']}/shares",
                 json={"shares": [{"payer_id": payer["id"], "percent": "100"}]})
    printed = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert "-1000" not in printed and "−1000" not in printed
    assert "Франшиза (платит клиент)" in printed
    # The totals' discount row says it is already in the amounts above (not a further deduction).
    assert "в т. ч. скидка" in printed and "<tr><th>Скидка</th>" not in printed


def test_technician_buttons_say_what_they_do_in_russian(make_shop, app, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    wo, _line = owner.approved_job(technician_id=tech.user.id)
    owner.transition("work-orders", wo["id"], "start")
    page = login(app.test_client(), tech.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    html = page.get("/workshop/my-jobs").get_data(as_text=True)
    assert 'value="start">Начать</button>' in html
    assert "Завершить весь заказ-наряд (все работы)" in html
    assert ": 3</small>" in html  # the job's hours as a number, not "3.000"
    ui = login(app.test_client(), owner.user)
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    assert "Работы выполнены" in ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)


def test_hours_and_percentages_are_not_shown_as_money(make_shop, signed_in):
    shop = make_shop(tier="master")
    job = shop.post(f"{API}/jobs", {"name": "Замена масла", "standard_hours": "0.5"})
    worker = shop.post(f"{API}/employees", {"name": "Кузнецов", "piece_rate_percent": "40"})
    ui = signed_in(shop, lang="ru")
    for url in (f"/workshop/jobs/{job['id']}", "/workshop/jobs"):
        assert "₽" not in ui.get(url).get_data(as_text=True), url
    html = ui.get(f"/workshop/employees/{worker['id']}").get_data(as_text=True)
    assert re.search(r"Сдельная ставка[^<]*</dt><dd>40</dd>", html)  # not "40,00 ₽"
    assert "0,5" in ui.get(f"/workshop/jobs/{job['id']}").get_data(as_text=True)
    # The stored values are still exact.
    assert shop.api.get(f"{API}/jobs/{job['id']}").get_json()["standard_hours"] == "0.500"


def test_line_forms_accept_a_decimal_comma_and_spaces(make_shop, signed_in, csrf_token):
    shop = make_shop()
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    ui = signed_in(shop, lang="ru")
    page = f"/workshop/work-orders/{wo['id']}"
    _ui_post(ui, csrf_token, page, f"{page}/lines", kind="part", name="Фильтр", quantity="1,5", price="1 250,50")
    _ui_post(ui, csrf_token, page, f"{page}/lines", kind="labor", name="Диагностика", hours="1,4", rate="2\u00a0000")
    order = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    part, job = order["part_lines"][0], order["labor_lines"][0]
    assert (part["quantity"], part["price"], part["amount"]) == ("1.500", "1250.50", "1875.75")
    assert (job["hours"], job["rate"], job["amount"]) == ("1.400", "2000.00", "2800.00")
    _ui_post(ui, csrf_token, page, f"{page}/lines/part/{part['id']}", name="Фильтр", quantity="1", price="99,90")
    assert shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["part_lines"][0]["price"] == "99.90"


def test_a_russian_print_and_page_write_money_and_hours_in_russian(make_shop, signed_in):
    shop = make_shop()
    _russian_shop(shop)
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    shop.line(wo["id"], name="Замена дисков", hours="1.4", rate="2200.00")
    shop.line(wo["id"], "part-lines", name="Диск", quantity="2", price="4150.00")
    printed = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True).replace("\xa0", " ")
    assert "3 080,00" in printed and "8 300,00" in printed and "11 380,00" in printed and ">1,4<" in printed
    assert "3080.00" not in printed and "1.4<" not in printed
    html = signed_in(shop, lang="ru").get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True).replace("\xa0", " ")
    assert "11 380,00" in html and "11380.00" not in html


def test_the_work_order_form_lists_the_clients_cars_first_and_refuses_another_clients(make_shop, signed_in,
                                                                                      csrf_token):
    shop = make_shop()
    petrov, petrovs_car = shop.client_and_car("Петров Пётр")
    ivanov, ivanovs_car = shop.client_and_car("Иванов Иван")
    ui = signed_in(shop, lang="ru")
    html = ui.get(f"/workshop/work-orders/new?client_id={ivanov['id']}").get_data(as_text=True)
    cars = re.search(r'<select[^>]*name="vehicle_id".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="(\d+)"', cars)[:1] == [str(ivanovs_car["id"])]
    r = ui.post("/workshop/work-orders/new", data={"csrf_token": csrf_token(html), "client_id": str(ivanov["id"]),
                                                   "vehicle_id": str(petrovs_car["id"])})
    assert r.status_code == 422
    assert "Этот автомобиль не принадлежит клиенту" in r.get_data(as_text=True)
