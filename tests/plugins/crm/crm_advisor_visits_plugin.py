"""Test plugin standing in for the workshop and the planner with the optional keys of ``crm_visits``:
``advisor_id``, ``labour``, ``parts``. The test fills :data:`VISITS`."""
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="crm_advisor_test", version="1.0", title="Advisor visits (test)",
                    features={"crm_advisor_test.use": "Work orders (test)"}, requires=("crm",))

VISITS: list[dict] = []


@hookimpl
def crm_visits(date_to):
    return [v for v in VISITS if v["date"] <= date_to]
