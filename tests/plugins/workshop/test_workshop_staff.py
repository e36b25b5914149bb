"""workshop.staff: employees, attendance, the technician's comments and part requests, the
productive-time KPIs and the payroll draft (exact to the kopeck), hours per bay, gating, isolation."""
from datetime import date, timedelta

from core.models import utcnow

API = "/api/v1/workshop"

# The reports count the shop's days (Moscow): up to tomorrow (server date), so an order closed late in
# the UTC evening (already tomorrow in Moscow) is inside.
PERIOD = f"from={(date.today() - timedelta(days=2)).isoformat()}&to={(date.today() + timedelta(days=1)).isoformat()}"


def _closed_order(owner, tech, lines):
    """A closed work order with the given labour lines (all approved) done by ``tech``."""
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    made = [owner.line(wo["id"], technician_id=tech.user.id, **line)["line"] for line in lines]
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"} for line in made]})
    for step in ("approve", "start", "finish", "close"):
        owner.transition("work-orders", wo["id"], step)
    return wo, made


def _entry(owner, tech, kind, start, minutes, line=None):
    body = {"technician_id": tech.user.id, "kind": kind, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=minutes)).isoformat()}
    if line:
        body["labor_line_id"] = line["id"]
    return owner.post(f"{API}/time-entries", body)


def test_kpis_and_payroll_are_exact(make_shop):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    employee = owner.post(f"{API}/employees", {"user_id": tech.user.id, "name": "Петров Пётр", "position": "Моторист",
                                               "skills": ["engine", "diagnostics"], "hourly_cost": "150.00",
                                               "piece_rate_percent": "35.50"})
    assert employee["skills"] == ["engine", "diagnostics"] and employee["piece_rate_percent"] == "35.50"
    wo, (a, b) = _closed_order(owner, tech, [
        {"name": "Замена ремня ГРМ", "hours": "2", "rate": "1234.57", "bay": "Подъёмник 1"},
        {"name": "Диагностика", "hours": "1.333", "rate": "1000.00"}])
    assert a["amount"] == "2469.14" and b["amount"] == "1333.00" and a["bay"] == "Подъёмник 1"
    t0 = utcnow() - timedelta(hours=10)
    _entry(owner, tech, "shift", t0, 8 * 60)
    _entry(owner, tech, "break", t0 + timedelta(hours=4), 30)
    _entry(owner, tech, "job", t0 + timedelta(hours=1), 150, a)
    _entry(owner, tech, "job", t0 + timedelta(hours=5), 75, b)

    kpis = owner.api.get(f"{API}/reports/productivity?{PERIOD}").get_json()["items"]
    assert kpis == [{"technician_id": tech.user.id, "employee_id": employee["id"], "name": "Петров Пётр",
                     "attended_hours": "7.50", "clocked_hours": "3.75", "sold_hours": "3.33",
                     # 3.75 / 7.5; 3.333 / 3.75 = 0.8888; 3.333 / 7.5 = 0.4444
                     "productivity": "0.50", "efficiency": "0.89", "proficiency": "0.44"}]

    pay = owner.api.get(f"{API}/reports/payroll?{PERIOD}").get_json()
    # 35.5% of 3802.14 = 1349.7597 -> 1349.76; 7.5 h x 150.00 = 1125.00
    assert pay["items"] == [{"technician_id": tech.user.id, "employee_id": employee["id"], "name": "Петров Пётр",
                             "sold_hours": "3.33", "sold_labour": "3802.14", "piece_rate_percent": "35.50",
                             "piece_pay": "1349.76", "attended_hours": "7.50", "hourly_cost": "150.00",
                             "time_pay": "1125.00", "total": "2474.76"}]
    assert pay["total"] == "2474.76"

    bays = owner.api.get(f"{API}/reports/bays?{PERIOD}").get_json()["items"]
    assert bays == [{"bay": None, "work_orders": 1, "sold_hours": "1.33", "clocked_hours": "1.25"},
                    {"bay": "Подъёмник 1", "work_orders": 1, "sold_hours": "2.00", "clocked_hours": "2.50"}]

    # Wages are the owner's: a technician sees neither the payroll nor the employees.
    assert tech.api.get(f"{API}/reports/payroll?{PERIOD}").status_code == 403
    assert tech.api.get(f"{API}/employees").status_code == 403
    bad = owner.api.get(f"{API}/reports/payroll?from=yesterday&to=today")
    assert bad.status_code == 422


