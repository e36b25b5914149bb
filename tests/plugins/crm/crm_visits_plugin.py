"""Test plugin standing in for the workshop and the planner: answers the CRM's ``crm_visits`` hook with a
closed order on 10 Jan 2025 for every client and a booking on 5 Feb 2025 for clients named "Booked*"."""
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from core.db import db
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="crm_visits_test", version="1.0", title="Visits source (test)",
                    features={"crm_visits_test.use": "Work orders (test)"}, requires=("crm",))


@hookimpl
def crm_visits(date_to):
    from plugins.crm.models import Client

    out = []
    for cid, name in db.session.execute(select(Client.id, Client.name)):
        out.append({"client_id": cid, "date": date(2025, 1, 10), "amount": Decimal("1500.00"), "booked": False})
        if name.startswith("Booked"):
            out.append({"client_id": cid, "date": date(2025, 2, 5), "amount": None, "booked": True})
    return [v for v in out if v["date"] <= date_to]
