"""Pages: the work order's lines and the client's decisions, edited on the generic document page.

The generic page (``/workshop/work-orders/<id>``) shows the panel of :func:`printing.work_order_panel`
with small forms that post here; each handler runs the same service as the API, flashes the result
(field errors in the user's language) and returns to the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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
_l = domain("workshop").lazy_gettext

bp = Blueprint("workshop_ui", __name__, url_prefix="/workshop")

LINE_FIELDS = {"labor": ("name", "hours", "rate", "fixed_price", "job_id", "technician_id", "employee_id", "discount_percent",
                          "bay", "rework"),
               "part": ("name", "code", "quantity", "unit", "price", "labor_line_id", "discount_percent")}
# What a line's edit form changes (the technician and decisions have their own forms).
EDITABLE_FIELDS = {"labor": ("name", "hours", "rate", "fixed_price", "discount_percent", "bay"),
                   "part": ("name", "code", "quantity", "unit", "price", "discount_percent")}


NUMBER_FIELDS = frozenset(("hours", "rate", "fixed_price", "discount_percent", "quantity", "price", "excess", "value",
                           "percent"))


def _typed_number(value: str | None) -> str | None:
    """A number as people type it: "1 250,50" (spaces, a decimal comma) -> "1250.50"; with a decimal
    point the commas are thousands separators ("1,250.50")."""
    if value is None:
        return None
    value = value.replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    return value.replace(",", "") if "." in value else value.replace(",", ".")


def _numbers(raw: dict, names=NUMBER_FIELDS) -> dict:
    return {k: (_typed_number(v) if k in names else v) for k, v in raw.items()}


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
    raw = _numbers({k: request.form[k].strip() for k in LINE_FIELDS[kind] if request.form.get(k, "").strip()})

    def action(order):
        values = schema.load(raw)
        if kind == "labor" and _tenant_has("workshop.norms"):
            from .norms import apply_to_labor_line

            apply_to_labor_line(order, values, set(raw))
        services.add_line(order, kind, values, current_user_obj(),
                          with_job_parts=_tenant_has("workshop.norms"))

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/reprice")
@permission_required("workshop.work_order.update", feature=FEATURE)
def reprice(order_id: int):
    """"Price the lines again": the job lines without a price typed by hand, from the catalog and the
    labour rates (a rate set after the lines were added reaches them)."""
    return _run(order_id, lambda order: services.reprice_lines(order, current_user_obj()))


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
    # "Who decided" left empty: the signed-in user recorded it (the browser must not silently refuse).
    user = current_user_obj()
    raw = {"by": request.form.get("by", "").strip() or user.name or user.email, "channel": request.form.get("channel") or "in_person",
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
        order = create_document(WorkOrder, current_user_obj(), commit=False, **values)
        services.add_planned_jobs(order, current_user_obj())  # pending lines: the client decides on each
        return order

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

    raw = _numbers({k: request.form[k].strip() for k in ("kind", "counterparty_id", "claim_number", "excess")
                    if request.form.get(k, "").strip()})

    def action(order):
        new = PayerSchema().load(raw)
        keep = [{"id": p.id, "kind": p.kind, "counterparty_id": p.counterparty_id, "claim_number": p.claim_number,
                 "excess": p.excess, "is_default": p.is_default} for p in order.payers]
        services.set_payers(order, keep + [new], current_user_obj())

    return _run(order_id, action)


def _posted_line() -> tuple[str, int]:
    """The line a form names: ``line=labor:12`` / ``line=part:5`` (the share picker lists both kinds),
    or ``kind`` and ``line_id``."""
    kind, _sep, line_id = request.form.get("line", "").partition(":")
    if not line_id:
        kind, line_id = request.form.get("kind", "labor"), request.form.get("line_id", "")
    return ("part" if kind == "part" else "labor"), (int(line_id) if line_id.isdigit() else 0)


@bp.post("/work-orders/<int:order_id>/shares")
@permission_required("workshop.work_order.update", feature=FEATURE)
def share_line(order_id: int):
    """Charge a share of one line (a percentage or an amount) to a payer; the rest stays with the client."""
    from .schemas import ShareSchema

    kind, line_id = _posted_line()
    payer = request.form.get("payer_id", type=int)
    by_amount = request.form.get("share_by") == "amount"
    value = _typed_number(request.form.get("value", request.form.get("percent", "")).strip()) or ("" if by_amount else "100")

    def action(order):
        share = ShareSchema().load({"payer_id": payer, ("amount" if by_amount else "percent"): value})
        shares = [share]
        if by_amount:
            shares.append({"payer_id": None, "percent": Decimal(100)})  # what the amount leaves: the client's
        elif share["percent"] < 100:
            shares.append({"payer_id": None, "percent": 100 - share["percent"]})
        line = services.get_line(order, kind, line_id)
        services.set_shares(order, kind, line, shares, current_user_obj())

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/shares/clear")
@permission_required("workshop.work_order.update", feature=FEATURE)
def clear_shares(order_id: int):
    """Remove a line's payer shares: the whole line is the client's (the order's default payer's) again."""
    kind, line_id = _posted_line()

    def action(order):
        services.set_shares(order, kind, services.get_line(order, kind, line_id), [], current_user_obj())

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/lines/<any(labor, part):kind>/<int:line_id>")
@permission_required("workshop.work_order.update", feature=FEATURE)
def edit_line(order_id: int, kind: str, line_id: int):
    """The line's edit form: the posted fields only; an emptied optional field is cleared."""
    schema = PartLineSchema(partial=True) if kind == "part" else LaborLineSchema(partial=True)
    editable = EDITABLE_FIELDS[kind]
    raw = _numbers({k: (request.form[k].strip() or None) for k in editable if k in request.form})

    def action(order):
        line = services.get_line(order, kind, line_id)
        services.update_line(order, kind, line, schema.load(raw), current_user_obj())

    return _run(order_id, action)