def test_the_report_page_shows_kpis_payroll_and_bays(make_shop, app, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    owner.post(f"{API}/employees", {"user_id": tech.user.id, "name": "Петров Пётр", "hourly_cost": "100.00",
                                    "piece_rate_percent": "40"})
    wo, (a,) = _closed_order(owner, tech, [{"name": "Развал-схождение", "hours": "1.5", "rate": "1999.99",
                                             "bay": "Стенд"}])
    t0 = utcnow() - timedelta(hours=5)
    _entry(owner, tech, "shift", t0, 240)
    _entry(owner, tech, "job", t0, 60, a)
    page = login(app.test_client(), owner.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    r = page.get(f"/workshop/reports/staff?{PERIOD}")
    html = r.get_data(as_text=True)
    # 1.5 x 1999.99 = 2999.99 (rounded line amount); 40% = 1199.996 -> 1200.00; 4 h x 100 = 400.00
    assert r.status_code == 200 and "Payroll draft" in html and "Петров Пётр" in html
    assert "1200.00" in html and "1600.00" in html and "Стенд" in html and "0.25" in html
    listing = page.get("/workshop/employees")
    assert listing.status_code == 200 and "Петров Пётр" in listing.get_data(as_text=True)
    assert page.get("/workshop/job-norms").status_code == 200
    tech_page = login(app.test_client(), tech.user)
    assert tech_page.get(f"/workshop/reports/staff?{PERIOD}").status_code == 403
    assert tech_page.get("/workshop/employees").status_code == 403
    other = make_shop(tier="specialist")
    assert login(app.test_client(), other.user).get("/workshop/reports/staff").status_code == 404


def test_my_jobs_page_start_pause_comment_and_parts(make_shop, app, login):
    import re

    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена масла", hours="0.5", rate="2000.00", technician_id=tech.user.id)["line"]
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    owner.transition("work-orders", wo["id"], "approve")
    page = login(app.test_client(), tech.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get("/workshop/my-jobs").get_data(as_text=True)
    assert "Замена масла" in html and "Start shift" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    url = f"/workshop/my-jobs/{wo['id']}/{line['id']}"
    assert page.post("/workshop/my-jobs/attendance", data={"csrf_token": token, "kind": "shift",
                                                          "action": "start"}).status_code == 302
    assert page.post(url, data={"csrf_token": token, "do": "start"}).status_code == 302  # starts the order too
    html = page.get("/workshop/my-jobs").get_data(as_text=True)
    assert "Pause" in html and "End shift" in html
    page.post(url, data={"csrf_token": token, "do": "pause"})
    page.post(url, data={"csrf_token": token, "do": "comment", "text": "Пробка слива сорвана"})
    page.post(url, data={"csrf_token": token, "do": "parts", "name": "Пробка сливная", "quantity": "1"})
    entries = owner.api.get(f"{API}/time-entries?{PERIOD}&technician_id={tech.user.id}").get_json()["items"]
    assert sorted(e["kind"] for e in entries) == ["job", "shift"]
    assert all(e["ended_at"] for e in entries if e["kind"] == "job")
    base = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}"
    assert [c["text"] for c in owner.api.get(f"{base}/comments").get_json()["items"]] == ["Пробка слива сорвана"]
    assert [r["name"] for r in owner.api.get(f"{API}/part-requests").get_json()["items"]] == ["Пробка сливная"]
    assert owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["state"] == "in_progress"


def test_the_work_order_page_sets_a_jobs_bay(make_shop, app, login):
    import re

    owner = make_shop(tier="master")
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    page = login(app.test_client(), owner.user)
    html = page.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert 'name="bay"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    page.post(f"/workshop/work-orders/{wo['id']}/lines", data={"csrf_token": token, "kind": "labor",
                                                               "name": "Шиномонтаж", "hours": "1", "bay": "Пост 2"})
    lines = owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"]
    assert [(line["name"], line["bay"]) for line in lines] == [("Шиномонтаж", "Пост 2")]



