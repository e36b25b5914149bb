"""The CRM's custom pages: the one-box search (``/crm/search``), the printable service book
(``/crm/vehicles/<id>/history``), the recommendations list, merging two clients, and the small forms
of the vehicle card (odometer reading, drivers) and of every recommendation (accept / decline /
dismiss). Lists and forms of clients and vehicles are the core's generic pages; the CRM's card
templates (``crm/clients_detail.html``, ``crm/vehicles_detail.html``) add what the core cannot know,
through the template helpers below. Every list on a card is one query."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import func, select

from core.db import db
from core.i18n import domain

from . import services
from .clock import local_day, local_time
from .messages import reason_text
from .models import Client, Recommendation, Vehicle, VehicleDriver
from .schemas import VALUE_LABELS, value_label
from .search import search

_ = domain("crm").gettext
OPEN_STATES = ("open", "declined")  # what reception still has to talk about with the client

bp = Blueprint("crm_ui", __name__, url_prefix="/crm", template_folder="templates")


@bp.app_context_processor
def _crm_template_helpers():
    """``crm_vehicle_actions(vehicle_id, client_id, reason=None)`` for the CRM's card templates that the
    core renders (``crm/vehicles_detail.html``)."""
    from .services import vehicle_actions

    def client_reviews(client_id):
        """The card's reviews, for shops with ``crm.basic`` and users who may read clients; else None."""
        from flask import g

        from .reviews import summary

        tenant = g.get("tenant")
        if tenant is None or not tenant.has("crm.basic") or not current_user.can("crm.client.read"):
            return None
        return summary(client_id)

    def client_optouts(client_id):
        """The client's opt-outs from mailings (channel, date), for the card."""
        from sqlalchemy import select as _select

        from .mailings import Unsubscribe

        if not current_user.can("crm.client.read"):
            return []
        return list(db.session.scalars(_select(Unsubscribe).where(Unsubscribe.client_id == client_id)
                                       .order_by(Unsubscribe.created_at)))

    def service_titles():
        """Service code -> the catalog's title (the shop's own words), for selects of services."""
        from .reminders import ServiceInterval

        return dict(db.session.execute(select(ServiceInterval.code, ServiceInterval.title)
                                       .where(ServiceInterval.vehicle_id.is_(None))).all())

    def vehicle_card(vehicle):
        """The vehicle card's panels: owners, plates, drivers, odometer, recommendations."""
        from .api import vehicle_history

        return vehicle_history(vehicle, with_entries=False)

    return {"crm_vehicle_actions": vehicle_actions, "crm_client_reviews": client_reviews,
            "crm_client_optouts": client_optouts, "crm_client_card": client_card, "crm_vehicle_card": vehicle_card,
            "crm_label": value_label, "crm_service_titles": service_titles, "crm_choices": lambda kind: list(VALUE_LABELS.get(kind, {}).items()),
            "crm_day": local_day, "crm_time": local_time, "crm_reason": reason_text}


def _recommendation_rows(stmt) -> list[dict]:
    """Recommendations with their car (and owner) from one joined query, as the shared block shows them."""
    rows = db.session.execute(
        stmt.add_columns(Vehicle.plate, Vehicle.vin, Vehicle.make, Vehicle.model, Vehicle.client_id, Client.name)
        .join(Vehicle, Vehicle.id == Recommendation.vehicle_id).outerjoin(Client, Client.id == Vehicle.client_id)
        .order_by(Recommendation.created_at.desc(), Recommendation.id.desc()).limit(500)).all()
    return [{"id": r.id, "text": r.text, "job": r.job, "urgency": r.urgency, "state": r.state,
             "created_at": r.created_at.isoformat() if r.created_at else None,
             "declined_at": r.declined_at.isoformat() if r.declined_at else None, "vehicle_id": r.vehicle_id,
             "vehicle_label": " ".join(x for x in (plate or vin or f"#{r.vehicle_id}", make, model) if x),
             "client_id": client_id, "client_name": name}
            for r, plate, vin, make, model, client_id, name in rows]


