"""The web UI shell: dashboard, menu, profile language, tenant settings, generic entity pages, error
and upgrade pages, locale formatting. Runs through Flask's test client on SQLite and PostgreSQL."""
import re
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import db
from core.features import tenant_info
from core.models import Tenant, User
from core.tenancy import tenant_context
from core.tenants import get_tenant, set_feature

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Only the fixture plugin: the shell is tested on its own, whatever state the business plugins are in.
NOTES = {"GARAGE_PLUGINS": [], "GARAGE_EXTRA_PLUGINS": {"ui_notes": "tests.fixture_plugins.ui_notes"}}


@pytest.fixture
def garage_config():
    return NOTES


@pytest.fixture(autouse=True, scope="module")
def _compiled_catalogs():
    """`make test` compiles the catalogs; a bare pytest run after editing a .po must see them too."""
    from core.ui.i18n_tools import compile_stale

    compile_stale()


def csrf_of(client, path):
    page = client.get(path)
    m = CSRF_RE.search(page.get_data(as_text=True))
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def shop(app, tenant, tier="profi", notes=True):
    t = tenant(tier=tier)
    if notes:
        with app.app_context():
            set_feature(get_tenant(t.slug), "ui_notes.notes", True)
            db.session.commit()
    return t


def signed_in(app, client, user, login, tenant, role="owner", **kw):
    # The browser asks for English unless a test says otherwise (a new shop's default language is ru).
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    t = shop(app, tenant, **kw)
    u = user(role=role, tenant=t)
    login(client, u)
    return u


def audit_rows(app, slug, object_type=None):
    with app.app_context(), tenant_context(tenant_info(get_tenant(slug))):
        stmt = select(AuditLog).order_by(AuditLog.id)
        if object_type:
            stmt = stmt.where(AuditLog.object_type == object_type)
        return [(r.action, r.changes) for r in db.session.scalars(stmt)]


def html(r):
    return r.get_data(as_text=True)


# --- shell -------------------------------------------------------------------------------------------

def test_anonymous_user_is_sent_to_the_login_page(client):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_dashboard_shows_plugin_widgets_and_survives_a_broken_one(app, client, user, login, tenant):
    signed_in(app, client, user, login, tenant)
    r = client.get("/")
    assert r.status_code == 200
    page = html(r)
    assert "Notes widget" in page  # the plugin's widget
    assert "Broken" not in page  # the failing one is left out, the page still renders
    assert "Your plan" in page and "Profi" in page  # the core's own widget
    assert 'href="#main"' in page and 'id="main"' in page  # skip link for keyboard users


def test_menu_follows_features_and_permissions(app, client, user, login, tenant):
    owner = signed_in(app, client, user, login, tenant)
    page = html(client.get("/"))
    assert 'href="/ui_notes/notes"' in page and 'href="/settings"' in page
    # a cashier may neither read notes nor change settings
    cashier = user(role="cashier", tenant=owner.tenant)
    login(client, cashier)
    page = html(client.get("/"))
    assert 'href="/ui_notes/notes"' not in page and 'href="/settings"' not in page
    # a tenant without the feature sees no notes link, even as owner
    other = signed_in(app, client, user, login, tenant, notes=False)
    assert other.tenant.slug != owner.tenant.slug
    assert 'href="/ui_notes/notes"' not in html(client.get("/"))


def test_profile_language_is_saved_and_used(app, client, user, login, tenant):
    u = signed_in(app, client, user, login, tenant)
    assert 'lang="en"' in html(client.get("/profile", headers={"Accept-Language": "en"}))
    token = csrf_of(client, "/profile")
    r = client.post("/profile", data={"csrf_token": token, "language": "ru"}, follow_redirects=True)
    assert r.status_code == 200
    page = html(r)
    assert 'lang="ru"' in page and "Профиль" in page
    # the profile language wins over the browser's
    assert "Профиль" in html(client.get("/profile", headers={"Accept-Language": "zh"}))
    with app.app_context():
        assert db.session.execute(select(User.language).where(User.id == u.id)
                                  .execution_options(all_tenants=True)).scalar_one() == "ru"
    assert any(a == "update" and c.get("language") == [None, "ru"] for a, c in audit_rows(app, u.tenant.slug))
    # an unknown language is refused with a message next to the field
    r = client.post("/profile", data={"csrf_token": token, "language": "xx"})
    assert r.status_code == 422 and 'aria-invalid="true"' in html(r)


