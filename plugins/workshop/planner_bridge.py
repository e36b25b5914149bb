"""The workshop's answers to the planner's hooks (plugins/planner/hookspecs.py): a booking becomes a
service order in one click, and the planner's booking form picks planned jobs from the job catalog with
their standard hours.

The planner is optional for the workshop (and the workshop for the planner): the implementations are
``optionalhook`` and take plain dicts, never the planner's models. Refusals are answered with codes the
planner translates (``client_required``, ``forbidden``), so this module adds no strings of its own.
"""
from __future__ import annotations

from decimal import Decimal

from marshmallow import ValidationError
from sqlalchemy import or_, select

from core.db import db
from core.plugins import hookimpl
from core.tenancy import current_tenant

FEATURE = "workshop.documents"
NORMS = "workshop.norms"
CATALOG_LIMIT = 50


def _link(order) -> dict:
    return {"resource": "workshop.service_order", "id": order.id, "number": order.number,
            "url": f"/workshop/service-orders/{order.id}"}


@hookimpl(optionalhook=True)
def planner_booking_convert(booking, actor):
    """A service order (draft reception act) from the booking: client, car, advisor, the reason as the
    complaint and the planned jobs; ``booking_id`` links it back. A booking that already has a live
    service order gets that one again, never a second."""
    from core.documents import create_document

    from .models import ServiceOrder
    from .schemas import ServiceOrderSchema

    if not current_tenant().has(FEATURE):
        return None
    existing = db.session.scalars(
        select(ServiceOrder).where(ServiceOrder.booking_id == booking["id"], ServiceOrder.voided_at.is_(None),
                                   ServiceOrder.state != "cancelled").order_by(ServiceOrder.id)).first()
    if existing is not None:
        return _link(existing)
    if actor is not None and not actor.can("workshop.service_order.create"):
        return {"error": "forbidden", "status": 403}
    if not booking.get("client_id") or not booking.get("vehicle_id"):
        return {"error": "client_required", "status": 422}
    jobs = [str(j) for j in booking.get("planned_jobs") or [] if str(j).strip()]
    raw = {"client_id": booking["client_id"], "vehicle_id": booking["vehicle_id"], "booking_id": booking["id"],
           "advisor_id": booking.get("advisor_id") or getattr(actor, "id", None),
           "complaint": booking.get("reason") or None, "planned_jobs": "\n".join(jobs) or None}
    try:
        fields = ServiceOrderSchema().load(raw)
    except ValidationError as err:
        messages = [str(m) for msgs in err.messages.values() for m in (msgs if isinstance(msgs, list) else [msgs])]
        return {"error": " ".join(messages), "status": 422}
    order = create_document(ServiceOrder, actor, commit=False, **fields)
    return _link(order)


@hookimpl(optionalhook=True)
def planner_job_catalog(query, vehicle_id):
    """Active catalog jobs whose code or name contains ``query``; with ``workshop.norms`` and a known car,
    the hours of the make/model norm instead of the catalog's."""
    from core.api.resources import casefold

    from .models import Job

    tenant = current_tenant()
    if not tenant.has(FEATURE):
        return None
    q = select(Job).where(Job.active.is_(True)).order_by(Job.name, Job.id).limit(CATALOG_LIMIT)
    text = " ".join(str(query or "").split())
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(or_(casefold(Job.name).like(pattern, escape="\\"),
                        casefold(Job.code).like(pattern, escape="\\")))
    jobs = list(db.session.scalars(q))
    make = model = None
    if vehicle_id and tenant.has(NORMS) and jobs:
        from plugins.crm.models import Vehicle

        car = db.session.execute(select(Vehicle.make, Vehicle.model).where(Vehicle.id == vehicle_id)).first()
        if car is not None:
            make, model = car.make, car.model
    hours = {job.id: job.standard_hours or Decimal(0) for job in jobs}
    if make:
        hours.update(_norms(list(hours), make, model))
    return [{"code": job.code, "name": job.name, "standard_hours": Decimal(hours[job.id]), "bay_type": None}
            for job in jobs]


def _norms(job_ids: list[int], make: str, model: str | None) -> dict[int, Decimal]:
    """The make/model norms of many jobs in one query, as :func:`plugins.workshop.norms.norm_for` picks
    them one by one: the make and model's norm, else the make's (no model), else none."""
    from .norms import JobNorm

    same = lambda a, b: (a or "").strip().casefold() == (b or "").strip().casefold()  # noqa: E731
    found: dict[int, tuple[int, Decimal]] = {}  # job id -> (rank, hours); rank 0 beats rank 1
    for row in db.session.execute(select(JobNorm.job_id, JobNorm.make, JobNorm.model, JobNorm.hours)
                                  .where(JobNorm.job_id.in_(job_ids)).order_by(JobNorm.id)):
        if not same(row.make, make):
            continue
        if model and row.model and same(row.model, model):
            rank = 0
        elif not row.model:
            rank = 1
        else:
            continue
        if row.job_id not in found or rank < found[row.job_id][0]:
            found[row.job_id] = (rank, row.hours)
    return {job_id: hours for job_id, (_rank, hours) in found.items()}
