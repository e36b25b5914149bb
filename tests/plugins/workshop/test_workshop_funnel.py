"""The sales funnel: bookings (the planner's answer to ``workshop_funnel_bookings``) -> service orders ->
work orders -> closed, with counts, amounts and conversions in a period of the shop's days; the API
and the page, with figures checked by hand."""
from datetime import date, timedelta

API = "/api/v1/workshop"
MONDAY = "2030-03-25"  # far ahead: the planner takes no bookings in the past
# From yesterday (server date; the documents are made now) to the end of the bookings' month.
PERIOD = f"from={(date.today() - timedelta(days=1)).isoformat()}&to=2030-03-31"


def _bay(shop, name="Подъёмник 1"):
    from plugins.planner.models import Bay

    with shop.ctx() as s:
        bay = Bay(name=name, type="lift", position=0)
        s.add(bay)
        s.commit()
        return bay.id


def _book(shop, bay_id, start, client=None, car=None):
    body = {"bay_id": bay_id, "start": start, "duration_minutes": 60, "client_name": "Иван Петров",
            "client_phone": "+7 916 123-45-67", "vehicle": "Kia Rio", "reason": "ТО"}
    if client:
        body.update(client_id=client["id"], vehicle_id=car["id"])
    return shop.post("/api/v1/planner/bookings", body)


def _close(shop, wo):
    order = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "kind": kind, "decision": "approved"}
        for kind, key in (("labor", "labor_lines"), ("part", "part_lines")) for line in order[key]]})
    for step in ("approve", "start", "finish", "close"):
        shop.transition("work-orders", wo["id"], step)


def _stages(body):
    return {s["key"]: (s["count"], s["amount"], s["conversion"]) for s in body["stages"]}


def _the_month(shop):
    """4 bookings (2 converted, 1 cancelled), 3 service orders (one a walk-in) and a voided one, 3 work
    orders (one cancelled), 1 closed."""
    bay = _bay(shop)
    c1, car1 = shop.client_and_car()
    c2, car2 = shop.client_and_car("Петров Пётр")
    b1 = _book(shop, bay, f"{MONDAY}T10:00", c1, car1)
    b2 = _book(shop, bay, f"{MONDAY}T12:00", c2, car2)
    b3 = _book(shop, bay, f"{MONDAY}T14:00")
    _book(shop, bay, f"{MONDAY}T16:00")
    so1 = shop.post(f"/api/v1/planner/bookings/{b1['id']}/convert")["converted_to"]
    so2 = shop.post(f"/api/v1/planner/bookings/{b2['id']}/convert")["converted_to"]
    shop.post(f"/api/v1/planner/bookings/{b3['id']}/cancel")
    c3, car3 = shop.client_and_car("Сидоров Семён")
    so3 = shop.post(f"{API}/service-orders", {"client_id": c3["id"], "vehicle_id": car3["id"]})
    voided = shop.post(f"{API}/service-orders", {"client_id": c3["id"], "vehicle_id": car3["id"]})
    r = shop.api.delete(f"{API}/service-orders/{voided['id']}", json={"reason": "Ошибка"})
    assert r.status_code == 200, r.get_json()

    wo1 = shop.work_order(service_order_id=so1["id"])
    shop.line(wo1["id"], name="Замена колодок", hours="1.5", rate="2000.00")  # 3000.00
    shop.line(wo1["id"], "part-lines", name="Колодки", quantity="2", price="450.50")  # 901.00
    wo2 = shop.work_order(service_order_id=so2["id"])
    shop.line(wo2["id"], name="Мойка", fixed_price="1500.00")
    shop.transition("work-orders", wo2["id"], "cancel")
    wo3 = shop.work_order(service_order_id=so3["id"])
    shop.line(wo3["id"], name="Диагностика", hours="1", rate="2000.00")
    _close(shop, wo1)
    return wo1


def test_hook_workshop_funnel_bookings(make_shop):
    """The planner answers with the bookings whose visit falls in the shop's days: a booking at 00:30
    Moscow time on the 26th (21:30 UTC on the 25th) belongs to the 26th."""
    shop = make_shop()
    bay = _bay(shop)
    with shop.ctx() as s:  # open round the clock on the 26th, so a booking just after midnight is taken
        from datetime import time

        from plugins.planner.models import WorkingHours

        s.add(WorkingHours(bay_id=None, weekday=1, opens=time(0, 0), closes=time(23, 59)))
        s.commit()
    night = shop.api.post("/api/v1/planner/bookings", json={
        "bay_id": bay, "start": "2030-03-26T00:30", "duration_minutes": 30, "client_name": "Ночной клиент",
        "client_phone": "+7 916 000-00-01", "vehicle": "Lada"})
    assert night.status_code == 201, night.get_json()
    _book(shop, bay, f"{MONDAY}T10:00")
    day = lambda d: shop.api.get(f"{API}/funnel?from={d}&to={d}").get_json()  # noqa: E731
    assert _stages(day("2030-03-26"))["bookings"] == (1, None, None)
    assert _stages(day("2030-03-25"))["bookings"] == (1, None, None)
    with shop.ctx():
        from datetime import datetime, timezone

        from plugins.planner.workshop_bridge import workshop_funnel_bookings

        utc_day = workshop_funnel_bookings(datetime(2030, 3, 25, tzinfo=timezone.utc),
                                           datetime(2030, 3, 26, tzinfo=timezone.utc))
    assert utc_day == {"count": 2, "amount": None, "converted": 0, "cancelled": 0}  # both on the UTC 25th


