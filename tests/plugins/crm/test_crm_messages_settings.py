"""The CRM's settings (quiet hours, retries, SMTP, SMS.ru) on the shop's settings page."""
import re


def test_settings_page_saves_quiet_hours_and_refuses_a_bad_time(app, tenant, user, login):
    from core.db import db
    from core.tenants import get_tenant

    t = tenant(tier="master")
    page = login(app.test_client(), user(role="owner", tenant=t))
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get("/settings").get_data(as_text=True)
    assert 'name="quiet_from"' in html and 'name="smtp_host"' in html and "sms_ru_base_url" not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = {"csrf_token": token, "quiet_from": "22:30", "quiet_to": "08:00", "max_attempts": "4", "retry_minutes": "10",
            "smtp_host": "smtp.example.com", "smtp_port": "587", "smtp_starttls": "y", "mail_from": "shop@example.com"}
    r = page.post("/settings/plugins/crm", data=form)
    assert r.status_code in (200, 302), r.get_data(as_text=True)[:500]
    with app.app_context():
        saved = get_tenant(t.slug).plugin_settings["crm"]
        assert (saved["quiet_from"], saved["quiet_to"], saved["smtp_port"], saved["max_attempts"]) == ("22:30", "08:00", 587, 4)
    bad = page.post("/settings/plugins/crm", data={**form, "quiet_from": "25:99"})
    assert bad.status_code == 422 and "Enter a time as HH:MM." in bad.get_data(as_text=True)
    with app.app_context():
        assert get_tenant(t.slug).plugin_settings["crm"]["quiet_from"] == "22:30"
        db.session.rollback()
