"""CRM tasks (crm.advanced): create, list with filters, mark done through the API; field errors;
the tier gate; tenant isolation; the audit trail; the Tasks page, its menu entry and the client card."""
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from test_browser import browser, live_url, shot, sign_in  # noqa: E402,F401  (shared fixtures and helpers)
from tests.plugins.crm.shop_clock import shop_today


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def shop(app, tenant, user, api_client):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client

    t = tenant(tier="profi")
    owner = user(role="owner", tenant=t)
    advisor = user(role="service_advisor", tenant=t)
    with app.app_context():
        with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
            c = Client(name="Ivan Petrov")
            db.session.add(c)
            db.session.commit()
            client_id = c.id

    s = type("Shop", (), {})()
    s.app, s.tenant, s.owner, s.advisor, s.client_id = app, t, owner, advisor, client_id
    s.http, s.advisor_http = api_client(owner), api_client(advisor)
    return s


def test_create_list_and_done(shop):
    http = shop.http
    yesterday = (shop_today() - timedelta(days=2)).isoformat()
    later = (shop_today() + timedelta(days=5)).isoformat()
    r = http.post("/api/v1/crm/tasks", json={"title": "Call back about the declined brake job",
                                             "due_on": yesterday, "client_id": shop.client_id})
    assert r.status_code == 201, r.get_json()
    late = r.get_json()
    assert (late["status"], late["assignee_id"], late["overdue"]) == ("open", shop.owner.id, True)
    r = http.post("/api/v1/crm/tasks", json={"title": "Order pads", "due_on": later, "due_time": "10:30",
                                             "assignee_id": shop.advisor.id})
    assert r.status_code == 201, r.get_json()
    other = r.get_json()
    assert (other["due_time"], other["overdue"]) == ("10:30", False)

    mine = http.get("/api/v1/crm/tasks?assignee=me").get_json()["results"]
    assert [t["id"] for t in mine] == [late["id"]]
    assert [t["id"] for t in http.get(f"/api/v1/crm/tasks?assignee={shop.advisor.id}").get_json()["results"]] \
        == [other["id"]]
    assert [t["id"] for t in http.get("/api/v1/crm/tasks?overdue=1").get_json()["results"]] == [late["id"]]
    assert [t["id"] for t in http.get(f"/api/v1/crm/tasks?client_id={shop.client_id}").get_json()["results"]] \
        == [late["id"]]
    assert [t["id"] for t in http.get(f"/api/v1/crm/tasks?due_before={later}").get_json()["results"]] \
        == [late["id"]]
    assert [t["id"] for t in http.get("/api/v1/crm/tasks").get_json()["results"]] == [late["id"], other["id"]]

    done = http.post(f"/api/v1/crm/tasks/{late['id']}/done")
    assert done.status_code == 200
    body = done.get_json()
    assert body["status"] == "done" and body["done_at"] and body["overdue"] is False
    assert http.get("/api/v1/crm/tasks?status=open").get_json()["results"][0]["id"] == other["id"]
    assert http.post(f"/api/v1/crm/tasks/{late['id']}/done").status_code == 200  # twice is harmless

    upd = shop.advisor_http.patch(f"/api/v1/crm/tasks/{other['id']}", json={"status": "cancelled", "notes": "n/a"})
    assert upd.status_code == 200 and upd.get_json()["status"] == "cancelled"
    again = http.post(f"/api/v1/crm/tasks/{other['id']}/done")
    assert again.status_code == 409


def test_field_errors_are_422_and_translated(shop):
    http = shop.http
    r = http.post("/api/v1/crm/tasks", json={"due_on": "2026-13-45", "due_time": "25:99", "client_id": 999999})
    assert r.status_code == 422
    fields = r.get_json()["fields"]
    assert set(fields) == {"title", "due_on", "due_time", "client_id"}
    assert fields["due_on"] == ["Enter a date as YYYY-MM-DD."]
    ru = http.post("/api/v1/crm/tasks", json={"title": " "}, headers={"Accept-Language": "ru"})
    assert ru.status_code == 422 and ru.get_json()["fields"]["title"][0] != "Enter what needs to be done."
    assert http.get("/api/v1/crm/tasks?due_before=tomorrow").status_code == 422
    assert http.get("/api/v1/crm/tasks").get_json()["results"] == []


def test_tasks_need_crm_advanced(app, tenant, user, api_client, login):
    master = tenant(tier="master")
    owner = user(role="owner", tenant=master)
    http = api_client(owner)
    assert http.get("/api/v1/crm/tasks").status_code == 403
    assert http.post("/api/v1/crm/tasks", json={"title": "x"}).status_code == 403
    page = login(app.test_client(), owner)
    assert page.get("/crm/tasks").status_code == 403
    assert 'href="/crm/tasks"' not in page.get("/crm/clients").get_data(as_text=True)
    basic = tenant(tier="basic")
    assert api_client(user(role="owner", tenant=basic)).get("/api/v1/crm/tasks").status_code == 404


def test_another_tenants_task_is_not_found(shop, tenant, user, api_client):
    task = shop.http.post("/api/v1/crm/tasks", json={"title": "Mine"}).get_json()
    stranger = api_client(user(role="owner", tenant=tenant(tier="profi")))
    assert stranger.get(f"/api/v1/crm/tasks/{task['id']}").status_code == 404
    assert stranger.post(f"/api/v1/crm/tasks/{task['id']}/done").status_code == 404
    assert stranger.patch(f"/api/v1/crm/tasks/{task['id']}", json={"title": "x"}).status_code == 404
    assert stranger.get("/api/v1/crm/tasks").get_json()["results"] == []
    # Another shop's client cannot be attached either.
    r = stranger.post("/api/v1/crm/tasks", json={"title": "x", "client_id": shop.client_id})
    assert r.status_code == 422 and "client_id" in r.get_json()["fields"]
    assert shop.http.get(f"/api/v1/crm/tasks/{task['id']}").get_json()["status"] == "open"