def client_card(client_id: int) -> dict:
    """What the client card shows beyond the client's own fields: cars owned (with the last visit) and
    driven, open recommendations across the cars, messages (``crm.basic``), whether a merge is allowed."""
    vehicles = list(db.session.scalars(select(Vehicle).where(Vehicle.client_id == client_id).order_by(Vehicle.id)))
    driven = list(db.session.scalars(select(Vehicle).join(VehicleDriver, VehicleDriver.vehicle_id == Vehicle.id)
                                     .where(VehicleDriver.client_id == client_id).order_by(Vehicle.id)))
    card = {"vehicles": vehicles, "driven": driven, "visits": services.last_visits([v.id for v in vehicles]),
            "recommendations": [], "messages": None, "can_merge": current_user.can("crm.client.merge"),
            "can_add_vehicle": current_user.can("crm.vehicle.create")}
    if vehicles and current_user.can("crm.recommendation.read"):
        card["recommendations"] = _recommendation_rows(
            select(Recommendation).where(Vehicle.client_id == client_id, Recommendation.state.in_(OPEN_STATES)))
    tenant = g.get("tenant")
    if tenant is not None and tenant.has("crm.basic") and current_user.can("crm.message.read"):
        from .messages import Message

        card["messages"] = list(db.session.scalars(
            select(Message).where(Message.client_id == client_id)
            .order_by(Message.created_at.desc(), Message.id.desc()).limit(20)))
    return card


def _one_or_404(model, object_id):
    # Under the tenant guard another shop's id is simply not found.
    obj = db.session.scalars(select(model).where(model.id == object_id)).first()
    if obj is None:
        abort(404)
    return obj


def _allowed(permission: str):
    if not (current_user and current_user.is_authenticated):
        from core.web import login_manager

        return login_manager.unauthorized()
    if not current_user.can(permission):
        abort(403)
    return None


@bp.get("/search")
def search_page():
    denied = _allowed("crm.client.read")
    if denied is not None:
        return denied
    q = request.args.get("q", "").strip()
    results = search(q) if q else []
    _count_open_recommendations(results)
    return render_template("crm/search.html", q=q, results=results, _=_)


def _count_open_recommendations(results: list[dict]) -> None:
    """``open_recommendations`` on every result: the car's (or the client's cars') open and declined
    recommendations, from one grouped query."""
    ids = {r["vehicle"]["id"] for r in results if r.get("vehicle")}
    ids |= {v["id"] for r in results for v in r.get("vehicles") or []}
    counts = {}
    if ids and current_user.can("crm.recommendation.read"):
        counts = dict(db.session.execute(
            select(Recommendation.vehicle_id, func.count()).where(Recommendation.vehicle_id.in_(ids),
                                                                  Recommendation.state.in_(OPEN_STATES))
            .group_by(Recommendation.vehicle_id)).all())
    for r in results:
        cars = [r["vehicle"]] if r.get("vehicle") else r.get("vehicles") or []
        r["open_recommendations"] = sum(counts.get(v["id"], 0) for v in cars)


@bp.get("/vehicles/<int:vehicle_id>/history")
def history_page(vehicle_id: int):
    denied = _allowed("crm.vehicle.read")
    if denied is not None:
        return denied
    from .api import vehicle_history

    return render_template("crm/history.html", h=vehicle_history(_one_or_404(Vehicle, vehicle_id)), _=_)


