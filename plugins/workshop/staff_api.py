"""Endpoints of ``workshop.staff`` (attendance, comments and part requests on jobs, productive time,
payroll, hours per bay) and ``workshop.norms`` (a job's norm beside the shop's own history).

Order of checks as in :mod:`plugins.workshop.api`: 401, 404 without the feature, 403 without the
permission, 404 for another tenant's ids, 422 with per-field messages. One request, one transaction.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from core import events
from core.api.errors import ApiError, not_found, validation_error
from core.api.resources import json_body
from core.db import db
from core.i18n import domain

from . import api, norms, services, staff
from .api import _load
from .models import Job, TimeEntry

_ = domain("workshop").gettext

bp = Blueprint("workshop_staff_api", __name__, url_prefix="/api/v1/workshop")

STAFF_FEATURE = "workshop.staff"
NORMS_FEATURE = "workshop.norms"


def requires(feature: str, permission: str):
    return api.requires(permission, feature=feature)


def period() -> tuple[datetime, datetime]:
    """``from``/``to`` dates (``to`` included): the shop's days (its time zone), as a half-open UTC
    interval (:func:`plugins.workshop.periods.bounds`)."""
    from .periods import bounds

    try:
        start = datetime.fromisoformat(request.args["from"]).date()
        end = datetime.fromisoformat(request.args["to"]).date()
    except (KeyError, ValueError):
        raise validation_error({"from": [_("Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD.")]}) from None
    if end < start:
        raise validation_error({"to": [_("The end of the period must not be before its start.")]})
    return bounds(start, end)


# --- attendance -------------------------------------------------------------------------------------


@bp.post("/attendance/<any(shift, break):kind>/<any(start, stop):action>")
@requires(STAFF_FEATURE, "workshop.attendance.clock")
def attendance(user, kind: str, action: str):
    """The signed-in employee starts or ends his shift or a break; a foreman (``workshop.staff.manage``)
    does it for another employee with ``{"employee_id": 7}``."""
    body = json_body() if request.get_data(cache=True).strip() else {}
    subject = staff.subject_for_clock(_load(staff.ClockForSchema(), body), user) if body else None
    entry = staff.attendance(user, kind, action, subject=subject)
    events.commit()
    return jsonify(staff.dump_time_entry(entry))


@bp.get("/attendance/mine")
@requires(STAFF_FEATURE, "workshop.attendance.clock")
def my_running_clocks(user):
    running = db.session.scalars(select(TimeEntry).where(TimeEntry.technician_id == user.id,
                                                         TimeEntry.ended_at.is_(None)).order_by(TimeEntry.id))
    return jsonify(items=[staff.dump_time_entry(e) for e in running])


@bp.post("/time-entries")
@requires(STAFF_FEATURE, "workshop.attendance.clock")
def record_time_entry(user):
    """Record a shift, break or job time afterwards, for a user (``technician_id``) or an employee without
    a login (``employee_id``): managers (``workshop.attendance.manage``) and foremen or advisors
    (``workshop.staff.manage``) only; a technician runs his own clock live instead (403)."""
    if not (user.can("workshop.attendance.manage") or user.can("workshop.staff.manage")):
        raise ApiError(403, "forbidden", _("You do not have permission to do this."),
                       permission="workshop.staff.manage")
    values = _load(staff.TimeEntrySchema(), json_body())
    entry = staff.record_time_entry(values, user)
    events.commit()
    response = jsonify(staff.dump_time_entry(entry))
    response.status_code = 201
    return response


@bp.get("/time-entries")
@requires(STAFF_FEATURE, "workshop.attendance.manage")
def list_time_entries(user):
    since, until = period()
    query = select(TimeEntry).where(TimeEntry.started_at < until,
                                    (TimeEntry.ended_at.is_(None)) | (TimeEntry.ended_at > since))
    if request.args.get("technician_id", type=int):
        query = query.where(TimeEntry.technician_id == request.args.get("technician_id", type=int))
    if request.args.get("employee_id", type=int):
        query = query.where(TimeEntry.employee_id == request.args.get("employee_id", type=int))
    entries = db.session.scalars(query.order_by(TimeEntry.started_at, TimeEntry.id))
    return jsonify(items=[staff.dump_time_entry(e) for e in entries])


# --- the technician's jobs: comments and part requests ---------------------------------------------


def _job(order_id: int, line_id: int):
    order = services.lock_order(order_id)
    return order, services.get_line(order, "labor", line_id)


@bp.route("/work-orders/<int:order_id>/labor-lines/<int:line_id>/comments", methods=["GET", "POST"])
@requires(STAFF_FEATURE, "workshop.work_order.start")
def comments(user, order_id: int, line_id: int):
    order, line = _job(order_id, line_id)
    if request.method == "POST":
        data = _load(staff.CommentSchema(), json_body())
        comment = staff.add_comment(order, line, data["text"].strip(), user)
        events.commit()
        response = jsonify(staff.dump_comment(comment))
        response.status_code = 201
        return response
    rows = db.session.scalars(select(staff.JobComment).where(staff.JobComment.labor_line_id == line.id)
                              .order_by(staff.JobComment.id))
    return jsonify(items=[staff.dump_comment(c) for c in rows])


@bp.post("/work-orders/<int:order_id>/labor-lines/<int:line_id>/part-requests")
@requires(STAFF_FEATURE, "workshop.work_order.start")
def request_parts(user, order_id: int, line_id: int):
    order, line = _job(order_id, line_id)
    values = _load(staff.PartRequestSchema(), json_body())
    req = staff.request_parts(order, line, values, user)
    events.commit()
    response = jsonify(staff.dump_part_request(req))
    response.status_code = 201
    return response


@bp.get("/part-requests")
@requires(STAFF_FEATURE, "workshop.work_order.read")
def part_requests(user):
    query = select(staff.PartRequest).order_by(staff.PartRequest.id)
    if request.args.get("state"):
        query = query.where(staff.PartRequest.state == request.args["state"])
    if request.args.get("work_order_id", type=int):
        query = query.where(staff.PartRequest.work_order_id == request.args.get("work_order_id", type=int))
    return jsonify(items=[staff.dump_part_request(r) for r in db.session.scalars(query)])


@bp.patch("/part-requests/<int:request_id>")
@requires(STAFF_FEATURE, "workshop.work_order.update")
def answer_part_request(user, request_id: int):
    req = db.session.execute(select(staff.PartRequest).where(staff.PartRequest.id == request_id)
                             .with_for_update()).scalar_one_or_none()
    if req is None:
        raise not_found()
    body = json_body()
    # The advisor grants the request (the part onto the order, linked to the job) or rejects it.
    line = staff.answer_part_request(req, body.get("state"), user, add_line=bool(body.get("add_line")),
                                     line_fields={k: body[k] for k in ("price", "code", "unit") if k in body})
    events.commit()
    out = staff.dump_part_request(req)
    if line is not None:
        out["part_line_id"] = line.id
    return jsonify(out)


# --- reports ----------------------------------------------------------------------------------------


@bp.get("/reports/payroll")
@requires(STAFF_FEATURE, "workshop.report.payroll")
def payroll_report(user):
    since, until = period()
    return jsonify(staff.payroll(since, until))


@bp.get("/reports/bays")
@requires(STAFF_FEATURE, "workshop.report.productivity")
def bays_report(user):
    since, until = period()
    return jsonify(items=staff.bays(since, until))


# --- norms ------------------------------------------------------------------------------------------


@bp.get("/jobs/<int:job_id>/norms")
@requires(NORMS_FEATURE, "workshop.job.read")
def job_norms(user, job_id: int):
    job = db.session.execute(select(Job).where(Job.id == job_id)).scalar_one_or_none()
    if job is None:
        raise not_found()
    return jsonify(norms.norm_report(job, request.args.get("make") or None, request.args.get("model") or None))


@bp.get("/reports/under-quoted")
@requires(NORMS_FEATURE, "workshop.job.read")
def under_quoted_report(user):
    """Jobs whose actual average on a car model exceeds the norm by more than 20%."""
    min_samples = request.args.get("min_samples", default=1, type=int)
    if min_samples is None or min_samples < 1:
        raise validation_error({"min_samples": [_("Enter a number.")]})
    return jsonify(items=norms.under_quoted(min_samples))