def test_the_funnel_counts_amounts_and_conversions(make_shop):
    shop = make_shop()
    _the_month(shop)
    body = shop.api.get(f"{API}/funnel?{PERIOD}").get_json()
    # Service orders are worth their live work orders: 3000.00 + 901.00 + 2000.00 (the cancelled 1500.00
    # is not); work orders 3901.00 + 1500.00 + 2000.00; closed: the first one. Conversions: 3 of 4,
    # 3 of 3, 1 of 3; overall 1 of 4.
    assert _stages(body) == {"bookings": (4, None, None), "service_orders": (3, "5901.00", "75.0"),
                             "work_orders": (3, "7401.00", "100.0"), "closed": (1, "3901.00", "33.3")}
    bookings = body["stages"][0]
    assert (bookings["converted"], bookings["cancelled"]) == (2, 1)
    assert body["overall_conversion"] == "25.0"
    assert [s["key"] for s in body["stages"]] == ["bookings", "service_orders", "work_orders", "closed"]

    # A period before all of it: nothing, and no conversion to divide by.
    empty = shop.api.get(f"{API}/funnel?from=2020-01-01&to=2020-01-31").get_json()
    assert _stages(empty) == {"bookings": (0, None, None), "service_orders": (0, "0.00", None),
                              "work_orders": (0, "0.00", None), "closed": (0, "0.00", None)}
    assert shop.api.get(f"{API}/funnel?from=2030-03-31&to=2030-03-01").status_code == 422

    # Another shop sees none of it.
    other = make_shop()
    assert _stages(other.api.get(f"{API}/funnel?{PERIOD}").get_json())["work_orders"] == (0, "0.00", None)


def test_without_the_planner_there_is_no_bookings_stage(make_shop):
    shop = make_shop()
    with shop.ctx() as s:
        from core.models import TenantFeature

        s.add(TenantFeature(tenant_id=shop.tenant.id, feature="planner.basic", granted=False))
        s.add(TenantFeature(tenant_id=shop.tenant.id, feature="planner.online_booking", granted=False))
        s.add(TenantFeature(tenant_id=shop.tenant.id, feature="planner.quick", granted=False))
        s.add(TenantFeature(tenant_id=shop.tenant.id, feature="planner.advanced", granted=False))
        s.commit()
    c, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": c["id"], "vehicle_id": car["id"]})
    wo = shop.work_order(service_order_id=so["id"])
    shop.line(wo["id"], name="Шиномонтаж", fixed_price="2400.00")
    body = shop.api.get(f"{API}/funnel?{PERIOD}").get_json()
    assert _stages(body) == {"service_orders": (1, "2400.00", None), "work_orders": (1, "2400.00", "100.0"),
                             "closed": (0, "0.00", "0.0")}
    assert body["overall_conversion"] == "0.0"


def test_the_funnel_page(make_shop, app, login):
    shop = make_shop()
    _the_month(shop)
    page = login(app.test_client(), shop.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    home = page.get("/workshop/service-orders").get_data(as_text=True)
    assert 'href="/workshop/funnel"' in home and "Sales funnel" in home
    r = page.get(f"/workshop/funnel?{PERIOD}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    import re

    rows = {key: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for key, row in re.findall(r'<tr data-stage="(\w+)">(.*?)</tr>', html, flags=re.S)}
    assert list(rows) == ["bookings", "service_orders", "work_orders", "closed"]
    assert rows["bookings"].startswith("Bookings converted: 2, cancelled or no-show: 1 4 —")
    assert "3 RUB5,901.00 75%" in rows["service_orders"]
    assert "3 RUB7,401.00 100%" in rows["work_orders"]
    assert "1 RUB3,901.00 33.3%" in rows["closed"]
    assert "25%" in html  # bookings to closed
    # Russian: the shop's language, money in roubles.
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    ru = page.get(f"/workshop/funnel?{PERIOD}").get_data(as_text=True)
    assert "Воронка продаж" in ru and "Закрытые заказ-наряды" in ru
    # A shop without the workshop has no funnel.
    basic = make_shop(tier="basic")
    assert login(app.test_client(), basic.user).get("/workshop/funnel").status_code == 404
