"""Pages: the work order's lines and the client's decisions, edited on the generic document page.

The generic page (``/workshop/work-orders/<id>``) shows the panel of :func:`printing.work_order_panel`
with small forms that post here; each handler runs the same service as the API, flashes the result
(field errors in the user's language) and returns to the page.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request
from marshmallow import ValidationError

from core import events
from core.api.errors import translate_errors
from core.auth.access import permission_required
from core.db import db
from core.documents import DocumentError
from core.i18n import domain

from . import services
from .documents import FEATURE
from .schemas import DecisionsSchema, LaborLineSchema, PartLineSchema

_ = domain("workshop").gettext

bp = Blueprint("workshop_ui", __name__, url_prefix="/workshop")

LINE_FIELDS = {"labor": ("name", "hours", "rate", "fixed_price", "job_id", "technician_id", "employee_id", "discount_percent",
                          "bay", "rework"),
               "part": ("name", "code", "quantity", "unit", "price", "labor_line_id", "discount_percent")}


def _page(order_id: int):
    return redirect(f"/workshop/work-orders/{order_id}")


def _flash_errors(messages) -> None:
    for name, errors in translate_errors(messages).items():
        flat = errors if isinstance(errors, list) else [str(errors)]
        flash(f"{name}: {'; '.join(str(e) for e in flat)}", "error")


def _run(order_id: int, action):
    try:
        order = services.lock_order(order_id)
        action(order)
        events.commit()
        flash(_("Saved."), "success")
    except ValidationError as err:
        db.session.rollback()
        _flash_errors(err.messages)
    except services.WorkshopError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)  # another tenant's order looks exactly like a missing one
        flash(str(exc.message), "error")
    except DocumentError as exc:
        db.session.rollback()
        flash("; ".join(exc.messages), "error")
    return _page(order_id)


@bp.post("/work-orders/<int:order_id>/lines")
@permission_required("workshop.work_order.update", feature=FEATURE)
def add_line(order_id: int):
    kind = "part" if request.form.get("kind") == "part" else "labor"
    schema = PartLineSchema() if kind == "part" else LaborLineSchema()
    raw = {k: request.form[k].strip() for k in LINE_FIELDS[kind] if request.form.get(k, "").strip()}

    def action(order):
        values = schema.load(raw)
        if kind == "labor" and _tenant_has("workshop.norms"):
            from .norms import apply_to_labor_line

            apply_to_labor_line(order, values, set(raw))
        services.add_line(order, kind, values, current_user_obj(),
                          with_job_parts=_tenant_has("workshop.norms"))

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/labor-lines/<int:line_id>/assign")
@permission_required("workshop.work_order.update", feature=FEATURE)
def assign(order_id: int, line_id: int):
    """The technician picker of a job line: an employee (with a login or not), or nobody."""
    raw = {"employee_id": request.form.get("employee_id", "").strip() or None}

    def action(order):
        line = services.get_line(order, "labor", line_id)
        values = {k: v for k, v in LaborLineSchema(only=("employee_id",)).load(raw).items()}
        services.update_line(order, "labor", line, values, current_user_obj())

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/due-services/<code>")
@permission_required("workshop.work_order.update", feature=FEATURE)
def add_due_service(order_id: int, code: str):
    """"Add as a job line" of the "Due for this car" panel."""
    from .api import _add_due_line

    return _run(order_id, lambda order: _add_due_line(order, code, current_user_obj()))


@bp.post("/work-orders/<int:order_id>/decisions")
@permission_required("workshop.work_order.update", feature=FEATURE)
def decide(order_id: int):
    raw = {"by": request.form.get("by", "").strip(), "channel": request.form.get("channel") or "in_person",
           "decisions": [{"line_id": request.form.get("line_id", type=int), "kind": request.form.get("kind", "labor"),
                          "decision": request.form.get("decision", "")}]}

    def action(order):
        services.record_decisions(order, DecisionsSchema().load(raw), current_user_obj())

    return _run(order_id, action)


def current_user_obj():
    from flask_login import current_user

    return current_user._get_current_object()


def _tenant_has(feature: str) -> bool:
    from flask import g

    return g.tenant.has(feature)



# --- "Make a work order" buttons of the service order, estimate and diagnostic act pages -------------


def _make_order(make, doc_url: str):
    try:
        order = make()
        events.commit()
    except services.WorkshopError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc.message), "error")
        return redirect(doc_url)
    except DocumentError as exc:
        db.session.rollback()
        flash("; ".join(exc.messages), "error")
        return redirect(doc_url)
    except ValidationError as err:
        db.session.rollback()
        _flash_errors(err.messages)
        return redirect(doc_url)
    flash(_("Work order %(number)s made.", number=order.number), "success")
    return _page(order.id)


def _locked(model, doc_id: int):
    from sqlalchemy import select

    doc = db.session.execute(select(model).where(model.id == doc_id).with_for_update()).scalar_one_or_none()
    if doc is None:
        abort(404)
    return doc


@bp.post("/service-orders/<int:doc_id>/make-work-order")
@permission_required("workshop.work_order.create", feature=FEATURE)
def service_order_to_work_order(doc_id: int):
    from core.documents import create_document

    from .models import ServiceOrder, WorkOrder
    from .schemas import WorkOrderSchema

    so = _locked(ServiceOrder, doc_id)

    def make():
        values = WorkOrderSchema().load({"service_order_id": so.id})
        return create_document(WorkOrder, current_user_obj(), **values)

    return _make_order(make, f"/workshop/service-orders/{doc_id}")


@bp.post("/estimates/<int:doc_id>/make-work-order")
@permission_required("workshop.work_order.create", feature=FEATURE)
def estimate_to_work_order(doc_id: int):
    from .models import Estimate

    estimate = _locked(Estimate, doc_id)
    return _make_order(lambda: services.convert_estimate(estimate, current_user_obj()),
                       f"/workshop/estimates/{doc_id}")


@bp.post("/diagnostic-acts/<int:doc_id>/make-work-order")
@permission_required("workshop.work_order.create", feature=FEATURE)
def diagnostic_act_to_work_order(doc_id: int):
    from .models import DiagnosticAct

    act = _locked(DiagnosticAct, doc_id)
    return _make_order(lambda: services.convert_diagnostic_act(act, current_user_obj(), None),
                       f"/workshop/diagnostic-acts/{doc_id}")


# --- payers and shares ------------------------------------------------------------------------------


@bp.post("/work-orders/<int:order_id>/payers")
@permission_required("workshop.work_order.update", feature=FEATURE)
def add_payer(order_id: int):
    from .schemas import PayerSchema

    raw = {k: request.form[k].strip() for k in ("kind", "counterparty_id", "claim_number", "excess")
           if request.form.get(k, "").strip()}

    def action(order):
        new = PayerSchema().load(raw)
        keep = [{"id": p.id, "kind": p.kind, "counterparty_id": p.counterparty_id, "claim_number": p.claim_number,
                 "excess": p.excess, "is_default": p.is_default} for p in order.payers]
        services.set_payers(order, keep + [new], current_user_obj())

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/shares")
@permission_required("workshop.work_order.update", feature=FEATURE)
def share_line(order_id: int):
    """Charge a percentage of one line to a payer; the rest stays with the client."""
    from .schemas import ShareSchema

    kind = "part" if request.form.get("kind") == "part" else "labor"
    payer = request.form.get("payer_id", type=int)
    raw_percent = request.form.get("percent", "").strip() or "100"

    def action(order):
        share = ShareSchema().load({"payer_id": payer, "percent": raw_percent})
        shares = [share]
        if share["percent"] < 100:
            shares.append({"payer_id": None, "percent": 100 - share["percent"]})
        line = services.get_line(order, kind, request.form.get("line_id", type=int) or 0)
        services.set_shares(order, kind, line, shares, current_user_obj())

    return _run(order_id, action)


# --- the comebacks report ---------------------------------------------------------------------------


@bp.get("/reports/comebacks")
@permission_required("workshop.report.productivity", feature=FEATURE)
def comebacks_page():
    from flask import render_template

    from .comebacks import report

    start, end, since, until = report_period()
    return render_template("workshop/reports/comebacks.html", start=start, end=end, data=report(since, until))


def report_period():
    """The report pages' ``from``/``to`` (this month so far by default; a bad date is flashed) as
    ``(start, end, since, until)``: dates, and the UTC datetimes bounding them (``until`` exclusive)."""
    from datetime import date, datetime, time, timedelta, timezone

    today = date.today()
    try:
        start = date.fromisoformat(request.args.get("from") or today.replace(day=1).isoformat())
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        flash(_("Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD."), "error")
        start, end = today.replace(day=1), today
    since = datetime.combine(start, time(), timezone.utc)
    until = datetime.combine(end + timedelta(days=1), time(), timezone.utc)
    return start, end, since, until
