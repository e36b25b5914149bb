"""Test plugin standing in for the planner: offers a "Book" link for every car through the CRM's
``crm_vehicle_actions`` hook."""
from urllib.parse import quote

from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="crm_actions_test", version="1.0", title="Car actions (test)",
                    features={"crm_actions_test.use": "Bookings (test)"}, requires=("crm",))


@hookimpl
def crm_vehicle_actions(vehicle_id, client_id, reason):
    url = f"/book-test?vehicle={vehicle_id}&client={client_id}"
    if reason:
        url += "&reason=" + quote(reason)
    return [{"label": "Book (test)", "url": url}]
