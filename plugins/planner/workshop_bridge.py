"""The planner's answer to the workshop's hook ``workshop_funnel_bookings`` (plugins/workshop/hookspecs.py):
the bookings stage of the workshop's sales funnel. The workshop is optional for the planner, so the
implementation is ``optionalhook`` and answers plain numbers, never the planner's models."""
from __future__ import annotations

from sqlalchemy import func, select

from core.db import db
from core.plugins import hookimpl
from core.tenancy import current_tenant

from .models import RELEASED_STATUSES, Booking


@hookimpl(optionalhook=True)
def workshop_funnel_bookings(start, end):
    """Bookings whose visit starts in ``[start, end)``, of every status: how many, how many became a
    document (``converted``) and how many were cancelled or not kept (``cancelled``: cancelled, no-show).
    No amount: a booking's planned jobs are names without prices."""
    if not current_tenant().has("planner.basic"):
        return None
    rows = db.session.execute(select(Booking.status, func.count()).where(
        Booking.start_at >= start, Booking.start_at < end).group_by(Booking.status)).all()
    counts = dict(rows)
    return {"count": sum(counts.values()), "amount": None, "converted": counts.get("converted", 0),
            "cancelled": sum(counts.get(s, 0) for s in RELEASED_STATUSES)}
