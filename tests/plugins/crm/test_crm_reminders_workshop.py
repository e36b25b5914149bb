"""The CRM and the workshop together (crm.basic): finishing a work order queues "your car is ready",
closing it queues the "work order closed" e-mail and records the catalog services it did as done."""
from datetime import date
from tests.plugins.crm.shop_clock import shop_today

API = "/api/v1/workshop"


def test_work_order_finish_and_close_drive_messages_and_reminders(app, tenant, user, token):
    t = tenant(tier="master")
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token(user(role="owner", tenant=t))
    http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def post(url, body=None):
        r = http.post(url, json=body or {})
        assert r.status_code in (200, 201), (url, r.status_code, r.get_json())
        return r.get_json()

    client = post("/api/v1/crm/clients", {"name": "Иванов Иван", "phones": ["+7 916 123-45-67"],
                                          "emails": ["ivanov@example.com"], "consent_sms": True,
                                          "consent_email": True})
    car = post("/api/v1/crm/vehicles", {"client_id": client["id"], "make": "Kia", "model": "Rio", "plate": "А321ВС77"})
    wo = post(f"{API}/work-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 45210})
    line = post(f"{API}/work-orders/{wo['id']}/labor-lines", {"name": "Замена масла ДВС", "hours": "0.5",
                                                              "rate": "2000.00"})["line"]
    post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Иванов", "channel": "phone",
                                                     "decisions": [{"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish"):
        post(f"{API}/work-orders/{wo['id']}/transitions/{name}")

    messages = http.get(f"/api/v1/crm/clients/{client['id']}/messages").get_json()["results"]
    assert [(m["event"], m["channel"], m["status"]) for m in messages] == [("car_ready", "sms", "queued")]
    assert "A321BC77" in messages[0]["body"]

    post(f"{API}/work-orders/{wo['id']}/transitions/close")
    messages = http.get(f"/api/v1/crm/clients/{client['id']}/messages").get_json()["results"]
    closed = next(m for m in messages if m["event"] == "work_order_closed")
    assert closed["channel"] == "email" and wo["number"] in closed["subject"] and closed["status"] == "queued"

    reminders = http.get(f"/api/v1/crm/vehicles/{car['id']}/reminders").get_json()["results"]
    oil = next(r for r in reminders if r["code"] == "oil")
    assert (oil["last_done_source"], oil["last_done_km"], oil["due_km"]) == ("manual", 45210, 55210)
    # The day the order closed, in the shop's time zone (the workshop's service-book date).
    assert abs((date.fromisoformat(oil["last_done_on"]) - shop_today()).days) <= 1
    air = next(r for r in reminders if r["code"] == "air_filter")
    assert air["last_done_source"] != "manual"  # not part of this visit
