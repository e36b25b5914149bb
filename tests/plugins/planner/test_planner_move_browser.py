"""Moving a booking on the day grid in headless Chromium with pointer events: by mouse one slot later
(over its own time: a booking may overlap itself), by touch (hold, then drag) onto another bay; the
server saves each move. Screenshots go to ``test-artifacts/planner-move-*.png``."""
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


def _centre(page, selector):
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 15)


def test_dragging_a_booking_moves_it_by_mouse_and_by_touch(browser, live_url, shop, api, user, book):
    s = shop(tier="basic")
    client = api(s)
    booking = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").json
    owner = user(role="owner", tenant=s.handle)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.goto(f"{live_url}/planner/?date={MONDAY}")
    cell = f'td[data-booking="{booking["id"]}"]'
    row_height = page.evaluate("document.querySelector('[data-planner-grid] tbody tr').offsetHeight")

    # Mouse: half an hour later, i.e. over the booking's own second half hour.
    x, y = _centre(page, cell)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 5):
        page.mouse.move(x, y + row_height * i / 4)
    assert page.locator(".planner-move-ghost").inner_text() == "10:30"
    shot(page, "planner-move-mouse")
    with page.expect_navigation():
        page.mouse.up()
    saved = client.get(f"/api/v1/planner/bookings/{booking['id']}").json
    assert (saved["start"][:16], saved["bay_id"]) == (f"{MONDAY}T10:30", s.bays["Lift 1"])
    assert "10:30–11:30" in page.inner_text(cell)

    # Touch: hold the booking still, then drag it one column right and one slot down.
    x, y = _centre(page, cell)
    col = page.locator(f'thead th[data-col="{s.bays["Lift 2"]}"]').bounding_box()
    target_x = col["x"] + col["width"] / 2
    cdp = context.new_cdp_session(page)
    touch = lambda kind, px, py: cdp.send("Input.dispatchTouchEvent", {  # noqa: E731
        "type": kind, "touchPoints": [] if kind == "touchEnd" else [{"x": px, "y": py}]})
    touch("touchStart", x, y)
    page.locator(".planner-move-ghost").wait_for(state="attached")  # the hold started the drag
    for i in range(1, 5):
        touch("touchMove", x + (target_x - x) * i / 4, y + row_height * i / 4)
    assert page.locator(".planner-move-ghost").inner_text() == "11:00"
    with page.expect_navigation():
        touch("touchEnd", target_x, y + row_height)
    saved = client.get(f"/api/v1/planner/bookings/{booking['id']}").json
    assert (saved["start"][:16], saved["bay_id"]) == (f"{MONDAY}T11:00", s.bays["Lift 2"])
    shot(page, "planner-move-touch")

    # A plain click still opens the booking.
    with page.expect_navigation():
        page.click(f'td[data-booking="{booking["id"]}"] a')
    assert page.url.endswith(f"/planner/bookings/{booking['id']}")
    context.close()
