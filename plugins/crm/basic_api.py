"""Endpoints and pages of ``crm.basic``: maintenance reminders (the due-soon list, "last done" records,
inviting a client) and the messages outbox (a client's messages, approving drafts).

Both blueprints answer 404 to a tenant without ``crm.basic`` (the core gates blueprints per plugin
only, and ``crm.clients`` tenants have the plugin).
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from core.db import db
from core.i18n import domain

from .clock import local_today
from . import messages, reminders
from .api import _crm_error, _errors, _get, requires
from .gates import gate
from .models import Client, Vehicle
from .services import CrmError, vehicle_actions

_ = domain("crm").gettext
FEATURE = "crm.basic"

api = Blueprint("crm_basic_api", __name__, url_prefix="/api/v1/crm")
ui = Blueprint("crm_basic_ui", __name__, url_prefix="/crm", template_folder="templates")


gate(api, ui)


@api.errorhandler(404)
def _not_found(exc):
    return jsonify(error="not_found", message=_("Not found")), 404


def _due_args():
    """``(kwargs for due_list, errors)`` from the query string."""
    errors, out = {}, {}
    try:
        out["within_days"] = int(request.args.get("within_days", 30))
        if not 0 <= out["within_days"] <= 3660:
            raise ValueError
    except ValueError:
        errors["within_days"] = [_("Enter a number of days from 0 to 3660.")]
    status = request.args.get("status") or None
    if status and status not in ("overdue", "due_soon"):
        errors["status"] = [_("Status is one of: %(choices)s.", choices="overdue, due_soon")]
    out["status"] = status
    state = request.args.get("state") or None
    if state and state not in reminders.REMINDER_STATES + ("all",):
        errors["state"] = [_("State is one of: %(choices)s.", choices=", ".join(reminders.REMINDER_STATES + ("all",)))]
    out["state"] = state
    out["code"] = request.args.get("code") or None
    out["make"] = request.args.get("make") or None
    return out, errors


# --- reminders -------------------------------------------------------------------------------------


@api.get("/reminders/due")
@requires("crm.reminder.read")
def due_view():
    """``?within_days=30&code=oil&make=Kia&status=overdue``: overdue and due-soon services, soonest first."""
    args, errors = _due_args()
    if errors:
        return _errors(errors)
    results = reminders.due_list(**args)
    for r in results:
        r["actions"] = vehicle_actions(r["vehicle_id"], r["client_id"], r["title"])
    return jsonify(results=results)


@api.get("/vehicles/<int:vehicle_id>/reminders")
@requires("crm.reminder.read")
def vehicle_reminders_view(vehicle_id: int):
    vehicle = _get(Vehicle, vehicle_id)
    catalog = list(db.session.scalars(select(reminders.ServiceInterval)))
    return jsonify(results=reminders.vehicle_reminders(vehicle, catalog))


@api.post("/vehicles/<int:vehicle_id>/service-done")
@requires("crm.reminder.update")
def service_done_view(vehicle_id: int):
    """Body ``{"code": "oil", "done_on": "2026-05-01", "done_km": 61000}``: the service was done."""
    vehicle = _get(Vehicle, vehicle_id)
    body = request.get_json(silent=True) or {}
    errors = {}
    codes = set(db.session.scalars(select(reminders.ServiceInterval.code)))
    code = body.get("code")
    if code not in codes:
        errors["code"] = [_("Choose a service from the catalog.")]
    try:
        done_on = date.fromisoformat(body.get("done_on") or local_today().isoformat())
        if done_on > local_today():
            errors["done_on"] = [_("The date cannot be in the future.")]
    except (TypeError, ValueError):
        errors["done_on"] = [_("Enter a date as YYYY-MM-DD.")]
    done_km = body.get("done_km")
    if done_km is not None:
        try:
            done_km = int(done_km)
            if done_km < 0:
                raise ValueError
        except (TypeError, ValueError):
            errors["done_km"] = [_("Enter the mileage as a whole number of km.")]
    if errors:
        return _errors(errors)
    row = reminders.record_done(vehicle, code, done_on, done_km, user=current_user)
    db.session.commit()
    return jsonify(id=row.id, vehicle_id=vehicle.id, code=code, done_on=done_on.isoformat(), done_km=done_km), 201


def invite(vehicle: Vehicle, code: str) -> list[messages.Message]:
    """Queue the ``reminder_due`` templates for the car's owner about service ``code``; once per due date."""
    client = db.session.get(Client, vehicle.client_id) if vehicle.client_id else None
    if client is None:
        raise CrmError(_("The car has no owner to invite."), field="vehicle_id")
    catalog = list(db.session.scalars(select(reminders.ServiceInterval)))
    item = next((r for r in reminders.vehicle_reminders(vehicle, catalog) if r["code"] == code), None)
    if item is None:
        raise CrmError(_("Choose a service from the catalog."), field="code")
    context = messages.context_for(client, vehicle, reminder=item)
    key = f"reminder:{vehicle.id}:{code}:{item['due_on'] or item['due_km']}"
    queued = messages.queue_for_event("reminder_due", client, vehicle, context, key, user=current_user)
    if any(m.status in ("draft", "queued") for m in queued):
        reminders.set_state(vehicle, item, "invited", user=current_user)
    return queued


