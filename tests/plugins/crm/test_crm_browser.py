"""CRM pages in headless Chromium (real server on loopback, see tests/test_browser.py): the due-soon list
(snooze with a date, filter by state, dismiss), a mass mailing (count, then send) and the client card's
reviews. Screenshots go to ``test-artifacts/crm-*.png``."""
from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from test_browser import browser, live_url, shot, sign_in  # noqa: E402,F401  (shared fixtures and helpers)
from tests.plugins.crm.shop_clock import shop_today

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]
TODAY = shop_today()


@pytest.fixture
def garage_config():
    return {}


@pytest.fixture
def shop(app, tenant, user):
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client, Vehicle
    from plugins.crm.reminders import add_months, record_done
    from plugins.crm.reviews import request_review
    from plugins.crm.segments import create_segment

    t = tenant(tier="profi")
    owner = user(role="owner", tenant=t)
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        c = Client(name="Ivan Petrov", consent_email=True)
        c.emails = ["ivan@example.com"]
        shy = Client(name="Olga Shy", consent_email=False)
        shy.emails = ["olga@example.com"]
        db.session.add_all([c, shy])
        db.session.flush()
        car = Vehicle(client_id=c.id, plate="А123ВС77", make="Kia", model="Rio")
        db.session.add_all([car, Vehicle(client_id=shy.id, make="Kia")])
        db.session.flush()
        record_done(car, "oil", add_months(TODAY, -12) + timedelta(days=10), None)
        create_segment("Kia owners", {"make": "Kia"})
        review = request_review(c, car)
        review.score, review.comment, review.answered_at = 5, "Fast and clean", review.created_at
        db.session.commit()
        ids = {"client": c.id, "car": car.id}
    return owner, ids


def test_reminders_mailing_and_reviews_in_the_browser(browser, live_url, shop):
    owner, ids = shop
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)

    # The due-soon list: snooze the oil change for a week; it leaves the list and shows under "Snoozed".
    page.goto(f"{live_url}/crm/reminders?code=oil")
    row = page.locator("table.crm-reminders tbody tr", has_text="A123BC77")
    assert row.locator(".reminder-state").inner_text() == "Open"
    shot(page, "crm-reminders")
    until = (TODAY + timedelta(days=7)).isoformat()
    row.locator("input[name=until]").fill(until)
    row.locator("button:has-text('Snooze')").click()
    page.wait_for_selector(".flash--success")
    assert "A123BC77" not in page.inner_text("main")
    page.select_option("select[name=state]", "snoozed")
    page.click("form.filters button[type=submit]")
    row = page.locator("table.crm-reminders tbody tr", has_text="A123BC77")
    assert row.locator(".reminder-state").inner_text() == f"Snoozed until {until}"
    row.locator("button:has-text('Dismiss')").click()
    page.wait_for_selector(".flash--success")

    # Mass mailing: count first (the excluded and why), then send once.
    page.goto(f"{live_url}/crm/mailings")
    page.select_option("select[name=segment_id]", label="Kia owners")
    page.select_option("select[name=template_id]", index=1)
    page.click("button:has-text('Count recipients')")
    page.wait_for_selector(".mailing-preview")
    preview = page.inner_text(".mailing-preview")
    assert "Recipients: 1 of 2 clients in the segment." in preview and "No consent for this channel: 1" in preview
    shot(page, "crm-mailing-preview")
    page.click("button:has-text('Send to the recipients (1)')")
    page.wait_for_selector(".flash--success")
    assert "Messages: 1." in page.inner_text(".flash--success")
    assert page.locator("table.crm-mailings tbody tr", has_text="Kia owners").count() == 1

    # The client card: the reviews with their average.
    page.goto(f"{live_url}/crm/clients/{ids['client']}")
    reviews = page.inner_text(".crm-reviews")
    assert "Average score: 5.0 of 5; reviews: 1" in reviews and "Fast and clean" in reviews
    shot(page, "crm-client-card")
    context.close()