@bp.route("/import", methods=["GET", "POST"])
def import_page():
    """Upload a CSV/XLSX of clients or vehicles; a bad file shows every bad row and writes nothing."""
    denied = _allowed("crm.client.import")
    if denied is not None:
        return denied
    from .importer import KINDS, ImportRejected, import_file

    report, rejected, status = None, None, 200
    kind = request.values.get("kind", "clients")
    if request.method == "POST":
        upload = request.files.get("file")
        if kind not in KINDS or upload is None or not upload.filename:
            rejected, status = {"message": _("Attach a CSV or XLSX file."), "rows": []}, 422
        else:
            try:
                report = import_file(kind, upload.filename, upload.read(), user=current_user)
                db.session.commit()
            except ImportRejected as exc:
                db.session.rollback()
                rejected, status = {"message": str(exc.message), "rows": exc.rows}, 422
    return render_template("crm/import.html", kind=kind, report=report, rejected=rejected, _=_), status


# --- small forms of the cards ----------------------------------------------------------------------


def _safe_next(value: str | None) -> str | None:
    """Only a page of this site (``/crm/...``, not ``//host``) is a place to go back to."""
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return None


def _vehicle_form(view):
    """A form posted from the vehicle card: needs ``crm.vehicle.update``; the view gets the car (404 for
    another shop's id)."""
    from functools import wraps

    @wraps(view)
    def wrapper(vehicle_id: int, **kwargs):
        denied = _allowed("crm.vehicle.update")
        if denied is not None:
            return denied
        return view(_one_or_404(Vehicle, vehicle_id), **kwargs)

    return wrapper


def _vehicle_page_again(vehicle_id: int, status: int = 422):
    """The card (or the service book, whichever the form was on) again, with the flashed errors."""
    nxt = _safe_next(request.form.get("next")) or ""
    if nxt.endswith("/history"):
        return history_page(vehicle_id), status
    from core.ui.generic import detail_page

    return detail_page("crm", "vehicles", vehicle_id), status


def _done(default_url: str | None = None, vehicle: Vehicle | None = None):
    """Back where the form was (``next``), else to ``default_url`` or the vehicle's card."""
    if default_url is None:
        default_url = url_for("ui_generic.detail_page", slug="crm", resource="vehicles", object_id=vehicle.id)
    return redirect(_safe_next(request.form.get("next")) or default_url, code=303)


@bp.post("/vehicles/<int:vehicle_id>/odometer")
@_vehicle_form
def odometer_page(vehicle: Vehicle):
    """Add an odometer reading; a suspicious one is saved flagged with the reason, never refused."""
    from core.ui.forms import errors_for, form_to_payload, schema_fields

    from .schemas import OdometerSchema

    form_fields = schema_fields(OdometerSchema)
    try:
        data = OdometerSchema().load(form_to_payload(request.form, form_fields))
    except ValidationError as exc:
        labels = {ff.name: ff.label for ff in form_fields}
        for name, text in errors_for(exc.messages).items():
            flash(f"{labels.get(name, name)}: {text}", "error")
        return _vehicle_page_again(vehicle.id)
    reading = services.add_reading(vehicle, data["value"], data["read_on"], data["source"], user=current_user)
    db.session.commit()
    if reading.flagged:
        flash(_("The reading is saved but flagged: %(reason)s", reason=reading.flag_reason), "warning")
    else:
        flash(_("The reading is saved."), "success")
    return _done(vehicle=vehicle)


@bp.post("/vehicles/<int:vehicle_id>/drivers")
@_vehicle_form
def driver_add_page(vehicle: Vehicle):
    from .api import add_driver

    try:
        added = add_driver(vehicle, request.form.get("client_id"), request.form.get("note"), user=current_user)
    except services.CrmError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _vehicle_page_again(vehicle.id)
    db.session.commit()
    flash(_("The driver is added.") if added else _("This client already drives this car."),
          "success" if added else "info")
    return _done(vehicle=vehicle)


@bp.post("/vehicles/<int:vehicle_id>/drivers/<int:client_id>/remove")
@_vehicle_form
def driver_remove_page(vehicle: Vehicle, client_id: int):
    from .api import remove_driver

    if not remove_driver(vehicle, client_id, user=current_user):
        abort(404)
    db.session.commit()
    flash(_("The driver is removed."), "success")
    return _done(vehicle=vehicle)


