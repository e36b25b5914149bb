"""Other plugins fill the service book and the last visit through the CRM's hooks, only for tenants
that have them."""
import pytest


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_book_test": "tests.plugins.crm.crm_book_plugin"}}


def test_service_book_and_last_visit_come_from_other_plugins(crm, app):
    from core.db import db
    from core.tenants import get_tenant, set_feature

    c = crm.client
    car = c.post("/api/v1/crm/vehicles", json={"plate": "А123ВС77"}).get_json()
    c.post("/api/v1/crm/service-entries", json={"vehicle_id": car["id"], "performed_on": "2023-03-01",
                                                "description": "ТО-1", "performed_by": "Другой сервис"})
    # Not granted yet: the other plugin is not asked.
    h = c.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [e["work"] for e in h["entries"]] == [["ТО-1"]]
    assert c.get("/api/v1/crm/search?q=A123BC77").get_json()["results"][0]["last_visit"] is None
    with app.app_context():
        set_feature(get_tenant(crm.tenant.slug), "crm_book_test.use", True)
        db.session.commit()
    h = c.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [e["date"] for e in h["entries"]] == ["2025-01-10", "2023-03-01"]  # newest first, both sources
    order = h["entries"][0]
    assert order["parts"] == ["Ремень ГРМ"] and order["amount"] == "15000.00" and order["mileage"] == 50000
    assert c.get("/api/v1/crm/search?q=A123BC77").get_json()["results"][0]["last_visit"]["date"] == "2025-01-10"
    page = c.get(f"/crm/vehicles/{car['id']}/history").get_data(as_text=True)
    assert "Замена ремня ГРМ" in page and "Петров С. (механик)" in page