@pytest.fixture
def big_shop(app, tenant, user):
    """A shop with more clients than a select can hold (the owner field becomes the search picker)."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client, Recommendation, Vehicle

    t = tenant(tier="basic")
    advisor = user(role="service_advisor", tenant=t)
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        db.session.add_all([Client(name=f"Walk-in {i:03d}") for i in range(200)])
        anna = Client(name="Anna Smirnova")
        anna.phones = ["+79167770011"]
        boris = Client(name="Boris Kuznetsov")
        db.session.add_all([anna, boris])
        db.session.flush()
        car = Vehicle(client_id=boris.id, plate="Е777КХ77", make="Lada")
        db.session.add(car)
        db.session.flush()
        db.session.add(Recommendation(vehicle_id=car.id, text="Replace the wiper blades", urgency="low"))
        ids = {"anna": anna.id}
        db.session.commit()
    return advisor, ids


def test_owner_and_driver_pickers_and_deciding_a_recommendation(browser, live_url, big_shop):
    advisor, ids = big_shop
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, advisor)

    # New car: the owner is found by a part of the phone and picked from the suggestions; a name typed
    # but not picked is not saved as "no owner".
    page.goto(f"{live_url}/crm/vehicles/new")
    page.fill("input.crm-client-picker", "Nobody")
    page.click("button:has-text('Save')")
    assert page.is_visible(".crm-client-picker-hint") and page.url.endswith("/crm/vehicles/new")
    page.fill("input.crm-client-picker", "7770011")
    page.click(".crm-client-option:has-text('Anna Smirnova')")
    assert page.input_value("input[name=client_id]") == str(ids["anna"])
    page.fill("input[name=plate]", "А001АА77")
    page.fill("input[name=make]", "Kia")
    shot(page, "crm-owner-picker")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".flash--success")
    assert "Anna Smirnova" in page.inner_text("dl.props")

    # The same car card: a driver picked by name; the new car's card shows him among the drivers.
    page.fill(".crm-driver-add input.crm-client-picker", "Kuzn")
    page.click(".crm-driver-add .crm-client-option:has-text('Boris Kuznetsov')")
    page.click("button:has-text('Add driver')")
    page.wait_for_selector(".flash--success")
    assert "Boris Kuznetsov" in page.inner_text(".crm-drivers")

    # "Add car" on a client card opens the form with the owner filled in, shown by name.
    page.goto(f"{live_url}/crm/clients/{ids['anna']}")
    page.click("a.crm-add-car")
    page.wait_for_function("document.querySelector('input.crm-client-picker').value === 'Anna Smirnova'")

    # Boris's car: the client declines the recommendation; it stays, with the date.
    page.goto(f"{live_url}/crm/search?q=E777")
    assert "Open recommendations: 1" in page.inner_text("#crm-results")
    page.click("a.crm-result-car")
    page.click(".crm-recommendations button:has-text('Client declines')")
    page.wait_for_selector(".flash--success")
    assert page.inner_text(".crm-rec-state") == f"Declined {TODAY.isoformat()}"
    shot(page, "crm-vehicle-card")
    context.close()


WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('thead'))
  .slice(-5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def test_client_card_reminders_and_service_book_fit_a_phone(browser, live_url, shop, app):
    """At 390 px (a phone) no page scrolls sideways, in Russian (the longer words)."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Recommendation

    owner, ids = shop
    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, owner.tenant.id))):
        db.session.add(Recommendation(vehicle_id=ids["car"], text="Замена колодок тормозных передних",
                                      urgency="high"))
        db.session.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU",
                                  extra_http_headers={"Accept-Language": "ru"})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    for name, path in (("client", f"/crm/clients/{ids['client']}"), ("reminders", "/crm/reminders?code=oil"),
                       ("history", f"/crm/vehicles/{ids['car']}/history")):
        page.goto(live_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        shot(page, f"crm-phone-{name}")
        assert width <= 390, (path, width, page.evaluate(WIDEST))
    assert page.locator(".crm-recommendations button:has-text('Отклонить')").first.is_visible()
    context.close()
