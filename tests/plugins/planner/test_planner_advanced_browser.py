"""planner.advanced in headless Chromium (real server on loopback, see tests/test_browser.py): "Find a
time" for a chain (diagnostics, then a lift), one click on the earliest fit, the client typed in,
saved; the day plan shows both steps. Screenshots go to ``test-artifacts/planner-*.png``."""
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


def test_find_a_time_for_a_chain_and_book_it(browser, live_url, shop, api, user, book):
    s = shop(tier="specialist", bays=(("Diag", "diagnostics"), ("Lift 1", "lift")))
    client = api(s)
    book(client, s.bays["Lift 1"], f"{MONDAY}T09:00", 120)  # the lift is free from 11:00
    owner = user(role="owner", tenant=s.handle)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    page.goto(f"{live_url}/planner/?date={MONDAY}")
    page.get_by_role("link", name="Find a time").click()
    page.select_option("#find-type-0", "diagnostics")
    page.fill("#find-minutes-0", "30")
    page.select_option("#find-type-1", "lift")
    page.fill("#find-minutes-1", "90")
    page.fill("#find-from", MONDAY)
    page.get_by_role("button", name="Find").click()
    first = page.locator("[data-fit]").first
    assert "10:30–12:30" in first.inner_text()  # diagnostics 10:30-11:00, then the lift at 11:00
    shot(page, "planner-find-a-time")
    first.get_by_role("link", name="Book").click()
    page.fill("#chain-client_name", "Nina Orlova")
    page.fill("#chain-client_phone", "+7 900 100-20-30")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/planner/plan?date={MONDAY}")
    plan = page.inner_text("main")
    assert "Nina Orlova" in plan and "step 1 of 2" in plan and "step 2 of 2" in plan
    shot(page, "planner-day-plan")
    [booking] = [b for b in client.get(f"/api/v1/planner/day?date={MONDAY}").json["bookings"]
                 if b["client_name"] == "Nina Orlova"]
    assert [(x["bay_id"], x["start"][11:16]) for x in booking["segments"]] == [
        (s.bays["Diag"], "10:30"), (s.bays["Lift 1"], "11:00")]
    context.close()
