"""How the instant search talks to the database: few statements, no junk readings, typos still found."""
from sqlalchemy import event
from sqlalchemy.engine import Engine

from plugins.crm.search import FANOUT


def make_client(c, **body):
    r = c.post("/api/v1/crm/clients", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def make_vehicle(c, **body):
    r = c.post("/api/v1/crm/vehicles", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def search(c, q):
    r = c.get("/api/v1/crm/search", query_string={"q": q})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["results"], int(r.headers["X-DB-Queries"])


def test_a_whole_phone_number_is_not_also_read_as_plates(crm):
    c = crm.client
    owner = make_client(c, name="Сидоров Пётр", phones=["+7 912 345-67-89"])
    make_vehicle(c, plate="А912ВС77", vin="XTA219000K0123456", client_id=owner["id"])  # "912" in its plate
    make_vehicle(c, plate="В345ОР99")  # someone else's car with "345"
    results, _n = search(c, "8 (912) 345-67-89")
    assert [r["client"]["id"] for r in results] == [owner["id"]]
    assert results[0]["type"] == "client" and results[0]["vehicles"][0]["plate"] == "A912BC77"
    # A part of a number still reads as everything it can be.
    results, _n = search(c, "912")
    assert any(r["vehicle"] and r["vehicle"]["plate"] == "A912BC77" for r in results)


def test_a_car_search_is_two_statements(crm):
    c = crm.client
    owner = make_client(c, name="Сидоров Пётр", phones=["+7 912 345-67-89"])
    car = make_vehicle(c, plate="А123ВС77", vin="XTA219000K0123456", client_id=owner["id"])
    results, statements = search(c, "а123вс77")
    assert results[0]["vehicle"]["id"] == car["id"] and results[0]["client"]["id"] == owner["id"]
    assert statements == 2  # keys with their cars, then the owners with their phones
    results, statements = search(c, "Сидоров")
    assert results[0]["client"]["id"] == owner["id"] and results[0]["vehicles"][0]["id"] == car["id"]
    assert statements == 3  # keys, typo keys (few namesakes), the clients with their phones and cars
    results, statements = search(c, "Сидоров Пётр")
    assert results[0]["client"]["id"] == owner["id"]
    assert statements == 2  # the pair was found as typed: no typo keys
    results, statements = search(c, "Сидорав Пётр")
    assert results[0]["client"]["id"] == owner["id"]
    assert statements == 4  # keys, typo keys, the corrected pair, the clients


def test_typo_keys_are_skipped_only_when_the_word_itself_fills_the_scan(crm):
    """FANOUT namesakes: a correctly typed surname does not look for typos (they could not rank in), a
    misspelt one still finds them."""
    from core.db import db
    from plugins.crm.models import Client

    with crm.ctx() as session:
        for i in range(FANOUT + 2):
            session.add(Client(kind="person", name=f"Кузнецов Клиент{i}"))
        session.add(Client(kind="person", name="Кузнецова Анна"))
        db.session.flush()
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "crm_search_key" in statement:
            statements.append(statement)

    c = crm.client
    event.listen(Engine, "before_cursor_execute", count)
    try:
        results, _n = search(c, "Кузнецов")
        assert len(statements) == 1  # the word filled its scan: no typo statement
        assert results and all("кузнецов" in r["client"]["name"].lower() for r in results)
        statements.clear()
        results, _n = search(c, "Кузнкцов")  # a typo
        assert len(statements) == 2
        assert results and all(r["client"]["name"].startswith("Кузнецов") for r in results)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
