"""Job lines assigned to employees (workshop.staff), with a login or not: the employee and the user fill
each other, employees without a login get sold hours, piece-rate pay and comebacks, the employee is
validated (this shop's, active: 422 in the user's language), the work order page's picker lists them."""
import re
from datetime import date, timedelta

API = "/api/v1/workshop"
# The reports count the shop's days (Moscow): up to tomorrow (server date), so an order closed late in
# the UTC evening (already tomorrow in Moscow) is inside.
PERIOD = f"from={(date.today() - timedelta(days=2)).isoformat()}&to={(date.today() + timedelta(days=1)).isoformat()}"


def _approve_all(owner, wo, lines):
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"} for line in lines]})


def test_an_employee_without_a_login_is_paid_for_his_jobs(make_shop):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша", "position": "Ученик",
                                                 "piece_rate_percent": "37.50"})
    petrov = owner.post(f"{API}/employees", {"name": "Петров Пётр", "user_id": tech.user.id,
                                             "piece_rate_percent": "30"})
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    a = owner.line(wo["id"], name="Замена ремня ГРМ", hours="2", rate="1234.57", employee_id=apprentice["id"])["line"]
    b = owner.line(wo["id"], name="Диагностика", hours="0.75", rate="1000.00", employee_id=apprentice["id"])["line"]
    # Given the employee with a login: his user is filled in; given the user: his employee card.
    c = owner.line(wo["id"], name="Развал-схождение", hours="1", rate="2000.00", employee_id=petrov["id"])["line"]
    d = owner.line(wo["id"], name="Мойка", hours="0.5", rate="1000.00", technician_id=tech.user.id)["line"]
    assert (a["employee_id"], a["technician_id"], a["technician_name"]) == (apprentice["id"], None, "Сидоров Миша")
    assert (c["employee_id"], c["technician_id"], c["technician_name"]) == (petrov["id"], tech.user.id, "Петров Пётр")
    assert (d["employee_id"], d["technician_id"]) == (petrov["id"], tech.user.id)
    _approve_all(owner, wo, [a, b, c, d])
    owner.transition("work-orders", wo["id"], "approve")
    # The technician with a login still sees his jobs (by user or by employee card) and clocks them.
    mine = tech.api.get(f"{API}/my-jobs").get_json()["items"]
    assert sorted(j["line_id"] for j in mine) == [c["id"], d["id"]]
    owner.transition("work-orders", wo["id"], "start")
    clock = f"{API}/work-orders/{wo['id']}/labor-lines/{c['id']}/clock"
    assert tech.post(f"{clock}/start")["technician_id"] == tech.user.id
    tech.post(f"{clock}/finish")
    for step in ("finish", "close"):
        owner.transition("work-orders", wo["id"], step)

    pay = owner.api.get(f"{API}/reports/payroll?{PERIOD}").get_json()
    row = next(p for p in pay["items"] if p["employee_id"] == apprentice["id"])
    # 2469.14 + 750.00 = 3219.14 sold; 37.5% = 1207.1775 -> 1207.18; 2 + 0.75 = 2.75 sold hours.
    assert row == {"technician_id": None, "employee_id": apprentice["id"], "name": "Сидоров Миша",
                   "sold_hours": "2.75", "sold_labour": "3219.14", "piece_rate_percent": "37.50",
                   "piece_pay": "1207.18", "attended_hours": "0.00", "hourly_cost": "0.00", "time_pay": "0.00",
                   "total": "1207.18"}
    theirs = next(p for p in pay["items"] if p["employee_id"] == petrov["id"])
    # 2000.00 + 500.00 = 2500.00; 30% = 750.00
    assert (theirs["technician_id"], theirs["sold_hours"], theirs["sold_labour"], theirs["piece_pay"]) == (
        tech.user.id, "1.50", "2500.00", "750.00")
    assert pay["total"] == "1957.18"
    kpis = owner.api.get(f"{API}/reports/productivity?{PERIOD}").get_json()["items"]
    kpi = next(k for k in kpis if k["employee_id"] == apprentice["id"])
    assert (kpi["technician_id"], kpi["sold_hours"], kpi["clocked_hours"]) == (None, "2.75", "0.00")

    # A warranty rework on the same car goes back to the employee who did the job.
    again = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    rework = owner.line(again["id"], name="Устранение стука", hours="0.5", rework=True)["line"]
    assert rework["comeback_of_order_id"] == wo["id"]
    # Two people worked on the first order: the rework names nobody; the apprentice's own line does.
    assert rework["comeback_employee_id"] is None
    owner.api.delete(f"{API}/work-orders/{again['id']}/labor-lines/{rework['id']}")
    rep = owner.api.get(f"{API}/reports/comebacks?{PERIOD}").get_json()
    by_employee = {r["employee_id"]: r for r in rep["items"]}
    assert (by_employee[apprentice["id"]]["technician_id"], by_employee[apprentice["id"]]["closed_jobs"]) == (None, 2)
    assert by_employee[petrov["id"]]["closed_jobs"] == 2