@bp.post("/work-orders/<int:order_id>/lines/<any(labor, part):kind>/<int:line_id>/delete")
@permission_required("workshop.work_order.update", feature=FEATURE)
def delete_line(order_id: int, kind: str, line_id: int):
    def action(order):
        services.delete_line(order, kind, services.get_line(order, kind, line_id), current_user_obj())

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
    """The report pages' ``from``/``to`` (the shop's month so far by default; a bad date is flashed) as
    ``(start, end, since, until)``: the shop's days, and the UTC datetimes bounding them in the shop's
    time zone (``until`` exclusive)."""
    from datetime import date

    from .periods import bounds, this_month

    first, today = this_month()
    try:
        start = date.fromisoformat(request.args.get("from") or first.isoformat())
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        flash(_("Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD."), "error")
        start, end = first, today
    since, until = bounds(start, end)
    return start, end, since, until


# --- list editors: a catalog job's usual parts, an estimate's lines, a diagnostic act's findings -------
# These lists are JSON on their row; the generic form leaves them out ({"form": False}) and the page
# edits them one line at a time: add a line (validated alone, then the whole list by the same schema
# as the API) or remove one.


@dataclass(frozen=True)
class ListInput:
    name: str
    label: Any
    choices: tuple = ()
    number: bool = False
    required: bool = False


@dataclass
class ListEditor:
    resource: str
    attribute: str
    permission: str
    add_title: Any
    inputs: tuple
    item_schema: Any
    schema: Any
    model: Any


def _list_editor(resource: str) -> ListEditor:
    from sqlalchemy import select

    from .models import DiagnosticAct, Estimate, Job
    from .schemas import (FINDING_STATUSES, DiagnosticActSchema, EstimateItemSchema, EstimateSchema,
                          FindingSchema, JobPartSchema, JobSchema)

    part = (ListInput("code", _l("Code")), ListInput("quantity", _l("Qty"), number=True),
            ListInput("unit", _l("Unit")), ListInput("price", _l("Price"), number=True))
    if resource == "jobs":
        return ListEditor("jobs", "parts", "workshop.job.update", _l("Add a part"),
                          (ListInput("name", _l("Part"), required=True), *part), JobPartSchema, JobSchema, Job)
    if resource == "estimates":
        jobs = tuple((str(j.id), j.name) for j in db.session.scalars(
            select(Job).where(Job.active.is_(True)).order_by(Job.name).limit(200)))
        return ListEditor("estimates", "items", "workshop.estimate.update", _l("Add a line"), (
            ListInput("kind", _l("Line"), choices=(("labor", _l("Job")), ("part", _l("Part")))),
            ListInput("job_id", _l("From the catalog"), choices=(("", ""), *jobs)),
            ListInput("name", _l("Name")), ListInput("hours", _l("Hours"), number=True),
            ListInput("rate", _l("Rate"), number=True), ListInput("fixed_price", _l("Fixed price"), number=True),
            *part, ListInput("discount_percent", _l("Discount, %"), number=True)),
            EstimateItemSchema, EstimateSchema, Estimate)
    titles = {"ok": _l("OK"), "attention": _l("Needs attention"), "urgent": _l("Urgent")}
    return ListEditor("diagnostic-acts", "findings", "workshop.diagnostic_act.update", _l("Add a finding"), (
        ListInput("item", _l("What was checked"), required=True),
        ListInput("status", _l("Condition"), choices=tuple((s, titles[s]) for s in FINDING_STATUSES)),
        ListInput("note", _l("Note")), ListInput("job", _l("Job it calls for")),
        ListInput("hours", _l("Hours"), number=True), ListInput("price", _l("Price"), number=True)),
        FindingSchema, DiagnosticActSchema, DiagnosticAct)


