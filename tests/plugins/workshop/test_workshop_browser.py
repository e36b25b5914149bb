"""A work order through the UI in headless Chromium (real server on loopback, see tests/test_browser.py):
from the service order to a closed, printed work order; then the shop's own print template.
Screenshots go to ``test-artifacts/workshop-*.png``."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from test_browser import browser, live_url, shot, sign_in  # noqa: E402,F401  (shared fixtures and helpers)

API = "/api/v1/workshop"

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]


@pytest.fixture
def garage_config():
    return {}


def test_work_order_from_service_order_to_print(browser, live_url, shop):
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"],
                                             "odometer": 45210, "complaint": "Стук спереди справа"})
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, shop.user)

    page.goto(f"{live_url}/workshop/service-orders/{so['id']}")
    page.click("main button:has-text('Make a work order')")
    page.wait_for_url(f"{live_url}/workshop/work-orders/*")
    assert "Стук спереди справа" in page.inner_text("main")
    order_url = page.url.split("?")[0]

    labour = page.locator("form:has(input[name=kind][value=labor])")
    labour.locator("input[name=name]").fill("Замена сайлентблоков рычага")
    labour.locator("input[name=hours]").fill("2")
    labour.locator("input[name=rate]").fill("2500")
    with page.expect_navigation():
        labour.locator("button").click()
    parts = page.locator("form:has(input[name=kind][value=part])")
    parts.locator("input[name=name]").fill("Сайлентблок рычага")
    parts.locator("input[name=quantity]").fill("2")
    parts.locator("input[name=price]").fill("1200")
    with page.expect_navigation():
        parts.locator("button").click()
    main = page.inner_text("main").replace("\xa0", " ")
    assert "Замена сайлентблоков рычага" in main and "Сайлентблок рычага" in main
    shot(page, "workshop-work-order-lines")

    # The client agrees to both lines at the desk, then the order goes through to closed.
    for line in range(2):
        decision = page.locator("form[action$='/decisions']").nth(line)
        decision.locator("input[name=by]").fill("Иванов И. И.")
        with page.expect_navigation():
            decision.locator("button[value=approved]").click()
    for transition, state in (("approve", "Approved"), ("start", "In progress"), ("finish", "Ready for pickup"),
                              ("close", "Closed")):
        with page.expect_navigation():
            page.click(f"form[action$='/transition/{transition}'] button")
        assert f"State: {state}" in page.inner_text("main"), page.inner_text("main")[:500]
    assert "Closed" in page.inner_text("main")
    shot(page, "workshop-work-order-closed")

    page.goto(order_url.replace("/workshop/work-orders/", "/api/v1/workshop/work-orders/") + "/print")
    text = page.inner_text("body").replace("\xa0", " ")
    assert "Замена сайлентблоков рычага" in text and "Сайлентблок рычага" in text and "7,400.00" in text
    shot(page, "workshop-work-order-print")
    context.close()


def test_the_shop_edits_its_work_order_print_template(browser, live_url, shop):
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"], odometer=1000)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, shop.user)
    page.click("nav#site-nav >> text=Print templates")
    page.wait_for_url(f"{live_url}/workshop/print-templates")
    page.click("tr:has-text('Work orders') >> text=Edit")
    assert "workshop/print/_base.html" in page.input_value("#template-body")  # the built-in one to start from

    page.fill("#template-body", "<h1>{{ doc.number }}</h1>\n{% for line in doc.labor_lines %}\n{{ line.name }}")
    with page.expect_navigation():
        page.click("button[value=save]")
    problem = page.inner_text("#template-problem")
    assert "not saved" in problem and "Line 3" in problem and "endfor" in problem
    assert "{% for line in doc.labor_lines %}" in page.input_value("#template-body")  # nothing typed is lost
    shot(page, "workshop-print-template-error")

    page.fill("#template-body", '{% extends "workshop/print/_base.html" %}{% block content %}'
                                "<h1>Наш заказ-наряд {{ doc.number }}</h1>{% endblock %}")
    with page.expect_navigation():
        page.click("button[value=preview]")
    preview = page.frame_locator("#template-preview")
    assert preview.locator("h1").inner_text() == f"Наш заказ-наряд {wo['number']}"
    shot(page, "workshop-print-template-preview")
    with page.expect_navigation():
        page.click("button[value=save]")
    assert "version 1" in page.inner_text(".flash--success")

    page.goto(f"{live_url}/api/v1/workshop/work-orders/{wo['id']}/print")
    assert page.inner_text("h1") == f"Наш заказ-наряд {wo['number']}"
    shot(page, "workshop-print-template-printed")
    context.close()