def test_accept_language_chooses_when_the_profile_has_none(app, client, user, login, tenant):
    signed_in(app, client, user, login, tenant)
    assert "仪表板" in html(client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}))
    assert "Рабочий стол" in html(client.get("/", headers={"Accept-Language": "ru"}))
    # no preference anywhere: the shop's default language (a new shop's is Russian)
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    assert 'lang="ru"' in html(client.get("/"))


# --- settings ----------------------------------------------------------------------------------------

def _settings_form(**overrides):
    data = {"name": "Motor Yard", "timezone": "Asia/Shanghai", "currency": "CNY", "language": "zh",
            "vat_mode": "on_top", "vat_rate": "13.00", "legal_name": "Motor Yard Ltd", "inn": "7707083893",
            "kpp": "773601001", "address": "1 Road", "phone": "+7 900 000-00-00", "bank_name": "Bank",
            "bik": "044525225", "account": "40702810900000000001", "corr_account": "30101810400000000225"}
    data.update(overrides)
    return data


def test_settings_are_validated_saved_and_audited(app, client, user, login, tenant):
    u = signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/settings")
    bad = _settings_form(timezone="Mars/Olympus", inn="12", vat_rate="150")
    r = client.post("/settings", data={"csrf_token": token, **bad})
    assert r.status_code == 422
    page = html(r)
    assert "Unknown time zone." in page and "Must be 10 / 12 digits." in page
    assert "Mars/Olympus" in page and "Motor Yard Ltd" in page  # nothing typed is lost
    r = client.post("/settings", data={"csrf_token": token, **_settings_form(inn="7707083894")})
    assert r.status_code == 422 and "The check digits do not match: probably a typo." in html(r)
    r = client.post("/settings", data={"csrf_token": token, **_settings_form()})
    assert r.status_code == 302
    with app.app_context():
        t = db.session.execute(select(Tenant).where(Tenant.slug == u.tenant.slug)).scalar_one()
        assert (t.name, t.timezone, t.currency, t.vat_mode, t.vat_rate) == (
            "Motor Yard", "Asia/Shanghai", "CNY", "on_top", Decimal("13.00"))
        assert t.requisites["inn"] == "7707083893" and t.requisites["bik"] == "044525225"
    changes = [c for a, c in audit_rows(app, u.tenant.slug, "core_tenant") if a == "update"][-1]
    assert changes["currency"] == ["RUB", "CNY"] and "requisites" in changes


def test_settings_need_the_permission(app, client, user, login, tenant):
    owner = signed_in(app, client, user, login, tenant)
    login(client, user(role="technician", tenant=owner.tenant))
    assert client.get("/settings").status_code == 403


def test_plugin_settings_form_comes_from_the_manifest_schema(app, client, user, login, tenant):
    u = signed_in(app, client, user, login, tenant)
    page = html(client.get("/settings"))
    assert 'id="plugin-ui_notes"' in page and "Remind days before due" in page
    token = csrf_of(client, "/settings")
    r = client.post("/settings/plugins/ui_notes", data={"csrf_token": token, "reminder_days": "99",
                                                         "signature": "Ivan"})
    assert r.status_code == 422
    assert "Must be greater than or equal to 0 and less than or equal to 30." in html(r)
    assert 'value="Ivan"' in html(r)
    r = client.post("/settings/plugins/ui_notes", data={"csrf_token": token, "reminder_days": "3",
                                                         "signature": "Ivan", "loud": "1"})
    assert r.status_code == 302
    with app.app_context():
        t = db.session.execute(select(Tenant).where(Tenant.slug == u.tenant.slug)).scalar_one()
        assert t.plugin_settings["ui_notes"] == {"reminder_days": 3, "signature": "Ivan", "loud": True, "tags": [],
                                                 "on_dashboard": False}
    assert any(c.get("ui_notes.reminder_days") == [None, 3] for a, c in audit_rows(app, u.tenant.slug, "core_tenant"))
    # a plugin the tenant does not have has no settings to post
    assert client.post("/settings/plugins/crm_nope", data={"csrf_token": token}).status_code == 404