def _reminder_item(vehicle: Vehicle, code) -> dict:
    catalog = list(db.session.scalars(select(reminders.ServiceInterval)))
    item = next((r for r in reminders.vehicle_reminders(vehicle, catalog) if r["code"] == code), None)
    if item is None:
        raise CrmError(_("Choose a service from the catalog."), field="code")
    return item


def change_state(vehicle: Vehicle, code, action: str, until_text=None) -> reminders.ReminderState:
    """``snooze`` (until a date), ``convert`` (booked), ``dismiss`` or ``reopen`` one due reminder."""
    item = _reminder_item(vehicle, code)
    until = None
    if action == "snooze":
        try:
            until = date.fromisoformat(str(until_text or ""))
        except ValueError:
            raise CrmError(_("Enter a date as YYYY-MM-DD."), field="until") from None
        if until <= local_today() or (until - local_today()).days > 366:
            raise CrmError(_("Snooze until a date within the next year."), field="until")
    state = {"snooze": "snoozed", "convert": "converted", "dismiss": "dismissed", "reopen": "open"}[action]
    return reminders.set_state(vehicle, item, state, snoozed_until=until, user=current_user)


def _state_dict(row: reminders.ReminderState) -> dict:
    return {"vehicle_id": row.vehicle_id, "code": row.code, "due": row.due_key, "state": row.state,
            "snoozed_until": row.snoozed_until.isoformat() if row.snoozed_until else None}


def _body_vehicle(body: dict) -> Vehicle | None:
    """The vehicle a reminder request's ``vehicle_id`` names (this shop's only), or None."""
    try:
        return db.session.scalars(select(Vehicle).where(Vehicle.id == int(body.get("vehicle_id")))).first()
    except (TypeError, ValueError):
        return None


@api.post("/reminders/<any(snooze, convert, dismiss, reopen):action>")
@requires("crm.reminder.update")
def reminder_state_view(action: str):
    """Body ``{"vehicle_id": 1, "code": "oil", "until": "2026-07-01"}`` (``until`` for ``snooze`` only)."""
    body = request.get_json(silent=True) or {}
    vehicle = _body_vehicle(body)
    if vehicle is None:
        return _errors({"vehicle_id": [_("Choose a vehicle.")]})
    try:
        row = change_state(vehicle, body.get("code"), action, body.get("until"))
    except CrmError as exc:
        db.session.rollback()
        return _crm_error(exc)
    db.session.commit()
    return jsonify(_state_dict(row))


@api.post("/reminders/invite")
@requires("crm.message.create")
def invite_view():
    """Body ``{"vehicle_id": 1, "code": "oil"}``: queue the reminder message(s) to the car's owner.
    Inviting twice for the same due date queues nothing the second time."""
    body = request.get_json(silent=True) or {}
    vehicle = _body_vehicle(body)
    if vehicle is None:
        return _errors({"vehicle_id": [_("Choose a vehicle.")]})
    try:
        queued = invite(vehicle, body.get("code"))
    except CrmError as exc:
        return _crm_error(exc)
    db.session.commit()
    return jsonify(messages=[messages.as_dict(m) for m in queued]), 201 if queued else 200


