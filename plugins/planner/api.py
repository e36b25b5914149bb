"""The planner's own API endpoints (bookings with conflict checks, the day, free slots). Bays, working
hours, breaks and days off are plain entities served by the core's generic API.

Every view: 401 without a user -> 404 without the feature -> 403 without the permission -> 404 for an
id the tenant guard does not find (another tenant's ids look exactly like missing ones).
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import wraps

from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from core.api.errors import ApiError, not_found, validation_error
from core.db import db
from core.i18n import domain

from . import service
from .models import BAY_TYPES, STATUSES, Booking
from .schemas import BookingCreateSchema, BookingInSchema
from .service import ADVANCED, PlannerError

_ = domain("planner").gettext

bp = Blueprint("planner_api", __name__, url_prefix="/api/v1/planner")
BASIC = "planner.basic"


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return exc.response()


@bp.errorhandler(PlannerError)
def _planner_error(exc: PlannerError):
    db.session.rollback()
    if exc.status == 422:
        return validation_error(exc.errors or {"_schema": [exc.message]}, exc.message).response()
    body = {"error": {409: "conflict", 404: "not_found", 403: "forbidden"}.get(exc.status, "error"),
            "message": exc.message}
    if isinstance(exc, service.ConvertedAlready):
        body["converted_to"] = exc.link
    if exc.conflict is not None:
        body["conflicting_booking_id"] = exc.conflict.id
    return jsonify(body), exc.status


def api_view(permission: str, feature: str = BASIC):
    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not (current_user and current_user.is_authenticated):
                raise ApiError(401, "unauthorized", _("Sign in or send an API token."))
            tenant = g.get("tenant")
            if tenant is None or not tenant.has(feature):
                raise not_found()
            if not current_user.can(permission):
                raise ApiError(403, "forbidden", _("You do not have permission to do this."), permission=permission)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", _("The request body must be a JSON object."))
    return data


def _load(schema, data: dict, partial: bool = False) -> dict:
    try:
        return schema.load(data, partial=partial)
    except ValidationError as err:
        raise validation_error(err.messages) from None


def _booking(booking_id: int, for_update: bool = False) -> Booking:
    q = select(Booking).where(Booking.id == booking_id)
    if for_update:
        q = q.with_for_update(of=Booking)
    booking = db.session.scalars(q).first()
    if booking is None:
        raise not_found()
    return booking


def _day_arg(name: str = "date", default: date | None = None) -> date:
    raw = request.args.get(name)
    if raw is None:
        if default is not None:
            return default
        raise validation_error({name: [_("Enter a date (YYYY-MM-DD).")]})
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise validation_error({name: [_("Not a valid date (use YYYY-MM-DD).")]}) from None


def _int_arg(name: str, low: int, high: int, default: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise validation_error({name: [_("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)]}) from None
    if not low <= value <= high:
        raise validation_error({name: [_("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)]})
    return value


def _bay_type_arg() -> str | None:
    bay_type = request.args.get("bay_type") or None
    if bay_type is not None and bay_type not in BAY_TYPES:
        raise validation_error({"bay_type": [_("Unknown bay type.")]})
    return bay_type


def _skill_arg() -> str | None:
    """The technician skill a job needs (``planner.advanced``: skills and staffing by skill)."""
    skill = (request.args.get("skill") or "").strip() or None
    if skill is None:
        return None
    if not g.tenant.has(ADVANCED):
        raise validation_error({"skill": [_("Choosing bays by technician skill is not in your plan.")]})
    if len(skill) > 80:
        raise validation_error({"skill": [_("A skill is 1 to 80 characters long.")]})
    return skill


def _today():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).astimezone(service.tenant_zone()).date()


def _commit():
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise PlannerError(_("This booking was changed by someone else meanwhile. Reload it and try again."), 409)


# --- bookings -----------------------------------------------------------------------------------------

@bp.get("/bookings")
@api_view("planner.booking.read")
def list_bookings():
    """Bookings overlapping the days date_from..date_to (local dates; filters: status, bay_id)."""
    tz = service.tenant_zone()
    first = _day_arg("date_from", _today())
    last = _day_arg("date_to", first)
    if last < first or (last - first).days > 62:
        raise validation_error({"date_to": [_("Choose at most 62 days, not before the first date.")]})
    start, _end = service.day_range_utc(first, tz)
    _start, end = service.day_range_utc(last, tz)
    bookings = service.bookings_between(start, end, include_released=True)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise validation_error({"status": [_("Unknown status.")]})
        bookings = [b for b in bookings if b.status == status]
    bay_id = request.args.get("bay_id", type=int)
    if bay_id is not None:
        bookings = [b for b in bookings if bay_id in b.bay_ids]
    return jsonify(items=[service.booking_json(b, tz) for b in bookings], total=len(bookings))


@bp.post("/bookings")
@api_view("planner.booking.create")
def create_booking():
    """Create a booking; 409 when the bay is taken, 422 outside working hours or on a day off."""
    data = _load(BookingCreateSchema(), _body())
    if data.get("status") not in (None, "requested", "confirmed", "arrived"):
        raise validation_error({"status": [_("A new booking can be requested, confirmed or arrived.")]})
    booking = service.save_booking(data, actor=current_user)
    _commit()
    return jsonify(service.booking_json(booking, service.tenant_zone())), 201


@bp.get("/bookings/<int:booking_id>")
@api_view("planner.booking.read")
def get_booking(booking_id: int):
    """One booking, times in the shop's local time."""
    return jsonify(service.booking_json(_booking(booking_id), service.tenant_zone()))


