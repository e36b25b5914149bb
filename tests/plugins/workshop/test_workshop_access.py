"""Tiers, tenants and roles: who sees and changes workshop documents."""
API = "/api/v1/workshop"


def _order_with_line(shop):
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = shop.line(wo["id"], name="Замена свечей", fixed_price="1200.00")["line"]
    return wo, line


def test_a_basic_tier_tenant_has_no_workshop(make_shop):
    basic = make_shop(tier="basic")
    for url in (f"{API}/work-orders", f"{API}/service-orders", f"{API}/jobs", f"{API}/funnel",
                f"{API}/work-orders/1/totals"):
        assert basic.api.get(url).status_code == 404, url
    assert basic.api.post(f"{API}/work-orders", json={"client_id": 1, "vehicle_id": 1}).status_code == 404
    assert basic.api.post(f"{API}/work-orders/1/labor-lines", json={"name": "X"}).status_code == 404
    assert basic.api.post(f"{API}/work-orders/1/transitions/close", json={}).status_code == 404
    # The CRM still works for them, without workshop entries.
    client, car = basic.client_and_car()
    assert basic.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").status_code == 200


def test_tenants_never_see_each_others_orders(make_shop):
    a, b = make_shop(), make_shop()
    wo, line = _order_with_line(a)
    so = a.post(f"{API}/service-orders", {"client_id": wo["client_id"], "vehicle_id": wo["vehicle_id"]})
    b_client, b_car = b.client_and_car()
    assert b.api.get(f"{API}/work-orders").get_json()["total"] == 0
    for url in (f"{API}/work-orders/{wo['id']}", f"{API}/work-orders/{wo['id']}/totals",
                f"{API}/work-orders/{wo['id']}/print", f"{API}/service-orders/{so['id']}"):
        assert b.api.get(url).status_code == 404, url
    assert b.api.post(f"{API}/work-orders/{wo['id']}/labor-lines", json={"name": "X"}).status_code == 404
    assert b.api.patch(f"{API}/work-orders/{wo['id']}/labor-lines/{line['id']}",
                       json={"fixed_price": "1"}).status_code == 404
    assert b.api.post(f"{API}/work-orders/{wo['id']}/decisions", json={
        "by": "x", "decisions": [{"line_id": line["id"], "decision": "declined"}]}).status_code == 404
    assert b.api.post(f"{API}/work-orders/{wo['id']}/transitions/cancel", json={}).status_code == 404
    # Another tenant's client, car or service order cannot be referenced either.
    r = b.api.post(f"{API}/work-orders", json={"client_id": wo["client_id"], "vehicle_id": b_car["id"]})
    assert r.status_code == 422 and "client_id" in r.get_json()["fields"]
    r = b.api.post(f"{API}/work-orders", json={"service_order_id": so["id"]})
    assert r.status_code == 422 and "service_order_id" in r.get_json()["fields"]
    # A's order is untouched.
    got = a.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    assert got["total"] == "1200.00" and got["labor_lines"][0]["decision"] == "pending"


def test_roles_decide_who_moves_an_order(make_shop):
    owner = make_shop()
    wo, line = _order_with_line(owner)
    owner.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": line["id"], "decision": "approved"}]})
    technician = make_shop(role="technician", t=owner.tenant)
    cashier = make_shop(role="cashier", t=owner.tenant)
    accountant = make_shop(role="accountant", t=owner.tenant)
    assert accountant.api.get(f"{API}/work-orders/{wo['id']}").status_code == 200
    assert technician.api.post(f"{API}/work-orders/{wo['id']}/transitions/approve", json={}).status_code == 403
    assert technician.api.post(f"{API}/work-orders/{wo['id']}/labor-lines", json={"name": "X"}).status_code == 403
    owner.transition("work-orders", wo["id"], "approve")
    technician.transition("work-orders", wo["id"], "start")
    technician.transition("work-orders", wo["id"], "finish")
    assert technician.api.post(f"{API}/work-orders/{wo['id']}/transitions/close", json={}).status_code == 403
    assert accountant.api.post(f"{API}/work-orders/{wo['id']}/transitions/close", json={}).status_code == 403
    assert cashier.transition("work-orders", wo["id"], "close")["state"] == "closed"
    # Closed orders are final: not even the owner voids them.
    assert owner.api.delete(f"{API}/work-orders/{wo['id']}", json={"reason": "oops"}).status_code == 409
    # An open one is voided with a reason, never deleted.
    wo2, _line = _order_with_line(owner)
    r = owner.api.delete(f"{API}/work-orders/{wo2['id']}", json={"reason": "duplicate"})
    assert r.status_code == 200 and r.get_json()["state"] == "void"
    funnel = owner.api.get(f"{API}/funnel").get_json()
    assert funnel["work_orders"] == {"closed": 1, "void": 1} and funnel["jobs_done"] == 1


