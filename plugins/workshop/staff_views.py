"""Pages of ``workshop.staff``: the technician's phone-friendly "my jobs" (shift and breaks, start /
pause a job's clock, finish the order, comments, asking for parts) and the managers' report page
(productive time, payroll draft, hours per bay). Each form posts here and runs the same services as
the API; results and errors are flashed."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request
from marshmallow import ValidationError
from sqlalchemy import select

from core import events
from core.auth.access import permission_required
from core.db import db
from core.documents import DocumentError
from core.i18n import domain

from . import services, staff
from .models import LaborLine, TimeEntry, WorkOrder
from .views import _flash_errors, current_user_obj, report_period

_ = domain("workshop").gettext

bp = Blueprint("workshop_staff_ui", __name__, url_prefix="/workshop")

FEATURE = "workshop.staff"
MY_JOBS = "/workshop/my-jobs"


def _run(action) -> None:
    try:
        action()
        events.commit()
        flash(_("Saved."), "success")
    except ValidationError as err:
        db.session.rollback()
        _flash_errors(err.messages)
    except (services.WorkshopError, staff.StaffError) as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc.message), "error")
    except DocumentError as exc:
        db.session.rollback()
        flash("; ".join(exc.messages), "error")


@bp.get("/my-jobs")
@permission_required("workshop.attendance.clock", feature=FEATURE)
def my_jobs_page():
    user = current_user_obj()
    rows = db.session.execute(
        select(LaborLine, WorkOrder.number, WorkOrder.state)
        .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .where(services.assigned_to(user), LaborLine.decision == "approved",
               WorkOrder.state.in_(("approved", "in_progress", "waiting")))
        .order_by(WorkOrder.id, LaborLine.position)).all()
    running = {e.kind: e for e in db.session.scalars(select(TimeEntry).where(
        TimeEntry.technician_id == user.id, TimeEntry.ended_at.is_(None)))}
    job_running = running.get("job").labor_line_id if running.get("job") else None
    from .photos import Photo

    line_ids = [line.id for line, _n, _s in rows]
    photos: dict[int, list] = {}
    if line_ids:  # one query for the photos of every listed job
        for photo in db.session.scalars(select(Photo).where(Photo.labor_line_id.in_(line_ids)).order_by(Photo.id)):
            photos.setdefault(photo.labor_line_id, []).append(photo)
    comments: dict[int, list] = {}
    if line_ids:  # the job's comments, everyone's (the advisor's notes too), one query
        for comment in db.session.scalars(select(staff.JobComment).where(staff.JobComment.labor_line_id.in_(line_ids))
                                          .order_by(staff.JobComment.id)):
            comments.setdefault(comment.labor_line_id, []).append(comment)
    return render_template("workshop/staff/my_jobs.html", rows=rows, running=running, job_running=job_running,
                           can_finish=user.can("workshop.work_order.finish"), photos=photos, _=_,
                           cars=_cars({line.work_order_id for line, _n, _s in rows}), comments=comments,
                           people=_people([c.author_id for cs in comments.values() for c in cs]))


def _cars(order_ids) -> dict[int, str]:
    """``{work order id: "Kia Rio, A123BC77"}``: which car the technician walks to."""
    from plugins.crm.models import Vehicle

    if not order_ids:
        return {}
    rows = db.session.execute(select(WorkOrder.id, Vehicle.make, Vehicle.model, Vehicle.plate)
                              .join(Vehicle, Vehicle.id == WorkOrder.vehicle_id).where(WorkOrder.id.in_(order_ids)))
    return {order_id: ", ".join(x for x in (" ".join(y for y in (make, model) if y), plate) if x)
            for order_id, make, model, plate in rows}


@bp.post("/my-jobs/attendance")
@permission_required("workshop.attendance.clock", feature=FEATURE)
def my_attendance():
    kind, action = request.form.get("kind"), request.form.get("action")
    if kind not in staff.ATTENDANCE_KINDS or action not in ("start", "stop"):
        abort(400)
    _run(lambda: staff.attendance(current_user_obj(), kind, action))
    return redirect(MY_JOBS)


@bp.post("/my-jobs/<int:order_id>/<int:line_id>")
@permission_required("workshop.work_order.start", feature=FEATURE)
def my_job_action(order_id: int, line_id: int):
    """start / pause (the job clock), finish (the order: ready for pickup), comment, parts."""
    from core.documents import transition

    what = request.form.get("do")
    user = current_user_obj()

    def action():
        order = services.lock_order(order_id)
        line = services.get_line(order, "labor", line_id)
        if what == "start":
            if order.state in ("approved", "waiting"):  # a waiting order goes back to work by "resume"
                transition(order, "start" if order.state == "approved" else "resume", user, commit=False)
            services.clock(order, line, "start", user)
        elif what == "pause":
            services.clock(order, line, "stop", user)
        elif what == "finish":
            if any(e.labor_line_id == line.id for e in db.session.scalars(select(TimeEntry).where(
                    TimeEntry.technician_id == user.id, TimeEntry.kind == "job", TimeEntry.ended_at.is_(None)))):
                services.clock(order, line, "stop", user)
            transition(order, "finish", user, commit=False)
        elif what == "comment":
            staff.add_comment(order, line, staff.CommentSchema().load(
                {"text": request.form.get("text", "").strip()})["text"], user)
        elif what == "parts":
            raw = {k: request.form[k].strip() for k in ("name", "quantity", "note") if request.form.get(k, "").strip()}
            staff.request_parts(order, line, staff.PartRequestSchema().load(raw), user)
        else:
            abort(400)

    _run(action)
    return redirect(MY_JOBS)


@bp.get("/reports/staff")
@permission_required("workshop.report.productivity", feature=FEATURE)
def staff_reports_page():
    start, end, since, until = report_period()
    user = current_user_obj()
    pay = staff.payroll(since, until) if user.can("workshop.report.payroll") else None
    return render_template("workshop/staff/reports.html", start=start, end=end,
                           kpis=staff.productive_time(since, until), payroll=pay, bays=staff.bays(since, until), _=_)


# --- a foreman runs other employees' job clocks (employees without a login too) ----------------------


def clock_for_panel(order, user) -> str | None:
    """The "Job time of employees" block of a work order in progress (``workshop.staff.manage``)."""
    from flask import g

    from .staff import Employee

    if (order.state != "in_progress" or user is None or not g.tenant.has(FEATURE)
            or not user.can("workshop.staff.manage")):
        return None
    employees = list(db.session.scalars(select(Employee).where(Employee.active.is_(True)).order_by(Employee.name)))
    if not employees:
        return None
    lines = [line for line in order.labor_lines if line.decision == "approved"]
    running = {}
    for e in db.session.scalars(select(TimeEntry).where(TimeEntry.work_order_id == order.id, TimeEntry.kind == "job",
                                                        TimeEntry.ended_at.is_(None))):
        for emp in employees:
            if (e.employee_id and e.employee_id == emp.id) or (e.technician_id and e.technician_id == emp.user_id):
                running[(emp.id, e.labor_line_id)] = True
    return render_template("workshop/panels/clock_for.html", doc=order, lines=lines, employees=employees,
                           running=running)


@bp.post("/work-orders/<int:order_id>/labor-lines/<int:line_id>/clock-for")
@permission_required("workshop.staff.manage", feature=FEATURE)
def clock_for(order_id: int, line_id: int):
    what = request.form.get("do")
    if what not in ("start", "pause", "finish"):
        abort(400)
    user = current_user_obj()

    def action():
        order = services.lock_order(order_id)
        line = services.get_line(order, "labor", line_id)
        data = staff.ClockForSchema().load({"employee_id": request.form.get("employee_id", type=int)})
        subject = staff.subject_for_clock(data, user)
        services.clock(order, line, "start" if what == "start" else "stop", user, subject=subject)

    _run(action)
    return redirect(f"/workshop/work-orders/{order_id}")


# --- what the technicians said: comments and part requests on the work order page ---------------------


def job_notes_panel(order, user) -> str | None:
    """The technicians' comments and part requests of ``order`` (``workshop.staff``), for the advisor;
    open part requests can be granted (added as a part line), marked done or rejected."""
    from flask import g

    if user is None or not g.tenant.has(FEATURE):
        return None
    comments = list(db.session.scalars(select(staff.JobComment).where(staff.JobComment.work_order_id == order.id)
                                       .order_by(staff.JobComment.id)))
    requests = list(db.session.scalars(select(staff.PartRequest).where(staff.PartRequest.work_order_id == order.id)
                                       .order_by(staff.PartRequest.id)))
    if not comments and not requests:
        return None
    from core.documents import get_document_type

    state = get_document_type(order).workflow.states.get(order.state)
    return render_template("workshop/panels/job_notes.html", doc=order, comments=comments, requests=requests,
                           jobs={line.id: line.name for line in order.labor_lines}, people=_people(
                               [c.author_id for c in comments] + [r.requested_by_id for r in requests]),
                           can_answer=user.can("workshop.work_order.update"),
                           editable=not (state and state.immutable))


def _people(user_ids) -> dict:
    from core.models import User

    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    return {u.id: u.name or u.email for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


@bp.post("/part-requests/<int:request_id>")
@permission_required("workshop.work_order.update", feature=FEATURE)
def answer_part_request(request_id: int):
    """The advisor's answer on the work order page: grant (optionally as a part line with a price), reject."""
    req = db.session.execute(select(staff.PartRequest).where(staff.PartRequest.id == request_id)
                             .with_for_update()).scalar_one_or_none()
    if req is None:
        abort(404)
    fields = {k: request.form[k].strip() for k in ("price", "code", "unit") if request.form.get(k, "").strip()}
    _run(lambda: staff.answer_part_request(req, request.form.get("state", ""), current_user_obj(),
                                           add_line=request.form.get("add_line") == "1", line_fields=fields))
    return redirect(f"/workshop/work-orders/{req.work_order_id}")
