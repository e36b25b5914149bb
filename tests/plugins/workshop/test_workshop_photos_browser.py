"""Photos in headless Chromium on a phone-sized screen: the advisor adds an intake photo to the service
order, the technician adds one to his job from "My jobs"; the thumbnails load and the service order's
print shows the photo. Screenshots go to ``test-artifacts/workshop-photos-*.png``."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from test_browser import browser, live_url, shot, sign_in  # noqa: E402,F401  (shared fixtures and helpers)

API = "/api/v1/workshop"
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]


@pytest.fixture
def garage_config():
    return {}


def _photo(tmp_path, name, color):
    path = tmp_path / name
    Image.new("RGB", (1200, 900), color).save(path, "JPEG")
    return str(path)


def _thumbs_loaded(page) -> list[int]:
    return page.eval_on_selector_all("img[src*='/thumb']", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")


def test_photos_from_a_phone(browser, live_url, make_shop, tmp_path):
    owner = make_shop(tier="master")
    tech = make_shop(tier="master", role="technician", t=owner.tenant)
    client, car = owner.client_and_car()
    so = owner.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 5000})
    wo = owner.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = owner.line(wo["id"], name="Замена колодок", hours="1", rate="2000.00", technician_id=tech.user.id)["line"]
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    owner.transition("work-orders", wo["id"], "approve")

    context = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner.user)
    page.goto(f"{live_url}/workshop/service-orders/{so['id']}")
    form = page.locator("form.ws-photo-upload")
    assert form.locator("input[type=file]").get_attribute("capture") == "environment"
    form.locator("input[type=file]").set_input_files(_photo(tmp_path, "scratch.jpg", (180, 40, 40)))
    form.locator("select[name=kind]").select_option("damage")
    form.locator("input[name=caption]").fill("Царапина на бампере")
    with page.expect_navigation():
        form.locator("button").click()
    assert "Photo saved." in page.inner_text("main")
    page.wait_for_load_state("networkidle")
    assert _thumbs_loaded(page) == [480]
    shot(page, "workshop-photos-service-order")
    page.goto(f"{live_url}{API}/service-orders/{so['id']}/print")
    assert page.eval_on_selector_all("img[src^='data:image/jpeg']", "imgs => imgs.map(i => i.naturalWidth)") == [480]
    shot(page, "workshop-photos-service-order-print")
    context.close()

    context = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, tech.user)
    page.goto(f"{live_url}/workshop/my-jobs")
    job = page.locator(f"#job-{line['id']}")
    job.locator("input[type=file]").set_input_files(_photo(tmp_path, "pads.jpg", (40, 40, 180)))
    with page.expect_navigation():
        job.locator("form[enctype='multipart/form-data'] button").click()
    page.wait_for_load_state("networkidle")
    assert "Photo saved." in page.inner_text("main") and _thumbs_loaded(page) == [480]
    shot(page, "workshop-photos-my-jobs")
    context.close()