def test_the_pages_list_and_show_work_orders(shop, app, login):
    wo, line = _order_with_line(shop)
    page = login(app.test_client(), shop.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    listing = page.get("/workshop/work-orders")
    assert listing.status_code == 200 and wo["number"] in listing.get_data(as_text=True)
    detail = page.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "Lines and payers" in detail and "Замена свечей" in detail and "1200.00" in detail
    assert "Work orders" in page.get("/").get_data(as_text=True)  # the menu


def test_lines_and_decisions_are_edited_on_the_page(shop, make_shop, app, login):
    import re

    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    page = login(app.test_client(), shop.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = page.post(f"/workshop/work-orders/{wo['id']}/lines",
                  data={"csrf_token": token, "kind": "labor", "name": "Замена ремня генератора", "hours": "0,8",
                        "rate": "2000"})
    assert r.status_code == 302
    r = page.post(f"/workshop/work-orders/{wo['id']}/lines",
                  data={"csrf_token": token, "kind": "part", "name": "Ремень", "quantity": "x", "price": "1"},
                  follow_redirects=True)
    assert "quantity" in r.get_data(as_text=True)  # the field error is shown, nothing saved
    got = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    assert [(line["name"], line["amount"]) for line in got["labor_lines"]] == [("Замена ремня генератора", "1600.00")]
    assert got["part_lines"] == []
    r = page.post(f"/workshop/work-orders/{wo['id']}/decisions", data={
        "csrf_token": token, "line_id": got["labor_lines"][0]["id"], "kind": "labor", "by": "Иванов",
        "channel": "phone", "decision": "deferred"})
    assert r.status_code == 302
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [rec["job"] for rec in history["recommendations"]] == ["Замена ремня генератора"]
    # Without the permission: 403; another tenant's order: 404.
    def signed_in(someone, order_id):
        c = login(app.test_client(), someone.user)
        html = c.get(f"/workshop/work-orders/{order_id}").get_data(as_text=True)
        return c, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    tech = make_shop(role="technician", t=shop.tenant)
    c, tech_token = signed_in(tech, wo["id"])
    assert "Add a job" not in c.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    r = c.post(f"/workshop/work-orders/{wo['id']}/lines", data={"csrf_token": tech_token, "name": "X"})
    assert r.status_code == 403
    other = make_shop()
    o_client, o_car = other.client_and_car()
    own = other.work_order(client_id=o_client["id"], vehicle_id=o_car["id"])
    c, other_token = signed_in(other, own["id"])
    r = c.post(f"/workshop/work-orders/{wo['id']}/lines", data={"csrf_token": other_token, "name": "X"})
    assert r.status_code == 404
    assert len(shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["labor_lines"]) == 1


def test_a_work_order_is_made_from_the_service_order_page(shop, app, login):
    import re

    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 5000,
                                             "complaint": "Не заводится"})
    page = login(app.test_client(), shop.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get(f"/workshop/service-orders/{so['id']}").get_data(as_text=True)
    assert "Make a work order" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = page.post(f"/workshop/service-orders/{so['id']}/make-work-order", data={"csrf_token": token})
    assert r.status_code == 302 and "/workshop/work-orders/" in r.headers["Location"]
    orders = shop.api.get(f"{API}/work-orders").get_json()["items"]
    assert [(o["service_order_id"], o["odometer"], o["complaint"]) for o in orders] == [(so["id"], 5000, "Не заводится")]


def test_an_insurer_is_added_and_charged_on_the_page(shop, app, login):
    import re

    client, car = shop.client_and_car()
    insurer = shop.insurer()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    line = shop.line(wo["id"], name="Окраска бампера", fixed_price="9000.00")["line"]
    page = login(app.test_client(), shop.user)
    page.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = page.get(f"/workshop/work-orders/{wo['id']}").get_data(as_text=True)
    assert "СПАО «Ингосстрах»" in html  # offered as a payer
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = page.post(f"/workshop/work-orders/{wo['id']}/payers", data={
        "csrf_token": token, "kind": "insurer", "counterparty_id": insurer["id"], "claim_number": "КАСКО-7",
        "excess": "500"})
    assert r.status_code == 302
    payer_id = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()["payers"][0]["id"]
    r = page.post(f"/workshop/work-orders/{wo['id']}/shares", data={
        "csrf_token": token, "line_id": line["id"], "payer_id": payer_id, "percent": "80"})
    assert r.status_code == 302
    totals = shop.api.get(f"{API}/work-orders/{wo['id']}/totals").get_json()
    assert {p["kind"]: p["total"] for p in totals["payers"]} == {"client": "2300.00", "insurer": "6700.00"}