def test_plugin_settings_form_keeps_what_it_does_not_show(app, client, user, login, tenant):
    """A list edited elsewhere and a setting of a feature the shop lacks survive a save of the form."""
    u = signed_in(app, client, user, login, tenant, tier="free")
    with app.app_context():
        t = db.session.execute(select(Tenant).where(Tenant.slug == u.tenant.slug)).scalar_one()
        t.plugin_settings = {"ui_notes": {"reminder_days": 2, "signature": "", "loud": False,
                                          "tags": ["tyres", "oil"], "on_dashboard": True}}
        db.session.commit()
    page = html(client.get("/settings"))
    assert "Loud reminders" in page and "Show on the dashboard" not in page  # Free has no dashboard
    token = csrf_of(client, "/settings")
    r = client.post("/settings/plugins/ui_notes", data={"csrf_token": token, "reminder_days": "5", "signature": "P"})
    assert r.status_code == 302
    with app.app_context():
        t = db.session.execute(select(Tenant).where(Tenant.slug == u.tenant.slug)).scalar_one()
        assert t.plugin_settings["ui_notes"] == {"reminder_days": 5, "signature": "P", "loud": False,
                                                 "tags": ["tyres", "oil"], "on_dashboard": True}


def _png(size=(1200, 300), color=(200, 30, 30)) -> bytes:
    import io as _io

    from PIL import Image

    out = _io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_shop_logo_upload_is_checked_scaled_audited_and_removable(app, client, user, login, tenant):
    import io as _io

    from PIL import Image

    u = signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/settings")
    assert client.get("/settings/logo.png").status_code == 404  # no logo yet
    r = client.post("/settings/logo", data={"csrf_token": token, "logo": (_io.BytesIO(b"<svg onload=alert(1)>"), "x.svg")},
                    content_type="multipart/form-data", follow_redirects=True)
    assert "Upload the logo as a PNG, JPEG, WebP or GIF picture." in html(r)
    with app.app_context():
        assert db.session.execute(select(Tenant).where(Tenant.slug == u.tenant.slug)).scalar_one().logo_key is None

    r = client.post("/settings/logo", data={"csrf_token": token, "logo": (_io.BytesIO(_png()), "logo.png")},
                    content_type="multipart/form-data", follow_redirects=True)
    assert "The logo is saved." in html(r) and "/settings/logo.png" in html(r)
    stored = client.get("/settings/logo.png")
    assert stored.status_code == 200 and stored.mimetype == "image/png"
    assert Image.open(_io.BytesIO(stored.data)).size == (600, 150)  # scaled to fit 600 x 200, proportions kept
    assert any(c.get("logo") == [False, True] for a, c in audit_rows(app, u.tenant.slug, "core_tenant"))

    # another shop sees its own (absent) logo, never this one
    other_client = login(app.test_client(), user(role="owner", tenant=shop(app, tenant)))
    assert other_client.get("/settings/logo.png").status_code == 404

    r = client.post("/settings/logo", data={"csrf_token": token, "remove": "1"}, follow_redirects=True)
    assert "The logo is removed." in html(r)
    assert client.get("/settings/logo.png").status_code == 404
    assert any(c.get("logo") == [True, False] for a, c in audit_rows(app, u.tenant.slug, "core_tenant"))


# --- generic entity pages ---------------------------------------------------------------------------

def _note(client, token, **overrides):
    data = {"csrf_token": token, "title": "Check brakes", "body": "front left squeaks", "priority": "high",
            "amount": "1234.50", "due": "2026-12-01"}
    data.update(overrides)
    return client.post("/ui_notes/notes/new", data=data)


