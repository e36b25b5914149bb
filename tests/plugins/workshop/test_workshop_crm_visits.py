"""Closed work orders are the visits the CRM's client-activity and channel reports count."""
from datetime import datetime
from zoneinfo import ZoneInfo
from decimal import Decimal

API = "/api/v1/workshop"


def _closed_order(shop, client, car, price):
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = shop.line(wo["id"], name="Диагностика подвески", hours="1", rate=price)["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions",
              {"by": "client", "channel": "phone", "decisions": [{"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        wo = shop.transition("work-orders", wo["id"], name)
    return wo


def test_closed_work_orders_feed_the_client_activity_report(make_shop):
    shop = make_shop(tier="master")  # crm.basic (reports) and workshop.documents
    client, car = shop.client_and_car()
    other, other_car = shop.client_and_car(name="Петров Пётр")
    _closed_order(shop, client, car, "1500.00")
    open_order = shop.work_order(client_id=other["id"], vehicle_id=other_car["id"])  # not closed: no visit
    assert open_order["state"] == "draft"

    today = datetime.now(ZoneInfo("Europe/Moscow")).date()  # the test shop's day (reports are in shop time)
    month = today.strftime("%Y-%m")
    r = shop.api.get(f"/api/v1/crm/reports/client-activity?from={month}&to={month}&gap=6")
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert report["source"] == "plugins"
    [row] = report["rows"]
    assert (row["served"], row["new"]) == (1, 2)  # new: client cards created this month (seed 003)

    channels = shop.api.get(f"/api/v1/crm/reports/channels?from={today.replace(day=1)}"
                            f"&to={today}").get_json()
    assert sum(c["visits"] for c in channels["rows"]) == 1
    assert sum(Decimal(c["revenue"]) for c in channels["rows"]) == Decimal("1500.00")


def test_closed_work_orders_tell_the_crm_filters_the_jobs_and_technicians(make_shop):
    """The CRM's client filters find clients by the jobs done and who did them (``jobs`` and
    ``technicians`` of the ``crm_visits`` answer)."""
    shop = make_shop(tier="master")
    client, car = shop.client_and_car()
    shop.client_and_car(name="Петров Пётр")  # no order
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = shop.line(wo["id"], name="Замена ремня ГРМ", hours="2", rate="1000.00",
                     technician_name="Олег Сидоров")["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions",
              {"by": "client", "channel": "phone", "decisions": [{"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", wo["id"], name)
    found = shop.api.get("/api/v1/crm/client-filter?job=ремня").get_json()
    assert [c["id"] for c in found["results"]] == [client["id"]]
    found = shop.api.get("/api/v1/crm/client-filter?technician=сидоров").get_json()
    assert [c["id"] for c in found["results"]] == [client["id"]]
    assert shop.api.get("/api/v1/crm/client-filter?job=масл").get_json()["count"] == 0