def test_attendance_comments_and_part_requests(make_shop):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена колодок", hours="1", rate="2000.00", technician_id=tech.user.id)["line"]

    r = tech.api.post(f"{API}/attendance/break/start", json={})
    assert r.status_code == 409  # no shift yet
    shift = tech.post(f"{API}/attendance/shift/start")
    assert tech.post(f"{API}/attendance/shift/start")["id"] == shift["id"]  # starting twice changes nothing
    tech.post(f"{API}/attendance/break/start")
    kinds = sorted(e["kind"] for e in tech.api.get(f"{API}/attendance/mine").get_json()["items"])
    assert kinds == ["break", "shift"]
    ended = tech.post(f"{API}/attendance/shift/stop")
    assert ended["ended_at"] and tech.api.get(f"{API}/attendance/mine").get_json()["items"] == []  # the break ended too

    base = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}"
    comment = tech.post(f"{base}/comments", {"text": "Диски тоже изношены"})
    assert [c["text"] for c in owner.api.get(f"{base}/comments").get_json()["items"]] == ["Диски тоже изношены"]
    assert comment["author_id"] == tech.user.id
    bad = tech.api.post(f"{base}/part-requests", json={"name": "", "quantity": "0"})
    assert bad.status_code == 422 and {"name", "quantity"} <= set(bad.get_json()["fields"])
    req = tech.post(f"{base}/part-requests", {"name": "Диск тормозной", "quantity": "2"})
    assert req["state"] == "open" and req["quantity"] == "2.000" and req["labor_line_id"] == line["id"]
    assert [r["id"] for r in owner.api.get(f"{API}/part-requests?state=open").get_json()["items"]] == [req["id"]]
    assert tech.api.patch(f"{API}/part-requests/{req['id']}", json={"state": "done"}).status_code == 403
    r = owner.api.patch(f"{API}/part-requests/{req['id']}", json={"state": "done", "add_line": True,
                                                                    "price": "3150.50"})
    assert r.status_code == 200 and r.get_json()["state"] == "done"
    parts = owner.api.get(f"{API}/work-orders/{wo['id']}").get_json()["part_lines"]
    assert [(p["id"], p["name"], p["quantity"], p["amount"], p["labor_line_id"]) for p in parts] == [
        (r.get_json()["part_line_id"], "Диск тормозной", "2.000", "6301.00", line["id"])]
    bad = owner.api.patch(f"{API}/part-requests/{req['id']}", json={"state": "done", "add_line": True, "price": "-1"})
    assert bad.status_code == 422 and "price" in bad.get_json()["fields"]

    # Manual entries are checked: a job entry needs a job, the end comes after the start.
    now = utcnow()
    r = owner.api.post(f"{API}/time-entries", json={"technician_id": tech.user.id, "kind": "job",
                                                     "started_at": now.isoformat(),
                                                     "ended_at": (now - timedelta(hours=1)).isoformat()})
    assert r.status_code == 422 and {"labor_line_id", "ended_at"} & set(r.get_json()["fields"])

    # Another shop sees none of it.
    other = make_shop(tier="master")
    assert other.api.get(f"{base}/comments").status_code == 404
    assert other.api.post(f"{base}/part-requests", json={"name": "x"}).status_code == 404
    assert other.api.get(f"{API}/part-requests").get_json()["items"] == []
    assert other.api.patch(f"{API}/part-requests/{req['id']}", json={"state": "open"}).status_code == 404
    assert other.api.get(f"{API}/reports/payroll?{PERIOD}").get_json() == {"items": [], "total": "0.00"}
    r = other.api.post(f"{API}/time-entries", json={"technician_id": tech.user.id, "kind": "shift",
                                                     "started_at": now.isoformat()})
    assert r.status_code == 422  # not one of this shop's users


def test_staff_is_a_master_feature(make_shop):
    specialist = make_shop(tier="specialist")
    for url in (f"{API}/employees", f"{API}/reports/payroll?{PERIOD}", f"{API}/reports/bays?{PERIOD}",
                f"{API}/part-requests", f"{API}/reports/productivity?{PERIOD}"):
        assert specialist.api.get(url).status_code == 404, url
    assert specialist.api.post(f"{API}/attendance/shift/start", json={}).status_code == 404
    assert specialist.api.post(f"{API}/employees", json={"name": "X"}).status_code == 404


def test_a_job_can_take_the_planners_bay(make_shop):
    owner = make_shop(tier="master")
    lift = owner.post("/api/v1/planner/bays", {"name": "Подъёмник 3"})
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена амортизаторов", hours="2", bay_id=lift["id"])["line"]
    assert (line["bay_id"], line["bay"]) == (lift["id"], "Подъёмник 3")
    other = make_shop(tier="master")
    other_client, other_car = other.client_and_car()
    other_wo = other.work_order(client_id=other_client["id"], vehicle_id=other_car["id"])
    r = other.api.post(f"{API}/work-orders/{other_wo['id']}/labor-lines",
                       json={"name": "Замена амортизаторов", "bay_id": lift["id"]})
    assert r.status_code == 422 and "bay_id" in r.get_json()["fields"]  # another shop's bay does not exist here
