"""Mass mailing to a segment (crm.advanced) end to end: a preview count with the exclusions and why,
one outbox message per recipient sent by the job to a local SMTP server (aiosmtpd), sending twice
duplicates nothing, quiet hours hold the mailing, every message carries a signed unsubscribe link that
works without login, and the opt-out (with its date) keeps the client out of the next mailing."""
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.plugins.crm.test_crm_messages import smtp_server  # noqa: F401 - the local SMTP server


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def shop(app, tenant, user, api_client, smtp_server):  # noqa: F811
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client, Vehicle

    t = tenant(tier="profi")
    owner = user(role="owner", tenant=t)
    with app.app_context():
        row = db.session.get(Tenant, t.id)
        row.plugin_settings = {**(row.plugin_settings or {}), "crm": {
            "quiet_from": "00:00", "quiet_to": "00:00", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
            "mail_from": "service@shop.example"}}
        db.session.commit()
        with tenant_context(tenant_info(row)):
            people = {}
            for name, consent, email in (("Anna", True, "anna@example.com"), ("Boris", True, "boris@example.com"),
                                         ("Cyril", False, "cyril@example.com"), ("Dmitry", True, None),
                                         ("Elena (Lada)", True, "elena@example.com")):
                c = Client(name=name, consent_email=consent)
                c.emails = [email] if email else []
                db.session.add(c)
                db.session.flush()
                db.session.add(Vehicle(client_id=c.id, make="Lada" if "Lada" in name else "Kia", model="Rio"))
                people[name.split()[0]] = c.id
            db.session.commit()

    s = type("Shop", (), {})()
    s.app, s.tenant, s.owner, s.http, s.smtp, s.ids = app, t, owner, api_client(owner), smtp_server, people
    s.segment = s.http.post("/api/v1/crm/segments", json={"name": "Kia owners", "filters": {"make": "kia"}}).get_json()
    templates = s.http.get("/api/v1/crm/message-templates?event=mailing").get_json()["items"]
    s.template_id = templates[0]["id"]

    def ctx():
        from contextlib import contextmanager

        @contextmanager
        def cm():
            with app.app_context():
                with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
                    yield db.session

        return cm()

    def run_job():
        from core.jobs import enqueue

        with app.app_context():
            summary = enqueue("crm.send_messages", tenant_id=t.id).get()
        assert [r["status"] for r in summary["runs"]] == ["ok"], summary
        return summary

    def settings(**changes):
        with app.app_context():
            row = db.session.get(Tenant, t.id)
            row.plugin_settings = {**row.plugin_settings, "crm": {**row.plugin_settings["crm"], **changes}}
            db.session.commit()

    s.ctx, s.run_job, s.settings = ctx, run_job, settings
    s.other_tenant = lambda: tenant(tier="profi")
    return s


def _mailing_messages(shop):
    from plugins.crm.messages import Message

    with shop.ctx() as session:
        return [(m.client_id, m.status, m.recipient) for m in
                session.scalars(select(Message).where(Message.event == "mailing").order_by(Message.client_id))]


