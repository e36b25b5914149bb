"""The workshop's own endpoints, where the generic ``/api/v1/workshop/<resource>`` CRUD does not fit:
lines of a work order, payers and shares, the client's decisions, totals, the funnel.

Service orders, work orders (headers, transitions, print, print.pdf) and the job catalog are served
by the core's generic API from the types registered in :mod:`plugins.workshop`.

Order of checks, as in the generic API: 401 without a user, 404 when the tenant lacks the feature,
403 without the permission, 404 for another tenant's ids, 409 when the order is closed, 422 with
per-field messages for bad input. One request, one transaction, audited.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, g, jsonify, request
from marshmallow import ValidationError
from sqlalchemy import func, select

from core import events
from core.api.errors import ApiError, not_found, validation_error
from core.api.resources import json_body, require_user
from core.db import db
from core.documents import DocumentError
from core.i18n import domain

from . import services, staff
from .documents import FEATURE
from .models import DiagnosticAct, Estimate, LaborLine, PartLine, ServiceOrder, WorkOrder
from .schemas import ConvertSchema, DecisionsSchema, LaborLineSchema, PartLineSchema, PayerSchema, ShareSchema, WorkOrderSchema

_ = domain("workshop").gettext

bp = Blueprint("workshop_api", __name__, url_prefix="/api/v1/workshop")

KINDS = {"labor-lines": ("labor", LaborLineSchema), "part-lines": ("part", PartLineSchema)}
LINES = '<any("labor-lines", "part-lines"):kind_segment>'  # the URL segment naming the kind of line


def requires(permission: str, feature: str = FEATURE):
    """The endpoint needs ``feature`` (404 without it) and ``permission`` (403); the workshop's errors
    become JSON, with everything the request wrote rolled back. A 409 is a "conflict", as in the core API."""
    def deco(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            user = require_user()
            tenant = g.get("tenant")
            if tenant is None or not tenant.has(feature):
                raise not_found()
            if not user.can(permission):
                raise ApiError(403, "forbidden", _("You do not have permission to do this."), permission=permission)
            try:
                return fn(user, *args, **kwargs)
            except (services.WorkshopError, staff.StaffError) as exc:
                db.session.rollback()
                body = {"fields": exc.fields} if exc.fields else {}
                code = {404: "not_found", 409: "conflict"}.get(exc.status, "validation")
                raise ApiError(exc.status, code, str(exc.message), **body) from None
            except DocumentError as exc:
                db.session.rollback()
                raise ApiError(exc.status, "immutable" if exc.status == 409 else "document_error",
                               "; ".join(exc.messages), messages=exc.messages) from None

        return wrapper

    return deco


def _load(schema, data, **kwargs):
    try:
        return schema.load(data, **kwargs)
    except ValidationError as err:
        raise validation_error(err.messages) from None


def _order_json(order: WorkOrder) -> dict:
    return WorkOrderSchema().dump(order)


def _expected_version(order: WorkOrder, body: dict) -> None:
    """Optimistic locking for edits of the order's lines, payers and decisions: a client that sends
    the ``version`` of the order it showed gets a 409 when someone changed the order since."""
    version = body.pop("version", None)
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int):
        raise validation_error({"version": ["Not a valid integer."]})
    if version != order.version:
        raise ApiError(409, "conflict", _("Someone else changed this work order since you opened it (version "
                                          "%(current)s, yours is %(mine)s). Reload it and try again.",
                                          current=order.version, mine=version),
                       current_version=order.version, your_version=version)


def _kind(kind_segment: str):
    if kind_segment not in KINDS:
        raise not_found()
    return KINDS[kind_segment]


# --- lines ------------------------------------------------------------------------------------------


@bp.post(f"/work-orders/<int:order_id>/{LINES}")
@requires("workshop.work_order.update")
def add_line(user, order_id: int, kind_segment: str):
    kind, schema = _kind(kind_segment)
    order = services.lock_order(order_id)
    body = json_body()
    _expected_version(order, body)
    values = _load(schema(), body)
    if kind == "labor" and g.tenant.has("workshop.norms"):
        # The norm for this car's make/model and the client's contract or the category's rate.
        from .norms import apply_to_labor_line

        apply_to_labor_line(order, values, set(body))
    # Parts filled in from the chosen job: the workshop.norms feature (Master and up).
    line = services.add_line(order, kind, values, user, with_job_parts=g.tenant.has("workshop.norms"))
    events.commit()
    response = jsonify(line=schema().dump(line), work_order=_order_json(order))
    response.status_code = 201
    return response


@bp.route(f"/work-orders/<int:order_id>/{LINES}/<int:line_id>", methods=["PATCH", "DELETE"])
@requires("workshop.work_order.update")
def change_line(user, order_id: int, kind_segment: str, line_id: int):
    kind, schema = _kind(kind_segment)
    order = services.lock_order(order_id)
    line = services.get_line(order, kind, line_id)
    body = json_body() if request.get_data(cache=True).strip() else {}
    _expected_version(order, body)
    if request.method == "DELETE":
        services.delete_line(order, kind, line, user)
        events.commit()
        return jsonify(work_order=_order_json(order))
    values = _load(schema(), body, partial=True)
    services.update_line(order, kind, line, values, user)
    events.commit()
    return jsonify(line=schema().dump(line), work_order=_order_json(order))


@bp.put(f"/work-orders/<int:order_id>/{LINES}/<int:line_id>/shares")
@requires("workshop.work_order.update")
def put_shares(user, order_id: int, kind_segment: str, line_id: int):
    kind, schema = _kind(kind_segment)
    order = services.lock_order(order_id)
    line = services.get_line(order, kind, line_id)
    body = json_body()
    _expected_version(order, body)
    shares = _load(ShareSchema(many=True), body.get("shares", []) if isinstance(body.get("shares"), list) else None)
    services.set_shares(order, kind, line, shares, user)
    events.commit()
    return jsonify(line=schema().dump(line), work_order=_order_json(order))


# --- estimates and diagnostic acts become work orders ----------------------------------------------


@bp.post("/estimates/<int:doc_id>/work-order")
@requires("workshop.work_order.create")
def estimate_to_work_order(user, doc_id: int):
    estimate = _locked(Estimate, doc_id)
    order = services.convert_estimate(estimate, user)
    events.commit()
    response = jsonify(_order_json(order))
    response.status_code = 201
    return response


@bp.post("/diagnostic-acts/<int:doc_id>/work-order")
@requires("workshop.work_order.create")
def diagnostic_act_to_work_order(user, doc_id: int):
    act = _locked(DiagnosticAct, doc_id)
    options = _load(ConvertSchema(), json_body() if request.get_data(cache=True).strip() else {})
    order = services.convert_diagnostic_act(act, user, options.get("rate"))
    events.commit()
    response = jsonify(_order_json(order))
    response.status_code = 201
    return response


def _locked(model, doc_id: int):
    doc = db.session.execute(select(model).where(model.id == doc_id).with_for_update()).scalar_one_or_none()
    if doc is None:
        raise not_found()
    return doc


# --- payers, decisions, totals ----------------------------------------------------------------------


@bp.put("/work-orders/<int:order_id>/payers")
@requires("workshop.work_order.update")
def put_payers(user, order_id: int):
    order = services.lock_order(order_id)
    body = json_body()
    _expected_version(order, body)
    raw = body.get("payers")
    if not isinstance(raw, list):
        raise validation_error({"payers": [_("Send the list of payers.")]})
    ids = [p.pop("id", None) if isinstance(p, dict) else None for p in raw]
    payers = _load(PayerSchema(many=True), raw)
    for payer, payer_id in zip(payers, ids):
        if payer_id is not None:
            payer["id"] = payer_id
    services.set_payers(order, payers, user)
    events.commit()
    return jsonify(_order_json(order))


@bp.post("/work-orders/<int:order_id>/decisions")
@requires("workshop.work_order.update")
def post_decisions(user, order_id: int):
    order = services.lock_order(order_id)
    body = json_body()
    _expected_version(order, body)
    data = _load(DecisionsSchema(), body)
    services.record_decisions(order, data, user)
    events.commit()
    return jsonify(_order_json(order))


@bp.get("/work-orders/<int:order_id>/due-services")
@requires("workshop.work_order.read")
def due_services(user, order_id: int):
    """Maintenance overdue or due soon for the order's car (the CRM's reminders), with the matching job
    of the catalog; ``available`` is false when the shop has no reminders (``crm.basic``)."""
    from . import due

    order = db.session.execute(select(WorkOrder).where(WorkOrder.id == order_id)).scalar_one_or_none()
    if order is None:
        raise not_found()
    return jsonify(available=due.available(), items=due.due_for_order(order))


@bp.post("/work-orders/<int:order_id>/due-services/<code>")
@requires("workshop.work_order.update")
def add_due_service(user, order_id: int, code: str):
    """Add a due maintenance item as a job line (the catalog job when one matches)."""
    order = services.lock_order(order_id)
    body = json_body() if request.get_data(cache=True).strip() else {}
    _expected_version(order, body)
    line = _add_due_line(order, code, user)
    events.commit()
    response = jsonify(line=LaborLineSchema().dump(line), work_order=_order_json(order))
    response.status_code = 201
    return response


def _add_due_line(order: WorkOrder, code: str, user):
    """Shared by the API and the page: the due item's line, with norms and job parts as usual."""
    from . import due

    values = due.line_values(order, code)
    if values is None:
        raise services.WorkshopError(_("This service is not due for this car."), 404)
    if any(line.reminder_code == code for line in order.labor_lines):
        raise services.WorkshopError(_("This service is already on the order."), 409)
    values = _load(LaborLineSchema(), values)
    if g.tenant.has("workshop.norms"):
        from .norms import apply_to_labor_line

        apply_to_labor_line(order, values, set())
    return services.add_line(order, "labor", values, user, with_job_parts=g.tenant.has("workshop.norms"))