@bp.patch("/bookings/<int:booking_id>")
@api_view("planner.booking.update")
def patch_booking(booking_id: int):
    """Change a booking (send ``version`` to refuse a stale edit); ``status`` moves through the transitions."""
    data = _load(BookingInSchema(), _body(), partial=True)
    booking = _booking(booking_id, for_update=True)
    if data.get("version") is not None and data["version"] != booking.version:
        raise PlannerError(_("This booking was changed by someone else meanwhile. Reload it and try again."), 409)
    target = data.pop("status", None)
    try:
        if target is not None and target != booking.status:
            action = service.STATUS_ACTION.get(target)
            if action is None:
                raise validation_error({"status": [_("Unknown status.")]})
            service.apply_transition(booking, action, actor=current_user)
        if set(data) - {"version"}:
            service.save_booking(data, booking, actor=current_user)
        _commit()
    except StaleDataError:
        _stale(booking_id)
    return jsonify(service.booking_json(booking, service.tenant_zone()))


@bp.delete("/bookings/<int:booking_id>")
@api_view("planner.booking.delete")
def delete_booking(booking_id: int):
    """Delete a booking (audited)."""
    from core import audit

    booking = _booking(booking_id, for_update=True)
    audit.record("delete", booking, changes={"status": [booking.status, None],
                                             "start_at": [booking.start_at.isoformat(), None],
                                             "client_name": [booking.client_name, None]})
    db.session.delete(booking)
    _commit()
    return "", 204


@bp.post("/bookings/<int:booking_id>/<action>")
@api_view("planner.booking.update")
def transition_booking(booking_id: int, action: str):
    """Move a booking: confirm, arrive, no-show, cancel or convert (``convert`` opens a service order
    through the ``planner_booking_convert`` hook: 409 when nothing in the plan can, or when it is done)."""
    if action not in service.TRANSITIONS:
        raise not_found()
    booking = _booking(booking_id, for_update=True)
    try:
        service.apply_transition(booking, action, actor=current_user)
        _commit()
    except StaleDataError:  # someone moved it meanwhile (SQLite has no row lock to wait on)
        _stale(booking_id)
    return jsonify(service.booking_json(booking, service.tenant_zone()))


def _stale(booking_id: int):
    """A concurrent change won: roll back; a booking converted meanwhile names its document."""
    db.session.rollback()
    current = _booking(booking_id)
    if current.converted_to:
        raise service.ConvertedAlready(current.converted_to)
    raise PlannerError(_("This booking was changed by someone else meanwhile. Reload it and try again."), 409)