def test_create_list_detail_edit_with_validation(app, client, user, login, tenant):
    u = signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/ui_notes/notes/new")
    # a bad form: errors next to the fields, everything typed kept, nothing written
    r = _note(client, token, title="", amount="12x", body="keep me")
    assert r.status_code == 422
    page = html(r)
    assert page.count('class="error"') == 2
    assert "Missing data for required field." in page and "Not a valid number." in page
    assert "keep me" in page and 'value="12x"' in page
    r = _note(client, token)
    assert r.status_code == 302
    detail = r.headers["Location"]
    page = html(client.get(detail, headers={"Accept-Language": "en"}))
    assert "Check brakes" in page and "RUB" in page and "1,234.50" in page
    assert "Custom notes page" in page  # the plugin's templates/ui_notes/notes_detail.html wins
    assert page.count('aria-current="page"') == 1 and 'href="/ui_notes/notes" aria-current="page"' in page
    # list with search, filter and sort
    _note(client, token, title="Oil change", priority="low", amount="")
    page = html(client.get("/ui_notes/notes?q=check"))
    assert "Check brakes" in page and "Oil change" not in page
    page = html(client.get("/ui_notes/notes?priority=low"))
    assert "Oil change" in page and "Check brakes" not in page
    page = html(client.get("/ui_notes/notes?sort=-title"))
    assert page.index("Oil change") < page.index("Check brakes")
    # edit: a validation error keeps the input; a good save is audited
    edit = detail + "/edit"
    r = client.post(edit, data={"csrf_token": token, "title": "x" * 81, "priority": "high", "version": "1"})
    assert r.status_code == 422 and "Length must be between 1 and 80." in html(r)
    r = client.post(edit, data={"csrf_token": token, "title": "Check brakes again", "priority": "normal",
                                "amount": "10", "version": "1"})
    assert r.status_code == 302
    assert "Check brakes again" in html(client.get(detail))
    rows = audit_rows(app, u.tenant.slug, "ui_notes_note")
    assert [a for a, _ in rows] == ["create", "create", "update"]
    assert rows[-1][1]["title"] == ["Check brakes", "Check brakes again"]
    # a unique key: the same answer as the API, next to the field, nothing written
    r = _note(client, token, title="Oil change")
    assert r.status_code == 422 and "Already exists." in html(r) and 'id="f-title-err"' in html(r)
    # a stale form (version 1 after the save made it 2) is a conflict, not a silent overwrite
    r = client.post(edit, data={"csrf_token": token, "title": "Stale", "priority": "low", "version": "1"})
    assert r.status_code == 409 and "Stale" in html(r)


def test_validation_messages_in_the_users_language(app, client, user, login, tenant):
    signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/ui_notes/notes/new")
    r = client.post("/ui_notes/notes/new", data={"csrf_token": token, "title": "", "priority": "normal"},
                    headers={"Accept-Language": "ru"})
    assert r.status_code == 422
    assert "Обязательное поле." in html(r) or "Отсутствуют данные" in html(r)


def test_other_tenants_records_are_404_and_permissions_403(app, client, user, login, tenant):
    a = signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/ui_notes/notes/new")
    detail = _note(client, token).headers["Location"]
    signed_in(app, client, user, login, tenant)  # another shop
    assert client.get(detail).status_code == 404
    assert client.get(detail + "/edit").status_code == 404
    login(client, user(role="technician", tenant=a.tenant))
    assert client.get(detail).status_code == 200  # technicians read notes
    assert client.get(detail + "/edit").status_code == 403
    assert client.get("/ui_notes/notes/new").status_code == 403
    login(client, user(role="cashier", tenant=a.tenant))
    r = client.get("/ui_notes/notes")
    assert r.status_code == 403 and "Access denied" in html(r)


def test_upgrade_page_names_the_cheapest_tier(app, client, user, login, tenant):
    from core.models import TierFeature
    from core.tenants import get_tier

    with app.app_context():
        for key in ("master", "profi"):  # the catalog is data: offer the feature from Master up
            tier = get_tier(key)
            tier.features.append(TierFeature(feature="ui_notes.notes"))
        db.session.commit()
    signed_in(app, client, user, login, tenant, tier="basic", notes=False)
    r = client.get("/ui_notes/notes", headers={"Accept-Language": "en"})
    assert r.status_code == 404
    page = html(r)
    assert "Not in your plan" in page and "Notes about cars and clients" in page
    assert "included in the Master plan" in page
    r = client.get("/ui_notes/notes", headers={"Accept-Language": "ru"})
    assert "Master" in html(r) and "Нет в вашем тарифе" in html(r)


