"""The client filters of crm.basic that read visits (jobs done, technician, service advisor, visit dates,
spend) through the CRM's visit index, the filters page (count, first page, save / rename / delete a
segment) and its tier gate."""
import re
from datetime import date
from decimal import Decimal

import pytest

from tests.plugins.crm import crm_advisor_visits_plugin as visits


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"crm_advisor_test": "tests.plugins.crm.crm_advisor_visits_plugin"}}


@pytest.fixture
def shop(app, tenant, user, api_client):
    """Anna: oil change by Ivan Petrov with advisor A in March 2025 (3,000.50) and brake pads by Oleg in
    August (9,000); Boris: timing belt by Oleg with advisor B in May 2024 (15,000); Vera: no visit."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from core.tenants import set_feature
    from plugins.crm.models import Client

    t = tenant(tier="master")
    advisor_a = user(role="service_advisor", tenant=t)
    advisor_b = user(role="service_advisor", tenant=t)
    c = api_client(advisor_a)
    visits.VISITS.clear()
    with app.app_context():
        set_feature(db.session.get(Tenant, t.id), "crm_advisor_test.use", True)
        db.session.commit()
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            anna, boris, vera = Client(name="Anna"), Client(name="Boris"), Client(name="Vera")
            db.session.add_all([anna, boris, vera])
            db.session.commit()
            ids = {"anna": anna.id, "boris": boris.id, "vera": vera.id}
    visits.VISITS.extend([
        {"client_id": ids["anna"], "date": date(2025, 3, 1), "amount": Decimal("3000.50"), "booked": False,
         "advisor_id": advisor_a.id, "jobs": ["Замена масла двигателя"], "technicians": ["Иван Петров"]},
        {"client_id": ids["anna"], "date": date(2025, 8, 1), "amount": Decimal("9000"), "booked": False,
         "advisor_id": advisor_a.id, "jobs": ["Brake pads"], "technicians": ["Oleg Sidorov"]},
        {"client_id": ids["boris"], "date": date(2024, 5, 1), "amount": Decimal("15000"), "booked": False,
         "advisor_id": advisor_b.id, "jobs": ["Timing belt"], "technicians": ["Oleg Sidorov"]},
        # A booking is not a visit: Vera has none.
        {"client_id": ids["vera"], "date": date(2025, 9, 1), "amount": None, "booked": True,
         "advisor_id": advisor_a.id, "jobs": ["Brake pads"]},
    ])
    yield t, c, ids, advisor_a, advisor_b
    visits.VISITS.clear()


def names(response):
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["results"]]


def test_jobs_done_filter_matches_any_word_of_the_job_in_any_case(shop):
    _t, c, *_ = shop
    assert names(c.get("/api/v1/crm/client-filter?job=масла")) == ["Anna"]
    assert names(c.get("/api/v1/crm/client-filter?job=ЗАМЕНА")) == ["Anna"]
    assert names(c.get("/api/v1/crm/client-filter?job=brake")) == ["Anna"]  # Vera's booking does not count
    assert names(c.get("/api/v1/crm/client-filter?job=belt")) == ["Boris"]
    assert names(c.get("/api/v1/crm/client-filter?job=clutch")) == []


def test_technician_filter(shop):
    _t, c, *_ = shop
    assert names(c.get("/api/v1/crm/client-filter?technician=oleg")) == ["Anna", "Boris"]
    assert names(c.get("/api/v1/crm/client-filter?technician=Петров")) == ["Anna"]
    # With dates, only the visits in them count: in 2025 Oleg worked only for Anna.
    assert names(c.get("/api/v1/crm/client-filter?technician=oleg&visit_from=2025-01-01")) == ["Anna"]


def test_advisor_filter(shop):
    _t, c, _ids, a, b = shop
    assert names(c.get(f"/api/v1/crm/client-filter?advisor_id={a.id}")) == ["Anna"]
    assert names(c.get(f"/api/v1/crm/client-filter?advisor_id={b.id}")) == ["Boris"]
    r = c.get("/api/v1/crm/client-filter?advisor_id=x")
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"advisor_id"}


def test_visit_dates_filter(shop):
    _t, c, *_ = shop
    assert names(c.get("/api/v1/crm/client-filter?visit_from=2025-01-01&visit_to=2025-12-31")) == ["Anna"]
    assert names(c.get("/api/v1/crm/client-filter?visit_to=2024-12-31")) == ["Boris"]
    assert names(c.get("/api/v1/crm/client-filter?visit_from=2025-04-01&visit_to=2025-07-31")) == []
    r = c.get("/api/v1/crm/client-filter?visit_from=2025-05-01&visit_to=2025-01-01")
    assert r.status_code == 422 and "visit_from" in r.get_json()["fields"]


def test_spend_filter_sums_the_visits_exactly(shop):
    _t, c, *_ = shop
    # Anna spent 12,000.50 in all, Boris 15,000.
    assert names(c.get("/api/v1/crm/client-filter?spend_min=12000.50")) == ["Anna", "Boris"]
    assert names(c.get("/api/v1/crm/client-filter?spend_min=12000.51")) == ["Boris"]
    assert names(c.get("/api/v1/crm/client-filter?spend_max=12000.50")) == ["Anna"]
    # In 2025 Anna spent 12,000.50; Boris nothing (no visit in the dates: not matched).
    assert names(c.get("/api/v1/crm/client-filter?spend_max=20000&visit_from=2025-01-01")) == ["Anna"]
    assert names(c.get("/api/v1/crm/client-filter?spend_min=5000&visit_to=2025-06-30")) == ["Boris"]
    r = c.get("/api/v1/crm/client-filter?spend_min=-1&spend_max=1.234", headers={"Accept-Language": "ru"})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"spend_min", "spend_max"}
    assert re.search("[а-я]", r.get_json()["fields"]["spend_min"][0])  # in the user's language


def test_count_and_pages(shop):
    _t, c, *_ = shop
    body = c.get("/api/v1/crm/client-filter?technician=oleg").get_json()
    assert body["count"] == 2 and body["page"] == 1
    assert c.get("/api/v1/crm/client-filter?technician=oleg&page=2").get_json()["results"] == []
    assert c.get("/api/v1/crm/client-filter?page=0").status_code == 422


def test_the_index_follows_new_visits_after_a_rebuild(shop, app):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.visit_index import rebuild

    t, c, ids, a, _b = shop
    assert names(c.get("/api/v1/crm/client-filter?job=wheel")) == []
    visits.VISITS.append({"client_id": ids["vera"], "date": date(2025, 10, 1), "amount": Decimal("500"),
                          "booked": False, "advisor_id": a.id, "jobs": ["Wheel alignment"]})
    with app.app_context():
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            assert rebuild() == 4  # what the scheduled job crm.index_visits does
            db.session.commit()
    assert names(c.get("/api/v1/crm/client-filter?job=wheel")) == ["Vera"]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_filters_page_counts_saves_renames_and_deletes_segments(shop, app, login, client):
    from core.audit import AuditLog
    from core.db import db
    from sqlalchemy import select

    t, _c, _ids, a, _b = shop
    page = login(client, a)
    r = page.get("/crm/segments?technician=oleg")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-count="2"' in html and "Anna" in html and "Boris" in html
    assert "Vera" not in html
    assert "Brake pads" in html  # the job names are offered as suggestions
    r = page.post("/crm/segments", data={"csrf_token": _csrf(html), "name": "Oleg's clients", "technician": "oleg"})
    assert r.status_code == 302
    html = page.get(r.headers["Location"]).get_data(as_text=True)
    assert "Oleg&#39;s clients" in html and 'data-count="2"' in html  # opening it shows its clients
    seg_id = int(re.search(r'data-segment-id="(\d+)"', html).group(1))
    # A second segment with the same name: the field says why, nothing saved.
    r = page.post("/crm/segments", data={"csrf_token": _csrf(html), "name": "Oleg's clients", "job": "belt"})
    assert r.status_code == 422 and 'class="field field--error"><label for="segment-name"' in r.get_data(as_text=True)
    assert len(_c.get("/api/v1/crm/segments").get_json()["results"]) == 1
    r = page.post(f"/crm/segments/{seg_id}/rename", data={"csrf_token": _csrf(html), "name": " "})
    assert r.status_code == 422 and 'role="alert"' in r.get_data(as_text=True)
    r = page.post(f"/crm/segments/{seg_id}/rename", data={"csrf_token": _csrf(html), "name": "Oleg"})
    assert r.status_code == 303
    r = _c.get("/api/v1/crm/segments")
    assert [s["name"] for s in r.get_json()["results"]] == ["Oleg"]
    r = page.post(f"/crm/segments/{seg_id}/delete", data={"csrf_token": _csrf(html)})
    assert r.status_code == 303
    assert _c.get("/api/v1/crm/segments").get_json()["results"] == []
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.tenant_id == t.id)
                                         .execution_options(all_tenants=True)))
    assert {"crm.segment.create", "crm.segment.update", "crm.segment.delete"} <= actions


def test_segment_api_rename_and_delete(shop):
    _t, c, *_ = shop
    one = c.post("/api/v1/crm/segments", json={"name": "One", "filters": {"job": "belt"}}).get_json()
    c.post("/api/v1/crm/segments", json={"name": "Two", "filters": {}})
    r = c.patch(f"/api/v1/crm/segments/{one['id']}", json={"name": "Two"})
    assert r.status_code == 422 and "name" in r.get_json()["fields"]
    r = c.patch(f"/api/v1/crm/segments/{one['id']}", json={"name": "Belts"})
    assert r.status_code == 200 and r.get_json()["name"] == "Belts"
    assert names(c.get(f"/api/v1/crm/segments/{one['id']}/clients")) == ["Boris"]
    assert c.delete(f"/api/v1/crm/segments/{one['id']}").status_code == 204
    assert c.get(f"/api/v1/crm/segments/{one['id']}/clients").status_code == 404


def test_the_mailing_page_links_to_the_filters(shop, app, tenant, user, login, client):
    owner = user(role="owner", tenant=tenant(tier="profi"))
    html = login(client, owner).get("/crm/mailings").get_data(as_text=True)
    assert 'href="/crm/segments"' in html


def test_tier_gate_upgrade_page_and_404(app, tenant, user, api_client, login, client):
    basic = user(role="owner", tenant=tenant(tier="basic"))  # crm.clients only
    api = api_client(basic)
    assert api.get("/api/v1/crm/client-filter?job=x").status_code == 404
    assert api.patch("/api/v1/crm/segments/1", json={"name": "x"}).status_code == 404
    r = login(client, basic).get("/crm/segments")
    assert r.status_code == 404 and 'class="card upgrade"' in r.get_data(as_text=True)
