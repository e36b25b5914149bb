"""Employees without a login: a foreman or advisor (workshop.staff.manage) starts, pauses and finishes
their job time and shifts; technicians may only run their own clock (403 for anyone else's)."""
from datetime import date, timedelta

API = "/api/v1/workshop"
PERIOD = f"from={(date.today() - timedelta(days=1)).isoformat()}&to={(date.today() + timedelta(days=1)).isoformat()}"


def _job_in_progress(owner, **line):
    wo, made = owner.approved_job(**line)
    owner.transition("work-orders", wo["id"], "start")
    return wo, made


def test_a_foreman_clocks_an_employee_without_a_login(make_shop):
    owner = make_shop(tier="master")
    advisor = make_shop(role="service_advisor", t=owner.tenant)
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша", "position": "Ученик",
                                                 "hourly_cost": "250.00"})
    assert apprentice["user_id"] is None
    wo, line = _job_in_progress(owner)
    clock = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}/clock"

    shift = advisor.post(f"{API}/attendance/shift/start", {"employee_id": apprentice["id"]})
    assert (shift["employee_id"], shift["technician_id"], shift["kind"]) == (apprentice["id"], None, "shift")
    started = advisor.post(f"{clock}/start", {"employee_id": apprentice["id"]})
    assert (started["employee_id"], started["technician_id"], started["ended_at"]) == (apprentice["id"], None, None)
    assert advisor.post(f"{clock}/start", {"employee_id": apprentice["id"]})["id"] == started["id"]  # idempotent
    paused = advisor.post(f"{clock}/pause", {"employee_id": apprentice["id"]})
    assert paused["id"] == started["id"] and paused["ended_at"]
    r = advisor.api.post(f"{clock}/finish", json={"employee_id": apprentice["id"]})
    assert r.status_code == 409 and r.get_json()["message"] == "The clock is not running on this job."
    advisor.post(f"{clock}/start", {"employee_id": apprentice["id"]})
    finished = advisor.post(f"{clock}/finish", {"employee_id": apprentice["id"]})
    assert finished["ended_at"]
    advisor.post(f"{API}/attendance/shift/stop", {"employee_id": apprentice["id"]})
    # The advisor's own clock was never touched.
    assert advisor.api.get(f"{API}/attendance/mine").get_json()["items"] == []

    # A manual entry for the employee (paper time sheet).
    entry = owner.post(f"{API}/time-entries", {"employee_id": apprentice["id"], "kind": "job",
                                               "labor_line_id": line["id"], "started_at": "2026-01-10T08:00:00+00:00",
                                               "ended_at": "2026-01-10T09:30:00+00:00"})
    assert (entry["employee_id"], entry["technician_id"], entry["work_order_id"]) == (apprentice["id"], None, wo["id"])
    listed = owner.api.get(f"{API}/time-entries?{PERIOD}&employee_id={apprentice['id']}").get_json()["items"]
    assert [e["kind"] for e in listed] == ["shift", "job", "job"]
    both = owner.api.post(f"{API}/time-entries", json={"employee_id": apprentice["id"], "technician_id": owner.user.id,
                                                        "kind": "shift", "started_at": "2026-01-10T08:00:00+00:00"})
    assert both.status_code == 422 and "employee_id" in both.get_json()["fields"]
    nobody = owner.api.post(f"{API}/time-entries", json={"kind": "shift", "started_at": "2026-01-10T08:00:00+00:00"})
    assert nobody.status_code == 422 and "technician_id" in nobody.get_json()["fields"]

    # The reports show the employee by name (no user): clocked hours and his hourly pay.
    kpis = owner.api.get(f"{API}/reports/productivity?{PERIOD}").get_json()["items"]
    row = next(k for k in kpis if k["employee_id"] == apprentice["id"])
    assert row["technician_id"] is None and row["name"] == "Сидоров Миша"
    pay = owner.api.get(f"{API}/reports/payroll?{PERIOD}").get_json()["items"]
    assert next(p for p in pay if p["employee_id"] == apprentice["id"])["hourly_cost"] == "250.00"

    # Audited: who ran whose clock.
    with owner.ctx() as s:
        from sqlalchemy import select

        from core.audit import AuditLog

        rows = s.execute(select(AuditLog.action, AuditLog.user_id).where(
            AuditLog.object_type == "workshop_time_entry", AuditLog.object_id == started["id"])
            .order_by(AuditLog.id)).all()
        assert rows[0] == ("clock_start", advisor.user.id)


