"""Pages without login: the shop's online booking page and the calendar (ICS) feed of a bay.

The tenant comes from the URL (``@tenant_from_url("station")``, see core/web.py); the plugin gate still
answers 404 for a shop without the planner, and each view checks its own feature.

Abuse limits on the booking form: a CSRF token (the core checks every POST), a honeypot field that
people never see and bots fill in (such a request is thanked and dropped), and rate limits per client
IP and per phone number through the app's Flask-Limiter storage (``PLANNER_ONLINE_LIMIT_IP``,
``PLANNER_ONLINE_LIMIT_PHONE``). A slot is taken through the same locked conflict check as the staff's
bookings, so the public page cannot double-book either.
"""
from __future__ import annotations

import hmac
import re
from types import SimpleNamespace
from datetime import date, datetime, timedelta, timezone

from flask import Blueprint, Response, abort, current_app, g, render_template, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import or_, select

from core.api.errors import translate_errors
from core.db import db
from core.i18n import domain
from core.web import tenant_from_url

from . import service
from .models import RELEASED_STATUSES, Bay, Booking, BookingBay, BookingSegment
from .service import PlannerError
from .settings import load_settings

_ = domain("planner").gettext
_l = domain("planner").lazy_gettext

bp = Blueprint("planner_public", __name__, url_prefix="/planner")
ONLINE = "planner.online_booking"
HONEYPOT = "website"
# Who the audit log names for bookings made on the public page (never a signed-in user of any shop).
ONLINE_ACTOR = SimpleNamespace(id=None, email="online-booking-page")


class PublicBookingSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(required=True, validate=validate.Length(min=5, max=40))
    vehicle = fields.String(load_default="", validate=validate.Length(max=200))
    reason = fields.String(load_default="", validate=validate.Length(max=1000))
    start = fields.String(required=True, validate=validate.Length(min=10, max=40))


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


def _limits_ok(station: str, phone_digits: str | None) -> bool:
    """Count this attempt; False when the IP's or the phone's allowance is used up."""
    from limits import parse

    try:
        from core.auth.throttle import get_limiter

        limiter = get_limiter()
    except (ImportError, KeyError):
        return True  # no limiter configured in this installation
    if not limiter.enabled:
        return True
    cfg = current_app.config
    checks = [(parse(cfg.get("PLANNER_ONLINE_LIMIT_IP", "10 per hour")), ("planner-online-ip", request.remote_addr or "-"))]
    if phone_digits:
        checks.append((parse(cfg.get("PLANNER_ONLINE_LIMIT_PHONE", "3 per day")),
                       ("planner-online-phone", station, phone_digits)))
    allowed = True
    for item, key in checks:
        if not limiter.limiter.hit(item, *key):
            allowed = False
    return allowed


def _station_page(station: str, *, errors: dict | None = None, form: dict | None = None, status: int = 200,
                  booked: Booking | None = None):
    tenant = service.tenant_row()
    settings = load_settings(tenant)
    tz = service.tenant_zone(tenant)
    today = datetime.now(timezone.utc).astimezone(tz).date()
    days = [today + timedelta(days=i) for i in range(settings["online_days_ahead"])]
    try:
        chosen = date.fromisoformat(request.values.get("day", "")) if request.values.get("day") else today
    except ValueError:
        chosen = today
    if chosen not in days:
        chosen = today
    slots = service.free_slots(chosen, settings["online_duration_minutes"], settings=settings, skill=_skill(settings))
    embed = request.values.get("embed") == "1"
    response = Response(render_template(
        "planner/public_book.html", tenant=tenant, settings=settings, station=station, days=days, chosen=chosen,
        slots=[(s.start.astimezone(tz), service.local_iso(s.start, tz)) for s in slots], errors=errors or {},
        form=form or {"start": request.args.get("start", "")}, booked=booked, booked_local=booked.start_at.astimezone(tz) if booked else None,
        embed=embed, honeypot=HONEYPOT), status=status)
    # The page is made to be embedded in the shop's own site (the iframe snippet in the settings).
    response.headers["Content-Security-Policy"] = "frame-ancestors *"
    return response


def _skill(settings: dict) -> str | None:
    """The technician skill online bookings need (a ``planner.advanced`` setting), or None."""
    return (settings.get("online_skill") or "").strip() or None if g.tenant.has(service.ADVANCED) else None


def _available() -> bool:
    tenant = g.get("tenant")
    return tenant is not None and tenant.has(ONLINE) and load_settings(service.tenant_row())["online_enabled"]


@bp.get("/book/<station>")
@tenant_from_url("station")
def book_page(station: str):
    if not _available():
        abort(404)
    return _station_page(station)


