"""The sales funnel: bookings -> service orders -> work orders -> closed work orders in a period of the
shop's days, with counts, amounts and the conversion from each stage to the next.

Each stage counts what happened in the period (not a cohort): bookings whose visit falls in it (from the
planner, through :func:`plugins.workshop.hookspecs.workshop_funnel_bookings`; the workshop never imports
the planner), service orders and work orders made in it, work orders closed in it. Walk-ins and orders
made without a reception act can therefore lift a conversion above 100%. Voided documents are left
out (a void undoes a mistake); cancelled ones count, they were made.

Amounts are order totals (``WorkOrder.total``, VAT as the order has it): a service order is worth the
total of its live (not cancelled, not voided) work orders; a work order its total; the closed stage the
totals of the orders closed. Bookings have an amount only when the answering plugin can price them.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from core.db import db

from .models import ServiceOrder, WorkOrder

ZERO = Decimal("0.00")
LIVE_WORK_ORDER = ("cancelled",)  # states whose orders are not worth anything to the funnel


def _hooks():
    """The current tenant's hook proxy (a request's, or built for the tenant in jobs and tests)."""
    from flask import current_app, g, has_request_context

    from core.tenancy import current_tenant

    if has_request_context() and g.get("hooks") is not None:
        return g.hooks
    return current_app.extensions["garage"].hooks_for(current_tenant().plugins)


def _bookings(since: datetime, until: datetime) -> dict | None:
    answers = [a for a in _hooks().workshop_funnel_bookings(start=since, end=until) or [] if a]
    if not answers:
        return None
    amounts = [Decimal(a["amount"]) for a in answers if a.get("amount") is not None]
    return {"count": sum(int(a.get("count") or 0) for a in answers),
            "amount": sum(amounts, ZERO) if amounts else None,
            "converted": sum(int(a.get("converted") or 0) for a in answers),
            "cancelled": sum(int(a.get("cancelled") or 0) for a in answers)}


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(ZERO, ROUND_HALF_UP)


def _conversion(count: int, previous: int | None) -> str | None:
    """This stage's count as a percentage of the previous one, one decimal ("62.5"); None without one."""
    if not previous:
        return None
    return str((Decimal(count) * 100 / Decimal(previous)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def funnel(since: datetime, until: datetime) -> dict:
    """``{"stages": [...]}`` for ``[since, until)``: each stage ``key``, ``count``, ``amount`` (str or
    None) and ``conversion`` (percent of the previous stage, str or None); the bookings stage only when
    a plugin answers ``workshop_funnel_bookings``."""
    so_count = db.session.scalar(select(func.count(ServiceOrder.id)).where(
        ServiceOrder.voided_at.is_(None), ServiceOrder.created_at >= since, ServiceOrder.created_at < until)) or 0
    so_amount = db.session.scalar(select(func.sum(WorkOrder.total)).join(
        ServiceOrder, ServiceOrder.id == WorkOrder.service_order_id).where(
        ServiceOrder.voided_at.is_(None), ServiceOrder.created_at >= since, ServiceOrder.created_at < until,
        WorkOrder.voided_at.is_(None), WorkOrder.state.not_in(LIVE_WORK_ORDER)))
    wo_count, wo_amount = db.session.execute(select(func.count(WorkOrder.id), func.sum(WorkOrder.total)).where(
        WorkOrder.voided_at.is_(None), WorkOrder.created_at >= since, WorkOrder.created_at < until)).one()
    closed_count, closed_amount = db.session.execute(select(func.count(WorkOrder.id), func.sum(WorkOrder.total)).where(
        WorkOrder.voided_at.is_(None), WorkOrder.state == "closed", WorkOrder.closed_at >= since,
        WorkOrder.closed_at < until)).one()

    stages = []
    bookings = _bookings(since, until)
    if bookings is not None:
        stages.append({"key": "bookings", "count": bookings["count"],
                       "amount": str(_money(bookings["amount"])) if bookings["amount"] is not None else None,
                       "converted": bookings["converted"], "cancelled": bookings["cancelled"]})
    stages += [{"key": "service_orders", "count": so_count, "amount": str(_money(so_amount))},
               {"key": "work_orders", "count": wo_count or 0, "amount": str(_money(wo_amount))},
               {"key": "closed", "count": closed_count or 0, "amount": str(_money(closed_amount))}]
    previous = None
    for stage in stages:
        stage["conversion"] = _conversion(stage["count"], previous)
        previous = stage["count"]
    first, last = stages[0]["count"], stages[-1]["count"]
    return {"stages": stages, "overall_conversion": _conversion(last, first) if len(stages) > 1 else None}
