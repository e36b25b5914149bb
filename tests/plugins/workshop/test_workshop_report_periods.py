"""Report periods are the shop's days: a Moscow order closed at 01:00 local time on 2 March (22:00 UTC on
1 March) and a shift worked that night count on 2 March in productive time, payroll and the bays."""
from datetime import datetime, timezone

API = "/api/v1/workshop"

CLOSED_AT = datetime(2030, 3, 1, 22, 0, tzinfo=timezone.utc)  # 2 March 01:00 in Moscow (UTC+3)


def _moscow_night_order(owner, tech, employee_id):
    with owner.ctx() as s:
        from core.models import Tenant

        s.get(Tenant, owner.tenant.id).timezone = "Europe/Moscow"
        s.commit()
    client, car = owner.client_and_car()
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена стартера", hours="2", rate="1500.00", employee_id=employee_id,
                      bay="Пост 2")["line"]
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    for step in ("approve", "start", "finish", "close"):
        owner.transition("work-orders", wo["id"], step)
    # The night shift: 00:30-02:30 Moscow, the job 00:45-01:45 Moscow (given with the shop's offset).
    for kind, start, end, extra in (("shift", "00:30", "02:30", {}),
                                    ("job", "00:45", "01:45", {"labor_line_id": line["id"]})):
        owner.post(f"{API}/time-entries", {"employee_id": employee_id, "kind": kind,
                                           "started_at": f"2030-03-02T{start}:00+03:00",
                                           "ended_at": f"2030-03-02T{end}:00+03:00", **extra})
    with owner.ctx() as s:  # closed orders are immutable: back-date the close with a plain UPDATE
        from sqlalchemy import update

        from plugins.workshop.models import WorkOrder

        s.execute(update(WorkOrder).where(WorkOrder.id == wo["id"]).values(closed_at=CLOSED_AT))
        s.commit()
    return wo


def test_a_moscow_night_close_lands_on_its_local_day(make_shop, app, login):
    owner = make_shop(tier="master")
    tech = make_shop(role="technician", t=owner.tenant)
    employee = owner.post(f"{API}/employees", {"user_id": tech.user.id, "name": "Сидоров Семён",
                                               "hourly_cost": "200.00", "piece_rate_percent": "50"})
    _moscow_night_order(owner, tech, employee["id"])

    def report(path, day):
        r = owner.api.get(f"{API}/reports/{path}?from={day}&to={day}")
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    kpis = report("productivity", "2030-03-02")["items"]
    assert [(k["name"], k["attended_hours"], k["clocked_hours"], k["sold_hours"]) for k in kpis] == [
        ("Сидоров Семён", "2.00", "1.00", "2.00")]
    # 50% of 2 h x 1500.00 = 1500.00; 2 h x 200.00 = 400.00
    [pay] = report("payroll", "2030-03-02")["items"]
    assert (pay["sold_labour"], pay["piece_pay"], pay["time_pay"], pay["total"]) == (
        "3000.00", "1500.00", "400.00", "1900.00")
    assert report("bays", "2030-03-02")["items"] == [
        {"bay": "Пост 2", "work_orders": 1, "sold_hours": "2.00", "clocked_hours": "1.00"}]

    # 1 March (the UTC day of the close) has nothing of it in Moscow.
    assert report("productivity", "2030-03-01")["items"] == []
    assert report("bays", "2030-03-01")["items"] == []
    [idle] = report("payroll", "2030-03-01")["items"]
    assert (idle["sold_labour"], idle["total"]) == ("0.00", "0.00")

    # The report page counts the same day.
    page = login(app.test_client(), owner.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get("/workshop/reports/staff?from=2030-03-02&to=2030-03-02").get_data(as_text=True)
    assert "Сидоров Семён" in html and "1900.00" in html
    html = page.get("/workshop/reports/staff?from=2030-03-01&to=2030-03-01").get_data(as_text=True)
    assert "1900.00" not in html

