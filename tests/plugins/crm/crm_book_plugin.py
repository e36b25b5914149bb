"""Test plugin standing in for the workshop: contributes service-book entries and last visits through
the CRM's own hooks (plugins/crm/hookspecs.py)."""
from datetime import date
from decimal import Decimal

from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="crm_book_test", version="1.0", title="Service book source (test)",
                    features={"crm_book_test.use": "Work orders (test)"}, requires=("crm",))


@hookimpl
def crm_service_book_entries(vehicle_id):
    return [{"date": date(2025, 1, 10), "mileage": 50_000, "work": ["Замена ремня ГРМ"], "parts": ["Ремень ГРМ"],
             "performed_by": "Петров С. (механик)", "amount": Decimal("15000.00"), "source": "crm_book_test.order",
             "reference": {"resource": "orders", "id": 7}}]


@hookimpl
def crm_last_visits(vehicle_ids):
    return {vid: {"date": date(2025, 1, 10), "mileage": 50_000} for vid in vehicle_ids}
