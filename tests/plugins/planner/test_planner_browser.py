"""The day grid in headless Chromium (real server on loopback, see tests/test_browser.py): a booking's
length changed by dragging its lower edge (an overlap is refused and the booking snaps back), and the
grid on a 390 px phone: one bay at a time, no sideways scrolling, a booking in two taps.
Screenshots go to ``test-artifacts/planner-*.png``."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from test_browser import browser, live_url, shot, sign_in  # noqa: E402,F401  (shared fixtures and helpers)

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]

MONDAY = "2030-03-25"


@pytest.fixture
def garage_config():
    return {}


def _booking(api_client, booking_id):
    return api_client.get(f"/api/v1/planner/bookings/{booking_id}").json


def _drag_edge(page, booking_id, rows):
    handle = page.locator(f'td[data-booking="{booking_id}"] [data-resize]')
    box = handle.bounding_box()
    row_height = page.evaluate("document.querySelector('[data-planner-grid] tbody tr').offsetHeight")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 5):
        page.mouse.move(x, y + rows * row_height * i / 4)
    page.mouse.up()


def test_dragging_the_lower_edge_changes_the_length(browser, live_url, shop, api, user, book):
    s = shop(tier="basic")
    client = api(s)
    a = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").json
    b = book(client, s.bays["Lift 1"], f"{MONDAY}T12:00").json
    owner = user(role="owner", tenant=s.handle)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.goto(f"{live_url}/planner/?date={MONDAY}")
    with page.expect_navigation():  # saved: the page reloads with the new length
        _drag_edge(page, a["id"], 1)
    assert _booking(client, a["id"])["duration_minutes"] == 90
    assert "10:00–11:30" in page.inner_text(f'td[data-booking="{a["id"]}"]')
    shot(page, "planner-resized")
    # Into the next booking: refused with the server's message, nothing changes.
    _drag_edge(page, a["id"], 3)
    error = page.locator("[data-move-error]")
    error.wait_for(state="visible")
    assert f"#{b['id']}" in error.inner_text()
    assert page.locator(".planner-resize-ghost").count() == 0  # snapped back
    assert _booking(client, a["id"])["duration_minutes"] == 90
    # Shorter than one slot is not offered: at least one slot.
    with page.expect_navigation():
        _drag_edge(page, a["id"], -4)
    assert _booking(client, a["id"])["duration_minutes"] == 30
    context.close()


def test_the_day_grid_on_a_phone(browser, live_url, shop, api, user, book):
    s = shop(tier="basic")
    client = api(s)
    book(client, s.bays["Lift 1"], f"{MONDAY}T10:00")
    owner = user(role="owner", tenant=s.handle)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.goto(f"{live_url}/planner/?date={MONDAY}")
    no_sideways = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways), page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    visible_bays = "[...document.querySelectorAll('thead th[data-col]')].filter(th => th.offsetParent).map(th => th.dataset.col)"
    assert page.evaluate(visible_bays) == [str(s.bays["Lift 1"])]
    assert page.evaluate("(() => { const w = document.querySelector('.planner-grid-wrap'); return w.scrollWidth <= w.clientWidth; })()")
    page.select_option("#planner-bay-switch", str(s.bays["Lift 2"]))
    assert page.evaluate(visible_bays) == [str(s.bays["Lift 2"])]
    shot(page, "planner-phone")
    # Two taps: a free time of the bay, then Save (the name typed in between).
    page.tap(f'td.planner-free a[data-bay="{s.bays["Lift 2"]}"][data-start="{MONDAY}T11:00"]')
    dialog = page.locator("#planner-quick")
    dialog.wait_for(state="visible")
    page.fill("#bk-client_name", "Oleg")
    assert page.evaluate(no_sideways)
    shot(page, "planner-phone-quick")
    with page.expect_navigation():
        page.tap("#planner-quick button.button--primary[type=submit]")
    items = client.get(f"/api/v1/planner/bookings?date_from={MONDAY}").json["items"]
    assert [(i["client_name"], i["bay_id"], i["start"][:16]) for i in items if i["client_name"] == "Oleg"] == [
        ("Oleg", s.bays["Lift 2"], f"{MONDAY}T11:00")]
    assert page.evaluate(visible_bays) == [str(s.bays["Lift 2"])]  # the chosen bay stays after saving
    context.close()


def test_planned_jobs_from_the_catalog_set_the_duration(browser, live_url, shop, api, user):
    s = shop(tier="specialist")
    client = api(s)
    for body in ({"code": "OIL", "name": "Oil change", "standard_hours": "0.5"},
                 {"code": "ALIGN", "name": "Wheel alignment", "standard_hours": "1.2"}):
        assert client.post("/api/v1/workshop/jobs", json=body).status_code == 201
    owner = user(role="owner", tenant=s.handle)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.goto(f"{live_url}/planner/bookings/new?bay_id={s.bays['Lift 1']}&start={MONDAY}T10:00")
    page.fill("#bk-job-add", "Wheel alignment")
    page.click("[data-job-add]")
    assert page.input_value("#bk-jobs") == "Wheel alignment"
    assert page.input_value("#bk-duration") == "90"  # 1.2 h -> 72 min -> three 30-minute slots
    page.fill("#bk-job-add", "Oil change")
    page.press("#bk-job-add", "Enter")
    assert page.input_value("#bk-jobs") == "Wheel alignment\nOil change"
    assert page.input_value("#bk-duration") == "120"  # 1.7 h -> 102 min -> four slots
    page.fill("#bk-client_name", "Pavel")
    shot(page, "planner-jobs")
    with page.expect_navigation():
        page.click("main form.card button.button--primary[type=submit]")
    [booking] = client.get(f"/api/v1/planner/bookings?date_from={MONDAY}").json["items"]
    assert (booking["planned_jobs"], booking["duration_minutes"]) == (["Wheel alignment", "Oil change"], 120)
    context.close()


def test_one_click_from_the_arrivals_to_the_service_order(browser, live_url, shop, api, user, book):
    s = shop(tier="specialist")
    client = api(s)
    c = client.post("/api/v1/crm/clients", json={"name": "Irina Volkova", "phones": ["+7 916 777-88-99"]}).json
    car = client.post("/api/v1/crm/vehicles", json={"client_id": c["id"], "make": "Kia", "model": "Ceed",
                                                     "plate": "Е777КХ77"}).json
    b = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=c["id"], vehicle_id=car["id"],
             reason="Brakes squeak", planned_jobs=["Brake pads"]).json
    owner = user(role="owner", tenant=s.handle)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.goto(f"{live_url}/planner/arrivals?date={MONDAY}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "planner-arrivals-phone")
    with page.expect_navigation():
        page.tap("main button:has-text('Open a service order')")
    assert "/workshop/service-orders/" in page.url
    link = client.get(f"/api/v1/planner/bookings/{b['id']}").json["converted_to"]
    assert page.url.endswith(link["url"]) and link["number"] in page.inner_text("main")
    assert "Brakes squeak" in page.inner_text("main")
    context.close()