@bp.get("/work-orders/<int:order_id>/totals")
@requires("workshop.work_order.read")
def get_totals(user, order_id: int):
    order = db.session.execute(select(WorkOrder).where(WorkOrder.id == order_id)).scalar_one_or_none()
    if order is None:
        raise not_found()
    return jsonify(services.totals(order).as_json())


@bp.post(f"/work-orders/<int:order_id>/labor-lines/<int:line_id>/clock/<any(start, pause, stop, finish):action>")
@requires("workshop.work_order.start")
def clock(user, order_id: int, line_id: int, action: str):
    """The technician starts, pauses or finishes (stops) his clock on a job (clocked time for the
    productivity report). With ``workshop.staff`` a foreman or advisor (``workshop.staff.manage``) may
    run another employee's clock, also one without a login: body ``{"employee_id": 7}``."""
    order = services.lock_order(order_id)
    line = services.get_line(order, "labor", line_id)
    body = json_body() if request.get_data(cache=True).strip() else {}
    subject = None
    if body.get("employee_id") is not None or body.get("technician_id") is not None:
        if not g.tenant.has("workshop.staff"):
            raise not_found()
        subject = staff.subject_for_clock(_load(staff.ClockForSchema(), body), user)
    entry = services.clock(order, line, "start" if action == "start" else "stop", user, subject=subject)
    events.commit()
    return jsonify(id=entry.id, labor_line_id=entry.labor_line_id, technician_id=entry.technician_id,
                   employee_id=entry.employee_id, started_at=entry.started_at.isoformat(),
                   ended_at=entry.ended_at.isoformat() if entry.ended_at else None)


