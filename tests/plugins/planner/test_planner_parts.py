"""The "Parts" column of tomorrow's arrivals: shown only when a plugin (the warehouse, later) answers the
planner's ``planner_booking_parts_status`` hook; the fixture plugin stands in for it here."""
from __future__ import annotations

import pytest

from tests.plugins.planner import planner_parts_plugin

MONDAY = "2030-03-25"


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": {"planner_parts_test": "tests.plugins.planner.planner_parts_plugin"}}


def test_hook_planner_booking_parts_status(app, shop, api, ui, book):
    from core.db import db
    from core.models import Tenant
    from core.tenants import set_feature

    with_parts, without = shop(tier="free"), shop(tier="free")
    with app.app_context():
        set_feature(db.session.get(Tenant, with_parts.id), "planner_parts_test.use", True)
        db.session.commit()
    planner_parts_plugin.CALLS.clear()
    for s in (with_parts, without):
        client = api(s)
        first = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00").json
        second = book(client, s.bays["Lift 2"], f"{MONDAY}T11:00").json
    # One call with every booking of the list (no call per row).
    arrivals = api(with_parts).get(f"/api/v1/planner/arrivals?date={MONDAY}").json["items"]
    assert [i["parts_status"] for i in arrivals] == ["All parts reserved", None]
    html = ui(with_parts).get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    assert 'data-label="Parts">All parts reserved</td>' in html and 'data-label="Parts">—</td>' in html
    assert len(planner_parts_plugin.CALLS) == 2 and len(planner_parts_plugin.CALLS[0]) == 2
    # A shop without the plugin: no column, no key, the hook never reaches the plugin.
    planner_parts_plugin.CALLS.clear()
    items = api(without).get(f"/api/v1/planner/arrivals?date={MONDAY}").json["items"]
    assert [i["id"] for i in items] == [first["id"], second["id"]] and "parts_status" not in items[0]
    assert 'data-label="Parts"' not in ui(without).get(f"/planner/arrivals?date={MONDAY}").get_data(as_text=True)
    assert planner_parts_plugin.CALLS == []