def test_error_pages_are_html_for_the_ui_and_json_for_the_api(app, client, user, login, tenant):
    signed_in(app, client, user, login, tenant)
    r = client.get("/no/such-page")
    assert r.status_code == 404 and "Page not found" in html(r) and r.mimetype == "text/html"
    r = client.get("/api/v1/no/such-thing")
    assert r.status_code == 404 and r.is_json and r.get_json()["error"] == "not_found"


def test_server_error_page_is_friendly(user, tenant, db_url, tmp_path):
    from core import create_app

    app = create_app({"TESTING": False, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": db_url,
                      "INSTANCE_PATH": str(tmp_path), **NOTES})

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    r = app.test_client().get("/boom")
    assert r.status_code == 500 and "Something went wrong" in html(r) and "kaput" not in html(r)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_money_dates_and_numbers_follow_locale_and_tenant(app, client, user, login, tenant):
    import datetime as dt

    from core.ui import formatting

    u = signed_in(app, client, user, login, tenant)
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        from flask import g

        with app.app_context():
            g.tenant = tenant_info(get_tenant(u.tenant.slug))
            assert formatting.money(Decimal("1234.5")).replace("\xa0", " ") in ("1 234,50 ₽", "1 234,50 RUB")
            assert formatting.date(dt.date(2026, 3, 8)).replace("\u202f", " ") == "8 мар. 2026 г."
            assert formatting.number(Decimal("1234.5")).replace("\xa0", " ") == "1 234,5"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        with app.app_context():
            g.tenant = tenant_info(get_tenant(u.tenant.slug))
            assert formatting.money(Decimal("1234.5"), "USD") == "$1,234.50"
            # the tenant's time zone (Europe/Moscow, UTC+3) applies to times
            assert "3:00:00" in formatting.datetime(dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.timezone.utc))


def test_pages_are_fast(app, client, user, login, tenant):
    signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/ui_notes/notes/new")
    for i in range(30):
        _note(client, token, title=f"Note {i}")
    for path in ("/", "/profile", "/settings", "/ui_notes/notes", "/ui_notes/notes?q=note&sort=-title",
                 "/ui_notes/notes/1", "/ui_notes/notes/1/edit", "/ui_notes/notes/new"):
        client.get(path)  # warm templates
        started = time.perf_counter()
        r = client.get(path)
        elapsed = time.perf_counter() - started
        assert r.status_code == 200, path
        assert elapsed < 0.15, f"{path} took {elapsed * 1000:.0f} ms"


def test_datetime_inputs_are_the_shops_local_time(app, user, tenant):
    import datetime as dt

    from flask import g

    from core.ui.forms import FormField, localise_datetimes, value_for_input

    t = shop(app, tenant, notes=False)  # a new shop is in Europe/Moscow (UTC+3)
    field = FormField(name="at", label="At", widget="datetime-local")
    with app.test_request_context("/"):
        g.tenant = tenant_info(get_tenant(t.slug))
        stored = localise_datetimes({"at": dt.datetime(2026, 3, 8, 9, 0)}, [field])["at"]
        assert stored == dt.datetime(2026, 3, 8, 6, 0, tzinfo=dt.timezone.utc)
        assert value_for_input(stored, "datetime-local") == "2026-03-08T09:00"


def test_ui_and_api_lists_find_the_same_records(app, client, user, login, tenant):
    signed_in(app, client, user, login, tenant)
    token = csrf_of(client, "/ui_notes/notes/new")
    for title in ("Проверить тормоза", "проверка масла", "Замена ремня", "Check lights"):
        assert _note(client, token, title=title, priority="low").status_code == 302
    for q in ("ПРОВ", "check", "ремня"):
        page = html(client.get(f"/ui_notes/notes?q={q}&priority=low"))
        ui = {t for t in ("Проверить тормоза", "проверка масла", "Замена ремня", "Check lights") if t in page}
        api = {item["title"] for item in client.get(f"/api/v1/ui_notes/notes?q={q}&priority=low").get_json()["items"]}
        assert ui == api, q
    assert len(api) == 0  # a prefix search: "ремня" is not at the start of "Замена ремня"
