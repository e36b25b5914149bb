"""A Russian page shows no raw or English values: why a message was not sent is put into words when it
is read (not in the language of whoever queued it), service intervals by name, a car's year as a year,
the demo data's source by a label."""
import pytest

RU = {"Accept-Language": "ru"}


@pytest.fixture
def shop(app, tenant, user, api_client):
    t = tenant(tier="master")
    c = api_client(user(role="owner", tenant=t))  # reads and writes in English
    client = c.post("/api/v1/crm/clients", json={"name": "Ольга", "phones": ["+7 916 123-45-67"],
                                                 "source": "demo"}).get_json()
    car = c.post("/api/v1/crm/vehicles", json={"client_id": client["id"], "make": "Kia", "year": 2022})
    assert car.status_code == 201, car.get_json()
    return c, client["id"], car.get_json()["id"]


def test_why_a_message_was_not_sent_is_shown_in_the_readers_language(shop):
    c, client_id, _car = shop
    r = c.post(f"/api/v1/crm/clients/{client_id}/review-requests", json={"send": True})
    assert r.status_code == 201, r.get_json()
    [message] = r.get_json()["messages"]
    assert message["status"] == "skipped" and message["last_error"] == "The client has not consented to SMS."
    card = c.get(f"/crm/clients/{client_id}", headers=RU).get_data(as_text=True)
    assert "Клиент не дал согласия на SMS" in card and "has not consented" not in card


def test_intervals_year_and_demo_source_are_shown_as_words(shop):
    c, client_id, car_id = shop
    intervals = c.get("/crm/service-intervals", headers=RU).get_data(as_text=True)
    assert "Воздушный фильтр" in intervals and "air_filter" not in intervals
    card = c.get(f"/crm/vehicles/{car_id}", headers=RU).get_data(as_text=True)
    assert "2022" in card and "2\xa0022" not in card
    client_card = c.get(f"/crm/clients/{client_id}", headers=RU).get_data(as_text=True)
    assert "Демо-данные" in client_card
    report = c.get("/crm/reports/channels?from=2020-01-01", headers=RU).get_data(as_text=True)
    assert "<td>Демо-данные</td>" in report and "<td>demo</td>" not in report
