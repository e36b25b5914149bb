"""The CRM's custom endpoints, where the generic CRUD of ``/api/v1/crm/<resource>`` does not fit:
search, duplicates, merge, odometer, service book, recommendation decisions, import.

Every response of the search carries ``Server-Timing: db;dur=..., app;dur=...`` (milliseconds) so
that a client (and ``bench/crm_search.py``) sees the raw database time beside the total.
"""
from __future__ import annotations

import time
from contextvars import ContextVar
from functools import wraps

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from core import audit
from core.db import db
from core.i18n import domain

from . import services
from .models import Client, Ownership, PlateHistory, Recommendation, Vehicle, VehicleDriver
from .schemas import OdometerSchema, RecommendationSchema
from .search import search

_ = domain("crm").gettext

bp = Blueprint("crm_api", __name__, url_prefix="/api/v1/crm")

# --- database time per request (Server-Timing) -----------------------------------------------------

_db_time: ContextVar[list | None] = ContextVar("crm_db_time", default=None)


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    if _db_time.get() is not None:
        conn.info.setdefault("crm_t0", []).append(time.perf_counter())


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    acc = _db_time.get()
    if acc is not None and conn.info.get("crm_t0"):
        acc[0] += time.perf_counter() - conn.info["crm_t0"].pop()
        acc[1] += 1


# --- helpers ---------------------------------------------------------------------------------------