# --- reading --------------------------------------------------------------------------------------------

@bp.get("/day")
@api_view("planner.booking.read")
def day():
    """Bays, bookings and (with ``planner.advanced``) the load: capacity vs booked hours per bay."""
    return jsonify(service.day_view(_day_arg(), with_load=g.tenant.has(ADVANCED)))


@bp.get("/slots")
@api_view("planner.booking.read")
def slots():
    """Free start times on a date for a job of ``duration`` minutes (optional ``bay_type``; ``skill``
    with ``planner.advanced``: only bays whose technician of the day has it), or (``planner.advanced``)
    for a chain: ``segments=diagnostics:30,lift:90``."""
    day_ = _day_arg()
    tz = service.tenant_zone()
    steps = _segments_arg()
    if steps is not None:
        if not g.tenant.has(ADVANCED):
            raise validation_error({"segments": [_("Booking several bays one after another is not in your plan.")]})
        found = service.chain_slots(day_, steps)
        return jsonify(date=day_.isoformat(), duration_minutes=sum(s["duration_minutes"] for s in steps),
                       slots=[service.slot_json(s, tz) for s in found])
    duration = _int_arg("duration", 5, 24 * 60)
    found = service.free_slots(day_, duration, bay_type=_bay_type_arg(), skill=_skill_arg())
    return jsonify(date=day_.isoformat(), duration_minutes=duration,
                   slots=[service.slot_json(s, tz) for s in found])


@bp.get("/earliest")
@api_view("planner.booking.read", feature=ADVANCED)
def earliest():
    """The earliest ``limit`` (default 5) start times across days where the job fits
    (``planner.advanced``): ``duration`` minutes on one bay (``bay_type``; with ``skill``, only bays
    whose technician that day has it), or ``segments=diagnostics:30,lift:90`` (bay types or bay ids,
    one after another). Buffers are kept free. ``slot`` is the first one (or null)."""
    from_day = _day_arg("from", _today())
    tz = service.tenant_zone()
    steps = _segments_arg()
    skill = _skill_arg()
    if steps is not None and skill:
        raise validation_error({"skill": [_("A technician skill cannot be combined with segments.")]})
    duration = None if steps is not None else _int_arg("duration", 5, 24 * 60)
    found = service.earliest_fits(duration, steps=steps, bay_type=_bay_type_arg(), from_day=from_day,
                                  days=_int_arg("days", 1, 180, default=60), skill=skill,
                                  limit=_int_arg("limit", 1, 20, default=5))
    slots = [{"date": day_.isoformat(), **service.slot_json(slot, tz)} for day_, slot in found]
    # ``slot`` keeps its first shape (no date) for existing clients.
    return jsonify(slot=service.slot_json(found[0][1], tz) if found else None, slots=slots)


def _segments_arg() -> list[dict] | None:
    """``segments=diagnostics:30,lift:90`` (a bay type or a bay id, then minutes) -> steps."""
    raw = (request.args.get("segments") or "").strip()
    if not raw:
        return None
    message = _("Give the segments as bay type or bay id and minutes: diagnostics:30,lift:90.")
    steps = []
    for part in raw.split(","):
        kind, _sep, minutes = part.strip().partition(":")
        if not minutes.isdigit() or not 5 <= int(minutes) <= 24 * 60:
            raise validation_error({"segments": [message]})
        if kind.isdigit():
            steps.append({"bay_id": int(kind), "duration_minutes": int(minutes)})
        elif kind in BAY_TYPES:
            steps.append({"bay_type": kind, "duration_minutes": int(minutes)})
        else:
            raise validation_error({"segments": [message]})
    if not 1 <= len(steps) <= service.MAX_SEGMENTS:
        raise validation_error({"segments": [message]})
    return steps