# --- messages --------------------------------------------------------------------------------------


@api.get("/clients/<int:client_id>/messages")
@requires("crm.message.read")
def client_messages_view(client_id: int):
    client = _get(Client, client_id)
    rows = db.session.scalars(select(messages.Message).where(messages.Message.client_id == client.id)
                              .order_by(messages.Message.created_at.desc(), messages.Message.id.desc()).limit(200))
    return jsonify(results=[messages.as_dict(m) for m in rows])


@api.get("/messages")
@requires("crm.message.read")
def messages_view():
    """``?status=draft``: the outbox (newest first)."""
    q = select(messages.Message).order_by(messages.Message.id.desc()).limit(200)
    status = request.args.get("status")
    if status:
        if status not in messages.STATUSES:
            return _errors({"status": [_("Status is one of: %(choices)s.", choices=", ".join(messages.STATUSES))]})
        q = q.where(messages.Message.status == status)
    return jsonify(results=[messages.as_dict(m) for m in db.session.scalars(q)])


@api.post("/messages/<int:message_id>/<any(approve, cancel):action>")
@requires("crm.message.create")
def message_action_view(message_id: int, action: str):
    message = _get(messages.Message, message_id)
    try:
        (messages.approve if action == "approve" else messages.cancel)(message, user=current_user)
    except CrmError as exc:
        return _crm_error(exc)
    db.session.commit()
    return jsonify(messages.as_dict(message))


# --- pages -----------------------------------------------------------------------------------------


def _page_allowed(permission: str):
    if not (current_user and current_user.is_authenticated):
        from core.web import login_manager

        return login_manager.unauthorized()
    if not current_user.can(permission):
        abort(403)
    return None


REMINDERS_PER_PAGE = 50


