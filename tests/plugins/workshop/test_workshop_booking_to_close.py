"""Across plugins, through the HTTP API: a planner booking becomes a service order, then a work order
with labour and parts shared between the client and an insurer; a declined job becomes a CRM
recommendation; the order is done and closed, and the CRM's service book shows it. And a third-party
plugin (tests/plugins/workshop/workshop_gate_plugin.py) vetoes and reacts to the close, the way the
warehouse and finance plugins will."""
from decimal import Decimal

import pytest

API = "/api/v1/workshop"
MONDAY = "2030-03-25"


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"ws_gate_test": "tests.plugins.workshop.workshop_gate_plugin"}}


def _bay(shop):
    from plugins.planner.models import Bay

    with shop.ctx() as s:
        bay = Bay(name="Подъёмник 1", type="lift", position=0)
        s.add(bay)
        s.commit()
        return bay.id


def test_from_a_planner_booking_to_a_closed_work_order(make_shop):
    shop = make_shop(tier="master")
    client, car = shop.client_and_car()
    insurer = shop.insurer()

    # 1. The booking, made in the planner for a client and car of the CRM.
    booking = shop.post("/api/v1/planner/bookings", {
        "bay_id": _bay(shop), "start": f"{MONDAY}T10:00", "duration_minutes": 120, "client_id": client["id"],
        "vehicle_id": car["id"], "client_name": client["name"], "client_phone": "+7 916 000-11-22",
        "vehicle": "Kia Rio", "reason": "ТО-60 и скрип тормозов", "planned_jobs": ["ТО-60", "Замена колодок"]})

    # 2. The car arrives: one click makes the service order; the mileage is recorded at reception.
    link = shop.post(f"/api/v1/planner/bookings/{booking['id']}/convert")["converted_to"]
    so = shop.api.get(f"{API}/service-orders/{link['id']}").get_json()
    assert (so["booking_id"], so["client_id"], so["vehicle_id"], so["state"]) == (
        booking["id"], client["id"], car["id"], "draft")
    assert so["complaint"] == "ТО-60 и скрип тормозов" and so["planned_jobs"] == "ТО-60\nЗамена колодок"
    r = shop.api.patch(f"{API}/service-orders/{so['id']}", json={"odometer": 60123, "fuel_level": 50,
                                                                 "version": so["version"]})
    assert r.status_code == 200, r.get_json()
    assert shop.transition("service-orders", so["id"], "accept")["state"] == "accepted"
    assert shop.api.get(f"/api/v1/planner/bookings/{booking['id']}").get_json()["status"] == "converted"

    # 3. The work order from the service order: labour and parts, one job the client declines.
    wo = shop.work_order(service_order_id=so["id"])
    assert (wo["client_id"], wo["vehicle_id"], wo["odometer"]) == (client["id"], car["id"], 60123)
    service = shop.line(wo["id"], name="ТО-60", hours="2", rate="2000.00", technician_id=shop.user.id)["line"]
    brakes = shop.line(wo["id"], name="Замена колодок", fixed_price="3000.00", technician_id=shop.user.id)["line"]
    pads = shop.line(wo["id"], "part-lines", name="Колодки передние", quantity="1", price="5000.00",
                     labor_line_id=brakes["id"])["line"]
    belt = shop.line(wo["id"], name="Замена ремня ГРМ", hours="3", rate="2000.00")["line"]

    # 4. The insurer pays the brakes (labour in full, half of the pads) less a 1000.00 excess.
    r = shop.api.put(f"{API}/work-orders/{wo['id']}/payers", json={"payers": [
        {"kind": "insurer", "counterparty_id": insurer["id"], "claim_number": "КАСКО-77-001", "excess": "1000.00"}]})
    assert r.status_code == 200, r.get_json()
    payer_id = r.get_json()["payers"][0]["id"]
    for kind, line, shares in (("labor-lines", brakes, [{"payer_id": payer_id, "percent": "100"}]),
                               ("part-lines", pads, [{"payer_id": payer_id, "percent": "50"}, {"percent": "50"}])):
        r = shop.api.put(f"{API}/work-orders/{wo['id']}/{kind}/{line['id']}/shares", json={"shares": shares})
        assert r.status_code == 200, r.get_json()

    # 5. The client approves the service and the brakes (the pads follow their job), declines the belt.
    wo = shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": client["name"], "channel": "phone", "decisions": [
        {"line_id": service["id"], "decision": "approved"}, {"line_id": brakes["id"], "decision": "approved"},
        {"line_id": belt["id"], "decision": "declined", "note": "в следующий раз"}]})
    # Approved: 2 h x 2000.00 + 3000.00 + 5000.00 = 12000.00; the insurer 3000.00 + 2500.00 - 1000.00 =
    # 4500.00; the client 4000.00 + 2500.00 + 1000.00 (the excess) = 7500.00; declined 6000.00.
    totals = wo["totals"]
    by_kind = {p["kind"]: p["total"] for p in totals["payers"]}
    assert (totals["total"], by_kind, totals["declined"]) == (
        "12000.00", {"insurer": "4500.00", "client": "7500.00"}, "6000.00")
    assert sum(Decimal(t) for t in by_kind.values()) == Decimal(totals["total"])
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    assert [(r["job"], r["state"]) for r in history["recommendations"]] == [("Замена ремня ГРМ", "declined")]

    # 6. Work, done (ready for pickup), closed; the reception act closes with it.
    for step, state in (("approve", "approved"), ("start", "in_progress"), ("finish", "done"), ("close", "closed")):
        assert shop.transition("work-orders", wo["id"], step)["state"] == state
    assert shop.api.get(f"{API}/service-orders/{so['id']}").get_json()["state"] == "closed"

    # 7. The CRM's service book shows the visit; the declined job is still recommended.
    history = shop.api.get(f"/api/v1/crm/vehicles/{car['id']}/history").get_json()
    entry = next(e for e in history["entries"] if e["source"] == "workshop.work_order")
    assert (entry["mileage"], entry["amount"], entry["work"], entry["reference"]["id"]) == (
        60123, "12000.00", ["ТО-60", "Замена колодок"], wo["id"])
    assert entry["parts"] == ["Колодки передние × 1"]
    assert [r["job"] for r in history["recommendations"]] == ["Замена ремня ГРМ"]
    # The funnel saw the whole way: one booking, one service order, one work order, closed for 12000.00.
    stages = {s["key"]: (s["count"], s["amount"]) for s in shop.api.get(
        f"{API}/funnel?from=2020-01-01&to=2030-12-31").get_json()["stages"]}
    assert stages == {"bookings": (1, None), "service_orders": (1, "12000.00"), "work_orders": (1, "12000.00"),
                      "closed": (1, "12000.00")}