def test_task_changes_are_audited(shop):
    from core.audit import AuditLog
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    task = shop.http.post("/api/v1/crm/tasks", json={"title": "Audit me"}).get_json()
    shop.http.post(f"/api/v1/crm/tasks/{task['id']}/done")
    with shop.app.app_context():
        with tenant_context(tenant_info(db.session.get(Tenant, shop.tenant.id))):
            rows = list(db.session.scalars(select(AuditLog).where(AuditLog.object_type == "crm_task",
                                                                  AuditLog.object_id == task["id"])
                                           .order_by(AuditLog.id)))
    assert [r.action for r in rows] == ["crm.task.create", "crm.task.update"]
    assert rows[0].user_id == shop.owner.id and rows[0].changes["title"] == "Audit me"
    assert rows[1].changes["status"] == ["open", "done"]


def test_tasks_page_menu_add_and_done(shop, app, login):
    page = login(app.test_client(), shop.advisor)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    overdue = (shop_today() - timedelta(days=3)).isoformat()
    shop.advisor_http.post("/api/v1/crm/tasks", json={"title": "Old follow-up", "due_on": overdue})
    html = page.get("/crm/tasks").get_data(as_text=True)
    assert 'href="/crm/tasks"' in html  # the menu entry on crm.advanced
    assert "Old follow-up" in html and "crm-task--overdue" in html and "Overdue" in html
    shop.advisor_http.post("/api/v1/crm/tasks", json={"title": "Tyres", "client_id": shop.client_id})
    assert f'<a href="/crm/clients/{shop.client_id}">Ivan Petrov</a>' in page.get("/crm/tasks").get_data(as_text=True)

    bad = page.post("/crm/tasks", data={"csrf_token": csrf_of(html), "title": "", "due_on": "nope"})
    assert bad.status_code == 422 and "Enter a date as YYYY-MM-DD." in bad.get_data(as_text=True)
    added = page.post("/crm/tasks", data={"csrf_token": csrf_of(html), "title": "Call Ivan about brakes",
                                          "due_on": shop_today().isoformat(), "assignee_id": str(shop.advisor.id)})
    assert added.status_code == 302
    html = page.get("/crm/tasks").get_data(as_text=True)
    assert "Call Ivan about brakes" in html
    [task] = [t for t in shop.advisor_http.get("/api/v1/crm/tasks?assignee=me").get_json()["results"]
              if t["title"] == "Call Ivan about brakes"]
    assert page.post(f"/crm/tasks/{task['id']}/done", data={"csrf_token": csrf_of(html)}).status_code == 302
    assert shop.advisor_http.get(f"/api/v1/crm/tasks/{task['id']}").get_json()["status"] == "done"
    assert "Call Ivan about brakes" not in page.get("/crm/tasks").get_data(as_text=True)


def test_client_card_shows_open_tasks_and_adds_one(shop, app, login):
    page = login(app.test_client(), shop.owner)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    card = f"/crm/clients/{shop.client_id}"
    html = page.get(card).get_data(as_text=True)
    assert "Open tasks" in html and "No open tasks." in html
    r = page.post("/crm/tasks", data={"csrf_token": csrf_of(html), "title": "Remind about tyres",
                                      "client_id": str(shop.client_id), "next": card})
    assert r.status_code == 302 and r.headers["Location"].endswith(card)
    html = page.get(card).get_data(as_text=True)
    assert "Remind about tyres" in html
    [task] = shop.http.get(f"/api/v1/crm/tasks?client_id={shop.client_id}").get_json()["results"]
    assert task["assignee_id"] == shop.owner.id


@pytest.mark.browser
@pytest.mark.backends("sqlite")
def test_tasks_in_the_browser(browser, live_url, app, tenant, user):
    """Headless Chromium: the menu entry, quick add on the Tasks page, the overdue highlight, mark done
    from the client card. Screenshot: ``test-artifacts/crm-tasks.png``."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client

    t = tenant(tier="profi")
    owner = user(role="owner", tenant=t)
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        c = Client(name="Ivan Petrov")
        db.session.add(c)
        db.session.commit()
        client_id = c.id

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.click("a[href='/crm/tasks']")
    page.wait_for_url(f"{live_url}/crm/tasks")
    page.fill("#task-title", "Call back about the declined brake job")
    page.fill("#task-due", (shop_today() - timedelta(days=3)).isoformat())
    page.click("button:has-text('Add task')")
    page.wait_for_selector(".flash--success")
    row = page.locator("table.crm-tasks-mine tr.crm-task--overdue", has_text="declined brake job")
    assert row.count() == 1 and "Overdue" in row.inner_text()
    shot(page, "crm-tasks")

    page.goto(f"{live_url}/crm/clients/{client_id}")
    page.fill(".crm-client-task-add input[name=title]", "Remind about tyres")
    page.click(".crm-client-task-add button")
    page.wait_for_selector(".flash--success")
    section = page.locator(".crm-client-tasks")
    assert "Remind about tyres" in section.inner_text()
    section.locator("li", has_text="Remind about tyres").locator("button:has-text('Mark done')").click()
    page.wait_for_selector(".flash--success")
    assert "Remind about tyres" not in page.inner_text(".crm-client-tasks")
    context.close()