@ui.get("/reminders")
def reminders_page():
    denied = _page_allowed("crm.reminder.read")
    if denied is not None:
        return denied
    args, errors = _due_args()
    raw_page = request.args.get("page") or "1"
    if not raw_page.isdigit() or int(raw_page) < 1:
        errors["page"] = [_("Enter a whole number.")]
    results = [] if errors else reminders.due_list(**args)
    # One page of rows (a long list made the page tens of thousands of pixels tall); the actions other
    # plugins offer are asked for the shown rows only.
    page = int(raw_page) if not errors else 1
    pages = max(1, -(-len(results) // REMINDERS_PER_PAGE))
    total, results = len(results), results[(page - 1) * REMINDERS_PER_PAGE:page * REMINDERS_PER_PAGE]
    for r in results:
        r["actions"] = vehicle_actions(r["vehicle_id"], r["client_id"], r["title"])
    codes = sorted(set(db.session.scalars(select(reminders.ServiceInterval.code))))
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    pager = {"page": page, "pages": pages, "total": total,
             "prev": url_for("crm_basic_ui.reminders_page", **query, page=page - 1) if page > 1 else None,
             "next": url_for("crm_basic_ui.reminders_page", **query, page=page + 1) if page < pages else None}
    return render_template("crm/reminders.html", results=results, args=args, errors=errors, codes=codes, pager=pager,
                           states=reminders.REMINDER_STATES, can_invite=current_user.can("crm.message.create"),
                           can_update=current_user.can("crm.reminder.update"),
                           min_snooze=date.fromordinal(local_today().toordinal() + 1).isoformat(),
                           _=_), (422 if errors else 200)


@ui.post("/reminders/invite")
def invite_page():
    denied = _page_allowed("crm.message.create")
    if denied is not None:
        return denied
    from flask import flash

    vehicle = _get(Vehicle, request.form.get("vehicle_id", type=int) or 0)
    try:
        queued = invite(vehicle, request.form.get("code"))
    except CrmError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("crm_basic_ui.reminders_page"))
    db.session.commit()
    if queued:
        flash(_("The invitation is queued."), "success")
    else:
        flash(_("This client was already invited for this service."), "info")
    return redirect(url_for("crm_basic_ui.reminders_page", within_days=request.form.get("within_days", 30)))


@ui.post("/reminders/<any(snooze, convert, dismiss, reopen):action>")
def reminder_state_page(action: str):
    denied = _page_allowed("crm.reminder.update")
    if denied is not None:
        return denied
    from flask import flash

    vehicle = _get(Vehicle, request.form.get("vehicle_id", type=int) or 0)
    try:
        change_state(vehicle, request.form.get("code"), action, request.form.get("until"))
    except CrmError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash({"snooze": _("The reminder is snoozed."), "convert": _("The reminder is marked as booked."),
               "dismiss": _("The reminder is dismissed."), "reopen": _("The reminder is open again.")}[action],
              "success")
    return redirect(url_for("crm_basic_ui.reminders_page", within_days=request.form.get("within_days", 30),
                            state=request.form.get("state") or None))


@ui.get("/messages")
def messages_page():
    """The outbox: drafts waiting for approval first, then the latest messages with their status."""
    denied = _page_allowed("crm.message.read")
    if denied is not None:
        return denied
    status = request.args.get("status") or None
    q = select(messages.Message).order_by(messages.Message.id.desc()).limit(200)
    if status in messages.STATUSES:
        q = q.where(messages.Message.status == status)
    rows = list(db.session.scalars(q))
    names = dict(db.session.execute(select(Client.id, Client.name)
                                    .where(Client.id.in_({m.client_id for m in rows}))).all()) if rows else {}
    return render_template("crm/messages.html", rows=rows, names=names, status=status,
                           statuses=messages.STATUSES, can_act=current_user.can("crm.message.create"), _=_)


@ui.post("/messages/<int:message_id>/<any(approve, cancel):action>")
def message_action_page(message_id: int, action: str):
    denied = _page_allowed("crm.message.create")
    if denied is not None:
        return denied
    from flask import flash

    message = _get(messages.Message, message_id)
    try:
        (messages.approve if action == "approve" else messages.cancel)(message, user=current_user)
    except CrmError as exc:
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("The message is queued.") if action == "approve" else _("The message is cancelled."), "success")
    return redirect(url_for("crm_basic_ui.messages_page", status=request.form.get("status") or None))


# --- reports ---------------------------------------------------------------------------------------


@api.get("/reports/<name>")
@requires("crm.report.read")
def report_view(name: str):
    """``/reports/client-activity?from=2026-01&to=2026-06&gap=6``, ``/reports/channels?from=&to=`` and
    ``/reports/advisors?from=&to=``."""
    from .reports import REPORTS, ReportError

    run = REPORTS.get(name)
    if run is None:
        abort(404)
    try:
        return jsonify(run(request.args.to_dict()))
    except ReportError as exc:
        return _errors(exc.errors)


@ui.get("/reports/<name>")
def report_page(name: str):
    from .reports import REPORTS, ReportError

    run = REPORTS.get(name)
    if run is None:
        abort(404)
    denied = _page_allowed("crm.report.read")
    if denied is not None:
        return denied
    args = request.args.to_dict()
    if name != "client-activity" and not args.get("from") and not args.get("to"):
        # A page opened without a period shows the current month in the shop's time zone (the form shows
        # it too); the API keeps "no bounds" for callers that want everything.
        today = local_today()
        args.update({"from": today.replace(day=1).isoformat(), "to": today.isoformat()})
    try:
        data, errors = run(args), {}
    except ReportError as exc:
        data, errors = None, exc.errors
    labels = {"from": _("From month") if name == "client-activity" else _("From"),
              "to": _("To month") if name == "client-activity" else _("To"),
              "gap": _("Lost after (months without a visit)")}
    errors = {labels.get(field, field): messages for field, messages in errors.items()}
    titles = {"client-activity": _("Client base activity per month"),
              "channels": _("Advertising channel efficiency"),
              "advisors": _("Service advisor statistics")}
    return render_template("crm/report.html", name=name, title=titles[name], data=data, args=args,
                           errors=errors, _=_), (422 if errors else 200)