@bp.get("/reports/productivity")
@requires("workshop.report.productivity")
def productivity_report(user):
    """Clocked vs sold hours per technician between ``from`` and ``to`` (the shop's days, ``to`` included)."""
    from .staff_api import period

    if not g.tenant.has("workshop.staff"):
        raise not_found()
    since, until = period()
    return jsonify(items=services.productivity(since, until))


@bp.get("/reports/comebacks")
@requires("workshop.report.productivity")
def comebacks_report(user):
    """Comebacks per technician between ``from`` and ``to``: the jobs he closed in the period, how many
    of them came back within the shop's comeback window, and the share (percent)."""
    from .comebacks import report
    from .staff_api import period

    since, until = period()
    return jsonify(report(since, until))


@bp.get("/my-jobs")
@requires("workshop.work_order.read")
def my_jobs(user):
    """The signed-in technician's jobs in orders that are approved, in progress or waiting."""
    rows = db.session.execute(
        select(LaborLine, WorkOrder.number, WorkOrder.state, WorkOrder.vehicle_id)
        .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .where(services.assigned_to(user), LaborLine.decision == "approved",
               WorkOrder.state.in_(("approved", "in_progress", "waiting")))
        .order_by(WorkOrder.id, LaborLine.position)).all()
    return jsonify(items=[{"work_order_id": line.work_order_id, "number": number, "state": state,
                           "vehicle_id": vehicle_id, "line_id": line.id, "name": line.name,
                           "hours": str(line.hours)} for line, number, state, vehicle_id in rows])


@bp.get("/funnel")
@requires("workshop.work_order.read")
def funnel(user):
    """The sales funnel of a period (``from``/``to``, the shop's days; default: this month so far):
    ``stages`` bookings (when the planner or another plugin answers ``workshop_funnel_bookings``) ->
    service orders -> work orders -> closed, with counts, amounts (order totals) and the conversion
    from each stage to the next (:mod:`plugins.workshop.funnel`). Also, all-time: service orders and
    work orders per state, and job lines per client decision (recommended -> approved -> done)."""
    from .funnel import funnel as funnel_of
    from .periods import bounds, this_month
    from .staff_api import period

    if request.args.get("from") or request.args.get("to"):
        since, until = period()
        start, end = request.args["from"], request.args["to"]
    else:
        first, today = this_month()
        since, until = bounds(first, today)
        start, end = first.isoformat(), today.isoformat()
    so = dict(db.session.execute(select(ServiceOrder.state, func.count()).group_by(ServiceOrder.state)).all())
    wo = dict(db.session.execute(select(WorkOrder.state, func.count()).group_by(WorkOrder.state)).all())
    decisions = dict(db.session.execute(select(LaborLine.decision, func.count()).group_by(LaborLine.decision)).all())
    done = db.session.scalar(select(func.count()).select_from(LaborLine).join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
                             .where(WorkOrder.state == "closed", LaborLine.decision == "approved")) or 0
    parts = db.session.scalar(select(func.count()).select_from(PartLine)) or 0
    return jsonify(period={"from": start, "to": end}, **funnel_of(since, until),
                   service_orders=so, work_orders=wo, job_decisions=decisions, jobs_done=done, part_lines=parts)


@bp.record_once
def _print_globals(state):
    from .printing import install

    install(state.app)