def _done_order(shop):
    client, car = shop.client_and_car()
    wo = shop.work_order(client_id=client["id"], vehicle_id=car["id"])
    job = shop.line(wo["id"], name="Замена амортизаторов", hours="2", rate="2000.00")["line"]
    part = shop.line(wo["id"], "part-lines", name="Амортизатор передний", quantity="2", price="4500.00",
                     labor_line_id=job["id"])["line"]
    shop.post(f"{API}/work-orders/{wo['id']}/decisions", {"by": "Клиент", "decisions": [
        {"line_id": job["id"], "decision": "approved"}]})
    for step in ("approve", "start", "finish"):
        wo = shop.transition("work-orders", wo["id"], step)
    return wo, part


def _write_offs(shop):
    from sqlalchemy import select

    from core.audit import AuditLog

    with shop.ctx() as s:
        return s.scalars(select(AuditLog.object_id).where(AuditLog.action == "write_off")).all()


def test_a_third_party_plugin_vetoes_and_reacts_to_the_close(make_shop, app):
    from core.db import db
    from core.tenants import get_tenant, set_feature
    from tests.plugins.workshop import workshop_gate_plugin as gate

    gate.ISSUED.clear()  # the plugin's state outlives one database (the suite runs on SQLite and PostgreSQL)
    gate.EVENTS.clear()
    shop = make_shop(tier="master")
    with app.app_context():
        set_feature(get_tenant(shop.tenant.slug), "ws_gate_test.use", True)
        db.session.commit()
    wo, part = _done_order(shop)

    # The parts are not issued: the close is refused with the plugin's message, nothing changes.
    r = shop.api.post(f"{API}/work-orders/{wo['id']}/transitions/close", json={})
    body = r.get_json()
    assert r.status_code == 422 and body["error"] == "vetoed", body
    assert "Parts not issued from stock: Амортизатор передний" in body["message"]
    after = shop.api.get(f"{API}/work-orders/{wo['id']}").get_json()
    assert (after["state"], after["version"], after["closed_at"]) == ("done", wo["version"], None)
    assert _write_offs(shop) == [] and not [e for e in gate.EVENTS if e[1] == wo["id"] and e[0].endswith("close")]

    # Issued: the close goes through; the plugin wrote the parts off in the same transaction and heard it.
    gate.ISSUED.add(part["id"])
    closed = shop.transition("work-orders", wo["id"], "close")
    assert closed["state"] == "closed"
    assert _write_offs(shop) == [part["id"]]
    assert ("workshop.work_order.close", wo["id"]) in gate.EVENTS

    # A shop without the plugin's feature is never asked: it closes with parts not issued.
    other = make_shop(tier="master")
    wo2, _part2 = _done_order(other)
    assert other.transition("work-orders", wo2["id"], "close")["state"] == "closed"
    assert _write_offs(other) == []
