"""Stored reminder forecasts: the due-soon list reads them, and every kind of write keeps them right
(a reading through the API, a catalog change, the nightly job for rows written around the ORM)."""
from datetime import date, timedelta

import pytest
from sqlalchemy import event, insert
from tests.plugins.crm.shop_clock import shop_today

TODAY = shop_today()
DUE = "/api/v1/crm/reminders/due?within_days=30&code=oil"


@pytest.fixture
def shop(app, tenant, user, api_client):
    """A master-tier shop; its car had the oil changed 60 days ago at 30,000 km and does ~33 km a day."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client, Vehicle
    from plugins.crm.reminders import record_done
    from plugins.crm.services import add_reading

    t = tenant(tier="master")
    owner = user(role="owner", tenant=t)

    def ctx():
        return tenant_context(tenant_info(db.session.get(Tenant, t.id)))

    with app.app_context(), ctx():
        c = Client(name="Anna Orlova")
        db.session.add(c)
        db.session.flush()
        car = Vehicle(client_id=c.id, plate="К001КК77", make="Skoda", model="Octavia")
        db.session.add(car)
        db.session.flush()
        add_reading(car, 30_000, TODAY - timedelta(days=60), source="intake")
        add_reading(car, 31_000, TODAY - timedelta(days=30), source="client")
        record_done(car, "oil", TODAY - timedelta(days=60), 30_000)
        db.session.commit()
        ids = {"client": c.id, "car": car.id}
    return {"tenant": t, "http": api_client(owner), "ctx": ctx, **ids}


def _listed(shop):
    return [r["vehicle_id"] for r in shop["http"].get(DUE).get_json()["results"]]


def test_a_reading_through_the_api_moves_the_car_onto_the_due_list(shop):
    assert _listed(shop) == []  # 9,000 km to go at ~33 km a day: months away
    r = shop["http"].post(f"/api/v1/crm/vehicles/{shop['car']}/odometer", json={"value": 39_400})
    assert r.status_code == 201, r.get_json()
    [row] = shop["http"].get(DUE).get_json()["results"]
    assert row["vehicle_id"] == shop["car"] and row["due_km"] == 40_000 and row["due_by"] == "km"
    assert row["status"] in ("due_soon", "overdue") and row["client_name"] == "Anna Orlova"


def test_a_catalog_change_recomputes_every_car(shop, app):
    from sqlalchemy import select

    from core.db import db
    from plugins.crm.reminders import ServiceInterval

    assert _listed(shop) == []
    with app.app_context(), shop["ctx"]():
        oil = db.session.scalars(select(ServiceInterval).where(ServiceInterval.code == "oil",
                                                               ServiceInterval.make.is_(None))).one()
        oil.every_months = 2  # the shop decides oil is due every two months, whatever the km
        db.session.commit()
    assert _listed(shop) == [shop["car"]]


def test_cars_written_around_the_orm_are_caught_up_by_the_job(shop, app, runner):
    from core.db import db
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import ServiceDone

    with app.app_context(), shop["ctx"]():  # a bulk load: Core inserts, no ORM events
        car_id = db.session.execute(insert(Vehicle).values(
            tenant_id=shop["tenant"].id, client_id=shop["client"], plate="M002MM77", make="Lada", model="Niva",
            version=1).returning(Vehicle.id)).scalar_one()
        db.session.execute(insert(ServiceDone).values(tenant_id=shop["tenant"].id, vehicle_id=car_id, code="oil",
                                                      done_on=TODAY - timedelta(days=400), done_km=10_000))
        db.session.commit()
    assert car_id not in _listed(shop)
    result = runner.invoke(args=["jobs", "run", "crm.refresh_forecasts"])
    assert result.exit_code == 0, result.output
    assert car_id in _listed(shop)  # 12 months passed since its oil change: overdue


def test_the_list_is_a_fixed_number_of_statements_whatever_the_number_of_cars(shop, app):
    from core.db import db
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import due_list, record_done

    def statements():
        seen = []
        engine = db.engine
        listen = lambda *a, **k: seen.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listen)
        try:
            rows = due_list(within_days=3650)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(seen), rows

    with app.app_context(), shop["ctx"]():
        statements()  # warm up: the shop's time zone is read once per app context
        few, rows_few = statements()
        for n in range(40):
            car = Vehicle(client_id=shop["client"], plate=f"Р{n:03d}РР77", make="Kia", model="Rio")
            db.session.add(car)
            db.session.flush()
            record_done(car, "oil", TODAY - timedelta(days=300 + n), 20_000)
        db.session.commit()
        many, rows_many = statements()
    assert len(rows_many) > len(rows_few) + 40
    assert many == few <= 5  # catalog, a chunk of forecasts, its cars, their owners, their states


def test_a_make_line_recomputes_only_the_cars_of_that_make(shop, app):
    from sqlalchemy import select

    from core.db import db
    from plugins.crm.forecasts import ReminderForecast
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import ServiceInterval

    with app.app_context(), shop["ctx"]():
        lada = Vehicle(client_id=shop["client"], plate="Е555ЕЕ77", make="Lada", model="Vesta")
        db.session.add(lada)
        db.session.commit()
        lada_id = lada.id
        before = set(db.session.scalars(select(ReminderForecast.id).where(ReminderForecast.vehicle_id == lada_id)))
        db.session.add(ServiceInterval(code="oil", title="Oil (Skoda)", make=" skoda ", every_km=7_500, every_months=1))
        db.session.commit()
        after = set(db.session.scalars(select(ReminderForecast.id).where(ReminderForecast.vehicle_id == lada_id)))
    assert before and after == before  # the Lada's forecasts were not rewritten
    assert _listed(shop) == [shop["car"]]  # the Skoda's oil is now due monthly: overdue