def list_editor_panel(resource: str, obj, user) -> str:
    """The table of ``obj``'s list with its add and remove forms (with the permission, while editable)."""
    from flask import render_template

    editor = _list_editor(resource)
    editable = bool(user is not None and user.can(editor.permission))
    if hasattr(obj, "state"):
        from core.documents import get_document_type

        state = get_document_type(obj).workflow.states.get(obj.state)
        editable = editable and not (state and state.immutable)
    rows = list(getattr(obj, editor.attribute) or [])
    shown = [i for i in editor.inputs if i.name != "job_id"]
    amounts = None
    if resource == "estimates":
        amounts = [item["amount"] for item in services.estimate_items(rows)]
    cells = [[dict(i.choices).get(row.get(i.name), row.get(i.name)) or "" for i in shown] for row in rows]
    return render_template("workshop/panels/list_editor.html", editor=editor, shown=shown, cells=cells,
                           amounts=amounts, editable=editable, obj=obj,
                           base=f"/workshop/{resource}/{obj.id}/{editor.attribute}")


def _edit_list(resource: str, obj_id: int, change):
    from sqlalchemy import select

    from core import audit
    from core.documents import update_document

    editor = _list_editor(resource)
    page = f"/workshop/{resource}/{obj_id}"
    obj = db.session.execute(select(editor.model).where(editor.model.id == obj_id).with_for_update()).scalar_one_or_none()
    if obj is None:
        abort(404)
    labels = {i.name: i.label for i in editor.inputs}
    try:
        rows = change(list(getattr(obj, editor.attribute) or []), editor)
        data = editor.schema().load({editor.attribute: rows}, partial=True)
        version = request.form.get("version", type=int)
        if hasattr(obj, "state"):  # a document: the engine checks the state, the version, writes the audit
            update_document(obj, current_user_obj(), expected_version=version, commit=False, **data)
        else:
            if version is not None and version != obj.version:
                flash(_("Someone else changed this record in the meantime; reload and try again."), "error")
                return redirect(page)
            before = list(getattr(obj, editor.attribute) or [])
            setattr(obj, editor.attribute, data[editor.attribute])
            audit.record("update", obj, user=current_user_obj(),
                         changes={editor.attribute: [before, data[editor.attribute]]})
        events.commit()
        flash(_("Saved."), "success")
    except ValidationError as err:
        db.session.rollback()
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        for name, errors in translate_errors(messages).items():
            flat = errors if isinstance(errors, list) else [str(errors)]
            flash(f"{labels.get(name, name)}: {'; '.join(str(e) for e in flat)}", "error")
    except DocumentError as exc:
        db.session.rollback()
        flash("; ".join(exc.messages), "error")
    return redirect(page)


def _add_row(rows: list, editor: ListEditor) -> list:
    """The posted line, validated alone first (its errors by field), added at the end."""
    raw = {i.name: _typed_number(request.form[i.name].strip()) if i.number else request.form[i.name].strip()
           for i in editor.inputs if request.form.get(i.name, "").strip()}
    if editor.resource == "estimates":
        from .models import Job

        if raw.get("job_id"):
            job = db.session.get(Job, int(raw["job_id"])) if raw["job_id"].isdigit() else None
            if job is not None:  # a catalog job brings its name, hours and price
                raw.setdefault("name", job.name)
                if job.fixed_price is not None:
                    raw.setdefault("fixed_price", str(job.fixed_price))
                else:
                    raw.setdefault("hours", str(job.standard_hours))
    editor.item_schema().load(raw)
    return [*rows, raw]


def _remove_row(index: int):
    def change(rows: list, editor: ListEditor) -> list:
        if not 0 <= index < len(rows):
            abort(404)
        return rows[:index] + rows[index + 1:]
    return change


def _list_routes(resource: str, segment: str, permission: str) -> None:
    """``POST /<resource>/<id>/<segment>`` adds a line, ``.../<index>/remove`` removes one."""
    guard = permission_required(permission, feature=FEATURE)
    name = resource.replace("-", "_")
    bp.add_url_rule(f"/{resource}/<int:obj_id>/{segment}", f"add_{name}_{segment}", methods=["POST"],
                    view_func=guard(lambda obj_id: _edit_list(resource, obj_id, _add_row)))
    bp.add_url_rule(f"/{resource}/<int:obj_id>/{segment}/<int:index>/remove", f"remove_{name}_{segment}",
                    methods=["POST"],
                    view_func=guard(lambda obj_id, index: _edit_list(resource, obj_id, _remove_row(index))))