@bp.post("/book/<station>")
@tenant_from_url("station")
def book_submit(station: str):
    if not _available():
        abort(404)
    form = {k: request.form.get(k, "") for k in ("name", "phone", "vehicle", "reason", "start", "day")}
    if request.form.get(HONEYPOT):
        # A bot filled the field people never see: thank it, store nothing, count it against the IP.
        _limits_ok(station, None)
        return render_template("planner/public_thanks.html", tenant=service.tenant_row(), station=station,
                               booked=None, embed=request.values.get("embed") == "1")
    if not _limits_ok(station, _digits(form["phone"])):
        return _station_page(station, form=form, status=429,
                             errors={"_form": [_("Too many booking requests. Please call the station instead.")]})
    try:
        data = PublicBookingSchema().load({k: form[k] for k in ("name", "phone", "vehicle", "reason", "start")})
    except ValidationError as err:
        return _station_page(station, form=form, status=422, errors=translate_errors(err.messages))
    if len(_digits(data["phone"])) < 6:
        return _station_page(station, form=form, status=422, errors={"phone": [_("Enter a phone number.")]})
    try:
        booking = _book(data)
    except PlannerError as exc:
        db.session.rollback()
        return _station_page(station, form=form, status=exc.status, errors={"start": [exc.message]})
    db.session.commit()
    return render_template("planner/public_thanks.html", tenant=service.tenant_row(), station=station,
                           booked=booking, booked_local=booking.start_at.astimezone(service.tenant_zone()),
                           embed=request.values.get("embed") == "1")


def _book(data: dict) -> Booking:
    """Book the chosen start on the first bay that is free then (the page offers only grid slots)."""
    tenant = service.tenant_row()
    settings = load_settings(tenant)
    tz = service.tenant_zone(tenant)
    start = service.parse_local(data["start"], tz)
    slots = service.free_slots(start.astimezone(tz).date(), settings["online_duration_minutes"], settings=settings,
                               skill=_skill(settings))
    offered = next((s for s in slots if s.start == start), None)
    if offered is None:
        raise PlannerError(_("This time is no longer free. Please choose another one."), 409)
    reason = data["reason"].strip()
    client_ref = _directory_client(data["phone"])
    for bay_id in offered.bay_ids:
        # save_booking raises before it adds anything, so the next bay can be tried in the same
        # transaction (the lock on the refused bay is simply held until commit).
        try:
            return service.save_booking({
                "bay_id": bay_id, "start": start, "duration_minutes": settings["online_duration_minutes"],
                "client_name": data["name"], "client_phone": data["phone"], "vehicle": data["vehicle"],
                "reason": reason, "status": "requested", "source": "online", **client_ref,
            }, actor=ONLINE_ACTOR)
        except PlannerError as exc:
            if exc.status != 409:
                raise
    raise PlannerError(_("This time is no longer free. Please choose another one."), 409)


def _directory_client(phone: str) -> dict:
    """``{"client_id": id}`` of the directory's client with this phone (``planner_client_by_phone``,
    answered by the CRM), else {}. A known client's booking is linked, so the CRM's "booking
    confirmed" message reaches them when reception confirms it. An unknown phone stays free text: the
    page never creates directory clients (it asks no consent to messages, and bots would fill the
    directory); reception links the booking to a client when confirming it."""
    if not g.tenant.has("crm.clients"):
        return {}
    answer = service.tenant_hooks().planner_client_by_phone(phone=phone)
    client_id = (answer or {}).get("client_id")
    return {"client_id": int(client_id)} if client_id else {}


# --- calendar feed per bay ----------------------------------------------------------------------------

def on_bays(bay_ids: list[int]):
    """SQL condition: the booking holds one of ``bay_ids`` (its first bay, a further bay, or a step of
    a sequence)."""
    return or_(Booking.bay_id.in_(bay_ids),
               Booking.id.in_(select(BookingBay.booking_id).where(BookingBay.bay_id.in_(bay_ids))),
               Booking.id.in_(select(BookingSegment.booking_id).where(BookingSegment.bay_id.in_(bay_ids))))


def bay_bookings(bay_ids: list[int], start: datetime, end: datetime) -> list[Booking]:
    """Live bookings on ``bay_ids`` between start and end, filtered in SQL (a feed of a 20-bay shop
    reads its own bay's rows only, not every bay's)."""
    return list(db.session.scalars(
        select(Booking).where(on_bays(bay_ids), *service.overlapping(start, end),
                              Booking.status.not_in(RELEASED_STATUSES))
        .order_by(Booking.start_at, Booking.id)))


