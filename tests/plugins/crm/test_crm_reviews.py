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
