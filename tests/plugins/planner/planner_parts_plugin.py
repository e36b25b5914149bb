"""Test plugin standing in for the warehouse: tells the planner the parts status of bookings through
its ``planner_booking_parts_status`` hook (plugins/planner/hookspecs.py)."""
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="planner_parts_test", version="1.0", title="Parts status (test)",
                    features={"planner_parts_test.use": "Parts (test)"}, requires=("planner",))

CALLS: list = []


@hookimpl
def planner_booking_parts_status(booking_ids):
    CALLS.append(list(booking_ids))
    return {booking_ids[0]: "All parts reserved"}
