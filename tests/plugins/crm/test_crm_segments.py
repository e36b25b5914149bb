"""Client filters and saved segments (crm.basic): by car make/model/year, last visit dates and source;
a saved segment re-evaluates its filter; validation, audit, gating, tenant isolation."""
from datetime import date
from decimal import Decimal

import pytest

from tests.plugins.crm import crm_advisor_visits_plugin as visits


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_advisor_test": "tests.plugins.crm.crm_advisor_visits_plugin"}}


@pytest.fixture
def shop(app, tenant, user, api_client):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import set_feature
    from plugins.crm.models import Client, Vehicle

    t = tenant(tier="master")
    c = api_client(user(role="service_advisor", tenant=t))
    visits.VISITS.clear()
    with app.app_context():
        set_feature(db.session.get(Tenant, t.id), "crm_advisor_test.use", True)
        db.session.commit()
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            anna = Client(name="Anna", source="avito")
            boris = Client(name="Boris", source="yandex")
            vera = Client(name="Vera", source="avito")
            db.session.add_all([anna, boris, vera])
            db.session.flush()
            cars = [Vehicle(client_id=anna.id, make="Kia", model="Rio", year=2016),
                    Vehicle(client_id=anna.id, make="Lada", model="Vesta", year=2021),
                    Vehicle(client_id=boris.id, make="KIA", model="Ceed", year=2012),
                    Vehicle(client_id=vera.id, make="Toyota", model="Camry", year=2019)]
            db.session.add_all(cars)
            db.session.flush()
            # Visits as the workshop reports them (closed work orders).
            for client, day in ((anna, date(2025, 3, 1)), (anna, date(2025, 8, 1)), (boris, date(2024, 5, 1)),
                                (vera, date(2025, 4, 10))):
                visits.VISITS.append({"client_id": client.id, "date": day, "amount": Decimal("10"),
                                      "booked": False})
            db.session.commit()
    yield t, c
    visits.VISITS.clear()


def names(response):
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["results"]]


def test_filters_by_car_visit_dates_and_source(shop):
    _t, c = shop
    assert names(c.get("/api/v1/crm/client-filter?make=kia")) == ["Anna", "Boris"]
    assert names(c.get("/api/v1/crm/client-filter?make=Kia&year_from=2015")) == ["Anna"]
    assert names(c.get("/api/v1/crm/client-filter?year_from=2019&year_to=2020")) == ["Vera"]
    assert names(c.get("/api/v1/crm/client-filter?model=Camry&source=avito")) == ["Vera"]
    assert names(c.get("/api/v1/crm/client-filter?source=avito")) == ["Anna", "Vera"]
    # Anna's last visit is August 2025 (her Lada), so she is out of a spring window.
    assert names(c.get("/api/v1/crm/client-filter?last_visit_from=2025-01-01&last_visit_to=2025-06-30")) == ["Vera"]
    assert names(c.get("/api/v1/crm/client-filter?last_visit_to=2024-12-31")) == ["Boris"]
    r = c.get("/api/v1/crm/client-filter?year_from=abc&last_visit_to=2025-13-01&colour=red")
    assert r.status_code == 422
    assert set(r.get_json()["fields"]) == {"year_from", "last_visit_to", "colour"}


def test_a_saved_segment_lists_its_clients_as_they_are_now(shop, app):
    from core.audit import AuditLog
    from core.db import db

    t, c = shop
    r = c.post("/api/v1/crm/segments", json={"name": "Kia owners", "filters": {"make": "Kia", "colour": ""}})
    assert r.status_code == 201, r.get_json()
    seg = r.get_json()
    assert seg["filters"] == {"make": "Kia"}
    assert names(c.get(f"/api/v1/crm/segments/{seg['id']}/clients")) == ["Anna", "Boris"]
    alla = c.post("/api/v1/crm/clients", json={"name": "Alla"})
    assert alla.status_code == 201, alla.get_json()
    car = c.post("/api/v1/crm/vehicles", json={"client_id": alla.get_json()["id"], "make": "Kia", "model": "Soul"})
    assert car.status_code == 201, car.get_json()
    assert names(c.get(f"/api/v1/crm/segments/{seg['id']}/clients")) == ["Alla", "Anna", "Boris"]
    assert [s["name"] for s in c.get("/api/v1/crm/segments").get_json()["results"]] == ["Kia owners"]
    dup = c.post("/api/v1/crm/segments", json={"name": "Kia owners", "filters": {"year_from": "x"}})
    assert dup.status_code == 422 and set(dup.get_json()["fields"]) == {"name", "filters.year_from"}
    with app.app_context():
        from sqlalchemy import select
        actions = list(db.session.scalars(select(AuditLog.action).where(AuditLog.tenant_id == t.id)
                                          .execution_options(all_tenants=True)))
    assert "crm.segment.create" in actions


def test_segments_are_per_tenant_and_gated(shop, app, tenant, user, api_client):
    _t, c = shop
    seg = c.post("/api/v1/crm/segments", json={"name": "Avito", "filters": {"source": "avito"}}).get_json()
    other = api_client(user(role="owner", tenant=tenant(tier="master")))
    assert other.get(f"/api/v1/crm/segments/{seg['id']}/clients").status_code == 404
    assert names(other.get("/api/v1/crm/client-filter?source=avito")) == []
    basic = api_client(user(role="owner", tenant=tenant(tier="basic")))
    assert basic.get("/api/v1/crm/segments").status_code == 404
    assert basic.get("/api/v1/crm/client-filter?make=Kia").status_code == 404
