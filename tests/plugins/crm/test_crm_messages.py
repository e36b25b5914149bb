"""Messages (crm.basic): queued from an event by template, sent by the job through real servers on
loopback (aiosmtpd for e-mail, an HTTP server speaking SMS.ru's JSON API for SMS): at most once,
retried with back-off, consent and quiet hours respected, "ask first" drafts wait for approval."""
import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what it receives; ``fail_next`` answers DATA with a 451 that many times."""

    def __init__(self):
        self.received = []
        self.fail_next = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next:
            self.fail_next -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        self.received.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def sms_gateway():
    """A local stand-in for https://sms.ru: ``/sms/send`` with SMS.ru's documented JSON answers."""
    calls = []

    @Request.application
    def app(request):
        calls.append(dict(request.args))
        if request.path != "/sms/send":
            return Response("not found", status=404)
        if request.args.get("api_id") != "TEST-API-ID":
            body = {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}
        else:
            to = request.args["to"]
            body = {"status": "OK", "status_code": 100, "balance": 100.5,
                    "sms": {to: {"status": "OK", "status_code": 100, "sms_id": f"000000-{len(calls)}"}}}
        return Response(json.dumps(body), content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.calls = calls
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    thread.join(5)


@pytest.fixture
def shop(app, tenant, user, api_client, smtp_server, sms_gateway):
    """A master-tier shop wired to the local servers, no quiet hours, a client with both consents."""
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.models import Client, Vehicle

    t = tenant(tier="master")
    owner = user(role="owner", tenant=t)
    app.config["CRM_MESSAGES"] = {"sms_ru_base_url": sms_gateway.url}  # installation-level only
    with app.app_context():
        row = db.session.get(Tenant, t.id)
        row.plugin_settings = {**(row.plugin_settings or {}), "crm": {
            "quiet_from": "00:00", "quiet_to": "00:00", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
            "mail_from": "service@shop.example", "sms_ru_api_id": "TEST-API-ID",
            "retry_minutes": 5, "max_attempts": 3}}
        db.session.commit()
        with tenant_context(tenant_info(row)):
            c = Client(name="Ivan Petrov", consent_sms=True, consent_email=True)
            c.phones = ["+7 925 111-22-33"]
            c.emails = ["ivan@example.com"]
            shy = Client(name="Olga Shy", consent_sms=False, consent_email=True)
            shy.phones = ["+7 925 999-00-00"]
            shy.emails = ["olga@example.com"]
            db.session.add_all([c, shy])
            db.session.flush()
            car = Vehicle(client_id=c.id, plate="A123BC77", make="Kia", model="Rio")
            db.session.add(car)
            db.session.commit()
            ids = {"client_id": c.id, "shy_id": shy.id, "car_id": car.id}

    class Shop:
        pass

    s = Shop()
    s.__dict__.update(ids)
    s.app, s.tenant, s.owner, s.http, s.smtp, s.sms = app, t, owner, api_client(owner), smtp_server, sms_gateway

    def ctx():
        from contextlib import contextmanager

        @contextmanager
        def cm():
            with app.app_context():
                with tenant_context(tenant_info(db.session.get(Tenant, t.id))):
                    yield db.session

        return cm()

    def emit(name, **payload):
        from core import events

        with ctx():
            events.emit(name, **payload)
            events.commit()

    def run_job():
        from core.jobs import enqueue

        with app.app_context():
            summary = enqueue("crm.send_messages", tenant_id=t.id).get()
        assert [r["status"] for r in summary["runs"]] == ["ok"], summary
        return summary

    def messages(client_id=None):
        r = s.http.get(f"/api/v1/crm/clients/{client_id or s.client_id}/messages")
        assert r.status_code == 200, r.get_json()
        return r.get_json()["results"]

    def settings(**changes):
        with app.app_context():
            row = db.session.get(Tenant, t.id)
            row.plugin_settings = {**row.plugin_settings, "crm": {**row.plugin_settings["crm"], **changes}}
            db.session.commit()

    s.ctx, s.emit, s.run_job, s.messages, s.settings = ctx, emit, run_job, messages, settings
    return s


def _book(shop, client_id=None, booking_id=7):
    shop.emit("planner.booking.confirmed", booking_id=booking_id, client_id=client_id or shop.client_id,
              vehicle_id=shop.car_id, start_at="2026-12-01 10:00")


def test_event_queues_an_sms_that_the_job_sends_once(shop):
    _book(shop)
    [queued] = shop.messages()
    assert (queued["event"], queued["channel"], queued["status"]) == ("booking_confirmed", "sms", "queued")
    shop.run_job()
    shop.run_job()  # a second run (or a second worker) must not send it again
    assert len(shop.sms.calls) == 1
    call = shop.sms.calls[0]
    assert (call["api_id"], call["to"], call["json"]) == ("TEST-API-ID", "79251112233", "1")
    assert "2026-12-01 10:00" in call["msg"] and "A123BC77" in call["msg"]
    [sent] = shop.messages()
    assert (sent["status"], sent["attempts"], sent["provider_id"]) == ("sent", 1, "000000-1")
    # The same event delivered again queues nothing: the idempotency key is taken.
    _book(shop)
    assert len(shop.messages()) == 1


def test_email_template_with_condition_reaches_the_smtp_server_and_sms_needs_consent(shop):
    http = shop.http
    bad = http.post("/api/v1/crm/message-templates", json={"event": "booking_confirmed", "body": "{{ oops",
                                                           "channel": "fax"})
    assert bad.status_code == 422 and {"body", "channel"} <= set(bad.get_json()["fields"])
    ok = http.post("/api/v1/crm/message-templates", json={
        "event": "booking_confirmed", "channel": "email", "subject": "Booking for {{ vehicle.plate }}",
        "body": "Dear {{ client.name }}, see you on {{ event.start_at }}.", "condition": "event.start_at"})
    assert ok.status_code == 201, ok.get_json()
    never = http.post("/api/v1/crm/message-templates", json={
        "event": "booking_confirmed", "channel": "email", "body": "never", "condition": "client.name == 'Nobody'"})
    assert never.status_code == 201
    _book(shop, client_id=shop.shy_id, booking_id=8)
    by_channel = {m["channel"]: m for m in shop.messages(shop.shy_id)}
    assert set(by_channel) == {"sms", "email"}  # the "never" template's condition does not hold
    assert by_channel["sms"]["status"] == "skipped" and "consent" in by_channel["sms"]["last_error"]
    shop.run_job()
    assert shop.sms.calls == []  # no SMS without consent
    [(rcpt, mail)] = shop.smtp.received
    assert rcpt == ["olga@example.com"]
    assert mail["Subject"] == "Booking for A123BC77" and mail["From"] == "service@shop.example"
    assert mail.get_content().strip() == "Dear Olga Shy, see you on 2026-12-01 10:00."
    assert {m["channel"]: m["status"] for m in shop.messages(shop.shy_id)} == {"sms": "skipped", "email": "sent"}


def _email_only(shop):
    """Turn the default SMS template off and add an e-mail one."""
    with shop.ctx() as session:
        from sqlalchemy import update

        from plugins.crm.messages import MessageTemplate

        session.execute(update(MessageTemplate).values(active=False))
        session.add(MessageTemplate(event="booking_confirmed", channel="email", subject="Booked",
                                    body="See you, {{ client.name }}"))
        session.commit()


def test_smtp_failure_is_retried_with_back_off_then_sent(shop):
    from core.db import db
    from plugins.crm.messages import Message

    _email_only(shop)
    shop.smtp.fail_next = 1
    _book(shop)
    before = datetime.now(timezone.utc)
    shop.run_job()
    [m] = shop.messages()
    assert (m["status"], m["attempts"]) == ("queued", 1) and "451" in m["last_error"]
    retry_at = datetime.fromisoformat(m["next_attempt_at"])
    assert before + timedelta(minutes=5) <= retry_at <= datetime.now(timezone.utc) + timedelta(minutes=5)
    shop.run_job()  # not due yet: nothing happens
    assert shop.smtp.received == [] and shop.messages()[0]["attempts"] == 1
    with shop.ctx():  # the back-off has passed
        db.session.get(Message, m["id"]).next_attempt_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.session.commit()
    shop.run_job()
    [m] = shop.messages()
    assert (m["status"], m["attempts"], m["last_error"]) == ("sent", 2, None)
    assert len(shop.smtp.received) == 1


def test_message_fails_after_max_attempts(shop):
    from core.db import db
    from plugins.crm.messages import Message

    _email_only(shop)
    shop.settings(max_attempts=2)
    shop.smtp.fail_next = 5
    _book(shop)
    shop.run_job()
    with shop.ctx():
        db.session.scalars(db.select(Message)).one().next_attempt_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.session.commit()
    shop.run_job()
    [m] = shop.messages()
    assert (m["status"], m["attempts"]) == ("failed", 2)
    assert shop.smtp.received == []


def test_quiet_hours_defer_sending_to_their_end(shop):
    tz = ZoneInfo("Europe/Moscow")  # the tenant's default time zone
    local = datetime.now(tz)
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    shop.settings(quiet_from=start, quiet_to=end)
    _book(shop)
    summary = shop.run_job()
    assert shop.sms.calls == []
    [m] = shop.messages()
    assert m["status"] == "queued" and m["attempts"] == 0
    deferred_to = datetime.fromisoformat(m["next_attempt_at"]).astimezone(tz)
    assert deferred_to.strftime("%H:%M") == end and deferred_to > local
    assert summary["runs"][0]["status"] == "ok"


def test_ask_first_template_queues_a_draft_sent_only_after_approval(shop):
    with shop.ctx() as session:
        from sqlalchemy import update

        from plugins.crm.messages import MessageTemplate

        session.execute(update(MessageTemplate).values(mode="ask"))
        session.commit()
    _book(shop)
    [draft] = shop.messages()
    assert draft["status"] == "draft"
    shop.run_job()
    assert shop.sms.calls == []
    r = shop.http.post(f"/api/v1/crm/messages/{draft['id']}/approve")
    assert r.status_code == 200 and r.get_json()["status"] == "queued"
    assert shop.http.post(f"/api/v1/crm/messages/{draft['id']}/approve").status_code == 409
    shop.run_job()
    assert len(shop.sms.calls) == 1 and shop.messages()[0]["status"] == "sent"


def test_outbox_page_approves_a_draft(shop, login):
    import re

    with shop.ctx() as session:
        from sqlalchemy import update

        from plugins.crm.messages import MessageTemplate

        session.execute(update(MessageTemplate).values(mode="ask"))
        session.commit()
    _book(shop)
    [draft] = shop.messages()
    page = login(shop.app.test_client(), shop.owner)
    html = page.get("/crm/messages?status=draft").get_data(as_text=True)
    assert "Ivan Petrov" in html and "A123BC77" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = page.post(f"/crm/messages/{draft['id']}/approve", data={"csrf_token": token})
    assert r.status_code == 302
    assert shop.messages()[0]["status"] == "queued"
    r = page.post(f"/crm/messages/{draft['id']}/cancel", data={"csrf_token": token})
    assert shop.messages()[0]["status"] == "cancelled"
    shop.run_job()
    assert shop.sms.calls == []


def test_a_wrong_api_id_is_a_permanent_failure_with_the_gateways_reason(shop):
    # A shop cannot point the server at another address: the gateway URL is installation-level.
    shop.settings(sms_ru_api_id="WRONG", sms_ru_base_url="http://127.0.0.1:9/")
    _book(shop)
    shop.run_job()
    [m] = shop.messages()
    assert m["status"] == "queued" and "api_id" in m["last_error"]  # the gateway's own words
    assert shop.sms.calls[0]["api_id"] == "WRONG"


def test_basic_tier_has_no_messages(app, tenant, user, api_client):
    from core.jobs import enqueue

    t = tenant(tier="basic")
    http = api_client(user(role="owner", tenant=t))
    assert http.get("/api/v1/crm/clients/1/messages").status_code == 404
    assert http.get("/api/v1/crm/message-templates").status_code == 404
    with app.app_context():
        summary = enqueue("crm.send_messages", tenant_id=t.id).get()
    assert [r["status"] for r in summary["runs"]] == ["skipped"]