# --- recommendations -------------------------------------------------------------------------------


@bp.post("/recommendations/<int:rec_id>/decide")
def decide_page(rec_id: int):
    """Accept / decline / dismiss (or reopen) a recommendation: the same service as the API's decide."""
    denied = _allowed("crm.recommendation.update")
    if denied is not None:
        return denied
    rec = _one_or_404(Recommendation, rec_id)
    try:
        services.decide_recommendation(rec, request.form.get("state", ""), user=current_user)
    except services.CrmError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash({"accepted": _("The recommendation is accepted."),
               "declined": _("The client declined; the date is kept."),
               "dismissed": _("The recommendation is dismissed."),
               "open": _("The recommendation is open again.")}[rec.state], "success")
    return _done(url_for("crm_ui.recommendations_page"))


@bp.get("/recommendations")
def recommendations_page():
    """Every car's recommendations still to talk about (open and declined), most recent first; filters by
    state and urgency. Replaces the generic list (the generic form and card stay)."""
    denied = _allowed("crm.recommendation.read")
    if denied is not None:
        return denied
    from .models import RECOMMENDATION_STATES, URGENCIES

    state = request.args.get("state") or ""
    urgency = request.args.get("urgency") or ""
    stmt = select(Recommendation)
    stmt = stmt.where(Recommendation.state == state) if state in RECOMMENDATION_STATES else \
        stmt.where(Recommendation.state.in_(OPEN_STATES))
    if urgency in URGENCIES:
        stmt = stmt.where(Recommendation.urgency == urgency)
    return render_template("crm/recommendations.html", rows=_recommendation_rows(stmt), state=state,
                           urgency=urgency, states=RECOMMENDATION_STATES, urgencies=URGENCIES, _=_)


# --- merging two clients ---------------------------------------------------------------------------


@bp.route("/clients/<int:client_id>/merge", methods=["GET", "POST"])
def merge_page(client_id: int):
    """Merge a duplicate into this client: find it (the one-box search), see both, confirm. The merge
    itself is :func:`services.merge_clients` (one audited transaction, like the API's)."""
    denied = _allowed("crm.client.merge")
    if denied is not None:
        return denied
    target = _one_or_404(Client, client_id)
    card_url = url_for("ui_generic.detail_page", slug="crm", resource="clients", object_id=target.id)
    source_id = request.values.get("source_id", type=int)
    source = db.session.scalars(select(Client).where(Client.id == source_id)).first() if source_id else None
    if request.method == "POST":
        if source is None:
            flash(_("Choose the client to merge into this one."), "error")
            return redirect(url_for("crm_ui.merge_page", client_id=target.id), code=303)
        source_name = source.name
        try:
            moved = services.merge_clients(target, source, user=current_user)
        except services.CrmError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            return redirect(url_for("crm_ui.merge_page", client_id=target.id), code=303)
        db.session.commit()
        flash(_("%(name)s is merged into this client: vehicles moved: %(vehicles)s, other records moved: "
                "%(other)s.", name=source_name, vehicles=moved.get("crm_vehicle", 0),
                other=sum(n for k, n in moved.items() if k != "crm_vehicle" and isinstance(n, int))), "success")
        return redirect(card_url, code=303)
    q = request.args.get("q", "").strip()
    candidates = []
    if q and source is None:
        seen = {target.id}
        for r in search(q):
            c = r.get("client")
            if c and c["id"] not in seen:
                seen.add(c["id"])
                candidates.append(c)
    source_cars = list(db.session.scalars(select(Vehicle).where(Vehicle.client_id == source.id)
                                          .order_by(Vehicle.id))) if source is not None else []
    return render_template("crm/merge.html", target=target, source=source, source_cars=source_cars, q=q,
                           candidates=candidates, card_url=card_url, _=_)