def test_the_employee_is_checked(make_shop):
    owner = make_shop(tier="master")
    other = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    foreign = other.post(f"{API}/employees", {"name": "Чужой"})
    gone = owner.post(f"{API}/employees", {"name": "Уволенный", "active": False})
    petrov = owner.post(f"{API}/employees", {"name": "Петров Пётр", "user_id": tech.user.id})
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    url = f"{API}/work-orders/{wo['id']}/labor-lines"
    for employee_id, message in ((foreign["id"], "No such employee."), (987654, "No such employee."),
                                 (gone["id"], "This employee is no longer active.")):
        r = owner.api.post(url, json={"name": "Диагностика", "hours": "1", "employee_id": employee_id})
        assert r.status_code == 422 and r.get_json()["fields"]["employee_id"] == [message], r.get_json()
    # Both given and not the same person.
    r = owner.api.post(url, json={"name": "Диагностика", "hours": "1", "employee_id": petrov["id"],
                                  "technician_id": owner.user.id})
    assert r.status_code == 422 and "employee_id" in r.get_json()["fields"]
    # In the user's language.
    r = owner.api.post(url, json={"name": "Диагностика", "employee_id": foreign["id"]},
                       headers={"Accept-Language": "ru"})
    assert r.status_code == 422 and r.get_json()["fields"]["employee_id"][0] != "No such employee."
    # A line's employee changes and clears (the user with him).
    line = owner.line(wo["id"], name="Диагностика", hours="1", employee_id=petrov["id"])["line"]
    r = owner.api.patch(f"{url}/{line['id']}", json={"employee_id": None})
    assert r.status_code == 200 and (r.get_json()["line"]["employee_id"], r.get_json()["line"]["technician_id"]) == (
        None, None)
    # Without workshop.staff there are no employees.
    specialist = make_shop(tier="specialist")
    sc, scar = specialist.client_and_car()
    swo = specialist.work_order(client_id=sc["id"], vehicle_id=scar["id"])
    r = specialist.api.post(f"{API}/work-orders/{swo['id']}/labor-lines", json={"name": "x", "employee_id": petrov["id"]})
    assert r.status_code == 422 and "employee_id" in r.get_json()["fields"]


def test_the_work_order_page_picks_employees(make_shop, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша"})
    owner.post(f"{API}/employees", {"name": "Петров Пётр", "user_id": tech.user.id})
    owner.post(f"{API}/employees", {"name": "Уволенный", "active": False})
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    ui = owner.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, owner.user)
    page = ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "Сидоров Миша (no login)" in page and "Петров Пётр" in page and "Уволенный" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = ui.post(f"/workshop/work-orders/{wo['id']}/lines", data={
        "csrf_token": token, "kind": "labor", "name": "Замена масла", "hours": "0.5", "employee_id": apprentice["id"]})
    assert r.status_code == 302
    line = owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"][0]
    assert (line["employee_id"], line["technician_name"]) == (apprentice["id"], "Сидоров Миша")
    r = ui.post(f"/workshop/work-orders/{wo['id']}/labor-lines/{line['id']}/assign",
                data={"csrf_token": token, "employee_id": ""})
    assert r.status_code == 302
    line = owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"][0]
    assert (line["employee_id"], line["technician_id"]) == (None, None)


def test_an_employee_given_a_login_later_sees_his_jobs(make_shop, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша"})
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена свечей", hours="1", rate="2000.00", employee_id=apprentice["id"])["line"]
    assert line["technician_id"] is None
    _approve_all(owner, wo, [line])
    owner.transition("work-orders", wo["id"], "approve")
    assert tech.api.get(f"{API}/my-jobs").get_json()["items"] == []
    r = owner.api.patch(f"{API}/employees/{apprentice['id']}", json={"user_id": tech.user.id})
    assert r.status_code == 200, r.get_json()
    assert [j["line_id"] for j in tech.api.get(f"{API}/my-jobs").get_json()["items"]] == [line["id"]]
    ui = tech.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, tech.user)
    assert "Замена свечей" in ui.get("/workshop/my-jobs").get_data(as_text=True)