def test_mailing_preview_send_once_unsubscribe_and_exclude(shop, app):
    http, ids = shop.http, shop.ids
    body = {"segment_id": shop.segment["id"], "template_id": shop.template_id}
    preview = http.post("/api/v1/crm/mailings/preview", json=body)
    assert preview.status_code == 200, preview.get_json()
    p = preview.get_json()
    assert (p["recipients"], p["total"], p["channel"]) == (2, 4, "email")
    assert p["excluded"] == {"unsubscribed": 0, "no_consent": 1, "no_address": 1}
    bad = http.post("/api/v1/crm/mailings/preview", json={"segment_id": 999999, "template_id": "x"})
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"segment_id", "template_id"}

    first = http.post("/api/v1/crm/mailings", json={**body, "key": "newsletter-1", "send": True})
    assert first.status_code == 201, first.get_json()
    mailing = first.get_json()
    assert (mailing["status"], mailing["recipients"]) == ("sent", 2)
    # Sending twice (a double click, a retried request, the send endpoint again) duplicates nothing.
    again = http.post("/api/v1/crm/mailings", json={**body, "key": "newsletter-1", "send": True})
    assert again.status_code == 200 and again.get_json()["id"] == mailing["id"]
    resend = http.post(f"/api/v1/crm/mailings/{mailing['id']}/send")
    assert resend.status_code == 200 and resend.get_json()["queued"] == 0
    assert _mailing_messages(shop) == [(ids["Anna"], "queued", "anna@example.com"),
                                       (ids["Boris"], "queued", "boris@example.com")]

    shop.run_job()
    shop.run_job()
    assert sorted(rcpt for rcpt, _mail in shop.smtp.received) == [["anna@example.com"], ["boris@example.com"]]
    mails = {rcpt[0]: mail for rcpt, mail in shop.smtp.received}
    text = mails["boris@example.com"].get_content()
    assert "Здравствуйте, Boris!" in text  # the default template, seeded in the shop's language (ru)
    link = re.search(r"https?://[^/\s]+(/crm/unsubscribe/[^\s]+)", text).group(1)
    assert link.startswith(f"/crm/unsubscribe/{shop.tenant.slug}/")
    assert "/crm/unsubscribe/" in mails["anna@example.com"].get_content()

    # The link works without login; opening it asks, confirming records the opt-out with its date.
    public = app.test_client()
    public.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = public.get(link)
    assert page.status_code == 200 and "Unsubscribe from our mailings?" in page.get_data(as_text=True)
    assert http.get(f"/api/v1/crm/clients/{ids['Boris']}/unsubscribes").get_json()["results"] == []
    assert public.post(link, data={}).status_code in (400, 403)  # the form carries a CSRF token
    done = public.post(link, data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    [opt_out] = http.get(f"/api/v1/crm/clients/{ids['Boris']}/unsubscribes").get_json()["results"]
    assert (opt_out["channel"], opt_out["mailing_id"]) == ("email", mailing["id"])
    assert opt_out["at"][:10] == datetime.now(ZoneInfo("UTC")).date().isoformat()
    # A forged token, or the token under another shop's slug, is not found.
    token = link.rsplit("/", 1)[1]
    assert public.get(f"/crm/unsubscribe/{shop.tenant.slug}/{token[:-2]}xx").status_code == 404
    other = shop.other_tenant()
    assert public.get(f"/crm/unsubscribe/{other.slug}/{token}").status_code == 404

    # The next mailing leaves Boris out, and says why.
    p2 = http.post("/api/v1/crm/mailings/preview", json=body).get_json()
    assert p2["recipients"] == 1 and p2["excluded"]["unsubscribed"] == 1
    second = http.post("/api/v1/crm/mailings", json={**body, "send": True}).get_json()
    assert second["recipients"] == 1 and second["excluded"]["unsubscribed"] == 1
    # Audit: who created and sent, and the opt-out.
    from core.audit import AuditLog

    with shop.ctx() as session:
        actions = set(session.scalars(select(AuditLog.action).where(AuditLog.object_type.in_(
            ("crm_mailing", "crm_unsubscribe")))))
    assert actions == {"create", "crm.mailing.send", "crm.unsubscribe"}


def test_mailing_waits_for_the_end_of_quiet_hours(shop):
    from plugins.crm import messages

    tz = ZoneInfo("Europe/Moscow")  # the tenant's default time zone
    local = datetime.now(tz)
    end = local + timedelta(hours=1)
    shop.settings(quiet_from=(local - timedelta(hours=1)).strftime("%H:%M"), quiet_to=end.strftime("%H:%M"))
    r = shop.http.post("/api/v1/crm/mailings", json={"segment_id": shop.segment["id"],
                                                     "template_id": shop.template_id, "send": True})
    assert r.status_code == 201 and r.get_json()["recipients"] == 2
    shop.run_job()
    assert shop.smtp.received == []
    with shop.ctx() as session:
        rows = list(session.scalars(select(messages.Message).where(messages.Message.event == "mailing")))
        assert {m.next_attempt_at.astimezone(tz).strftime("%H:%M") for m in rows} == {end.strftime("%H:%M")}
        body = next(m.body for m in rows if m.client_id == shop.ids["Boris"])
    # Boris opts out while the mailing waits: his message is not sent.
    link = "/crm/unsubscribe/" + body.split("/crm/unsubscribe/", 1)[1].split()[0]
    public = shop.app.test_client()
    assert public.post(link, data={"csrf_token": csrf_of(public.get(link).get_data(as_text=True))}).status_code == 200
    with shop.ctx():
        counts = messages.send_due(now=end.astimezone(ZoneInfo("UTC")) + timedelta(minutes=1))
    assert (counts["sent"], counts["skipped"]) == (1, 1)
    assert [rcpt for rcpt, _mail in shop.smtp.received] == [["anna@example.com"]]


def test_mailing_needs_crm_advanced_and_the_permission(app, tenant, user, api_client, login, shop):
    master = tenant(tier="master")
    owner = user(role="owner", tenant=master)
    http = api_client(owner)
    assert http.post("/api/v1/crm/mailings/preview", json={}).status_code == 403
    assert http.get("/api/v1/crm/mailings").status_code == 403
    assert http.post("/api/v1/crm/mailings", json={}).status_code == 403
    assert login(app.test_client(), owner).get("/crm/mailings").status_code == 403
    basic = tenant(tier="basic")
    assert api_client(user(role="owner", tenant=basic)).get("/api/v1/crm/mailings").status_code == 404
    # On the Profi plan a service advisor sees mailings but cannot send one.
    advisor = api_client(user(role="service_advisor", tenant=shop.tenant))
    assert advisor.get("/api/v1/crm/mailings").status_code == 200
    assert advisor.post("/api/v1/crm/mailings/preview", json={}).status_code == 403


def test_mailings_page_counts_and_sends_once(shop, app, login):
    from plugins.crm.messages import Message

    page = login(app.test_client(), shop.owner)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get(f"/crm/mailings?segment_id={shop.segment['id']}&template_id={shop.template_id}").get_data(as_text=True)
    assert "Recipients: 2 of 4 clients in the segment." in html and "No consent for this channel: 1" in html
    form = {"csrf_token": csrf_of(html), "segment_id": shop.segment["id"], "template_id": shop.template_id,
            "key": re.search(r'name="key" value="([^"]+)"', html).group(1)}
    assert page.post("/crm/mailings", data=form).status_code == 302
    assert page.post("/crm/mailings", data=form).status_code == 302  # the same form twice
    with shop.ctx() as session:
        assert session.scalar(select(func.count(Message.id)).where(Message.event == "mailing")) == 2
    listing = page.get("/crm/mailings").get_data(as_text=True)
    assert "Kia owners" in listing


def test_sms_mailing_without_the_link_in_the_template_gets_it_appended(shop, app, login):
    from plugins.crm.models import Client

    http = shop.http
    with shop.ctx() as session:
        anna = session.get(Client, shop.ids["Anna"])
        anna.consent_sms = True
        anna.phones = ["+7 925 111-22-33"]
        session.commit()
    t = http.post("/api/v1/crm/message-templates", json={"event": "mailing", "channel": "sms", "title": "Promo",
                                                          "body": "{{ shop }}: -10% on oil this week"})
    assert t.status_code == 201, t.get_json()
    m = http.post("/api/v1/crm/mailings", json={"segment_id": shop.segment["id"], "template_id": t.get_json()["id"],
                                                "send": True}).get_json()
    assert m["recipients"] == 1 and m["channel"] == "sms"
    [(client_id, status, recipient)] = _mailing_messages(shop)
    assert (client_id, status, recipient) == (shop.ids["Anna"], "queued", "+79251112233")
    body = http.get(f"/api/v1/crm/clients/{client_id}/messages").get_json()["results"][0]["body"]
    assert "-10% on oil" in body and "Unsubscribe: http" in body and f"/crm/unsubscribe/{shop.tenant.slug}/" in body
    # Unsubscribed: the client's card says since when.
    link = "/crm/unsubscribe/" + body.split("/crm/unsubscribe/", 1)[1].strip()
    public = app.test_client()
    form = public.get(link).get_data(as_text=True)
    assert public.post(link, data={"csrf_token": csrf_of(form)}).status_code == 200
    page = login(app.test_client(), shop.owner)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    card = page.get(f"/crm/clients/{client_id}").get_data(as_text=True)
    assert "Unsubscribed from SMS mailings on" in card

