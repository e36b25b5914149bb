"""Review requests (crm.basic): a public link per request (shop slug + secret token, no login, CSRF on
the form) where the client leaves a score and a comment once; the answers are on the client's card."""
import re

import pytest


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def shop(app, tenant, user, api_client):
    t = tenant(tier="master")
    c = api_client(user(role="service_advisor", tenant=t))
    client = c.post("/api/v1/crm/clients", json={"name": "Ivan"}).get_json()
    return t, c, client


def test_client_answers_through_the_public_link_once(shop, app):
    t, c, client = shop
    r = c.post(f"/api/v1/crm/clients/{client['id']}/review-requests", json={})
    assert r.status_code == 201, r.get_json()
    url = r.get_json()["url"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert path.startswith(f"crm/review/{t.slug}/")
    public = app.test_client()  # nobody signed in
    public.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = public.get("/" + path)
    assert page.status_code == 200
    token = csrf_of(page.get_data(as_text=True))
    # Without the CSRF token the form is refused.
    assert public.post("/" + path, data={"score": "5"}).status_code in (400, 403)
    bad = public.post("/" + path, data={"score": "9", "csrf_token": token})
    assert bad.status_code == 422 and "Choose a score from 1 to 5." in bad.get_data(as_text=True)
    ok = public.post("/" + path, data={"score": "4", "comment": " Fast and clean ", "csrf_token": token})
    assert ok.status_code == 200 and "Thank you" in ok.get_data(as_text=True)
    again = public.post("/" + path, data={"score": "1", "csrf_token": token})
    assert again.status_code == 409
    reviews = c.get(f"/api/v1/crm/clients/{client['id']}/reviews").get_json()["results"]
    assert [(x["score"], x["comment"]) for x in reviews] == [(4, "Fast and clean")]
    # A wrong token, or the right token under another shop's slug, is simply not found.
    assert public.get(f"/crm/review/{t.slug}/not-a-token").status_code == 404


def test_tokens_do_not_cross_shops_and_tier_gates(shop, app, tenant, user, api_client):
    t, c, client = shop
    url = c.post(f"/api/v1/crm/clients/{client['id']}/review-requests", json={}).get_json()["url"]
    token = url.rsplit("/", 1)[1]
    other = tenant(tier="master")
    public = app.test_client()
    assert public.get(f"/crm/review/{other.slug}/{token}").status_code == 404
    other_staff = api_client(user(role="owner", tenant=other))
    assert other_staff.get(f"/api/v1/crm/clients/{client['id']}/reviews").status_code == 404
    assert other_staff.post(f"/api/v1/crm/clients/{client['id']}/review-requests", json={}).status_code == 404
    basic = tenant(tier="basic")
    basic_staff = api_client(user(role="owner", tenant=basic))
    b_client = basic_staff.post("/api/v1/crm/clients", json={"name": "B"}).get_json()
    assert basic_staff.post(f"/api/v1/crm/clients/{b_client['id']}/review-requests", json={}).status_code == 404
    assert public.get(f"/crm/review/{basic.slug}/{token}").status_code == 404
    assert c.post(f"/api/v1/crm/clients/{client['id']}/review-requests",
                  json={"vehicle_id": 999999}).status_code == 422


def test_reviews_on_the_client_card_with_the_average(shop, app, login, user):
    t, c, client = shop
    public = app.test_client()
    for score, comment in ((4, "Quick"), (5, "Very polite staff")):
        path = "/" + c.post(f"/api/v1/crm/clients/{client['id']}/review-requests", json={}).get_json()["url"] \
            .split("://", 1)[1].split("/", 1)[1]
        token = csrf_of(public.get(path).get_data(as_text=True))
        assert public.post(path, data={"score": str(score), "comment": comment, "csrf_token": token}).status_code == 200
    c.post(f"/api/v1/crm/clients/{client['id']}/review-requests", json={})  # not answered yet
    data = c.get(f"/api/v1/crm/clients/{client['id']}/reviews").get_json()
    assert (data["average"], data["answered"], len(data["results"])) == ("4.5", 2, 3)
    page = login(app.test_client(), user(role="service_advisor", tenant=t))
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    card = page.get(f"/crm/clients/{client['id']}")
    assert card.status_code == 200
    html = card.get_data(as_text=True)
    assert "Average score: 4.5 of 5; reviews: 2" in html and "Very polite staff" in html
    assert "no answer yet" in html


def test_review_request_link_sent_by_message_now_or_days_after_the_order_closed(app, tenant, user, token):
    from datetime import datetime, timedelta, timezone

    t = tenant(tier="master")
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token(user(role="owner", tenant=t))
    http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def post(url, body=None):
        r = http.post(url, json=body or {})
        assert r.status_code in (200, 201), (url, r.status_code, r.get_json())
        return r.get_json()

    client = post("/api/v1/crm/clients", {"name": "Иванов Иван", "phones": ["+7 916 123-45-67"], "consent_sms": True})
    car = post("/api/v1/crm/vehicles", {"client_id": client["id"], "make": "Kia", "model": "Rio"})
    # Sent now from the card's button (the API's "send").
    now = post(f"/api/v1/crm/clients/{client['id']}/review-requests", {"send": True})
    [msg] = now["messages"]
    assert msg["event"] == "review_request" and msg["status"] == "queued" and now["url"] in msg["body"]
    assert msg["next_attempt_at"] is None
    # Three days (the default setting) after a work order closes.
    wo = post("/api/v1/workshop/work-orders", {"client_id": client["id"], "vehicle_id": car["id"]})
    line = post(f"/api/v1/workshop/work-orders/{wo['id']}/labor-lines", {"name": "Диагностика", "hours": "1",
                                                                          "rate": "1500.00"})["line"]
    post(f"/api/v1/workshop/work-orders/{wo['id']}/decisions", {"by": "Иванов", "channel": "phone",
                                                               "decisions": [{"line_id": line["id"], "decision": "approved"}]})
    for name in ("approve", "start", "finish", "close"):
        post(f"/api/v1/workshop/work-orders/{wo['id']}/transitions/{name}")
    later = [m for m in http.get(f"/api/v1/crm/clients/{client['id']}/messages").get_json()["results"]
             if m["event"] == "review_request" and m["id"] != msg["id"]]
    [later] = later
    due = datetime.fromisoformat(later["next_attempt_at"])
    assert timedelta(days=2, hours=23) < due - datetime.now(timezone.utc) <= timedelta(days=3)
    link = re.search(r"https?://\S+", later["body"]).group(0)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert path.startswith(f"/crm/review/{t.slug}/")
    assert app.test_client().get(path).status_code == 200  # the client's link opens without login
    reviews = http.get(f"/api/v1/crm/clients/{client['id']}/reviews").get_json()["results"]
    assert [r["vehicle_id"] for r in reviews] == [car["id"], None]  # the order's car, newest first
