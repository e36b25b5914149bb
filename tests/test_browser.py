"""The UI in a real headless Chromium (Playwright), against the app served over HTTP on loopback.

Scenario: sign in, switch the language, open a list from the menu, create a record (first with a
validation error), edit it, sign out; the same pages at phone width (375 px) and by keyboard.
Screenshots of the main pages go to ``test-artifacts/`` (gitignored).

Needs Debian's ``chromium`` (``make chromium``). Without it the tests skip, except with ``CI=true``,
where they fail. Playwright never downloads a browser here: it drives ``/usr/bin/chromium``.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from core.db import db
from core.tenants import get_tenant, set_feature

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
NOTES = {"GARAGE_PLUGINS": [], "GARAGE_EXTRA_PLUGINS": {"ui_notes": "tests.fixture_plugins.ui_notes"}}

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        message = "Chromium not found (/usr/bin/chromium): run `make chromium` (Debian package `chromium`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true requires the browser tests", pytrace=False)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def garage_config():
    return NOTES


@pytest.fixture
def live_url(app):
    """The app on a real HTTP server on 127.0.0.1, an OS-chosen port, in a thread."""
    from werkzeug.serving import make_server

    from core.ui.i18n_tools import compile_stale

    compile_stale()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def owner(app, user, tenant):
    t = tenant(tier="profi")
    with app.app_context():
        set_feature(get_tenant(t.slug), "ui_notes.notes", True)
        db.session.commit()
    return user(role="owner", tenant=t)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, base, u):
    page.goto(f"{base}/login")
    page.fill("input[name=shop]", u.tenant.slug)
    page.fill("input[name=email]", u.email)
    page.fill("input[name=password]", u.password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_sign_in_language_list_create_edit_sign_out(browser, live_url, owner):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_url}/login")
    shot(page, "login")
    sign_in(page, live_url, owner)
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("text=Notes widget").is_visible()
    shot(page, "dashboard-desktop")

    # keyboard: the first Tab lands on the skip link, which jumps to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    # language: Russian, saved on the user
    page.click("a.user-link")
    page.select_option("#f-language", "ru")
    page.click("button[type=submit]:has-text('Save')")
    page.wait_for_selector("html[lang=ru]")
    assert page.locator(".flash--success").inner_text() == "Профиль сохранён."
    shot(page, "profile-ru")

    page.goto(f"{live_url}/users")
    shot(page, "users-ru")  # the auth pages share the shell's look
    page.goto(f"{live_url}/")

    # a list, opened from the menu
    page.click("nav#site-nav >> text=Notes")
    page.wait_for_url(f"{live_url}/ui_notes/notes")
    assert page.locator("text=Записей пока нет.").is_visible()

    # create: first a validation error, nothing typed lost
    page.click("text=Создать")
    page.fill("#f-amount", "abc")
    page.fill("#f-body", "левое переднее колесо")
    page.click("button:has-text('Сохранить')")
    page.wait_for_selector("#f-title-err")
    assert page.locator("#f-title-err").inner_text() == "Обязательное поле."
    assert page.locator("#f-amount-err").inner_text() == "Некорректное число."
    assert page.input_value("#f-amount") == "abc"
    assert page.input_value("#f-body") == "левое переднее колесо"
    assert page.evaluate("document.activeElement.id") == "f-title"  # focus on the first bad field
    shot(page, "form-error-ru")
    page.fill("#f-title", "Проверить тормоза")
    page.fill("#f-amount", "1 234,50")
    page.select_option("#f-priority", "high")
    page.click("button:has-text('Сохранить')")
    page.wait_for_selector(".flash--success")
    assert "Проверить тормоза" in page.inner_text("main")
    assert "1 234,50" in page.inner_text("main").replace("\xa0", " ")
    shot(page, "detail-ru")

    # edit
    page.click("text=Изменить")
    page.fill("#f-title", "Проверить тормоза и диски")
    page.click("button:has-text('Сохранить')")
    page.wait_for_selector(".flash--success")
    assert "Проверить тормоза и диски" in page.inner_text("main")

    # the list shows it; search finds it
    page.goto(f"{live_url}/ui_notes/notes?q=провер")
    assert page.locator("table.table tbody tr").count() == 1
    shot(page, "list-ru")

    # sign out
    page.click("text=Выйти")
    page.wait_for_url(f"{live_url}/login*")
    page.goto(f"{live_url}/")
    assert "/login" in page.url
    context.close()


def test_phone_width_layout(browser, live_url, owner, app):
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN", has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, owner)
    assert page.locator("h1").inner_text() == "仪表板"
    # the menu folds behind a button
    assert not page.locator("nav#site-nav").is_visible()
    shot(page, "dashboard-phone")
    page.click("[data-nav-toggle]")
    assert page.locator("nav#site-nav").is_visible()
    assert page.get_attribute("[data-nav-toggle]", "aria-expanded") == "true"
    shot(page, "menu-phone")
    for path, name in (("/ui_notes/notes/new", "form-phone"), ("/settings", "settings-phone")):
        page.goto(live_url + path)
        # nothing wider than the screen: no sideways scrolling
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
        shot(page, name)
    page.goto(live_url + "/ui_notes/notes/new")
    page.fill("#f-title", "机油更换")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash--success")
    page.goto(live_url + "/ui_notes/notes")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "list-phone")
    context.close()


def test_error_and_upgrade_pages(browser, live_url, app, user, tenant):
    t = tenant(tier="basic")  # no notes feature in any tier: the upgrade page has no tier to offer
    u = user(role="technician", tenant=t)
    context = browser.new_context(viewport={"width": 1024, "height": 700}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, u)
    response = page.goto(live_url + "/ui_notes/notes")
    assert response.status == 404 and page.locator("h1").inner_text() == "Notes"
    assert page.locator("text=Not in your plan").first.is_visible()
    shot(page, "upgrade")
    response = page.goto(live_url + "/settings")
    assert response.status == 403 and page.locator("h1").inner_text() == "Access denied"
    shot(page, "error-403")
    response = page.goto(live_url + "/no/such-page")
    assert response.status == 404 and page.locator("h1").inner_text() == "Page not found"
    context.close()