# --- filters and segments --------------------------------------------------------------------------


@api.get("/client-filter")
@requires("crm.client.read")
def client_filter_view():
    """``?make=Kia&model=Rio&year_from=2015&year_to=2020&source=avito&last_visit_from=2025-01-01&last_visit_to=
    &visit_from=&visit_to=&job=&technician=&advisor_id=&spend_min=&spend_max=&page=1``: ``count`` of the
    matching clients and one page (50) of them (docs/crm-reports.md)."""
    from .reports import ReportError
    from .segments import PAGE_SIZE, clean_filters, client_row, filter_page

    args = request.args.to_dict()
    raw_page = args.pop("page", "1")
    errors = {}
    try:
        filters = clean_filters(args)
    except ReportError as exc:
        errors.update(exc.errors)
    if not raw_page.isdigit() or int(raw_page) < 1:
        errors["page"] = [_("Enter a whole number.")]
    if errors:
        return _errors(errors)
    count, rows = filter_page(filters, int(raw_page))
    return jsonify(filters=filters, count=count, page=int(raw_page), per_page=PAGE_SIZE,
                   results=[client_row(c) for c in rows])


@api.get("/segments")
@requires("crm.client.read")
def segments_view():
    from .segments import Segment, as_dict

    return jsonify(results=[as_dict(s) for s in db.session.scalars(select(Segment).order_by(Segment.name))])


@api.post("/segments")
@requires("crm.segment.create")
def segment_create_view():
    """Body ``{"name": "Kia owners", "filters": {"make": "Kia"}}``."""
    from .reports import ReportError
    from .segments import as_dict, create_segment

    body = request.get_json(silent=True) or {}
    filters = body.get("filters") if isinstance(body.get("filters"), dict) else {}
    try:
        segment = create_segment(body.get("name"), filters)
    except ReportError as exc:
        db.session.rollback()
        return _errors(exc.errors)
    db.session.commit()
    return jsonify(as_dict(segment)), 201


@api.get("/segments/<int:segment_id>/clients")
@requires("crm.client.read")
def segment_clients_view(segment_id: int):
    from .segments import Segment, as_dict, client_row, filter_clients

    segment = _get(Segment, segment_id)
    return jsonify(segment=as_dict(segment), results=[client_row(c) for c in filter_clients(segment.filters)])


# --- review requests -------------------------------------------------------------------------------


@api.post("/clients/<int:client_id>/review-requests")
@requires("crm.message.create")
def review_request_view(client_id: int):
    """Body ``{"vehicle_id": 5, "send": true}`` (both optional): a new review request; the answer carries
    its public ``url``. With ``send`` the link goes to the client now by the ``review_request``
    templates (``messages`` in the answer)."""
    from .reviews import as_dict, request_review, send_request

    client = _get(Client, client_id)
    body = request.get_json(silent=True) or {}
    vehicle_id = body.get("vehicle_id")
    vehicle = None
    if vehicle_id is not None:
        vehicle = db.session.scalars(select(Vehicle).where(Vehicle.id == vehicle_id,
                                                           Vehicle.client_id == client.id)).first()
        if vehicle is None:
            return _errors({"vehicle_id": [_("Choose one of the client's vehicles.")]})
    if body.get("send"):
        import secrets

        row, queued = send_request(client, vehicle, f"review:manual:{secrets.token_hex(8)}", user=current_user)
        if row is None:
            return _errors({"send": [_("There is no active review request template.")]})
        db.session.commit()
        return jsonify({**as_dict(row, with_link=True), "messages": [messages.as_dict(m) for m in queued]}), 201
    row = request_review(client, vehicle)
    db.session.commit()
    return jsonify(as_dict(row, with_link=True)), 201


@api.get("/clients/<int:client_id>/reviews")
@requires("crm.client.read")
def client_reviews_view(client_id: int):
    from .reviews import as_dict, summary

    client = _get(Client, client_id)
    info = summary(client.id)
    return jsonify(results=[as_dict(r) for r in info["rows"]], average=info["average"], answered=info["count"])
