"""The CRM merges two clients (``crm_clients_merged``, inside the merge's transaction): the planner's
bookings of the client that disappears follow to the one kept."""
from __future__ import annotations

from sqlalchemy import update

from core.db import db
from core.plugins import hookimpl


@hookimpl(optionalhook=True)  # the CRM's hook; the planner works without the CRM
def crm_clients_merged(target_id, source_id):
    from .models import Booking

    # One bulk UPDATE (the tenant guard scopes it); the version moves on too, so a booking form opened
    # before the merge (still naming the deleted client) gets the usual "changed meanwhile" answer.
    result = db.session.execute(
        update(Booking).where(Booking.client_id == source_id)
        .values(client_id=target_id, version=Booking.version + 1)
        .execution_options(synchronize_session="fetch"))
    return {"planner_booking.client_id": result.rowcount or 0}