def test_technicians_only_clock_themselves(make_shop):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    colleague = make_shop(role="technician", t=owner.tenant)
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша"})
    mine = owner.post(f"{API}/employees", {"name": "Техник", "user_id": tech.user.id})
    wo, line = _job_in_progress(owner, technician_id=tech.user.id)
    clock = f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}/clock"

    for body in ({"employee_id": apprentice["id"]}, {"technician_id": colleague.user.id}):
        r = tech.api.post(f"{clock}/start", json=body)
        assert r.status_code == 403, body
        r = tech.api.post(f"{API}/attendance/shift/start", json=body)
        assert r.status_code == 403, body
    r = tech.api.post(f"{API}/time-entries", json={"employee_id": apprentice["id"], "kind": "shift",
                                                    "started_at": "2026-01-10T08:00:00+00:00"})
    assert r.status_code == 403
    # His own clock, named or not, is fine.
    assert tech.post(f"{clock}/start", {"employee_id": mine["id"]})["technician_id"] == tech.user.id
    assert tech.post(f"{clock}/pause")["ended_at"]
    assert tech.api.get(f"{API}/time-entries?{PERIOD}").status_code == 403  # managers only, as before

    # Another shop's employee is unknown here; without workshop.staff the body is a 404.
    other = make_shop(tier="master")
    r = other.api.post(f"{API}/attendance/shift/start", json={"employee_id": apprentice["id"]})
    assert r.status_code == 422 and "employee_id" in r.get_json()["fields"]
    specialist = make_shop(tier="specialist")
    swo, sline = _job_in_progress(specialist)
    r = specialist.api.post(f"{API}/work-orders/{swo['id']}/labor-lines/{sline['id']}/clock/start",
                            json={"employee_id": apprentice["id"]})
    assert r.status_code == 404


def test_the_work_order_page_lets_an_advisor_clock_an_employee(make_shop, login):
    import re

    owner = make_shop(tier="master")
    advisor = make_shop(role="service_advisor", t=owner.tenant)
    apprentice = owner.post(f"{API}/employees", {"name": "Сидоров Миша"})
    wo, line = _job_in_progress(owner)
    ui = advisor.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, advisor.user)
    page = ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "Job time of employees" in page and "Сидоров Миша" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = f"/workshop/work-orders/{wo['id']}/labor-lines/{line['id']}/clock-for"
    assert ui.post(url, data={"csrf_token": token, "employee_id": apprentice["id"], "do": "start"}).status_code == 302
    assert "clock running" in ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    ui.post(url, data={"csrf_token": token, "employee_id": apprentice["id"], "do": "finish"})
    entries = owner.api.get(f"{API}/time-entries?{PERIOD}&employee_id={apprentice['id']}").get_json()["items"]
    assert len(entries) == 1 and entries[0]["ended_at"]
    tech = make_shop(role="technician", t=owner.tenant)
    tech_ui = tech.app.test_client()
    login(tech_ui, tech.user)
    assert "Job time of employees" not in tech_ui.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    tech_token = re.search(r'name="csrf_token" value="([^"]+)"',
                           tech_ui.get("/workshop/my-jobs").get_data(as_text=True)).group(1)
    assert tech_ui.post(url, data={"csrf_token": tech_token, "employee_id": apprentice["id"],
                                   "do": "start"}).status_code == 403