def requires(permission: str):
    """401 without a session or token, 403 without the permission."""

    def deco(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not (current_user and current_user.is_authenticated):
                return jsonify(error="unauthorized", message=_("Sign in first.")), 401
            if not current_user.can(permission):
                return jsonify(error="forbidden", message=_("You are not allowed to do this.")), 403
            return fn(*args, **kwargs)

        return wrapper

    return deco


def _get(model, obj_id: int):
    # Under the tenant guard another tenant's id is simply not found: 404, never 403.
    obj = db.session.scalars(select(model).where(model.id == obj_id)).first()
    if obj is None:
        abort(404)
    return obj


def _errors(errors: dict, status: int = 422):
    return jsonify(error="validation", message=_("Check the highlighted fields."), fields=errors), status


def _crm_error(exc: services.CrmError):
    field = exc.extra.get("field")
    body = {"error": "conflict" if exc.status == 409 else "validation", "message": str(exc.message)}
    if field:
        body["fields"] = {field: [str(exc.message)]}
    return jsonify(body), exc.status


@bp.errorhandler(404)
def _not_found(exc):
    return jsonify(error="not_found", message=_("Not found")), 404


# --- search and duplicates -------------------------------------------------------------------------


@bp.get("/search")
@requires("crm.client.read")
def search_view():
    q = request.args.get("q", "")
    try:
        limit = min(max(int(request.args.get("limit", 20)), 1), 100)
    except ValueError:
        return _errors({"limit": [_("Enter a whole number.")]})
    acc = [0.0, 0]
    token = _db_time.set(acc)
    t0 = time.perf_counter()
    try:
        results = search(q, limit=limit)
    finally:
        _db_time.reset(token)
    total = time.perf_counter() - t0
    response = jsonify(query=q, results=results)
    response.headers["Server-Timing"] = f"db;dur={acc[0] * 1000:.2f}, app;dur={total * 1000:.2f}"
    response.headers["X-DB-Queries"] = str(acc[1])
    return response


@bp.get("/duplicates")
@requires("crm.client.read")
def duplicates_view():
    """``?phone=&vin=&plate=&name=``: the records a new client or car with these keys would duplicate."""
    try:
        found = services.duplicates(phone=request.args.get("phone"), vin=request.args.get("vin"),
                                    plate=request.args.get("plate"), name=request.args.get("name"))
    except services.CrmError as exc:
        return _crm_error(exc)
    return jsonify(found)


# --- merge -----------------------------------------------------------------------------------------


@bp.post("/clients/<int:client_id>/merge")
@requires("crm.client.merge")
def merge_view(client_id: int):
    """Body ``{"source_id": n}``: client n is merged into this one (its vehicles, phones, e-mails,
    history move over; n is deleted). Audited."""
    target = _get(Client, client_id)
    body = request.get_json(silent=True) or {}
    try:
        source_id = int(body.get("source_id"))
    except (TypeError, ValueError):
        return _errors({"source_id": [_("Give the id of the client to merge into this one.")]})
    source = db.session.scalars(select(Client).where(Client.id == source_id)).first()
    if source is None:
        return _errors({"source_id": [_("There is no client #%(id)s.", id=source_id)]})
    try:
        moved = services.merge_clients(target, source, user=current_user)
    except services.CrmError as exc:
        db.session.rollback()
        return _crm_error(exc)
    db.session.commit()
    from .schemas import ClientSchema

    return jsonify(client=ClientSchema().dump(target), moved=moved)


# --- odometer --------------------------------------------------------------------------------------


@bp.get("/vehicles/<int:vehicle_id>/odometer")
@requires("crm.vehicle.read")
def odometer_list(vehicle_id: int):
    vehicle = _get(Vehicle, vehicle_id)
    readings = services._readings(vehicle.id)
    return jsonify(readings=OdometerSchema(many=True).dump(readings),
                   mileage=services.mileage(vehicle.id).as_dict())


@bp.post("/vehicles/<int:vehicle_id>/odometer")
@requires("crm.vehicle.update")
def odometer_add(vehicle_id: int):
    vehicle = _get(Vehicle, vehicle_id)
    try:
        data = OdometerSchema().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        return _errors(exc.messages)
    reading = services.add_reading(vehicle, data["value"], data["read_on"], data["source"], user=current_user)
    db.session.commit()
    return jsonify(reading=OdometerSchema().dump(reading), mileage=services.mileage(vehicle.id).as_dict()), 201


# --- drivers ---------------------------------------------------------------------------------------


def _drivers(vehicle_id: int) -> list[dict]:
    rows = db.session.execute(select(VehicleDriver, Client.name).join(Client, Client.id == VehicleDriver.client_id)
                              .where(VehicleDriver.vehicle_id == vehicle_id).order_by(VehicleDriver.id)).all()
    return [{"client_id": d.client_id, "name": name, "note": d.note} for d, name in rows]


@bp.get("/vehicles/<int:vehicle_id>/drivers")
@requires("crm.vehicle.read")
def drivers_list(vehicle_id: int):
    return jsonify(drivers=_drivers(_get(Vehicle, vehicle_id).id))


def add_driver(vehicle: Vehicle, client_id, note=None, user=None) -> bool:
    """Client ``client_id`` may drive this car (a fleet driver, a son); audited. False when he already
    may; :class:`services.CrmError` for a bad or unknown id. Used by the API and the vehicle card."""
    try:
        client_id = int(client_id)
    except (TypeError, ValueError):
        raise services.CrmError(_("Give the id of the client who drives this car."), field="client_id") from None
    if db.session.scalars(select(Client.id).where(Client.id == client_id)).first() is None:
        raise services.CrmError(_("There is no client #%(id)s.", id=client_id), field="client_id")
    exists = db.session.scalars(select(VehicleDriver).where(VehicleDriver.vehicle_id == vehicle.id,
                                                            VehicleDriver.client_id == client_id)).first()
    if exists is not None:
        return False
    driver = VehicleDriver(vehicle_id=vehicle.id, client_id=client_id, note=(note or "")[:200] or None)
    db.session.add(driver)
    db.session.flush()
    audit.record("create", driver, user=user, changes={"vehicle_id": [None, vehicle.id], "client_id": [None, client_id]})
    return True


def remove_driver(vehicle: Vehicle, client_id: int, user=None) -> bool:
    """Client ``client_id`` no longer drives this car; audited. False when he did not."""
    driver = db.session.scalars(select(VehicleDriver).where(VehicleDriver.vehicle_id == vehicle.id,
                                                            VehicleDriver.client_id == client_id)).first()
    if driver is None:
        return False
    audit.record("delete", driver, user=user, changes={"vehicle_id": [vehicle.id, None], "client_id": [client_id, None]})
    db.session.delete(driver)
    db.session.flush()
    return True


@bp.post("/vehicles/<int:vehicle_id>/drivers")
@requires("crm.vehicle.update")
def drivers_add(vehicle_id: int):
    """Body ``{"client_id": n, "note": "..."}``: client n may drive this car (a fleet driver, a son)."""
    vehicle = _get(Vehicle, vehicle_id)
    body = request.get_json(silent=True) or {}
    try:
        added = add_driver(vehicle, body.get("client_id"), body.get("note"), user=current_user)
    except services.CrmError as exc:
        return _crm_error(exc)
    db.session.commit()
    return jsonify(drivers=_drivers(vehicle.id)), 201 if added else 200


@bp.delete("/vehicles/<int:vehicle_id>/drivers/<int:client_id>")
@requires("crm.vehicle.update")
def drivers_remove(vehicle_id: int, client_id: int):
    vehicle = _get(Vehicle, vehicle_id)
    if not remove_driver(vehicle, client_id, user=current_user):
        abort(404)
    db.session.commit()
    return jsonify(drivers=_drivers(vehicle.id))


# --- service book ----------------------------------------------------------------------------------


def vehicle_history(vehicle: Vehicle, with_entries: bool = True) -> dict:
    """The service book of a car: entries (every plugin's, unless ``with_entries`` is False, as on the
    vehicle card), open and declined recommendations, odometer readings (flagged ones too, with the
    reason) and the average daily mileage, owner and plate history, drivers. One query per list."""
    from .schemas import VehicleSchema

    owners = db.session.execute(
        select(Ownership, Client.name).outerjoin(Client, Client.id == Ownership.client_id)
        .where(Ownership.vehicle_id == vehicle.id).order_by(Ownership.since, Ownership.id)).all()
    plates = db.session.scalars(select(PlateHistory).where(PlateHistory.vehicle_id == vehicle.id)
                                .order_by(PlateHistory.valid_from, PlateHistory.id))
    readings = services._readings(vehicle.id)
    return {
        "vehicle": VehicleSchema().dump(vehicle),
        "owner": {"id": vehicle.owner.id, "name": vehicle.owner.name, "phones": vehicle.owner.phones}
        if vehicle.owner else None,
        "entries": services.service_book(vehicle) if with_entries else [],
        "recommendations": RecommendationSchema(many=True).dump(services.open_recommendations(vehicle.id)),
        "mileage": services.mileage_from([r for r in readings if not r.flagged]).as_dict(),
        "readings": OdometerSchema(many=True).dump(list(reversed(readings))),  # newest first
        "owners": [{"client_id": o.client_id, "name": name, "since": o.since.isoformat(),
                    "until": o.until.isoformat() if o.until else None} for o, name in owners],
        "plates": [{"plate": p.plate, "from": p.valid_from.isoformat(),
                    "to": p.valid_to.isoformat() if p.valid_to else None} for p in plates],
        "drivers": _drivers(vehicle.id),
        "actions": services.vehicle_actions(vehicle.id, vehicle.client_id),
    }


@bp.get("/vehicles/<int:vehicle_id>/history")
@requires("crm.vehicle.read")
def history_view(vehicle_id: int):
    return jsonify(vehicle_history(_get(Vehicle, vehicle_id)))


# --- recommendations -------------------------------------------------------------------------------


@bp.post("/recommendations/<int:rec_id>/decide")
@requires("crm.recommendation.update")
def decide_view(rec_id: int):
    """Body ``{"state": "accepted"|"declined"|"dismissed"|"open"}``."""
    rec = _get(Recommendation, rec_id)
    state = (request.get_json(silent=True) or {}).get("state")
    try:
        services.decide_recommendation(rec, state, user=current_user)
    except services.CrmError as exc:
        db.session.rollback()
        return _crm_error(exc)
    db.session.commit()
    return jsonify(RecommendationSchema().dump(rec))


# --- import ----------------------------------------------------------------------------------------


@bp.post("/import/<kind>")
@requires("crm.client.import")
def import_view(kind: str):
    """Multipart ``file`` (CSV or XLSX). All-or-nothing per file: any bad row -> 422 with the report,
    nothing written; otherwise 201 with the counts. See :mod:`plugins.crm.importer`."""
    from .importer import KINDS, ImportRejected, import_file

    if kind not in KINDS:
        abort(404)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _errors({"file": [_("Attach a CSV or XLSX file.")]})
    try:
        report = import_file(kind, upload.filename, upload.read(), user=current_user)
    except ImportRejected as exc:
        db.session.rollback()
        return jsonify(error="validation", message=str(exc.message), rows=exc.rows), 422
    db.session.commit()
    return jsonify(report), 201