@bp.get("/arrivals")
@api_view("planner.booking.read")
def arrivals():
    """Who comes on a day (tomorrow by default), with the reasons: the master's list for the day before."""
    day_ = _day_arg("date", _today() + timedelta(days=1))
    tz = service.tenant_zone()
    bookings = service.arrivals(day_)
    items = [service.booking_json(b, tz) for b in bookings]
    parts = service.parts_status([b.id for b in bookings])
    if parts is not None:  # only when some plugin (the warehouse) answers planner_booking_parts_status
        for item in items:
            item["parts_status"] = parts.get(item["id"])
    return jsonify(date=day_.isoformat(), items=items, can_convert=service.can_convert())


@bp.get("/jobs")
@api_view("planner.booking.read")
def jobs():
    """Jobs for the planned jobs of a booking (``q`` to search code or name, ``vehicle_id`` for its
    make/model norms), from the plugins that answer ``planner_job_catalog`` (the workshop's catalog);
    ``minutes`` is the standard time rounded up to the shop's slot."""
    query = (request.args.get("q") or "").strip()[:100]
    vehicle_id = request.args.get("vehicle_id", type=int)
    return jsonify(items=[{**item, "standard_hours": format(item["standard_hours"].normalize(), "f")}
                          for item in service.job_catalog(query, vehicle_id)])


# --- staffing: technicians on bays, skills, calendar feeds ---------------------------------------------

@bp.get("/assignments")
@api_view("planner.booking.read")
def get_assignments():
    """Who works which bay on ``date``."""
    from . import staffing

    day_ = _day_arg()
    return jsonify(date=day_.isoformat(), items=staffing.day_assignments(day_))


@bp.put("/assignments")
@api_view("planner.staffing.manage")
def put_assignments():
    """Replace the assignments of ``date``: body ``{"assignments": [{"bay_id": 1, "user_id": 2}, ...]}``."""
    from . import staffing

    day_ = _day_arg()
    items = staffing.set_day_assignments(day_, _body().get("assignments"), actor=current_user)
    _commit()
    return jsonify(date=day_.isoformat(), items=items)


@bp.get("/technicians/<int:user_id>/skills")
@api_view("planner.booking.read", feature=ADVANCED)
def get_skills(user_id: int):
    """A technician's skills and where they are kept (``workshop`` employee cards or the ``planner``)."""
    from . import staffing

    return jsonify(user_id=user_id, skills=staffing.user_skills(user_id), source=staffing.skills_source())


@bp.put("/technicians/<int:user_id>/skills")
@api_view("planner.staffing.manage", feature=ADVANCED)
def put_skills(user_id: int):
    """Replace a technician's skills (shops without the workshop; 409 otherwise)."""
    from . import staffing

    skills = staffing.set_user_skills(user_id, _body().get("skills"), actor=current_user)
    _commit()
    return jsonify(user_id=user_id, skills=skills, source="planner")


def _feed_user() -> int:
    """The technician whose feed is asked for: oneself by default; someone else needs staffing rights."""
    user_id = request.args.get("user_id", type=int)
    if user_id is None or user_id == current_user.id:
        return current_user.id
    if not current_user.can("planner.staffing.manage"):
        raise ApiError(403, "forbidden", _("You do not have permission to do this."),
                       permission="planner.staffing.manage")
    return user_id


def _feed_json(user_id: int, token: str):
    from flask import url_for

    return jsonify(user_id=user_id, url=url_for("planner_public.technician_calendar", station=g.tenant.slug,
                                                user_id=user_id, token=token, _external=True))


@bp.get("/feed")
@api_view("planner.booking.read")
def technician_feed():
    """The calendar (ICS) URL of a technician's bookings (``user_id``, default: oneself)."""
    from . import staffing

    user_id = _feed_user()
    token = staffing.feed_token(user_id, actor=current_user)
    _commit()
    return _feed_json(user_id, token)


@bp.post("/feed/rotate")
@api_view("planner.booking.read")
def rotate_technician_feed():
    """A new secret for the technician's feed URL; the old URL stops working."""
    from . import staffing

    user_id = _feed_user()
    token = staffing.feed_token(user_id, rotate=True, actor=current_user)
    _commit()
    return _feed_json(user_id, token)