for _resource, _segment, _permission in (("jobs", "parts", "workshop.job.update"),
                                         ("estimates", "items", "workshop.estimate.update"),
                                         ("diagnostic-acts", "findings", "workshop.diagnostic_act.update")):
    _list_routes(_resource, _segment, _permission)


@bp.app_template_global("ws_job_parts_panel")
def job_parts_panel(job) -> str:
    """The job catalog page's "usual parts" editor (``workshop/jobs_detail.html``)."""
    from flask_login import current_user

    return list_editor_panel("jobs", job, current_user)


# --- the car's open CRM recommendations, offered on the work order ----------------------------------


def recommendations_panel(order, user) -> str | None:
    """The car's open (or once declined) recommendations not yet on this order, each with a one-click
    "add as a job line" (the line carries the recommendation: closing the order marks it done)."""
    from flask import render_template

    from plugins.crm.services import open_recommendations

    taken = {line.recommendation_id for line in order.labor_lines} | {
        line.made_recommendation_id for line in order.labor_lines}
    recs = [r for r in open_recommendations(order.vehicle_id) if r.id not in taken]
    if not recs:
        return None
    from core.documents import get_document_type

    state = get_document_type(order).workflow.states.get(order.state)
    editable = bool(user is not None and user.can("workshop.work_order.update") and not (state and state.immutable))
    urgency = {"low": _l("low"), "normal": _l("normal"), "high": _l("high"), "critical": _l("critical")}
    return render_template("workshop/panels/recommendations.html", doc=order, recs=recs, editable=editable,
                           urgency=urgency)


@bp.post("/work-orders/<int:order_id>/recommendations/<int:rec_id>")
@permission_required("workshop.work_order.update", feature=FEATURE)
def add_recommendation(order_id: int, rec_id: int):
    """"Add as a job line": the recommended job (the catalog's, when its name matches) priced as usual."""

    def action(order):
        if any(line.recommendation_id == rec_id for line in order.labor_lines):
            raise services.WorkshopError(_("This recommendation is already on the order."), 409)
        values = {"recommendation_id": rec_id}
        services.check_line_refs(order, "labor", values)  # the car's recommendation, or 422; brings the name
        services.add_job_line(order, values["name"], current_user_obj(), loose=True, recommendation_id=rec_id)

    return _run(order_id, action)


def planned_jobs_panel(order, user) -> str | None:
    """The jobs planned at reception (the service order's) not yet on the order, each added in one click."""
    from flask import render_template

    items = [item for item in services.planned_jobs(order) if not item["on_order"]]
    if not items:
        return None
    from core.documents import get_document_type

    state = get_document_type(order).workflow.states.get(order.state)
    editable = bool(user is not None and user.can("workshop.work_order.update") and not (state and state.immutable))
    return render_template("workshop/panels/planned_jobs.html", doc=order, items=items, editable=editable)


@bp.post("/work-orders/<int:order_id>/planned-jobs/<int:index>")
@permission_required("workshop.work_order.update", feature=FEATURE)
def add_planned_job(order_id: int, index: int):
    def action(order):
        item = next((i for i in services.planned_jobs(order) if i["index"] == index), None)
        if item is None:
            raise services.WorkshopError(_("Not found"), 404)
        if item["on_order"]:
            raise services.WorkshopError(_("This job is already on the order."), 409)
        services.add_job_line(order, item["text"], current_user_obj())

    return _run(order_id, action)


# --- the work order's form: the client's cars first ----------------------------------------------


@bp.app_template_global("ws_cars_first")
def cars_first(form_fields: list, values: dict) -> list:
    """The car select of a new work order with the chosen client's cars (his own, then those he
    drives) on top: the form opened from a client (``?client_id=``) or sent back with an error. Any
    other car is still listed, and refused on save (:func:`schemas._car_of_client`)."""
    from dataclasses import replace

    from sqlalchemy import select

    from plugins.crm.models import Vehicle, VehicleDriver

    try:
        client_id = int((values or {}).get("client_id") or 0)
    except (TypeError, ValueError):
        client_id = 0
    if not client_id:
        return form_fields
    mine = [str(i) for i in db.session.scalars(select(Vehicle.id).where(Vehicle.client_id == client_id)
                                               .order_by(Vehicle.id))]
    mine += [str(i) for i in db.session.scalars(select(VehicleDriver.vehicle_id).where(
        VehicleDriver.client_id == client_id).order_by(VehicleDriver.vehicle_id)) if str(i) not in mine]
    rank = {car_id: i for i, car_id in enumerate(mine)}
    out = []
    for ff in form_fields:
        if ff.name == "vehicle_id" and ff.choices:
            ff = replace(ff, choices=sorted(ff.choices, key=lambda c: rank.get(c[0], len(rank))))
        out.append(ff)
    return out
