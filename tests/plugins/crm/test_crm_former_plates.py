"""A car stays findable by a plate it no longer has (PlateHistory): ranked below cars whose current plate
matches, and the result says which former plate it was found by."""


def _car(c, **body):
    r = c.post("/api/v1/crm/vehicles", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_a_former_plate_finds_the_car_below_current_plates(crm):
    c = crm.client
    car = _car(c, plate="А123ВС77", make="Kia")
    r = c.patch(f"/api/v1/crm/vehicles/{car['id']}", json={"plate": "В456ОР99", "version": car["version"]})
    assert r.status_code == 200, r.get_json()
    other = _car(c, plate="А123ВС178", make="Lada")  # its current plate starts with the old one's letters

    # The whole former plate, typed in Cyrillic: the car, saying it is a former plate.
    [hit] = c.get("/api/v1/crm/search?q=а123вс77").get_json()["results"]
    assert hit["vehicle"]["id"] == car["id"] and hit["vehicle"]["plate"] == "B456OP99"
    assert hit["former_plate"] == "A123BC77" and "former_plate" in hit["matched"]

    # Part of a plate: the car that has it now comes first, the one that had it after.
    results = c.get("/api/v1/crm/search?q=A123BC").get_json()["results"]
    assert [r["vehicle"]["id"] for r in results] == [other["id"], car["id"]]
    assert "former_plate" not in results[0] and results[1]["former_plate"] == "A123BC77"
    assert results[0]["score"] > results[1]["score"]

    # The current plate finds it as before, without a former plate in the result.
    [hit] = c.get("/api/v1/crm/search?q=B456OP99").get_json()["results"]
    assert hit["vehicle"]["id"] == car["id"] and "former_plate" not in hit

    # A second change keeps both earlier plates findable; going back to a plate makes it current again.
    car = c.get(f"/api/v1/crm/vehicles/{car['id']}").get_json()
    c.patch(f"/api/v1/crm/vehicles/{car['id']}", json={"plate": "Е777КХ50", "version": car["version"]})
    assert c.get("/api/v1/crm/search?q=B456OP99").get_json()["results"][0]["former_plate"] == "B456OP99"
    assert c.get("/api/v1/crm/search?q=A123BC77").get_json()["results"][0]["former_plate"] == "A123BC77"
    car = c.get(f"/api/v1/crm/vehicles/{car['id']}").get_json()
    c.patch(f"/api/v1/crm/vehicles/{car['id']}", json={"plate": "А123ВС77", "version": car["version"]})
    [hit] = c.get("/api/v1/crm/search?q=A123BC77").get_json()["results"]
    assert "former_plate" not in hit and hit["score"] == 100