def _held_spans(booking: Booking, bay_ids: set[int]) -> list[tuple[datetime, datetime, int | None]]:
    """(start, end, step number) of the times ``booking`` holds one of ``bay_ids``: its whole time for
    a plain booking, each step there for a sequence (numbered from 1)."""
    if not booking.sequential:
        return [(booking.start_at, booking.end_at, None)]
    return [(seg.start_at, seg.end_at, n) for n, seg in enumerate(booking.segments, 1) if seg.bay_id in bay_ids]


def _feed_event(booking: Booking, tenant, now: datetime, start: datetime, end: datetime, step: int | None,
                location: str | None = None):
    """One calendar event of a booking (``step``: the step of a sequence, with its own stable UID)."""
    from icalendar import Event

    event = Event()
    event.add("uid", f"planner-booking-{booking.id}{f'-step-{step}' if step else ''}@{tenant.slug}")
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    summary = " · ".join(p for p in (booking.client_name, booking.vehicle) if p)
    event.add("summary", summary or _("Booking #%(id)s", id=booking.id))
    if location:
        event.add("location", location)
    event.add("description", "\n".join(p for p in (booking.reason, booking.client_phone,
                                                    service.status_label(booking.status)) if p))
    event.add("status", "TENTATIVE" if booking.status == "requested" else "CONFIRMED")
    return event


@bp.get("/ics/<station>/<int:bay_id>/<token>.ics")
@tenant_from_url("station")
def bay_calendar(station: str, bay_id: int, token: str):
    """The bay's bookings (30 days back, 90 ahead) for a phone or desktop calendar; the secret token in
    the URL is the only credential, so a wrong one looks exactly like a missing bay."""
    tenant_info = g.get("tenant")
    if tenant_info is None or not tenant_info.has("planner.basic"):
        abort(404)
    bay = db.session.scalars(select(Bay).where(Bay.id == bay_id)).first()
    if bay is None or not hmac.compare_digest(bay.ics_token.encode(), token.encode()):
        abort(404)
    from icalendar import Calendar

    tenant = service.tenant_row()
    now = datetime.now(timezone.utc)
    cal = Calendar()
    cal.add("prodid", "-//Garage ERP//planner//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{tenant.name}: {bay.name}")
    cal.add("x-wr-timezone", tenant.timezone)
    for booking in bay_bookings([bay.id], now - timedelta(days=30), now + timedelta(days=90)):
        # A sequence holds this bay only during its steps here: one event per step, at the step's time.
        for start, end, step in _held_spans(booking, {bay.id}):
            cal.add_component(_feed_event(booking, tenant, now, start, end, step))
    return Response(cal.to_ical(), mimetype="text/calendar",
                    headers={"Content-Disposition": f'inline; filename="bay-{bay.id}.ics"',
                             "Cache-Control": "private, max-age=300"})


@bp.get("/ics/<station>/tech/<int:user_id>/<token>.ics")
@tenant_from_url("station")
def technician_calendar(station: str, user_id: int, token: str):
    """A technician's bookings: those on the bays they are assigned to on each day (30 days back, 90
    ahead); like the bay feed, the token is the only credential and a wrong one answers 404."""
    from . import staffing

    tenant_info = g.get("tenant")
    if tenant_info is None or not tenant_info.has("planner.basic"):
        abort(404)
    if staffing.feed_owner(user_id, token) is None:
        abort(404)
    from icalendar import Calendar

    from core.models import User

    tenant = service.tenant_row()
    user = db.session.get(User, user_id)
    now = datetime.now(timezone.utc)
    start, end = staffing.feed_window()
    cal = Calendar()
    cal.add("prodid", "-//Garage ERP//planner//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{tenant.name}: {user.name or user.email}")
    cal.add("x-wr-timezone", tenant.timezone)
    bay_names = dict(db.session.execute(select(Bay.id, Bay.name)).all())
    tz = service.tenant_zone(tenant)
    assigned = {key for key, who in staffing.assignments_between(start.astimezone(tz).date(),
                                                                 end.astimezone(tz).date()).items() if who == user_id}
    for booking in staffing.technician_bookings(user_id, start, end):
        if not booking.sequential:
            cal.add_component(_feed_event(booking, tenant, now, booking.start_at, booking.end_at, None,
                                          ", ".join(bay_names.get(i, "") for i in booking.bay_ids)))
            continue
        # A sequence: only the steps on the bays this technician works that day, each at its own time.
        for n, seg in enumerate(booking.segments, 1):
            if (seg.start_at.astimezone(tz).date(), seg.bay_id) in assigned:
                cal.add_component(_feed_event(booking, tenant, now, seg.start_at, seg.end_at, n,
                                              bay_names.get(seg.bay_id, "")))
    return Response(cal.to_ical(), mimetype="text/calendar",
                    headers={"Content-Disposition": f'inline; filename="technician-{user_id}.ics"',
                             "Cache-Control": "private, max-age=300"})
